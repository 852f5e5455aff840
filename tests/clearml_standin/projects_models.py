"""``projects.*`` and ``models.*`` endpoints.

Project names are full paths ("a/b/.pipelines/c"); creating one creates its missing parents, as the server does.
Projects with the system tag "hidden" (pipeline sub-projects) are left out of get_all unless ``search_hidden``
is set or ids are given. Models are "ready" once published.
"""

from __future__ import annotations

from .queries import run_query
from .registry import Call, endpoint
from .store import COMPANY, USER, ApiError, Store, clone_doc, new_id, now


def find_project(store: Store, name: str) -> dict | None:
    return next((p for p in store.projects.values() if p["name"] == name), None)


def find_or_create_project(store: Store, name: str, data: dict | None = None) -> str:
    """The id of the project with this full name, creating it and its parents when missing."""
    data = data or {}
    name = "/".join(part.strip() for part in name.split("/") if part.strip())
    found = find_project(store, name)
    if found:
        return found["id"]
    parent = name.rpartition("/")[0]
    parent_id = find_or_create_project(store, parent) if parent else None
    stamp = now()
    project = {
        "id": new_id(),
        "name": name,
        "basename": name.rpartition("/")[2],
        "description": data.get("description") or "",
        "tags": list(data.get("tags") or []),
        "system_tags": list(data.get("system_tags") or []),
        "default_output_destination": data.get("default_output_destination"),
        "created": stamp,
        "last_update": stamp,
        "company": COMPANY,
        "user": USER,
    }
    if parent_id:
        project["parent"] = parent_id
    store.projects[project["id"]] = project
    return project["id"]


def with_subprojects(store: Store, data: dict) -> dict:
    """The request with its ``project`` filter widened to sub-projects when ``include_subprojects`` is set."""
    if not data.get("include_subprojects") or not data.get("project"):
        return data
    wanted = data["project"] if isinstance(data["project"], list) else [data["project"]]
    names = [store.projects[p]["name"] for p in wanted if p in store.projects]
    extra = [p["id"] for p in store.projects.values() if any(p["name"].startswith(n + "/") for n in names)]
    return {**data, "project": [*wanted, *extra]}


@endpoint("projects.create")
def create_project(data: dict, call: Call) -> dict:
    if not (data.get("name") or "").strip():
        raise ApiError("Project name is required", subcode=403)
    if find_project(call.store, data["name"]):
        raise ApiError(f"Project with the same name already exists: {data['name']}", subcode=402)
    return {"id": find_or_create_project(call.store, data["name"], data)}


@endpoint("projects.get_all", "projects.get_all_ex")
def get_all_projects(data: dict, call: Call) -> dict:
    docs = list(call.store.projects.values())
    if not data.get("search_hidden") and not data.get("id"):
        docs = [p for p in docs if "hidden" not in p.get("system_tags", [])]
    if data.get("shallow_search") and not data.get("name") and not data.get("id"):
        parent = (data.get("parent") or [None])[0]
        docs = [p for p in docs if p.get("parent") == parent]
    query = {k: v for k, v in data.items() if k != "parent"}
    projects, extra = run_query(docs, query, pattern_fields=("name", "basename"))
    return {"projects": projects, **extra}


@endpoint("projects.get_by_id")
def get_project(data: dict, call: Call) -> dict:
    return {"project": clone_doc(call.store.get("projects", data.get("project"), "project"))}


@endpoint("projects.update")
def update_project(data: dict, call: Call) -> dict:
    project = call.store.get("projects", data.get("project"), "project")
    fields = {
        k: clone_doc(data[k])
        for k in ("name", "description", "tags", "system_tags", "default_output_destination")
        if k in data
    }
    project.update(fields, last_update=now())
    return {"updated": 1, "fields": fields}


@endpoint("projects.delete")
def delete_project(data: dict, call: Call) -> dict:
    project = call.store.get("projects", data.get("project"), "project")
    call.store.projects.pop(project["id"])
    return {"deleted": 1, "disassociated_tasks": 0, "deleted_models": 0, "deleted_tasks": 0, "urls": {}}


# --- models ------------------------------------------------------------------------------------------------------

MODEL_FIELDS = ("name", "comment", "tags", "system_tags", "framework", "design", "labels", "uri", "project", "task")
MODEL_FIELDS += ("parent", "ready")


def _new_model(store: Store, data: dict) -> dict:
    stamp = now()
    model = {
        "id": new_id(),
        "name": data.get("name") or "",
        "comment": "",
        "tags": [],
        "system_tags": [],
        "framework": "",
        "design": {},
        "labels": {},
        "uri": "",
        "ready": False,
        "metadata": {},
        "created": stamp,
        "last_update": stamp,
        "company": COMPANY,
        "user": USER,
    }
    model.update({k: clone_doc(data[k]) for k in MODEL_FIELDS if data.get(k) is not None})
    if isinstance(data.get("metadata"), list):
        model["metadata"] = {m["key"]: clone_doc(m) for m in data["metadata"]}
    store.models[model["id"]] = model
    return model


