"""``queues.*`` and ``workers.*`` endpoints: FIFO queues of task ids, and the registry of polling agents."""

from __future__ import annotations

import re
import time

from .queries import run_query
from .registry import Call, endpoint
from .store import COMPANY, USER, ApiError, Store, new_id, now


def create_queue(store: Store, name: str, tags: list | None = None, system_tags: list | None = None) -> dict:
    """A new, empty queue."""
    if any(q["name"] == name for q in store.queues.values()):
        raise ApiError(f"Queue with this name already exists: {name}", subcode=701)
    stamp = now()
    queue = {
        "id": new_id(),
        "name": name,
        "display_name": name,
        "tags": list(tags or []),
        "system_tags": list(system_tags or []),
        "entries": [],
        "metadata": {},
        "created": stamp,
        "last_update": stamp,
        "company": COMPANY,
        "user": USER,
    }
    store.queues[queue["id"]] = queue
    return queue


def _queue_by_name(store: Store, name: str) -> dict | None:
    return next((q for q in store.queues.values() if q["name"] == name), None)


def enqueue_task(store: Store, task: dict, data: dict) -> dict:
    """Put a task at the end of a queue (by id, by name - created when missing - or the default one)."""
    from .tasks import set_status

    if data.get("queue"):
        queue = store.get("queues", data["queue"], "queue")
    elif data.get("queue_name"):
        queue = _queue_by_name(store, data["queue_name"]) or create_queue(store, data["queue_name"])
    else:
        queue = next((q for q in store.queues.values() if "default" in q["system_tags"]), None)
        if queue is None:
            raise ApiError("No queue given and no default queue", subcode=702)
    previous = task["status"]
    res = set_status(task, "queued", data, force=bool(data.get("force")))
    dequeue_task(store, task)  # a re-enqueued task leaves its earlier queue
    task.setdefault("execution", {})["queue"] = queue["id"]
    if previous != "queued":
        task["enqueue_status"] = previous
    queue["entries"].append({"task": task["id"], "added": now()})
    queue["last_update"] = now()
    return {"queued": 1, "updated": 1, "fields": {**res["fields"], "execution.queue": queue["id"]}}


def dequeue_task(store: Store, task: dict) -> dict:
    """Take a task off every queue that holds it; returns {"removed": n} like queues.remove_task."""
    removed = 0
    for queue in store.queues.values():
        before = len(queue["entries"])
        queue["entries"] = [e for e in queue["entries"] if e["task"] != task["id"]]
        removed += before - len(queue["entries"])
    return {"removed": removed} if removed else {}


@endpoint("queues.create")
def create(data: dict, call: Call) -> dict:
    return {"id": create_queue(call.store, data["name"], data.get("tags"), data.get("system_tags"))["id"]}


@endpoint("queues.get_all", "queues.get_all_ex")
def get_all(data: dict, call: Call) -> dict:
    queues, extra = run_query(call.store.queues.values(), data)
    return {"queues": queues, **extra}


@endpoint("queues.get_by_id")
def get_by_id(data: dict, call: Call) -> dict:
    from .store import clone_doc

    return {"queue": clone_doc(call.store.get("queues", data.get("queue"), "queue"))}


@endpoint("queues.get_default")
def get_default(data: dict, call: Call) -> dict:
    queue = next((q for q in call.store.queues.values() if "default" in q["system_tags"]), None)
    if queue is None:
        raise ApiError("No default queue", subcode=702)
    return {"id": queue["id"], "name": queue["name"]}


@endpoint("queues.get_next_task")
def get_next_task(data: dict, call: Call) -> dict:
    """Pop the first queued entry whose task is still queued (the server drops stale entries the same way)."""
    store = call.store
    queue = store.get("queues", data.get("queue"), "queue")
    store.polled_queues.add(queue["id"])
    while queue["entries"]:
        entry = queue["entries"].pop(0)
        task = store.tasks.get(entry["task"])
        if task and task["status"] == "queued":
            out: dict = {"entry": entry}
            if data.get("get_task_info"):
                out["task_info"] = {"company": COMPANY, "user": USER}
            return out
    return {}


@endpoint("queues.add_task")
def add_task(data: dict, call: Call) -> dict:
    queue = call.store.get("queues", data.get("queue"), "queue")
    queue["entries"].append({"task": data["task"], "added": now()})
    return {"added": 1}


@endpoint("queues.remove_task")
def remove_task(data: dict, call: Call) -> dict:
    queue = call.store.get("queues", data.get("queue"), "queue")
    before = len(queue["entries"])
    queue["entries"] = [e for e in queue["entries"] if e["task"] != data.get("task")]
    return {"removed": before - len(queue["entries"])}


@endpoint("queues.delete")
def delete(data: dict, call: Call) -> dict:
    queue = call.store.get("queues", data.get("queue"), "queue")
    if queue["entries"] and not data.get("force"):
        raise ApiError("Queue is not empty", subcode=703)
    call.store.queues.pop(queue["id"])
    return {"deleted": 1}


# --- workers -----------------------------------------------------------------------------------------------------


def _worker(store: Store, name: str) -> dict:
    worker = store.workers.get(name)
    if worker is None:
        stamp = now()
        worker = {"id": name, "key": name, "company": {"id": COMPANY}, "user": {"id": USER}, "register_time": stamp}
        store.workers[name] = worker
    worker["last_activity_time"] = now()
    worker["_seen"] = time.monotonic()
    return worker


def _queue_refs(store: Store, ids: list | None) -> list[dict]:
    refs = []
    for qid in ids or []:
        queue = store.queues.get(qid) or _queue_by_name(store, qid)
        if queue:
            refs.append({"id": queue["id"], "name": queue["name"], "num_tasks": len(queue["entries"])})
    return refs


@endpoint("workers.register")
def register(data: dict, call: Call) -> dict:
    worker = _worker(call.store, data["worker"])
    worker.update(queues=_queue_refs(call.store, data.get("queues")), tags=data.get("tags") or [])
    worker["timeout"] = data.get("timeout") or 600
    return {}


@endpoint("workers.unregister")
def unregister(data: dict, call: Call) -> dict:
    call.store.workers.pop(data.get("worker"), None)
    return {}


@endpoint("workers.status_report")
def status_report(data: dict, call: Call) -> dict:
    worker = _worker(call.store, data["worker"])
    if "queues" in data:
        worker["queues"] = _queue_refs(call.store, data.get("queues"))
    worker["task"] = {"id": data["task"]} if data.get("task") else None
    if data.get("task") and data["task"] in call.store.tasks:
        task = call.store.tasks[data["task"]]
        task["last_worker"], task["last_update"] = data["worker"], now()
    return {}


@endpoint("workers.get_all")
def workers_get_all(data: dict, call: Call) -> dict:
    pattern = data.get("worker_pattern")
    alive = [
        {k: v for k, v in w.items() if not k.startswith("_")}
        for w in call.store.workers.values()
        if time.monotonic() - w["_seen"] < w.get("timeout", 600) and (not pattern or re.search(pattern, w["id"]))
    ]
    return {"workers": alive}


@endpoint("workers.get_runtime_properties")
def get_runtime_properties(data: dict, call: Call) -> dict:
    return {"runtime_properties": []}


@endpoint("workers.set_runtime_properties")
def set_runtime_properties(data: dict, call: Call) -> dict:
    return {"added": []}
