"""The ClearML stand-in (tests/clearml_standin) against the real SDK and real clearml-agent daemons.

Fast tests use a stand-in without agents; those marked slow start agents and run cloned tasks, a pipeline
and an Optuna optimisation on them.
"""

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import requests

from tests.clearml_standin import fixtures
from tests.clearml_standin.api import ApiServer
from tests.clearml_standin.fixtures import StandIn, make_git_origin, start_standin
from tests.clearml_standin.queries import list_field_matches, run_query
from tests.clearml_standin.store import Store

clearml_standin = fixtures.clearml_standin  # the session fixture (shared if conftest.py also imports it)


def run_sdk(standin: StandIn, code: str, cwd: Path | None = None, timeout: float = 180) -> dict:
    """Run SDK code in a fresh Python pointed at the stand-in; it prints one JSON object as its last line."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=standin.subprocess_env(),
        cwd=cwd or standin.dir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{standin.log()[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bare_standin(tmp_path_factory):
    """A stand-in server and files server without agents."""
    standin = start_standin(tmp_path_factory.mktemp("standin-bare"), queues=(), timeout=60)
    yield standin
    assert standin.stop() == 0, standin.log()


@pytest.fixture(scope="module")
def job_repo(tmp_path_factory):
    """A small repository with task scripts behind a file:// origin: (origin, working clone)."""
    src = tmp_path_factory.mktemp("job-src")
    (src / "pkg").mkdir()
    (src / "pkg" / "__init__.py").write_text("")
    (src / "job.py").write_text(JOB)
    (src / "pkg" / "modjob.py").write_text(MODJOB)
    git = ["git", "-C", str(src), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(src)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "jobs"], check=True)
    return make_git_origin(tmp_path_factory.mktemp("job-origin"), repo=src)


JOB = """
from clearml import Task
task = Task.init(project_name="standin/jobs", task_name="job", reuse_last_task_id=False)
args = task.connect({"x": 1, "fail": False})
for i in range(3):
    task.get_logger().report_scalar("score", "value", value=float(args["x"]) * (i + 1), iteration=i)
task.upload_artifact("result", {"x": args["x"]}, wait_on_upload=True)
if str(args["fail"]) == "True":
    raise SystemExit("asked to fail")
"""
MODJOB = """
from clearml import Task
task = Task.init(project_name="standin/jobs", task_name="modjob", reuse_last_task_id=False)
task.upload_artifact("module", {"name": __name__, "spec": __spec__.name}, wait_on_upload=True)
"""


# --- pure parts --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "query", "expected"),
    [
        (["a", "b"], ["a"], True),
        (["a", "b"], ["c"], False),
        (["a", "b"], ["-a"], False),
        (["b"], ["-a"], True),
        (["a", "b"], ["__$all", "a", "b"], True),
        (["a"], ["__$all", "a", "b"], False),
        (["a"], ["__$or", "a", "c"], True),
        (["a"], ["__$not", "a"], False),
        ([], [None], True),
        ([], ["a", None], True),
    ],
)
def test_list_field_operators(tags, query, expected):
    assert list_field_matches(tags, query) is expected


def test_get_all_query_filters_orders_pages_and_projects():
    docs = [
        {"id": f"{i}", "name": f"task-{i}", "status": "completed" if i % 2 else "created", "m": {"v": i}}
        for i in range(6)
    ]
    hits, _ = run_query(
        docs, {"name": "task-[1-4]", "status": ["completed"], "order_by": ["-m.v"], "only_fields": ["m.v"]}
    )
    assert hits == [{"id": "3", "m": {"v": 3}}, {"id": "1", "m": {"v": 1}}]
    page, _ = run_query(docs, {"order_by": "name", "page": 1, "page_size": 4})
    assert [d["id"] for d in page] == ["4", "5"]
    anyf, _ = run_query(docs, {"_any_": {"pattern": "TASK-5", "fields": ["name", "id"]}})
    assert [d["id"] for d in anyf] == ["5"]


