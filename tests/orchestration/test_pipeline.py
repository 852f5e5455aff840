"""The DAG definition (fast); the whole offline pipeline on the default sample and on a tiny one (slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose2gloss.orchestration import pipeline
from pose2gloss.orchestration.pipeline import NodeResult, PipelineRun
from pose2gloss.orchestration.reuse import DATA_STEPS

REPO = Path(__file__).resolve().parents[2]
# Small enough for CI: a few epochs of small models on a tiny sample.
FAST = [
    "--set",
    "train_gislr.epochs=3",
    "--set",
    "train_gislr.dim=32",
    "--set",
    "train_gislr.num_blocks=1",
    "--set",
    "train_convnexttiny.epochs=1",
    "--set",
    "train_convnexttiny.max_train_samples=16",
]


def test_dag_shape_and_references():
    steps = {s.name: s for s in pipeline.build_steps()}
    assert list(steps) == [
        "data_splitting",
        "data_augmentation",
        "data_transformation",
        "train_gislr",
        "train_convnexttiny",
        "model_selection",
        "hyperparameter_tuning",
        "model_evaluation",
    ]
    assert steps["train_gislr"].parents == steps["train_convnexttiny"].parents == ("data_transformation",)
    assert steps["model_selection"].parents == ("train_gislr", "train_convnexttiny")
    assert steps["train_gislr"].gpu and steps["train_convnexttiny"].gpu and not steps["model_selection"].gpu
    assert steps["train_convnexttiny"].parameters["model_name"] == "ConvNeXtTiny"
    for step in steps.values():
        defaults = pipeline.step_defaults(step.module)
        assert set(step.parameters) <= set(defaults), f"{step.name} overrides unknown parameters"
        for value in step.parameters.values():
            for ref in [v for v in str(value).split(",") if v.startswith("${")]:
                assert ref.split(".")[0][2:] in steps, f"{step.name} refers to an unknown step: {ref}"


def test_overrides_and_presets():
    steps = {
        s.name: s for s in pipeline.build_steps({"train_gislr": {"epochs": "7", "learning_rate": "1e-3"}}, full=True)
    }
    assert steps["train_gislr"].parameters["epochs"] == 7
    assert steps["train_gislr"].parameters["learning_rate"] == 1e-3
    assert steps["hyperparameter_tuning"].parameters["total_max_jobs"] == 10
    with pytest.raises(ValueError, match="unknown steps"):
        pipeline.build_steps({"train_resnet": {"epochs": 1}})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"data_augmentation": {"multiplier": "1.5"}}, r"data_augmentation.multiplier='1.5' is not a valid int"),
        ({"train_gislr": {"learning_rate": "fast"}}, r"train_gislr.learning_rate='fast' is not a valid float"),
        ({"data_splitting": {"generate_sample_if_missing": "maybe"}}, r"not a valid bool"),
        ({"train_gislr": {"epoch": "3"}}, r"train_gislr has no parameter 'epoch'"),
    ],
)
def test_set_values_must_parse_as_the_parameter_type(override, message):
    with pytest.raises(ValueError, match=message):
        pipeline.build_steps(override)


def test_console_keeps_progress_and_drops_library_chatter():
    from pose2gloss.orchestration.console import is_chatter

    chatter = [
        "2026-11-29 19:11:21.329123: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.",
        "2026-11-29 19:11:21,329 - clearml.Repository Detection - WARNING - Can't get url information",
        "I0000 00:00:1732900000.123456   12345 cuda_executor.cc:1015] successful NUMA node read",
        "W0000 00:00:1732900000.1 12 gpu_device.cc:2344] Cannot dlopen some GPU libraries.",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "E0000 00:00:1732900000 123 cuda_dnn.cc:8310] Unable to register cuDNN factory",
        "ClearML Monitor: GPU monitoring failed getting GPU reading, switching off GPU monitoring",
        "/x/keras/src/layers/layer.py:395: UserWarning: `build()` was called on layer",
        "  warnings.warn(",
        "",
    ]
    kept = [
        "Epoch 3/10",
        "3/3 - 1s - 612ms/step - accuracy: 0.3125 - loss: 4.4312 - val_accuracy: 0.3333",
        "GISLR: {'val_loss': 4.80, 'val_accuracy': 0.33}",
        "train: 48 sequences, 1639 frames",
        "require_gpu is set but TensorFlow 2.19.1 sees no GPU; the agent must install tensorflow[and-cuda]",
    ]
    assert [line for line in chatter + kept if not is_chatter(line)] == kept


def test_filtered_console_keeps_everything_in_the_log(tmp_path):
    import io

    from pose2gloss.orchestration.console import FilteredStream

    terminal, log = io.StringIO(), io.StringIO()
    stream = FilteredStream(terminal, log)
    stream.write("Launching step [train_gislr]\n[train_gislr] started\n{'General/epochs': 3}\n\nsum")
    stream.write("mary\n")
    assert terminal.getvalue() == "[train_gislr] started\n\nsummary\n"
    assert log.getvalue().startswith("Launching step [train_gislr]\n") and log.getvalue().endswith("summary\n")


def test_a_run_with_no_nodes_or_any_unfinished_node_is_not_a_success():
    assert not PipelineRun("p").succeeded
    done = NodeResult("a", "completed", "t1", 1.0)
    assert PipelineRun("p", [done]).succeeded
    assert not PipelineRun("p", [done, NodeResult("b", "skipped", None, None)]).succeeded
    assert not PipelineRun("p", [NodeResult("a", "completed", None, 1.0)]).succeeded


def test_summary_shows_each_decision_with_its_evidence():
    candidates = [
        {"model_name": "GISLR", "task_id": "g", "val_accuracy": 0.8, "val_top5": 0.9, "val_loss": 0.7},
        {"model_name": "ConvNeXtTiny", "task_id": "c", "val_accuracy": 0.6, "val_top5": 0.8, "val_loss": 1.1},
    ]
    baseline = {"model_name": "bag-of-frames ridge", "val_accuracy": 0.65, "val_top5": 0.95}
    candidates = [{**c, "beats_baseline": c["val_accuracy"] > 0.65} for c in candidates]
    selection = {**candidates[0], "candidates": candidates, "baseline": baseline}
    trials = [
        {
            "trial": 0,
            "task_id": "t0",
            "val_accuracy": 0.85,
            "val_loss": 0.6,
            "params": {"learning_rate": 1e-3, "seed": 0},
        },
        {
            "trial": 1,
            "task_id": "t1",
            "error": "trial failed (exit 1): out of memory",
            "params": {"learning_rate": 4e-3},
        },
    ]
    hpo_result = {
        "source": "hpo",
        "best_task_id": "t0",
        "model_name": "GISLR",
        "params": {},
        "metrics": {"val_accuracy": 0.85},
        "trials_finished": 1,
        "trials_failed": 1,
        "mode": "optuna-offline",
        "trials": trials,
        "search_space": [{"name": "learning_rate"}],
    }
    found = pipeline.decisions({"model_selection": selection, "hyperparameter_tuning": hpo_result})
    assert [c["model_name"] for c in found["selection"]["candidates"]] == ["GISLR", "ConvNeXtTiny"]
    assert found["hpo"]["replaced_selection"] is True
    assert [t["winner"] for t in found["hpo"]["trials"]] == [True, False]
    assert found["hpo"]["trials"][0]["params"] == {"learning_rate": 1e-3}
    text = "\n".join(pipeline.format_decisions(found))
    assert "GISLR" in text and "ConvNeXtTiny" in text and text.count("<- selected") == 1
    assert found["selection"]["baseline"]["val_accuracy"] == 0.65 and found["selection"]["below_baseline"] == ["c"]
    assert "bag-of-frames ridge" in text and text.count("does not beat the baseline") == 1
    assert "WARNING: not better than the bag-of-frames baseline on val top-1: ConvNeXtTiny (c)" in text
    assert "1 finished, 1 failed; the best trial replaced the selection" in text
    assert "out of memory" in text and text.count("<- winner") == 1


def run_cli(args, tmp_path, timeout=900):
    env = {**os.environ, "CLEARML_OFFLINE_MODE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "pipeline_from_tasks.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def tiny_sample(tmp_path_factory):
    from pose2gloss.data.synthetic import generate_sample

    return generate_sample(tmp_path_factory.mktemp("data"), n_signs=6, n_participants=4, sequences_per_sign=2, seed=0)


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory):
    """The sample `make run` generates (same size and seed), in a folder of its own."""
    from pose2gloss.data.synthetic import generate_sample

    return generate_sample(tmp_path_factory.mktemp("default_sample"))


def sample_ids(root):
    return pd.read_csv(root / "train.csv")["sequence_id"]


@pytest.mark.slow
def test_full_offline_pipeline(default_sample, tmp_path, monkeypatch, capsys):
    """`make run` as a user runs it: the default sample with the sample preset, every decision real."""
    summary_path = tmp_path / "summary.json"
    runs = tmp_path / "runs"
    done = run_cli(
        ["--data-dir", str(default_sample), "--runs-dir", str(runs), "--summary", str(summary_path)],
        tmp_path,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "completed" and summary["offline"]
    assert [n["status"] for n in summary["nodes"]] == ["completed"] * 8
    assert all(n["task_id"].startswith("offline-") for n in summary["nodes"])
    assert len({n["task_id"] for n in summary["nodes"]}) == 8
    for node in summary["nodes"]:
        assert Path(node["log"]).stat().st_size > 0

    monkeypatch.setenv("CLEARML_OFFLINE_MODE", "1")
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(Path(summary["sessions_dir"]).parent))
    from pose2gloss.orchestration.artifacts import artifact_json, artifact_local_copy, sharded_split

    ids = {n["name"]: n["task_id"] for n in summary["nodes"]}
    for split in ("train", "val", "test"):
        points = sharded_split(ids["data_augmentation"], f"{split}_points")
        features = sharded_split(ids["data_transformation"], f"{split}_features")
        assert len(points) == len(features) > 0
        np.testing.assert_array_equal(points.column("sequence_id"), features.column("sequence_id"))
    assert artifact_json(ids["data_augmentation"], "augment_policy")["multiplier"] == 0  # augmented online
    trained = {name: artifact_json(ids[name], "metrics") for name in ("train_gislr", "train_convnexttiny")}
    selection = artifact_json(ids["model_selection"], "selection")
    evaluated = {c["task_id"]: c["val_accuracy"] for c in selection["candidates"]}
    assert set(evaluated) == {ids["train_gislr"], ids["train_convnexttiny"]}
    assert selection["val_accuracy"] == max(evaluated.values())
    assert (
        selection["model_name"]
        == trained["train_gislr" if selection["task_id"] == ids["train_gislr"] else "train_convnexttiny"]["model_name"]
    )

    hpo = artifact_json(ids["hyperparameter_tuning"], "hpo_result")
    assert hpo["mode"] == "optuna-offline" and len(hpo["trials"]) == 2
    finished = [t for t in hpo["trials"] if "val_accuracy" in t]
    best_trial = max((t["val_accuracy"] for t in finished), default=-1)
    if hpo["source"] == "hpo":
        assert best_trial > selection["val_accuracy"] and hpo["metrics"]["val_accuracy"] == best_trial
    else:
        assert best_trial <= selection["val_accuracy"] and hpo["best_task_id"] == selection["task_id"]
    for trial in finished:
        assert trial["model_name"] == selection["model_name"]
        assert artifact_json(trial["task_id"], "metrics")["val_accuracy"] == trial["val_accuracy"]

    metrics = artifact_json(ids["model_evaluation"], "metrics")
    assert summary["test_top1"] == metrics["test_top1"] and 0 <= metrics["test_top1"] <= metrics["test_top5"] <= 1
    gates = artifact_json(ids["model_evaluation"], "export_gates")
    assert set(gates) == {"fp32_distribution", "fp16_distribution", "fp32_agreement", "fp16_agreement"}
    assert all(g["passed"] for g in gates.values())
    assert summary["selected_model"] == selection["model_name"]
    # The default sample is hard enough for the decisions to mean something (data/synthetic/):
    # GISLR lands in the accuracy band, the two branches differ visibly, the HPO trials differ.
    assert metrics["model_name"] == "GISLR" and 0.75 <= metrics["test_top1"] <= 0.95
    assert trained["train_gislr"]["params"]["online_augment"]
    assert abs(trained["train_gislr"]["val_accuracy"] - trained["train_convnexttiny"]["val_accuracy"]) >= 0.1
    assert len(finished) == 2 and finished[0]["val_accuracy"] != finished[1]["val_accuracy"]
    predictions = pd.read_csv(artifact_local_copy(ids["model_evaluation"], "test_predictions"))
    assert len(predictions) == metrics["n_test"] == metrics["test_set"]["sequences"]
    assert (predictions["prediction"] == predictions["label"]).mean() == pytest.approx(metrics["test_top1"])
    assert summary["promotion"]["case"] == "no_production" and summary["promoted_to_production"]

    from pose2gloss.bundle.files import production_bundle_dir, read_bundle
    from pose2gloss.bundle.tflite import TFLiteClassifier

    bundle = read_bundle(production_bundle_dir(runs))
    assert str(bundle.model_path.resolve()) == summary["tflite_path"]
    scores = TFLiteClassifier(summary["tflite_path"]).predict(np.random.default_rng(0).random((20, 543, 3), np.float32))
    assert scores.shape == (len(bundle.signs),) and np.isclose(scores.sum(), 1.0, atol=1e-4)
    assert len(list(Path(summary["sessions_dir"]).glob("offline-*.zip"))) >= 8 + 2  # steps, trials, controller
    assert not list(Path(summary["sessions_dir"]).rglob("*.npz"))  # artifacts are not kept in sessions too
    run_dir = Path(summary["tflite_path"]).parents[1]
    unpacked = {p.parent for p in run_dir.rglob("*.tflite")}
    assert unpacked == {run_dir / "bundle"}  # the bundle artifact is unpacked once, where it is served from
    assert summary["reused_steps"] == [] and summary["input_sequences"] == len(sample_ids(default_sample))
    for node in summary["nodes"]:
        assert node["peak_rss_mb"] > 50 and node["stored_mb"] > 0, node
    assert summary["peak_rss_mb"] == max(n["peak_rss_mb"] for n in summary["nodes"])
    assert "peak RSS" in done.stdout and "KB per input sequence" in done.stdout

    # The decisions, with their evidence, are in the summary.
    assert summary["split"]["split_by"] == "participant" and summary["split"]["participant_independent"]
    assert {c["task_id"] for c in summary["selection"]["candidates"]} == set(evaluated)
    # The sample rewards order in time: the bag-of-frames baseline stays low and GISLR beats it.
    assert summary["selection"]["baseline"]["val_accuracy"] <= 0.5
    assert (
        summary["selection"]["below_baseline"] == [ids["train_convnexttiny"]]
        or not summary["selection"]["below_baseline"]
    )
    assert ids["train_gislr"] not in summary["selection"]["below_baseline"]
    assert len(summary["hpo"]["trials"]) == 2 and summary["hpo"]["replaced_selection"] == (hpo["source"] == "hpo")
    assert summary["hpo"]["trials_finished"] + summary["hpo"]["trials_failed"] == 2
    # Training reports its HPO objectives after every epoch (ClearML's optimiser polls for them).
    session = Path(summary["sessions_dir"]) / ids["train_gislr"]
    scalars = [r for line in (session / "metrics.jsonl").read_text().splitlines() for r in json.loads(line)]
    trained_epochs = {r["iter"] for r in scalars if r.get("metric") == "loss" and r.get("variant") == "train"}
    for objective in ("val_loss", "val_accuracy"):
        epochs = {r["iter"] for r in scalars if r.get("metric") == objective and r.get("variant") == objective}
        assert trained_epochs and epochs == trained_epochs

    from tests.cicd.test_cicd import ci_scripts_on_a_real_run  # the CI scripts on this run, offline

    ci_scripts_on_a_real_run(runs, summary, monkeypatch, capsys)

    # Same data, code and data-step parameters: the data steps are reused (the training steps fail at once here).
    again = tmp_path / "again.json"
    failing = ["--set", "train_gislr.model_name=Nope", "--set", "train_convnexttiny.model_name=Nope"]
    args = ["--data-dir", str(default_sample), "--runs-dir", str(runs), "--summary", str(again), *FAST, *failing]
    done = run_cli(args, tmp_path)
    second = json.loads(again.read_text())
    assert done.returncode != 0 and second["reused_steps"] == list(DATA_STEPS)
    assert [n["task_id"] for n in second["nodes"][:3]] == [ids[name] for name in DATA_STEPS]
    assert second["failed_steps"] == ["train_gislr", "train_convnexttiny"]
    assert "reused from an earlier run" in done.stdout


@pytest.mark.slow
def test_failing_step_fails_the_pipeline_and_skips_its_children(tiny_sample, tmp_path):
    summary_path = tmp_path / "summary.json"
    done = run_cli(
        [
            "--data-dir",
            str(tiny_sample),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--summary",
            str(summary_path),
            "--set",
            "data_augmentation.multiplier=-1",
        ],
        tmp_path,
    )
    assert done.returncode != 0
    summary = json.loads(summary_path.read_text())
    status = {n["name"]: n["status"] for n in summary["nodes"]}
    assert status["data_splitting"] == "completed" and status["data_augmentation"] == "failed"
    assert all(status[n] != "completed" for n in list(status)[2:])
    assert summary["failed_steps"] == ["data_augmentation"]
    assert "multiplier must be >= 0" in next(n for n in summary["nodes"] if n["name"] == "data_augmentation")["error"]
    assert "step 'data_augmentation' failed" in done.stdout


@pytest.mark.slow
def test_steps_run_on_their_own_from_the_command_line(tiny_sample, tmp_path):
    env = {
        **os.environ,
        "CLEARML_OFFLINE_MODE": "1",
        "CLEARML_CACHE_DIR": str(tmp_path / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    ids = []
    commands = [
        ["pose2gloss.step1_data_splitting", "--data_dir", str(tiny_sample), "--seed", "1"],
        ["pose2gloss.step2_data_augmentation", "--split_task_id", "{0}", "--multiplier", "0"],
        ["pose2gloss.step3_data_transformation", "--augment_task_id", "{1}", "--max_len", "32"],
    ]
    for module, *args in commands:
        id_file = tmp_path / f"{module}.id"
        args = [a.format(*ids) for a in args]
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**env, "POSE2GLOSS_TASK_ID_FILE": str(id_file)},
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        ids.append(id_file.read_text())
    shards = sorted((tmp_path / "cache").rglob("train-0*.npz"))
    assert len(shards) == 2 and not list((tmp_path / "cache" / "offline").rglob("*.npz"))  # stored once
    with np.load(next(p for p in shards if "features" in str(p))) as data:
        assert data["data"].shape[1:] == (89 * 2 * 3,) and data["data"].dtype == np.float16  # x, y and 2 motions
        assert len(data["labels"]) == len(data["lengths"]) > 0 and (data["rows"] <= 32).all()
    missing = subprocess.run(
        [sys.executable, "-m", "pose2gloss.step2_data_augmentation"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0 and "split_task_id is required" in missing.stderr

    points = next(p for p in shards if "points" in str(p))
    points.write_bytes(points.read_bytes()[:-100])  # a truncated shard
    corrupt = subprocess.run(
        [sys.executable, "-m", "pose2gloss.step3_data_transformation", "--augment_task_id", ids[1]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert corrupt.returncode != 0 and f"{points}: unreadable shard" in corrupt.stderr


def test_set_option_parsing():
    sys.path.insert(0, str(REPO))
    from pipeline_from_tasks import parse_sets

    assert parse_sets(["train_gislr.epochs=3", "train_gislr.dim=32", "data_splitting.seed=1"]) == {
        "train_gislr": {"epochs": "3", "dim": "32"},
        "data_splitting": {"seed": "1"},
    }
    with pytest.raises(SystemExit, match="STEP.PARAM=VALUE"):
        parse_sets(["epochs=3"])


def sessions(runs: Path) -> dict[str, list[dict]]:
    """Every offline session's task.json under ``runs``, by task name."""
    found: dict[str, list[dict]] = {}
    for path in runs.rglob("offline/*/task.json"):
        task = json.loads(path.read_text())
        found.setdefault(task["name"], []).append(task)
    return found


