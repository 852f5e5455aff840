"""How the server-only paths are configured (fakes stand in for the server), and real runs when one is set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pose2gloss import pipeline, tracking

REPO = Path(__file__).resolve().parents[1]
SERVER = bool(os.environ.get("CLEARML_API_HOST") and os.environ.get("CLEARML_API_ACCESS_KEY"))


class RecordingController:
    instances: list["RecordingController"] = []

    def __init__(self, **kwargs):
        self.kwargs, self.steps, self.started = kwargs, [], None
        self.instances.append(self)

    def set_default_execution_queue(self, queue):
        self.default_queue = queue

    def add_step(self, **kwargs):
        self.steps.append(kwargs)

    def start(self, queue):
        self.started = ("remote", queue)

    def start_locally(self, run_pipeline_steps_locally):
        self.started = ("local", run_pipeline_steps_locally)


def test_server_pipeline_clones_base_tasks_onto_queues(monkeypatch):
    steps = pipeline.build_steps()
    monkeypatch.setattr(pipeline, "register_base_tasks", lambda s: {x.name: f"base-{x.name}" for x in s})
    monkeypatch.setattr(pipeline, "PipelineController", RecordingController)
    result = pipeline.run_pipeline(steps, offline=False, cpu_queue="cpu", gpu_queue="gpu", controller_queue="services")
    assert result is None
    controller = RecordingController.instances[-1]
    assert controller.started == ("remote", "services")
    assert controller.kwargs["pool_frequency"] == pipeline.SERVER_POLL_MINUTES
    added = {s["name"]: s for s in controller.steps}
    assert [s["name"] for s in controller.steps] == [s.name for s in steps]
    for name in ("train_gislr", "train_convnexttiny"):
        assert added[name]["execution_queue"] == "gpu"
    for name in ("data_splitting", "model_selection", "hyperparameter_tuning", "model_evaluation"):
        assert added[name]["execution_queue"] == "cpu"
    assert all(s["clone_base_task"] and not s["cache_executed_step"] for s in controller.steps)
    assert added["hyperparameter_tuning"]["parameter_override"]["General/execution_queue"] == "gpu"
    assert added["model_selection"]["parents"] == ["train_gislr", "train_convnexttiny"]
    assert added["train_gislr"]["base_task_id"] == "base-train_gislr"
    assert all(k.startswith("General/") for s in controller.steps for k in s["parameter_override"])


def test_output_model_is_published_with_the_weights(monkeypatch, tmp_path):
    calls = {}

    class FakeOutputModel:
        def __init__(self, **kwargs):
            calls["init"] = kwargs
            self.id = "model-1"

        def update_weights(self, weights_filename, auto_delete_file):
            calls["weights"] = (weights_filename, auto_delete_file)

        def publish(self):
            calls["published"] = True

    import clearml

    monkeypatch.setattr(clearml, "OutputModel", FakeOutputModel)
    weights = tmp_path / "model.weights.h5"
    assert tracking.publish_output_model("task", weights, "GISLR") == "model-1"
    assert calls["init"] == {"task": "task", "framework": "Keras", "name": "pose2gloss-GISLR", "tags": ["GISLR"]}
    assert calls["weights"] == (str(weights), False) and calls["published"]


@pytest.mark.skipif(not SERVER, reason="needs a ClearML server: set CLEARML_API_HOST and credentials")
def test_registering_a_step_on_a_server_leaves_a_draft():
    env = {k: v for k, v in os.environ.items() if k != "CLEARML_OFFLINE_MODE"}
    done = subprocess.run(
        [sys.executable, "-m", "pose2gloss.step1_data_splitting"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**env, tracking.REGISTER_ENV: "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    task_id = next(
        line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith(tracking.REGISTERED_MARKER)
    )
    from clearml import Task

    task = Task.get_task(task_id=task_id)
    assert task.status == "created" and task.get_parameters()["General/data_dir"] == "data/sample"
