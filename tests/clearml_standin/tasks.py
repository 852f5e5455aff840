"""``tasks.*`` endpoints: lifecycle and status transitions, clone, queueing, parameters, artifacts, models.

Semantics follow clearml-server's apiserver/services/tasks.py and apiserver/bll/task/.
"""

from __future__ import annotations

from .projects_models import with_subprojects
from .queries import run_query
from .queues import dequeue_task, enqueue_task
from .registry import Call, endpoint
from .store import COMPANY, USER, ApiError, Store, clone_doc, new_id, now

# Allowed status changes (apiserver/bll/task/utils.py), unless force is given.
TRANSITIONS: dict[str, set[str]] = {
    "created": {"queued", "in_progress"},
    "queued": {"created", "in_progress", "stopped"},
    "in_progress": {"stopped", "failed", "created", "completed"},
    "stopped": {"closed", "created", "failed", "queued", "in_progress", "published", "publishing", "completed"},
    "closed": {"created", "failed", "published", "publishing", "stopped"},
    "failed": {"created", "stopped", "published", "queued"},
    "publishing": {"published"},
    "published": set(),
    "completed": {"published", "in_progress", "created"},
}
CREATE_FIELDS = (
    "name",
    "tags",
    "system_tags",
    "type",
    "comment",
    "parent",
    "project",
    "models",
    "container",
    "execution",
    "hyperparams",
    "configuration",
    "script",
    "runtime",
)
EMBEDDED = ("script", "execution", "models", "output", "container")
ARTIFACTS = "execution.artifacts"


def get_task(store: Store, task_id: str | None) -> dict:
    """The stored task, or the server's "invalid task id" error."""
    return store.get("tasks", task_id, "task")


def touch(task: dict, changed: bool = True) -> None:
    stamp = now()
    task["last_update"] = stamp
    if changed:
        task["last_change"] = stamp


def set_status(task: dict, new: str, data: dict, force: bool = False, **fields) -> dict:
    """Change a task's status as ChangeStatusRequest does; returns the "updated"/"fields" answer."""
    current = task["status"]
    if new != current and not force and new not in TRANSITIONS.get(current, set()):
        raise ApiError(f"Invalid status change: current_status={current}, new_status={new}", subcode=110)
    changed = {
        "status": new,
        "status_reason": data.get("status_reason") or "",
        "status_message": data.get("status_message") or "",
        "status_changed": now(),
        **fields,
    }
    if new == "queued":
        task["system_tags"] = [t for t in task.get("system_tags", []) if t != "development"]
    task.update(changed)
    touch(task)
    return {"updated": 1, "fields": changed}


def _artifacts_list(execution: dict | None) -> list[dict]:
    arts = (execution or {}).get("artifacts") or []
    return list(arts.values()) if isinstance(arts, dict) else list(arts)


def new_task_doc(data: dict, call: Call) -> dict:
    """A task document from a tasks.create body, with the server's defaults."""
    stamp = now()
    task = {
        "id": new_id(),
        "name": data.get("name") or "",
        "type": data.get("type") or "training",
        "status": "created",
        "status_reason": "",
        "status_message": "",
        "status_changed": stamp,
        "comment": data.get("comment") or "",
        "tags": list(data.get("tags") or []),
        "system_tags": list(data.get("system_tags") or []),
        "user": USER,
        "company": COMPANY,
        "created": stamp,
        "last_update": stamp,
        "last_change": stamp,
        "last_iteration": 0,
        "last_metrics": {},
        "script": clone_doc(data.get("script") or {}),
        "execution": clone_doc(data.get("execution") or {}),
        "hyperparams": clone_doc(data.get("hyperparams") or {}),
        "configuration": clone_doc(data.get("configuration") or {}),
        "container": clone_doc(data.get("container") or {}),
        "models": {"input": [], "output": [], **clone_doc(data.get("models") or {})},
        "runtime": clone_doc(data.get("runtime") or {}),
        "output": {"destination": data["output_dest"]} if data.get("output_dest") else {},
    }
    for key in ("project", "parent"):
        if data.get(key):
            task[key] = data[key]
    task["execution"]["artifacts"] = _artifacts_list(task["execution"])
    return task