def test_unimplemented_endpoint_is_named_in_the_error():
    server = ApiServer(Store())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        res = requests.post(f"{server.url}/v2.23/tasks.no_such_action", json={}, timeout=10)
        body = res.json()
        assert res.status_code == 400
        assert body["meta"]["result_code"] == 400
        assert body["meta"]["result_msg"] == "clearml stand-in does not implement tasks.no_such_action"
        assert body["meta"]["endpoint"]["name"] == "tasks.no_such_action"
        ok = requests.get(f"{server.url}/debug.ping", timeout=10).json()
        assert ok["meta"]["result_code"] == 200
    finally:
        server.shutdown()


# --- the real SDK against a stand-in without agents --------------------------------------------------------------


def test_task_scalars_parameters_and_artifacts_across_processes(bare_standin):
    made = run_sdk(
        bare_standin,
        """
        import json, pathlib
        from clearml import Task
        task = Task.init(project_name="standin/sdk", task_name="reporter", tags=["nightly", "cpu"])
        task.connect({"lr": 0.1, "epochs": 2})
        for i in range(3):
            task.get_logger().report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
        task.upload_artifact("stats", {"rows": 3}, wait_on_upload=True)
        pathlib.Path("blob.txt").write_text("hello")
        task.upload_artifact("blob", "blob.txt", wait_on_upload=True)
        task.close()
        print(json.dumps({"id": task.id}))
        """,
    )
    seen = run_sdk(
        bare_standin,
        """
        import json
        from clearml import Task
        t = Task.get_task(project_name="standin/sdk", task_name="reporter")
        print(json.dumps({
            "id": t.id, "status": t.get_status(), "params": t.get_parameters(),
            "metrics": t.get_last_scalar_metrics(), "stats": t.artifacts["stats"].get(),
            "blob": open(t.artifacts["blob"].get_local_copy()).read(),
            "scalars": t.get_reported_scalars()["loss"]["train"]["y"],
        }))
        """,
    )
    assert seen["id"] == made["id"]
    assert seen["status"] == "completed"
    assert seen["params"] == {"General/lr": "0.1", "General/epochs": "2"}
    assert seen["metrics"] == {"loss": {"train": {"last": 1 / 3, "min": 1 / 3, "max": 1.0}}}
    assert seen["stats"] == {"rows": 3} and seen["blob"] == "hello"
    assert seen["scalars"] == [1.0, 0.5, 1 / 3]


def test_artifacts_of_a_task_named_like_an_hpo_trial_download(bare_standin):
    """HPO trials are named "<base>: General/x=0.1 General/y=2": colons, spaces and slashes reach the file path."""
    seen = run_sdk(
        bare_standin,
        """
        import json
        from clearml import Task
        task = Task.init(project_name="standin/sdk", task_name="train: General/lr=0.01 General/dim=128",
                         output_uri=True)
        task.upload_artifact("metrics", {"val_accuracy": 0.5}, wait_on_upload=True)
        task.close()
        print(json.dumps({"metrics": Task.get_task(task_id=task.id).artifacts["metrics"].get()}))
        """,
    )
    assert seen["metrics"] == {"val_accuracy": 0.5}


def test_get_tasks_by_tags_and_name_pattern(bare_standin):
    found = run_sdk(
        bare_standin,
        """
        import json
        from clearml import Task
        for name, tags in (("alpha-1", ["keep"]), ("alpha-2", ["keep", "old"]), ("beta-1", ["keep"])):
            t = Task.create(project_name="standin/query", task_name=name)
            t.add_tags(tags)
        names = lambda ts: sorted(t.name for t in ts)
        print(json.dumps({
            "keep": names(Task.get_tasks(project_name="standin/query", tags=["keep"])),
            "not_old": names(Task.get_tasks(project_name="standin/query", tags=["keep", "-old"])),
            "all": names(Task.get_tasks(project_name="standin/query", tags=["__$all", "keep", "old"])),
            "regex": names(Task.get_tasks(project_name="standin/query", task_name="^alpha-[0-9]$")),
            "one": Task.get_task(project_name="standin/query", task_name="beta-1").name,
        }))
        """,
    )
    assert found["keep"] == ["alpha-1", "alpha-2", "beta-1"]
    assert found["not_old"] == ["alpha-1", "beta-1"]
    assert found["all"] == ["alpha-2"]
    assert found["regex"] == ["alpha-1", "alpha-2"]
    assert found["one"] == "beta-1"