@endpoint("models.create")
def create_model(data: dict, call: Call) -> dict:
    return {"id": _new_model(call.store, data)["id"], "created": True}


def _edit_model(data: dict, call: Call) -> dict:
    model = call.store.get("models", data.get("model"), "model")
    fields = {k: clone_doc(data[k]) for k in MODEL_FIELDS if k in data and data[k] is not None}
    if isinstance(fields.get("design"), dict) and isinstance(model.get("design"), dict):
        fields["design"] = {**model["design"], **fields["design"]}
    model.update(fields, last_update=now())
    if data.get("iteration") is not None:
        model["last_iteration"] = data["iteration"]
    return {"updated": 1, "fields": fields}


models_update = endpoint("models.update")(_edit_model)
models_edit = endpoint("models.edit")(_edit_model)


@endpoint("models.update_for_task")
def update_for_task(data: dict, call: Call) -> dict:
    """Create (or override) a task's output model from its uri, as the SDK's legacy path does."""
    task = call.store.get("tasks", data.get("task"), "task")
    if data.get("override_model_id"):
        model = call.store.get("models", data["override_model_id"], "model")
        model.update({k: data[k] for k in ("uri", "name", "comment", "tags") if data.get(k) is not None})
        created = False
    else:
        model = _new_model(call.store, {**data, "project": task.get("project"), "task": task["id"]})
        created = True
    outputs = [m for m in task["models"].get("output", []) if m.get("model") != model["id"]]
    task["models"]["output"] = [*outputs, {"name": model["name"], "model": model["id"], "updated": now()}]
    return {"id": model["id"], "created": created, "updated": 0 if created else 1}


@endpoint("models.get_all", "models.get_all_ex")
def get_all_models(data: dict, call: Call) -> dict:
    models, extra = run_query(call.store.models.values(), with_subprojects(call.store, data))
    return {"models": models, **extra}


@endpoint("models.get_by_id")
def get_model(data: dict, call: Call) -> dict:
    return {"model": clone_doc(call.store.get("models", data.get("model"), "model"))}


@endpoint("models.get_by_task_id")
def get_model_by_task(data: dict, call: Call) -> dict:
    task = call.store.get("tasks", data.get("task"), "task")
    outputs = task["models"].get("output", [])
    if not outputs:
        raise ApiError(f"No output model for task {task['id']}", subcode=101)
    return {"model": clone_doc(call.store.get("models", outputs[-1]["model"], "model"))}


@endpoint("models.set_ready")
def set_ready(data: dict, call: Call) -> dict:
    model = call.store.get("models", data.get("model"), "model")
    model["ready"], model["last_update"] = True, now()
    published_task = {}
    task = call.store.tasks.get(model.get("task") or "")
    if data.get("publish_task", True) and task and task["status"] != "published":
        from .tasks import set_status

        published_task = {"id": task["id"], "data": set_status(task, "published", {}, force=bool(data.get("force")))}
    return {"updated": 1, "published_task": published_task}


@endpoint("models.publish_many")
def publish_many(data: dict, call: Call) -> dict:
    done = [{"id": m, **set_ready({**data, "model": m}, call)} for m in data.get("ids") or []]
    return {"succeeded": done, "failed": []}


@endpoint("models.delete")
def delete_model(data: dict, call: Call) -> dict:
    model = call.store.get("models", data.get("model"), "model")
    call.store.models.pop(model["id"])
    return {"deleted": True, "url": model.get("uri")}


@endpoint("models.archive_many")
def archive_models(data: dict, call: Call) -> dict:
    for model_id in data.get("ids") or []:
        model = call.store.get("models", model_id, "model")
        model["system_tags"] = sorted({*model["system_tags"], "archived"})
    return {"succeeded": [{"id": m} for m in data.get("ids") or []], "failed": []}


@endpoint("models.add_or_update_metadata")
def add_or_update_metadata(data: dict, call: Call) -> dict:
    model = call.store.get("models", data.get("model"), "model")
    if data.get("replace_metadata"):
        model["metadata"] = {}
    for item in data.get("metadata") or []:
        model.setdefault("metadata", {})[item["key"]] = clone_doc(item)
    return {"updated": 1}


@endpoint("models.delete_metadata")
def delete_metadata(data: dict, call: Call) -> dict:
    model = call.store.get("models", data.get("model"), "model")
    for key in data.get("keys") or []:
        model.get("metadata", {}).pop(key, None)
    return {"updated": 1}
