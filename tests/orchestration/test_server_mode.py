"""How the server-only paths are configured: the controller's DAG, pre-flight, job states, requirements."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pose2gloss.orchestration import pipeline, registry, tracking
from pose2gloss.orchestration.pipeline import run as pipeline_run

REPO = Path(__file__).resolve().parents[2]


class RecordingController:
    instances: list["RecordingController"] = []

    def __init__(self, **kwargs):
        self.kwargs, self.steps, self.started, self.time_limit, self.parameters = kwargs, [], None, None, {}
        self.instances.append(self)

    def add_parameter(self, name, value):
        self.parameters[name] = value

    def set_default_execution_queue(self, queue):
        self.default_queue = queue

    def set_pipeline_execution_time_limit(self, minutes):
        self.time_limit = minutes

    def add_step(self, **kwargs):
        self.steps.append(kwargs)

    def start(self, queue):
        self.started = ("remote", queue)

    def start_locally(self, run_pipeline_steps_locally):
        self.started = ("local", run_pipeline_steps_locally)


class FakeServer:
    def __init__(self, workers):
        self.workers = workers

    def queue_names(self):
        return set(self.workers)

    def workers_by_queue(self):
        return self.workers


READY = FakeServer({"cpu": ["laptop:0"], "gpu": ["colab:0"], "services": ["svc:0"]})


@pytest.fixture
def server_run(monkeypatch):
    """A server run as seen from this machine: a pushed repository, base tasks registered."""
    monkeypatch.setattr(pipeline_run, "register_base_tasks", lambda s: {x.name: f"base-{x.name}" for x in s})
    monkeypatch.setattr(pipeline_run, "PipelineController", RecordingController)
    monkeypatch.setattr(pipeline_run.preflight_checks, "check_repository", lambda: [])


def test_server_pipeline_clones_base_tasks_onto_queues(server_run, capsys):
    steps = pipeline.build_steps()
    result = pipeline.run_pipeline(
        steps,
        offline=False,
        cpu_queue="cpu",
        gpu_queue="gpu",
        controller_queue="services",
        pipeline_parameters={"dataset_id": "d1"},
    )
    assert result is None
    assert "enqueueing the pipeline controller on 'services'" in capsys.readouterr().out
    controller = RecordingController.instances[-1]
    assert controller.started == ("remote", "services")
    assert controller.parameters == {"dataset_id": "d1"}
    assert controller.kwargs["pool_frequency"] == pipeline.SERVER_POLL_MINUTES
    assert controller.time_limit == pipeline.SERVER_TIME_LIMIT_MINUTES
    assert controller._clearml_job_class is pipeline.ServerStepJob
    added = {s["name"]: s for s in controller.steps}
    assert [s["name"] for s in controller.steps] == [s.name for s in steps]
    for name in ("train_gislr", "train_convnexttiny"):
        assert added[name]["execution_queue"] == "gpu"
    for name in ("data_splitting", "model_selection", "hyperparameter_tuning", "model_evaluation"):
        assert added[name]["execution_queue"] == "cpu"
    assert all(s["clone_base_task"] for s in controller.steps)
    # ClearML's step cache only for the data steps, whose key includes the data version (step 1's parameter)
    assert [s["name"] for s in controller.steps if s["cache_executed_step"]] == list(pipeline.DATA_STEPS)
    assert added["hyperparameter_tuning"]["parameter_override"]["General/execution_queue"] == "gpu"
    assert added["model_selection"]["parents"] == ["train_gislr", "train_convnexttiny"]
    assert added["train_gislr"]["base_task_id"] == "base-train_gislr"
    assert all(k.startswith("General/") for s in controller.steps for k in s["parameter_override"])
    for name in ("train_gislr", "train_convnexttiny"):
        assert added[name]["parameter_override"]["General/require_gpu"] is True
    assert not any("time_limit" in s for s in controller.steps)  # add_step(time_limit=) breaks 2.1.12


@pytest.mark.parametrize(("workers", "queue"), [({"cpu": ["a"], "gpu": []}, "gpu"), ({"gpu": ["b"]}, "cpu")])
def test_preflight_refuses_to_enqueue_without_workers(server_run, workers, queue):
    with pytest.raises(pipeline.PreflightError, match=f"queue '{queue}'") as err:
        pipeline.preflight("cpu", "gpu", "", FakeServer(workers))
    assert f"clearml-agent daemon --queue {queue}" in str(err.value)
    assert "nothing was enqueued" in str(err.value)


def test_preflight_refuses_code_an_agent_cannot_check_out(server_run, monkeypatch):
    monkeypatch.setattr(
        pipeline_run.preflight_checks, "check_repository", lambda: ["commit abc is on no remote branch"]
    )
    with pytest.raises(pipeline.PreflightError, match="abc is on no remote branch"):
        pipeline.preflight("cpu", "gpu", "services", READY)


def test_controller_rerun_by_an_agent_builds_the_same_dag_from_its_checkout(server_run, monkeypatch):
    monkeypatch.setattr(pipeline_run.Task, "running_locally", staticmethod(lambda: False))
    monkeypatch.setattr(pipeline_run, "_collect", lambda pipe, steps: pipeline.PipelineRun("controller"))
    run = pipeline.run_pipeline(
        pipeline.build_steps(), offline=False, controller_queue="services", pipeline_parameters={"dataset_id": "d2"}
    )
    assert run.controller_id == "controller"
    controller = RecordingController.instances[-1]
    assert controller.started == ("local", False)
    assert {s["base_task_id"] for s in controller.steps} == {f"base-{s.name}" for s in pipeline.build_steps()}
    assert controller.parameters == {"dataset_id": "d2"}


class StatusOnly(pipeline.ServerStepJob):
    """A ServerStepJob whose task status is given, as the server would report it."""

    def __init__(self, status, message=""):
        self._status, self.task = status, type("T", (), {"get_status_message": lambda _: (status, message)})()

    def status(self, force=False):
        return self._status


def test_a_step_whose_agent_died_fails_instead_of_running_forever():
    dead = StatusOnly("stopped", "Forced stop (non-responsive)")
    assert dead.is_stopped(aborted_nonresponsive_as_running=True) and dead.is_failed() and not dead.is_aborted()
    aborted = StatusOnly("stopped", "aborted by user")
    assert aborted.is_stopped() and aborted.is_aborted() and not aborted.is_failed()
    running = StatusOnly("in_progress")
    assert not running.is_stopped() and not running.is_failed()


def test_agent_environment_means_server_mode(monkeypatch):
    for name in ("CLEARML_OFFLINE_MODE", "CLEARML_API_HOST", "CLEARML_API_ACCESS_KEY", "CLEARML_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")
    assert not tracking.server_configured()
    monkeypatch.setenv("CLEARML_TASK_ID", "abc")  # set by the agent, even with --use-owner-token
    assert tracking.server_configured()


def test_gpu_tasks_record_gpu_tensorflow_of_the_same_version():
    cpu, gpu = tracking.task_requirements(gpu=False), tracking.task_requirements(gpu=True)
    assert cpu["tensorflow-cpu"] == gpu["tensorflow[and-cuda]"] == "==2.19.1"
    assert "tensorflow-cpu" not in gpu and "tensorflow[and-cuda]" not in cpu
    assert {k: v for k, v in cpu.items() if k != "tensorflow-cpu"} == {
        k: v for k, v in gpu.items() if k != "tensorflow[and-cuda]"
    }
    assert gpu["numpy"] == "==1.26.4" and gpu["clearml"] == "==2.1.12"


def test_output_model_is_published_with_the_weights(monkeypatch, tmp_path):
    calls = {}

    class FakeOutputModel:
        def __init__(self, **kwargs):
            calls["init"] = kwargs
            self.id = "model-1"

        def update_weights(self, weights_filename, auto_delete_file, async_enable):
            calls["weights"] = (weights_filename, auto_delete_file, async_enable)

        def publish(self):
            calls["published"] = True

    import clearml

    monkeypatch.setattr(clearml, "OutputModel", FakeOutputModel)
    weights = tmp_path / "model.weights.h5"
    assert registry.publish_output_model("task", weights, "GISLR") == "model-1"
    assert calls["init"] == {"task": "task", "framework": "Keras", "name": "pose2gloss-GISLR", "tags": ["GISLR"]}
    assert calls["weights"] == (str(weights), False, False) and calls["published"]


def test_sigterm_and_sigint_interrupt_the_waiting_controller():
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGINT):
        with pytest.raises(pipeline.RunInterrupted) as err, pipeline.interruptible():
            os.kill(os.getpid(), sig)
            time.sleep(5)
        assert err.value.signum == sig
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_training_that_requires_a_gpu_fails_at_once_without_one(tmp_path):
    env = {**os.environ, "CLEARML_OFFLINE_MODE": "1", "CLEARML_CACHE_DIR": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "pose2gloss.step4_model_training", "--require_gpu", "true"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "devices: ['/physical_device:CPU:0']" in done.stdout
    assert "require_gpu is set but TensorFlow 2.19.1 sees no GPU" in done.stderr


def test_doctor_lists_what_is_missing_without_a_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARML_")}
    done = subprocess.run(
        [sys.executable, "-m", "pose2gloss.doctor"],
        cwd=REPO,
        env={**env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "MISSING: no ClearML server configured" in done.stdout and "problem(s)" in done.stdout


@pytest.mark.slow
def test_registering_a_step_on_a_server_leaves_a_draft(clearml_standin):
    done = subprocess.run(
        [sys.executable, "-m", "pose2gloss.step1_data_splitting"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=clearml_standin.subprocess_env(**{tracking.REGISTER_ENV: "1"}),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    task_id = re.search(rf"{tracking.REGISTERED_MARKER}=([0-9a-f]{{32}})", done.stdout).group(1)
    check = (
        f"from clearml import Task; t = Task.get_task(task_id='{task_id}'); "
        "print(t.get_status(), t.get_parameters()['General/data_dir'])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", check], env=clearml_standin.subprocess_env(), capture_output=True, text=True, timeout=120
    )
    assert shown.stdout.split()[-2:] == ["created", "data/sample"], shown.stderr[-2000:]