def test_output_model_query_by_tags_and_publish(bare_standin):
    out = run_sdk(
        bare_standin,
        """
        import json, pathlib
        from clearml import Model, OutputModel, Task
        task = Task.init(project_name="standin/models", task_name="trainer", output_uri=True)
        pathlib.Path("w.bin").write_bytes(b"weights")
        model = OutputModel(task=task, name="net", tags=["champion"], framework="tensorflow")
        model.update_weights(weights_filename="w.bin", async_enable=False)
        task.close()
        found = Model.query_models(project_name="standin/models", tags=["champion"])
        before = Model(found[0].id).published
        Model(found[0].id).publish()
        print(json.dumps({
            "made": model.id, "found": [m.id for m in found], "before": before,
            "after": Model(found[0].id).published,
            "published": [m.id for m in Model.query_models(project_name="standin/models", only_published=True)],
            "none": [m.id for m in Model.query_models(project_name="standin/models", tags=["other"])],
            "weights": open(Model(found[0].id).get_local_copy()).read(),
        }))
        """,
    )
    assert out["found"] == [out["made"]] and out["published"] == [out["made"]]
    assert (out["before"], out["after"]) == (False, True)
    assert out["none"] == [] and out["weights"] == "weights"


def test_dataset_versions_upload_and_download(bare_standin):
    out = run_sdk(
        bare_standin,
        """
        import json, pathlib
        from clearml import Dataset
        folder = pathlib.Path("ds"); folder.mkdir(exist_ok=True)
        (folder / "a.txt").write_text("A")
        first = Dataset.create(dataset_name="signs", dataset_project="standin/data", dataset_tags=["raw"])
        first.add_files(str(folder)); first.upload(); first.finalize()
        (folder / "b.txt").write_text("B")
        second = Dataset.create(dataset_name="signs", dataset_project="standin/data", parent_datasets=[first.id])
        second.add_files(str(folder)); second.upload(); second.finalize()
        get = lambda **kw: Dataset.get(dataset_name="signs", dataset_project="standin/data", **kw)
        latest = get(only_completed=True)
        copy = pathlib.Path(latest.get_local_copy())
        print(json.dumps({
            "latest": latest.id == second.id, "files": sorted(p.name for p in copy.iterdir()),
            "tagged": get(dataset_tags=["raw"]).id == first.id,
            "versions": sorted(d["version"] for d in Dataset.list_datasets(dataset_project="standin/data")),
        }))
        """,
    )
    assert out == {"latest": True, "files": ["a.txt", "b.txt"], "tagged": True, "versions": ["1.0.0", "1.0.1"]}


# --- real agents -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_job(clearml_standin, job_repo):
    """The id of job.py's task, run once locally from the working clone (so its repository is the origin)."""
    code = "import subprocess, sys, json; subprocess.run([sys.executable, 'job.py'], check=True); print('{}')"
    run_sdk(clearml_standin, code, cwd=job_repo[1])
    found = run_sdk(
        clearml_standin,
        "import json; from clearml import Task; "
        "print(json.dumps({'id': Task.get_task(project_name='standin/jobs', task_name='job').id}))",
    )
    return found["id"]


@pytest.mark.slow
def test_cloned_tasks_run_on_an_agent_from_the_file_origin(clearml_standin, base_job):
    out = run_sdk(
        clearml_standin,
        """
        import json, time
        from clearml import Task
        base = Task.get_task(task_id=BASE)
        results = {"repo": base.data.script.repository}
        for fail in (False, True):
            clone = Task.clone(base, name=f"clone fail={fail}")
            clone.set_parameters({"General/x": 5, "General/fail": fail})
            Task.enqueue(clone, queue_name="cpu")
            start = time.time()
            while clone.get_status() in ("created", "queued", "in_progress") and time.time() - start < 120:
                time.sleep(0.5)
            results[str(fail)] = {
                "status": clone.get_status(), "metrics": clone.get_last_scalar_metrics(),
                "result": clone.artifacts["result"].get() if "result" in clone.artifacts else None,
            }
        print(json.dumps(results))
        """.replace("BASE", repr(base_job)),
    )
    assert out["repo"].startswith("file://")
    assert out["False"]["status"] == "completed", clearml_standin.log()
    assert out["False"]["metrics"]["score"]["value"]["last"] == 15.0
    assert out["False"]["result"] == {"x": 5}
    assert out["True"]["status"] == "failed"


