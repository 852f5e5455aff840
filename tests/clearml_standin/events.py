"""``events.*`` endpoints: scalars, logs, plots and debug images of tasks, and the last metrics kept on tasks.

events.add_batch updates the task's ``last_iteration`` and ``last_metrics`` (keyed by the md5 of the metric
and variant names, as the server and the SDK's HyperParameterOptimizer expect).
"""

from __future__ import annotations

import hashlib
import time

from .registry import Call, endpoint
from .store import Store, clone_doc, now


def metric_hash(name: str) -> str:
    """The key clearml-server uses for a metric or variant name in ``last_metrics``."""
    return hashlib.md5(str(name).encode("utf-8")).hexdigest()


def _update_last_metrics(task: dict, event: dict) -> None:
    metric, variant, value = event.get("metric", ""), event.get("variant", ""), event.get("value")
    iteration = int(event.get("iter") or 0)
    if value is None:
        return
    value = float(value)
    slot = task.setdefault("last_metrics", {}).setdefault(metric_hash(metric), {})
    entry = slot.get(metric_hash(variant))
    if entry is None:
        entry = slot[metric_hash(variant)] = {
            "metric": metric,
            "variant": variant,
            "min_value": value,
            "min_value_iteration": iteration,
            "max_value": value,
            "max_value_iteration": iteration,
            "first_value": value,
            "first_value_iteration": iteration,
            "count": 0,
            "mean_value": 0.0,
        }
    if value < entry["min_value"]:
        entry["min_value"], entry["min_value_iteration"] = value, iteration
    if value > entry["max_value"]:
        entry["max_value"], entry["max_value_iteration"] = value, iteration
    entry["count"] += 1
    entry["mean_value"] += (value - entry["mean_value"]) / entry["count"]
    entry.update(value=value, iteration=iteration, timestamp=event.get("timestamp"))


@endpoint("events.add_batch")
def add_batch(data: dict, call: Call) -> dict:
    added, store = 0, call.store
    for event in data.get("items") or []:
        task = store.tasks.get(event.get("task") or "")
        if task is None:
            continue
        event = {"timestamp": int(time.time() * 1000), **clone_doc(event)}
        store.events[task["id"]].append(event)
        if event.get("type") == "training_stats_scalar":
            _update_last_metrics(task, event)
        if event.get("iter") is not None and event.get("type") != "log":
            task["last_iteration"] = max(task.get("last_iteration") or 0, int(event["iter"]))
        task["last_update"] = now()
        added += 1
    return {"added": added, "errors": 0, "errors_info": {}}


@endpoint("events.add")
def add(data: dict, call: Call) -> dict:
    return add_batch({"items": [data]}, call)


def _events(store: Store, task_id: str, kind: str | None = None, metric: str | None = None) -> list[dict]:
    out = [e for e in store.events.get(task_id, []) if kind is None or e.get("type") == kind]
    return [e for e in out if metric is None or e.get("metric") == metric]


@endpoint("events.get_task_metrics")
def get_task_metrics(data: dict, call: Call) -> dict:
    kind = data.get("event_type") or "training_stats_scalar"
    kind = {"training_stats_scalar": "training_stats_scalar", "log": "log"}.get(kind, kind)
    out = []
    for task_id in data.get("tasks") or []:
        metrics = sorted({e.get("metric", "") for e in _events(call.store, task_id, kind)})
        out.append({"task": task_id, "metrics": metrics})
    return {"metrics": out}


@endpoint("events.get_scalar_metrics_and_variants")
def scalar_metrics_and_variants(data: dict, call: Call) -> dict:
    out: dict = {}
    for e in _events(call.store, data.get("task") or "", "training_stats_scalar"):
        out.setdefault(e.get("metric", ""), {})[e.get("variant", "")] = {"name": e.get("variant", "")}
    return {"metrics": out}


@endpoint("events.scalar_metrics_iter_histogram")
def scalar_metrics_iter_histogram(data: dict, call: Call) -> dict:
    """Every scalar series of a task as x (iterations) and y (values), per metric and variant."""
    wanted = {m.get("metric") if isinstance(m, dict) else m for m in data.get("metrics") or []} - {None}
    out: dict = {}
    for e in _events(call.store, data.get("task") or "", "training_stats_scalar"):
        if wanted and e.get("metric") not in wanted:
            continue
        series = out.setdefault(e.get("metric", ""), {}).setdefault(
            e.get("variant", ""), {"name": e.get("variant", ""), "x": [], "y": []}
        )
        series["x"].append(e.get("iter") or 0)
        series["y"].append(e.get("value"))
    return out


@endpoint("events.multi_task_scalar_metrics_iter_histogram")
def multi_task_histogram(data: dict, call: Call) -> dict:
    out: dict = {}
    for task_id in data.get("tasks") or []:
        for metric, variants in scalar_metrics_iter_histogram({"task": task_id}, call).items():
            for variant, series in variants.items():
                out.setdefault(metric, {}).setdefault(variant, {})[task_id] = {**series, "name": task_id}
    return out


def _scrolled(events: list[dict], data: dict, key: str = "events") -> dict:
    start = int(data.get("scroll_id") or 0)
    size = int(data.get("batch_size") or data.get("count") or 500)
    chunk = events[start : start + size]
    return {key: chunk, "returned": len(chunk), "total": len(events), "scroll_id": str(start + len(chunk))}


@endpoint("events.get_scalar_metric_data")
def get_scalar_metric_data(data: dict, call: Call) -> dict:
    events = _events(call.store, data.get("task") or "", "training_stats_scalar", data.get("metric"))
    return _scrolled(events, data)


@endpoint("events.get_task_events")
def get_task_events(data: dict, call: Call) -> dict:
    events = _events(call.store, data.get("task") or "", data.get("event_type"))
    if data.get("metrics"):
        names = {m.get("metric") for m in data["metrics"]}
        events = [e for e in events if e.get("metric") in names]
    if data.get("order") == "desc":
        events = events[::-1]
    return _scrolled(events, data)


@endpoint("events.get_task_log")
def get_task_log(data: dict, call: Call) -> dict:
    events = _events(call.store, data.get("task") or "", "log")
    if data.get("navigate_earlier", True):
        events = events[::-1]
    return _scrolled(events, data)


@endpoint("events.get_task_plots", "events.get_multi_task_plots")
def get_task_plots(data: dict, call: Call) -> dict:
    events = _events(call.store, data.get("task") or "", "plot")
    return _scrolled(events, data, key="plots")


@endpoint("events.get_task_single_value_metrics")
def single_value_metrics(data: dict, call: Call) -> dict:
    out = []
    for task_id in data.get("tasks") or []:
        values = [e for e in _events(call.store, task_id, "training_stats_scalar") if e.get("iter") == -(2**31)]
        out.append({"task": task_id, "values": values})
    return {"tasks": out}


@endpoint("events.debug_images", "events.get_debug_image_sample")
def debug_images(data: dict, call: Call) -> dict:
    out = []
    for spec in data.get("metrics") or [{"task": data.get("task")}]:
        events = _events(call.store, spec.get("task") or "", "training_debug_image")
        out.append({"task": spec.get("task"), "iterations": [{"iter": e.get("iter"), "events": [e]} for e in events]})
    return {"metrics": out, "scroll_id": "0"}


@endpoint("events.delete_for_task")
def delete_for_task(data: dict, call: Call) -> dict:
    gone = call.store.events.pop(data.get("task") or "", [])
    return {"deleted": len(gone)}
