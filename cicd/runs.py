"""Pipeline runs as CI sees them: the run of a commit, what its steps decided, and production.

Two sources with one interface, so every CI script also runs without a server:

* :class:`ServerRuns`: a ClearML server. A run is a completed pipeline controller task whose
  recorded commit (``script.version_num``) is the pull request's; production is the pipeline
  whose bundle model is tagged ``production`` (what the server serves), else the pipeline
  tagged ``production``.
* :class:`OfflineRuns`: the embedded default. A run is a folder under ``runs/`` with the
  ``summary.json`` the pipeline wrote and its offline ClearML sessions; production is
  ``runs/production.json``.

Artifacts are read through the ClearML SDK in both cases (offline, from the run's sessions).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from pose2gloss.bundle.files import PRODUCTION_POINTER, production_metrics
from pose2gloss.evaluation.promotion import Contender, Decision, record_locally
from pose2gloss.orchestration import artifacts, registry, tracking
from pose2gloss.orchestration.pipeline import PIPELINE_NAME

PRODUCTION_TAG = "production"
# Which step's artifact holds what; found on the step tasks by artifact name, whatever the task is called.
ARTIFACTS = {"evaluation": "metrics", "predictions": "test_predictions", "selection": "selection", "hpo": "hpo_result"}
STEP_OF = {"evaluation": "model_evaluation", "predictions": "model_evaluation"}
STEP_OF.update({"selection": "model_selection", "hpo": "hyperparameter_tuning"})
SCRIPT_OF = {
    "model_selection": "step5_model_selection",
    "hyperparameter_tuning": "step6_hyperparameter_tuning",
    "model_evaluation": "step7_model_evaluation",
}


# Pipelines and their steps live in hidden projects (<project>/.pipelines/<name>): ask for those too.
HIDDEN_TOO = {"search_hidden": True, "_allow_extra_fields_": True}


class RunNotFound(LookupError):
    """No pipeline run matches; the message says where and what was looked for."""


@dataclass
class RunView:
    """One pipeline run: identity, where to look at it, and its steps' decisions."""

    pipeline_id: str
    status: str
    commit: str
    link: str  # the ClearML web page, or the run folder
    evaluation: dict[str, Any] | None = None  # step 7 "metrics": test top-1/top-5, test_set, model
    selection: dict[str, Any] | None = None  # step 5 "selection": the winner and every candidate
    hpo: dict[str, Any] | None = None  # step 6 "hpo_result"
    predictions: pd.DataFrame | None = None  # step 7 "test_predictions": one row per test sequence
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific (the offline summary, the task)

    def contender(self) -> Contender:
        if self.evaluation is None:
            raise RunNotFound(f"pipeline {self.pipeline_id} has no evaluation metrics (status {self.status})")
        return Contender.from_record({**self.evaluation, "pipeline_id": self.pipeline_id})


class RunSource(Protocol):
    def find(self, commit: str = "", run: str = "", tags: list[str] | None = None) -> RunView: ...
    def production(self) -> RunView | None: ...
    def make_production(self, run: RunView, decision: Decision) -> str: ...


# ---------------------------------------------------------------------------------------------
# Offline: run folders and runs/production.json


@contextmanager
def _sessions_of(run_dir: Path) -> Iterator[None]:
    """Point the ClearML SDK at a run's offline sessions for the duration of the block."""
    from clearml import Task

    saved = os.environ.get("CLEARML_CACHE_DIR")
    os.environ["CLEARML_CACHE_DIR"] = str((run_dir / "clearml").resolve())
    Task.set_offline(offline_mode=True)  # the environment variable alone is read when clearml is imported
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CLEARML_CACHE_DIR", None)
        else:
            os.environ["CLEARML_CACHE_DIR"] = saved