@endpoint("tasks.create")
def create(data: dict, call: Call) -> dict:
    if data.get("project"):
        call.store.get("projects", data["project"], "project")
    task = new_task_doc(data, call)
    call.store.tasks[task["id"]] = task
    return {"id": task["id"]}


@endpoint("tasks.validate")
def validate(data: dict, call: Call) -> dict:
    return {}


@endpoint("tasks.get_by_id")
def get_by_id(data: dict, call: Call) -> dict:
    return {"task": clone_doc(get_task(call.store, data.get("task")))}


@endpoint("tasks.get_all", "tasks.get_all_ex")
def get_all(data: dict, call: Call) -> dict:
    docs = call.store.tasks.values()
    if not data.get("search_hidden") and not data.get("id"):
        docs = [d for d in docs if "hidden" not in d.get("system_tags", [])]
    tasks, extra = run_query(docs, with_subprojects(call.store, data))
    return {"tasks": tasks, **extra}


@endpoint("tasks.get_types")
def get_types(data: dict, call: Call) -> dict:
    return {"types": sorted({t["type"] for t in call.store.tasks.values()})}


def _merge_fields(task: dict, data: dict, keys: tuple[str, ...]) -> dict:
    fields = {k: clone_doc(data[k]) for k in keys if k in data}
    if "output_dest" in data:
        fields["output"] = {**task.get("output", {}), "destination": data["output_dest"]}
    for key, value in list(fields.items()):
        if key in EMBEDDED and isinstance(value, dict) and isinstance(task.get(key), dict):
            fields[key] = {**task[key], **value}
    if "execution" in fields:
        fields["execution"]["artifacts"] = _artifacts_list(fields["execution"])
    task.update(fields)
    touch(task)
    return fields