@pytest.mark.slow
def test_module_entry_point_runs_from_the_agent_checkout(clearml_standin, job_repo):
    out = run_sdk(
        clearml_standin,
        """
        import json, time
        from clearml import Task
        task = Task.create(project_name="standin/jobs", task_name="module entry", repo=ORIGIN, branch="main",
                           module="pkg.modjob", add_task_init_call=False)
        Task.enqueue(task, queue_name="gpu")
        start = time.time()
        while task.get_status() in ("created", "queued", "in_progress") and time.time() - start < 120:
            time.sleep(0.5)
        task.reload()
        print(json.dumps({"status": task.get_status(), "entry": task.data.script.entry_point,
                          "module": task.artifacts["module"].get() if "module" in task.artifacts else None}))
        """.replace("ORIGIN", repr(job_repo[0].as_uri())),
    )
    assert out["entry"] == "-m pkg.modjob"
    assert out["status"] == "completed", clearml_standin.log()
    assert out["module"] == {"name": "__main__", "spec": "pkg.modjob"}


@pytest.mark.slow
def test_pipeline_controller_runs_cloned_steps_on_agents(clearml_standin, base_job):
    out = run_sdk(
        clearml_standin,
        """
        import json
        from clearml import PipelineController, Task
        pipe = PipelineController(name="standin-pipe", project="standin/pipes", version="1.0.0", pool_frequency=0.02)
        pipe.add_step(name="a", base_task_id=BASE, clone_base_task=True, execution_queue="cpu",
                      parameter_override={"General/x": 2})
        pipe.add_step(name="b", parents=["a"], base_task_id=BASE, clone_base_task=True, execution_queue="gpu",
                      parameter_override={"General/x": "${a.parameters.General/x}"})
        pipe.start_locally(run_pipeline_steps_locally=False)
        controller = Task.get_task(task_id=pipe.id)
        steps = Task.get_tasks(task_filter={"parent": pipe.id, "search_hidden": True})
        print(json.dumps({
            "controller": controller.get_status(),
            "project": controller.get_project_name(),
            "steps": {t.name: [t.get_status(), t.get_last_scalar_metrics()["score"]["value"]["last"]] for t in steps},
        }))
        """.replace("BASE", repr(base_job)),
        timeout=300,
    )
    assert out["controller"] == "completed", clearml_standin.log()
    assert out["project"] == "standin/pipes/.pipelines/standin-pipe"
    assert out["steps"] == {"a": ["completed", 6.0], "b": ["completed", 6.0]}


@pytest.mark.slow
def test_optuna_optimizer_clones_trials_onto_a_queue(clearml_standin, base_job):
    out = run_sdk(
        clearml_standin,
        """
        import json
        from clearml import Task
        from clearml.automation import HyperParameterOptimizer, UniformIntegerParameterRange
        from clearml.automation.optuna import OptimizerOptuna
        Task.init(project_name="standin/hpo", task_name="optimizer", task_type=Task.TaskTypes.optimizer)
        opt = HyperParameterOptimizer(
            base_task_id=BASE, hyper_parameters=[UniformIntegerParameterRange("General/x", 1, 1000)],
            objective_metric_title="score", objective_metric_series="value", objective_metric_sign="max",
            optimizer_class=OptimizerOptuna, execution_queue="cpu", max_number_of_concurrent_tasks=1,
            total_max_jobs=2, pool_period_min=0.02, max_iteration_per_job=100, optimization_time_limit=4,
        )
        opt.set_report_period(0.05)  # wait() returns at the reporter's next wake-up (default: every 5 minutes)
        opt.start()
        opt.wait()
        top = opt.get_top_experiments(2)
        opt.stop()
        print(json.dumps([
            [t.get_status(), int(t.get_parameters()["General/x"]),
             t.get_last_scalar_metrics()["score"]["value"]["last"]]
            for t in top
        ]))
        """.replace("BASE", repr(base_job)),
        timeout=400,
    )
    assert len(out) == 2, clearml_standin.log()
    assert all(status == "completed" and score == 3.0 * x for status, x, score in out)
    assert out[0][2] >= out[1][2]