@dataclass
class OfflineRuns:
    runs_dir: Path = Path("runs")

    def run_dirs(self) -> list[Path]:
        """Run folders with a summary, newest first."""
        found = [p.parent for p in Path(self.runs_dir).glob("*/summary.json")]
        return sorted(found, key=lambda p: p.name, reverse=True)

    def find(self, commit: str = "", run: str = "", tags: list[str] | None = None) -> RunView:
        """The run folder ``run`` (a path or a name under runs/), else the newest run (of ``commit``, or
        carrying any of ``tags``, given with ``--tag``)."""
        if run:
            folder = Path(run) if Path(run).is_dir() else Path(self.runs_dir) / run
            if not (folder / "summary.json").is_file():
                raise RunNotFound(f"{folder}: no summary.json; not a pipeline run folder")
            return self.load(folder)
        views = (self.load(folder) for folder in self.run_dirs())
        for view in views:
            tagged = not tags or set(tags) & set(view.extra["summary"].get("tags") or [])
            if (not commit or view.commit.startswith(commit)) and tagged:
                return view
        wanted = (f" of commit {commit}" if commit else "") + (f" tagged {' or '.join(tags)}" if tags else "")
        raise RunNotFound(f"no pipeline run{wanted} under {self.runs_dir} (run: python pipeline_from_tasks.py)")

    def load(self, folder: Path) -> RunView:
        summary = json.loads((folder / "summary.json").read_text())
        nodes = {n["name"]: n for n in summary["nodes"]}
        with _sessions_of(folder):
            from clearml import Task

            controller = Task.get_task(task_id=summary["pipeline_id"])
            view = RunView(
                summary["pipeline_id"],
                summary["status"],
                str(controller.data.script.version_num or "") if controller.data.script else "",
                str(folder.resolve()),
                extra={
                    "summary": summary,
                    "failures": [
                        {"step": n["name"], "status": n["status"], "reason": n.get("error", "")}
                        for n in summary["nodes"]
                        if n["status"] in ("failed", "aborted")
                    ],
                },
            )
            for key, artifact in ARTIFACTS.items():
                node = nodes.get(STEP_OF[key])
                if node and node["status"] == "completed" and node["task_id"]:
                    _attach(view, key, artifacts.artifact_local_copy(node["task_id"], artifact))
        return view

    def production(self) -> RunView | None:
        record = production_metrics(self.runs_dir)
        if record is None:
            return None
        view = RunView(
            str(record.get("pipeline_id", "")),
            "production",
            "",
            str(Path(self.runs_dir) / PRODUCTION_POINTER),
            evaluation=record,
            extra={"record": record},
        )
        if record.get("test_predictions") and Path(record["test_predictions"]).is_file():
            view.predictions = pd.read_csv(record["test_predictions"])
        return view

    def make_production(self, run: RunView, decision: Decision) -> str:
        folder = Path(run.link)
        predictions = folder / "test_predictions.csv"
        pointer = record_locally(
            decision, folder / "bundle", self.runs_dir, predictions if predictions.is_file() else None
        )
        return f"{pointer} now points at {folder / 'bundle'}"


# ---------------------------------------------------------------------------------------------
# Server: pipeline controller tasks and the production tag