@endpoint("tasks.edit")
def edit(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    if not data.get("force") and task["status"] != "created":
        raise ApiError(f"Invalid task status (expected=created, status={task['status']})", subcode=110)
    fields = _merge_fields(task, data, CREATE_FIELDS)
    return {"updated": 1, "fields": fields}


@endpoint("tasks.update")
def update(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    fields = _merge_fields(task, data, ("name", "comment", "tags", "system_tags", "project", "parent"))
    if "output__error" in data:
        task.setdefault("output", {})["error"] = data["output__error"]
    return {"updated": 1, "fields": fields}


@endpoint("tasks.update_batch")
def update_batch(data: dict, call: Call) -> dict:
    for item in data.get("items", []):
        update(item, call)
    return {"updated": len(data.get("items", []))}


@endpoint("tasks.update_tags")
def update_tags(data: dict, call: Call) -> dict:
    for task_id in data.get("ids") or []:
        task = get_task(call.store, task_id)
        for key in ("tags", "system_tags"):
            add, remove = data.get(f"add_{key}") or [], set(data.get(f"remove_{key}") or [])
            task[key] = [t for t in task.get(key, []) if t not in remove] + [t for t in add if t not in task[key]]
    return {"updated": len(data.get("ids") or [])}


@endpoint("tasks.set_requirements")
def set_requirements(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    task.setdefault("script", {})["requirements"] = clone_doc(data.get("requirements") or {})
    touch(task)
    return {"updated": 1, "fields": {"script.requirements": data.get("requirements")}}


@endpoint("tasks.edit_runtime")
def edit_runtime(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    task.setdefault("runtime", {}).update(clone_doc(data.get("runtime") or {}))
    touch(task, changed=False)
    return {"updated": 1}


@endpoint("tasks.clone")
def clone(data: dict, call: Call) -> dict:
    store, src = call.store, get_task(call.store, data.get("task"))
    execution = clone_doc(src.get("execution") or {})
    overrides = clone_doc(data.get("execution_overrides") or {})
    overrides.pop("model", None)
    execution.update(overrides)
    execution["artifacts"] = [a for a in _artifacts_list(execution) if a.get("mode", "output") != "output"]
    execution.pop("queue", None)
    project = data.get("new_task_project")
    extra: dict = {}
    if not project and data.get("new_project_name"):
        from .projects_models import find_or_create_project

        project = find_or_create_project(store, data["new_project_name"])
        extra["new_project"] = {"id": project, "name": data["new_project_name"]}
    system_tags = data.get("new_task_system_tags") or [
        t for t in src.get("system_tags", []) if t not in ("development", "archived")
    ]
    stamp = now()
    task = {
        **new_task_doc({}, call),
        "name": data.get("new_task_name") or src["name"],
        "comment": data.get("new_task_comment") or src.get("comment", ""),
        "parent": data.get("new_task_parent") or src.get("parent") or src["id"],
        "tags": list(data.get("new_task_tags") or src.get("tags", [])),
        "system_tags": list(system_tags),
        "type": src.get("type"),
        "script": clone_doc(src.get("script") or {}),
        "output": {"destination": src["output"]["destination"]} if src.get("output", {}).get("destination") else {},
        "models": {
            "input": clone_doc(data.get("new_task_input_models") or src["models"].get("input", [])),
            "output": [],
        },
        "container": clone_doc(data.get("new_task_container") or src.get("container") or {}),
        "execution": execution,
        "configuration": clone_doc(data.get("new_task_configuration") or src.get("configuration") or {}),
        "hyperparams": clone_doc(data.get("new_task_hyperparams") or src.get("hyperparams") or {}),
        "created": stamp,
    }
    if project or src.get("project"):
        task["project"] = project or src.get("project")
    store.tasks[task["id"]] = task
    return {"id": task["id"], **extra}


def _status_call(data: dict, call: Call, new: str, **fields) -> dict:
    task = get_task(call.store, data.get("task"))
    return set_status(task, new, data, force=bool(data.get("force")), **fields)


@endpoint("tasks.started")
def started(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    extra = {} if task["status"] == "in_progress" and task.get("started") else {"started": now(), "completed": None}
    if call.worker:
        extra["last_worker"] = call.worker
    res = set_status(task, "in_progress", data, force=bool(data.get("force")), **extra)
    return {**res, "started": 1}


@endpoint("tasks.stopped")
def stopped(data: dict, call: Call) -> dict:
    return _status_call(data, call, "stopped", completed=now())


@endpoint("tasks.failed")
def failed(data: dict, call: Call) -> dict:
    return _status_call(data, call, "failed", completed=now())


@endpoint("tasks.close")
def close(data: dict, call: Call) -> dict:
    return _status_call(data, call, "closed")


@endpoint("tasks.completed")
def completed(data: dict, call: Call) -> dict:
    res = _status_call(data, call, "completed", completed=now())
    if data.get("publish"):
        publish({**data, "force": True}, call)
    return res


@endpoint("tasks.stop")
def stop(data: dict, call: Call) -> dict:
    """Queued, development or worker-less tasks stop at once; a task run by an agent is asked to ("stopping")."""
    task = get_task(call.store, data.get("task"))
    queued = task["status"] == "queued"
    if queued or "development" in task.get("system_tags", []) or not task.get("last_worker"):
        if queued:
            dequeue_task(call.store, task)
        msg = {**data, "status_message": "Stopped by Stand-in User"}
        return set_status(task, "stopped", msg, force=bool(data.get("force")), completed=now())
    return set_status(task, task["status"], {**data, "status_message": "stopping"}, force=True)


@endpoint("tasks.publish")
def publish(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    res = set_status(task, "published", data, force=bool(data.get("force")), published=now())
    if data.get("publish_model", True):
        for item in task["models"].get("output", []):
            model = call.store.models.get(item.get("model"))
            if model:
                model["ready"] = True
    return res


@endpoint("tasks.reset")
def reset(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    if task["status"] == "published" and not data.get("force"):
        raise ApiError("Invalid task status: published", subcode=110)
    dequeued = dequeue_task(call.store, task) if task["status"] == "queued" else {}
    call.store.events.pop(task["id"], None)
    deleted_models = 0
    if data.get("delete_output_models", True):
        for item in task["models"].get("output", []):
            model = call.store.models.get(item.get("model"))
            if model and not model.get("ready"):
                call.store.models.pop(model["id"])
                deleted_models += 1
    task["models"]["output"] = []
    task["execution"]["artifacts"] = [a for a in _artifacts_list(task["execution"]) if a.get("mode") == "input"]
    task.update(last_iteration=0, last_metrics={}, output={"destination": task.get("output", {}).get("destination")})
    for key in ("started", "completed", "published", "last_worker"):
        task.pop(key, None)
    if data.get("clear_all"):
        task["runtime"] = {}
    res = set_status(task, "created", {"status_reason": "reset", "status_message": "reset"}, force=True)
    return {**res, "dequeued": dequeued, "deleted_models": deleted_models, "events": {"deleted": 0}, "urls": {}}


@endpoint("tasks.archive")
def archive(data: dict, call: Call) -> dict:
    for task_id in data.get("tasks") or []:
        task = get_task(call.store, task_id)
        if "archived" not in task["system_tags"]:
            task["system_tags"].append("archived")
    return {"archived": len(data.get("tasks") or [])}


@endpoint("tasks.delete")
def delete(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    if task["status"] != "created" and not data.get("force"):
        raise ApiError(f"Invalid task status (expected=created, status={task['status']})", subcode=110)
    if task["status"] == "queued":
        dequeue_task(call.store, task)
    call.store.tasks.pop(task["id"])
    call.store.events.pop(task["id"], None)
    return {"deleted": 1, "updated_children": 0, "updated_models": 0, "events": {}, "urls": {}}


@endpoint("tasks.ping")
def ping(data: dict, call: Call) -> dict:
    touch(get_task(call.store, data.get("task")), changed=False)
    return {}


@endpoint("tasks.enqueue")
def enqueue(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    return enqueue_task(call.store, task, data)


@endpoint("tasks.dequeue")
def dequeue(data: dict, call: Call) -> dict:
    """Remove from the queues; a queued or running task then takes ``new_status`` (default: created)."""
    task = get_task(call.store, data.get("task"))
    dequeue_task(call.store, task)
    if task["status"] not in ("queued", "in_progress"):
        return {"dequeued": 1, "updated": 0}
    new = data.get("new_status") or task.pop("enqueue_status", None) or "created"
    return {"dequeued": 1, **set_status(task, new, data, force=True)}


# --- parameters --------------------------------------------------------------------------------------------------


def _editable(call: Call, data: dict) -> dict:
    task = get_task(call.store, data.get("task"))
    if not data.get("force") and task["status"] not in ("created", "in_progress"):
        raise ApiError(f"Invalid task status (expected=created, status={task['status']})", subcode=110)
    return task


@endpoint("tasks.edit_hyper_params")
def edit_hyper_params(data: dict, call: Call) -> dict:
    task = _editable(call, data)
    params, mode = task.setdefault("hyperparams", {}), data.get("replace_hyperparams") or "none"
    if mode == "all":
        params.clear()
    items = data.get("hyperparams") or []
    if mode == "section":
        for section in {p.get("section") or "" for p in items}:
            params.pop(section, None)
    for item in items:
        section, name = item.get("section") or "", item["name"]
        params.setdefault(section, {})[name] = {"section": section, **clone_doc(item)}
    touch(task)
    return {"updated": 1}


@endpoint("tasks.delete_hyper_params")
def delete_hyper_params(data: dict, call: Call) -> dict:
    task = _editable(call, data)
    params = task.setdefault("hyperparams", {})
    for item in data.get("hyperparams") or []:
        section = item.get("section") or ""
        if item.get("name"):
            params.get(section, {}).pop(item["name"], None)
        else:
            params.pop(section, None)
    touch(task)
    return {"deleted": len(data.get("hyperparams") or [])}


@endpoint("tasks.get_hyper_params")
def get_hyper_params(data: dict, call: Call) -> dict:
    out = []
    for task_id in data.get("tasks") or []:
        task = get_task(call.store, task_id)
        items = [clone_doc(p) for sec in task.get("hyperparams", {}).values() for p in sec.values()]
        out.append({"task": task_id, "hyperparams": items})
    return {"params": out}


@endpoint("tasks.edit_configuration")
def edit_configuration(data: dict, call: Call) -> dict:
    task = _editable(call, data)
    conf = task.setdefault("configuration", {})
    if data.get("replace_configuration"):
        conf.clear()
    for item in data.get("configuration") or []:
        conf[item["name"]] = clone_doc(item)
    touch(task)
    return {"updated": 1}


@endpoint("tasks.delete_configuration")
def delete_configuration(data: dict, call: Call) -> dict:
    task = _editable(call, data)
    for name in data.get("configuration") or []:
        task.get("configuration", {}).pop(name, None)
    return {"deleted": len(data.get("configuration") or [])}


@endpoint("tasks.get_configurations")
def get_configurations(data: dict, call: Call) -> dict:
    names, out = data.get("names"), []
    for task_id in data.get("tasks") or []:
        conf = get_task(call.store, task_id).get("configuration", {})
        out.append(
            {"task": task_id, "configuration": [clone_doc(c) for n, c in conf.items() if not names or n in names]}
        )
    return {"configurations": out}


@endpoint("tasks.get_configuration_names")
def get_configuration_names(data: dict, call: Call) -> dict:
    out = [
        {"task": t, "names": sorted(get_task(call.store, t).get("configuration", {}))} for t in data.get("tasks") or []
    ]
    return {"configurations": out}


# --- artifacts and models ----------------------------------------------------------------------------------------


@endpoint("tasks.add_or_update_artifacts")
def add_or_update_artifacts(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    arts = {(a["key"], a.get("mode", "output")): a for a in _artifacts_list(task["execution"])}
    for art in data.get("artifacts") or []:
        art = {"mode": "output", **clone_doc(art)}
        arts[(art["key"], art["mode"])] = art
    task["execution"]["artifacts"] = list(arts.values())
    touch(task, changed=False)
    return {"updated": 1}


@endpoint("tasks.delete_artifacts")
def delete_artifacts(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    gone = {(a["key"], a.get("mode", "output")) for a in data.get("artifacts") or []}
    kept = [a for a in _artifacts_list(task["execution"]) if (a["key"], a.get("mode", "output")) not in gone]
    deleted = len(task["execution"]["artifacts"]) - len(kept)
    task["execution"]["artifacts"] = kept
    return {"deleted": deleted}


@endpoint("tasks.add_or_update_model")
def add_or_update_model(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    kind = data.get("type") or "output"
    items = [m for m in task["models"].get(kind, []) if m.get("name") != data.get("name")]
    items.append({"name": data.get("name"), "model": data.get("model"), "updated": now()})
    task["models"][kind] = items
    if data.get("iteration") is not None:
        task["last_iteration"] = max(task.get("last_iteration") or 0, int(data["iteration"]))
    touch(task)
    return {"updated": 1}


@endpoint("tasks.delete_models")
def delete_models(data: dict, call: Call) -> dict:
    task = get_task(call.store, data.get("task"))
    for item in data.get("models") or []:
        kind = item.get("type") or "output"
        task["models"][kind] = [m for m in task["models"].get(kind, []) if m.get("name") != item.get("name")]
    return {"updated": 1}