@pytest.mark.slow
def test_too_few_participants_fail_step_one_and_the_sessions_record_what_a_server_would_get(tmp_path):
    from pose2gloss.data.synthetic import generate_sample

    data = generate_sample(tmp_path / "one", n_signs=3, n_participants=1, sequences_per_sign=4, seed=0)
    runs = tmp_path / "runs"
    done = run_cli(
        ["--data-dir", str(data), "--runs-dir", str(runs), "--set", "train_gislr.epochs=2", "--gpu-queue", "colab"],
        tmp_path,
    )
    assert done.returncode == 1
    assert "1 participant(s)" in done.stdout and "split_by=sequence" in done.stdout
    assert "[data_splitting] FAILED" in done.stdout
    recorded = sessions(runs)
    (controller,) = recorded["pose2gloss-pipeline"]
    args = {k: v["value"] for k, v in controller["hyperparams"]["Args"].items()}
    assert args["data_dir"] == str(data) and args["gpu_queue"] == "colab"
    assert "train_gislr.epochs=2" in args["set"]
    for training in recorded["step4_model_training"]:
        pins = training["script"]["requirements"]["pip"]
        assert "tensorflow[and-cuda] ==2.19.1" in pins and "tensorflow-cpu" not in pins
        assert training["script"]["entry_point"] == "-m pose2gloss.step4_model_training"
        assert training["script"]["version_num"]  # the commit an agent checks out
    (split,) = recorded["step1_data_splitting"]
    assert "tensorflow-cpu ==2.19.1" in split["script"]["requirements"]["pip"]