@dataclass
class ServerRuns:
    pipeline_name: str = PIPELINE_NAME
    tag: str = PRODUCTION_TAG

    def _pipelines(self, task_filter: dict[str, Any], tags: list[str] | None = None) -> list[Any]:
        from clearml import Task

        wanted = {"type": ["controller"], "order_by": ["-last_update"], **HIDDEN_TOO, **task_filter}
        # From its second run on, the controller is named "<name> #<run number>".
        pattern = rf"^{re.escape(self.pipeline_name)}( #\d+)?$"
        return Task.get_tasks(project_name=None, task_name=pattern, tags=tags, task_filter=wanted)

    def find(self, commit: str = "", run: str = "", tags: list[str] | None = None) -> RunView:
        """The pipeline ``run`` (an id, whatever its status), else the newest completed pipeline run carrying
        any of ``tags`` (e.g. ``pr-12``, ``sha-<commit>``), else the newest completed one of ``commit``."""
        from clearml import Task

        if run:
            return self.load(Task.get_task(task_id=run))
        if tags:
            found = self._pipelines({"status": ["completed"]}, tags=list(tags))
            if not found:
                raise RunNotFound(f"no completed '{self.pipeline_name}' pipeline tagged {' or '.join(tags)}")
            return self.load(found[0])
        if not commit:
            raise RunNotFound("give the pull request's commit (--commit), its tags (--tag) or a pipeline id (--run)")
        match = {"status": ["completed"], "_all_": {"fields": ["script.version_num"], "pattern": f"^{commit}"}}
        found = self._pipelines(match)
        if not found:
            raise RunNotFound(f"no completed '{self.pipeline_name}' pipeline on the server for commit {commit}")
        return self.load(found[0])

    def load(self, pipeline: Any) -> RunView:
        from clearml import Task

        script = pipeline.data.script
        view = RunView(
            pipeline.id,
            str(pipeline.status),
            str(getattr(script, "version_num", "") or ""),
            pipeline.get_output_log_web_page().rsplit("/output", 1)[0],
            extra={"task": pipeline},
        )
        steps = Task.get_tasks(task_filter={"parent": pipeline.id, **HIDDEN_TOO})
        view.extra["failures"] = [
            {"step": step.name, "status": str(step.status), "reason": _why(step)}
            for step in steps
            if str(step.status) in ("failed", "stopped")
        ]
        for key, artifact in ARTIFACTS.items():
            holder = next((step for step in steps if artifact in step.artifacts and _is_step(step, key)), None)
            if holder is not None:
                _attach(view, key, Path(holder.artifacts[artifact].get_local_copy(raise_on_error=True)))
                view.extra.setdefault(f"{key}_task", holder)
        return view

    def production(self) -> RunView | None:
        """The pipeline whose step 7 published the bundle model tagged production (what the server
        serves, and what step 7's own check moves); else the newest pipeline tagged production."""
        from clearml import Model, Task

        found = registry.production_bundle()
        if found is not None:
            evaluation = Task.get_task(task_id=Model(model_id=found[0]).task)
            if evaluation.parent:
                return self.load(Task.get_task(task_id=evaluation.parent))
        tagged = self._pipelines({"status": ["completed", "published"]}, tags=[self.tag])
        return self.load(tagged[0]) if tagged else None

    def make_production(self, run: RunView, decision: Decision) -> str:
        """Tag the run ``production`` and take the tag off every other pipeline that has it.

        If step 7 published the bundle as a model, that model gets the tag too (the server
        looks for a tagged model first), through :func:`pose2gloss.orchestration.registry.move_production_tag`.
        """
        task = run.extra["task"]
        moved = []
        for other in self._pipelines({}, tags=[self.tag]):
            if other.id != task.id:
                other.set_tags([t for t in other.get_tags() if t != self.tag])
                moved.append(other.id)
        task.add_tags([self.tag])
        said = f"tagged pipeline {task.id} '{self.tag}'" + (f"; removed the tag from {moved}" if moved else "")
        evaluation = run.extra.get("evaluation_task")
        outputs = evaluation.models["output"] if evaluation is not None else []
        bundles = [m for m in outputs if m.name == registry.BUNDLE_MODEL]
        if bundles:
            untagged = registry.move_production_tag(bundles[-1].id)
            said += f"; tagged bundle model {bundles[-1].id}" + (f", untagged {untagged}" if untagged else "")
        return said


def _why(step: Any, tail_lines: int = 8) -> str:
    """A failed step's status message and the end of its console log, as the server has them."""
    message = step.data.status_message or step.data.status_reason or ""
    return "\n".join([message, *artifacts.console_tail(step, tail_lines)]).strip()


def _is_step(step: Any, key: str) -> bool:
    """A pipeline's step task is named after its node (or, uncloned, its script)."""
    return step.name in (STEP_OF[key], SCRIPT_OF[STEP_OF[key]])


def _attach(view: RunView, key: str, path: Path) -> None:
    if key == "predictions":
        view.predictions = pd.read_csv(path)
    else:
        setattr(view, key, json.loads(Path(path).read_text()))


def source(offline: bool, runs_dir: str | Path = "runs") -> RunSource:
    """Offline run folders when asked or when no server is configured, else the server."""
    if offline or not tracking.server_configured():
        return OfflineRuns(Path(runs_dir))
    return ServerRuns()
