"""The ``*.get_all`` query language of clearml-server: filters, list-field operators, ordering, paging, projection.

Follows apiserver/database/model/base.py (GetMixin): ``name`` is a case-sensitive regular expression searched
anywhere in the name; ``tags``/``system_tags``/``id`` take lists with "-x" exclusion and the "__$all", "__$and",
"__$any", "__$or", "__$not" and "__$nop" operators (None in the list also matches an empty field);
``_any_``/``_all_`` match a case-insensitive pattern against several fields; other fields match by equality
(a list means "one of").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .store import ApiError, clone_doc

CONTROL_KEYS = {
    "only_fields",
    "order_by",
    "page",
    "page_size",
    "search_hidden",
    "include_subprojects",
    "scroll_id",
    "refresh_scroll",
    "size",
    "search_text",
    "allow_public",
    "_allow_extra_fields_",
    "include_stats",
    "stats_for_state",
    "shallow_search",
    "check_own_contents",
    "get_task_info",
    "batch_size",
    "filters",
    "include_stats_filter",
    "stats_with_children",
    "active_users",
    "non_public",
    "children_type",
    "method",
}
LIST_FIELDS = ("tags", "system_tags", "id")


def get_path(doc: dict, path: str) -> Any:
    """The value at a dotted path of a document (None where a part is missing)."""
    cur: Any = doc
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def list_field_matches(values: Sequence[str] | None, terms: Sequence[str | None] | str) -> bool:
    """Whether a list field's ``values`` satisfy the server's list-field query ``terms``."""
    if isinstance(terms, str):
        terms = [terms]
    have = set(values or [])
    buckets: dict[str, set[str]] = {"in": set(), "all": set(), "nin": set()}
    global_and: bool | None = None
    context_and, legacy, negate, allow_empty = False, True, False, False
    for term in terms:
        if term is None:
            allow_empty, negate = True, False
            continue
        if term == "__$nop":
            context_and, legacy, negate = False, True, False
            continue
        if term.startswith("__$"):
            if term == "__$not":
                negate = True
                continue
            if term not in ("__$all", "__$and", "__$any", "__$or"):
                raise ApiError(f"Unsupported operator {term}")
            context_and, legacy = term in ("__$all", "__$and"), False
            if global_and is None:
                global_and = context_and
            continue
        if global_and is None:
            global_and = True
        include = True
        if negate:
            include, negate = False, False
        elif legacy and term.startswith("-"):
            include, term = False, term[1:]
        buckets[("all" if context_and else "in") if include else "nin"].add(term)
    checks = []
    if buckets["in"]:
        checks.append(bool(have & buckets["in"]))
    if buckets["all"]:
        checks.append(buckets["all"] <= have)
    if buckets["nin"]:
        checks.append(not have & buckets["nin"])
    matched = (all(checks) if global_and in (None, True) else any(checks)) if checks else True
    if allow_empty and not have:
        return True
    return matched


def _value_matches(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        if not wanted:
            return True
        if isinstance(actual, list):
            return bool(set(map(str, actual)) & set(map(str, wanted)))
        return actual in wanted
    if isinstance(actual, list):
        return wanted in actual
    return actual == wanted


def doc_matches(doc: dict, params: dict, pattern_fields: Iterable[str] = ("name",)) -> bool:
    """Whether ``doc`` passes every filter in a get_all request's ``params``."""
    for key, wanted in params.items():
        if key in CONTROL_KEYS or wanted is None:
            continue
        if key in pattern_fields:
            if wanted and not re.search(wanted, str(doc.get(key) or "")):
                return False
        elif key in LIST_FIELDS:
            actual = [doc["id"]] if key == "id" else doc.get(key)
            if not list_field_matches(actual, wanted):
                return False
        elif key in ("_any_", "_all_", "_or_", "_and_"):
            fields, pattern = wanted.get("fields") or [], wanted.get("pattern")
            if not fields or pattern is None:
                continue
            hits = [bool(re.search(pattern, str(get_path(doc, f) or ""), re.IGNORECASE)) for f in fields]
            if not (any(hits) if key in ("_any_", "_or_") else all(hits)):
                return False
        elif not _value_matches(get_path(doc, key), wanted):
            return False
    return True


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value))


def order(docs: list[dict], order_by: Sequence[str] | str | None) -> list[dict]:
    """Sort by the ``order_by`` fields ("-" prefix for descending), ties broken by id as the server does."""
    fields = [order_by] if isinstance(order_by, str) else list(order_by or [])
    if not fields:
        return docs
    if not any(f in ("id", "-id") for f in fields):
        fields.append("id")
    for f in reversed(fields):
        desc, name = f.startswith("-"), f.lstrip("-")
        docs.sort(key=lambda d, n=name: _sort_key(get_path(d, n)), reverse=desc)
    return docs


def project(doc: dict, only_fields: Sequence[str] | None) -> dict:
    """A copy of ``doc`` holding only ``only_fields`` (dotted paths) and its id.

    As with MongoDB projections, existing parents of a missing leaf stay (as empty objects).
    """
    if not only_fields:
        return clone_doc(doc)
    out: dict = {"id": doc.get("id")}
    for path in only_fields:
        src, dst, parts = doc, out, path.split(".")
        for i, part in enumerate(parts):
            if not isinstance(src, dict) or part not in src:
                break
            if i == len(parts) - 1 or not isinstance(src[part], dict):
                dst[part] = clone_doc(src[part])
                break
            src, dst = src[part], dst.setdefault(part, {})
    return out


def run_query(docs: Iterable[dict], params: dict, pattern_fields: Iterable[str] = ("name",)) -> tuple[list[dict], dict]:
    """Filter, order, page and project ``docs`` per a get_all request; also returns scroll info for the answer."""
    hits = [d for d in docs if doc_matches(d, params, pattern_fields)]
    hits = order(hits, params.get("order_by"))
    extra: dict = {}
    if params.get("size") is not None or params.get("scroll_id"):
        start = int(params.get("scroll_id") or 0) if not params.get("refresh_scroll") else 0
        size = int(params.get("size") or 500)
        hits = hits[start : start + size]
        extra = {"scroll_id": str(start + len(hits))}
    elif params.get("page") is not None or params.get("page_size") is not None:
        page, size = int(params.get("page") or 0), int(params.get("page_size") or 500)
        hits = hits[page * size : (page + 1) * size]
    return [project(d, params.get("only_fields")) for d in hits], extra