def child_pids(pid: int) -> set[int]:
    children = set()
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in path.read_text().split():
            children |= {int(child), *child_pids(int(child))}
    return children


@pytest.mark.slow
def test_ctrl_c_stops_the_run_and_its_steps(tiny_sample, tmp_path):
    import signal
    import time

    runs = tmp_path / "runs"
    env = {**os.environ, "CLEARML_OFFLINE_MODE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [sys.executable, "pipeline_from_tasks.py", "--data-dir", str(tiny_sample), "--runs-dir", str(runs), *FAST],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("[train_gislr] TensorFlow"):  # its ClearML task is up: it is training
            break
    steps = child_pids(process.pid)
    assert steps, "no step process was running"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    stopped_after = time.monotonic() - sent
    output = "".join(seen) + rest
    assert process.returncode == 130, output[-3000:]
    assert not [pid for pid in steps if Path(f"/proc/{pid}").exists()], "step processes survived the abort"
    summary = json.loads(next(runs.glob("*/summary.json")).read_text())
    assert summary["status"] == "aborted" and summary["aborted_by"] == "SIGINT"
    assert "train_gislr" in summary["aborted_steps"]
    assert [n["status"] for n in summary["nodes"][:3]] == ["completed"] * 3
    recorded = sessions(runs)
    assert "aborted" in recorded["pose2gloss-pipeline"][0].get("tags", [])
    assert any("aborted" in t.get("tags", []) for t in recorded["step4_model_training"])
    print(f"stopped {stopped_after:.1f}s after SIGINT")
