"""A finished run as a person or CI reads it: each step's outcome and costs, and every decision with its evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pose2gloss.orchestration import tracking
from pose2gloss.orchestration.artifacts import artifact_bytes, artifact_json, reported_value
from pose2gloss.orchestration.resources import Stored, stored_offline

PEAK_RSS_VALUE = tracking.PEAK_RSS_VALUE


@dataclass
class NodeResult:
    name: str
    status: str
    task_id: str | None
    duration_s: float | None
    log: str | None = None
    error: str | None = None
    reused: bool = False  # outputs of an earlier run with the same data, code and parameters
    peak_rss_bytes: int | None = None


@dataclass
class PipelineRun:
    controller_id: str
    nodes: list[NodeResult] = field(default_factory=list)
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM" when the run was stopped
    signum: int | None = None

    @property
    def succeeded(self) -> bool:
        return bool(self.nodes) and all(n.status == "completed" and n.task_id for n in self.nodes)


# The artifact each node's key metric is read from, and how to phrase it.
_KEY_METRICS = {
    "data_splitting": ("source", lambda a: f"{a['sequences']} sequences, split by {a.get('split_by', 'participant')}"),
    "train_gislr": ("metrics", lambda a: f"val top-1 {a['val_accuracy']:.3f}"),
    "train_convnexttiny": ("metrics", lambda a: f"val top-1 {a['val_accuracy']:.3f}"),
    "model_selection": ("selection", lambda a: f"{a['model_name']} (val top-1 {a['val_accuracy']:.3f})"),
    "hyperparameter_tuning": (
        "hpo_result",
        lambda a: f"{a['trials_finished']} trials finished, {a['trials_failed']} failed; final: {a['source']}",
    ),
    "model_evaluation": ("metrics", lambda a: f"test top-1 {a['test_top1']:.3f}, top-5 {a['test_top5']:.3f}"),
}


def _read_artifacts(run: PipelineRun) -> dict[str, dict[str, Any]]:
    """Each node's key artifact: from completed nodes, and from a failed one when it got to upload it."""
    artifacts = {}
    for node in run.nodes:
        if node.name not in _KEY_METRICS or not node.task_id or node.status not in ("completed", "failed"):
            continue
        try:
            artifacts[node.name] = artifact_json(node.task_id, _KEY_METRICS[node.name][0])
        except (KeyError, FileNotFoundError, ValueError):
            if node.status == "completed":
                raise
    return artifacts


def summarise(run: PipelineRun, run_dir: Path, *, offline: bool, duration_s: float) -> dict[str, Any]:
    """Everything a person or CI needs from a run, read back from the steps' artifacts.

    Besides each step's outcome it carries every decision with its evidence: how the data was
    split, the selection between both trained candidates, and the HPO trials with the winner.
    """
    artifacts = _read_artifacts(run)
    nodes = []
    for node in run.nodes:
        entry: dict[str, Any] = {
            "name": node.name,
            "status": node.status,
            "task_id": node.task_id,
            "duration_s": round(node.duration_s, 1) if node.duration_s is not None else None,
            "log": node.log,
            "key_metric": _KEY_METRICS[node.name][1](artifacts[node.name]) if node.name in artifacts else "",
        }
        if node.error:
            entry["error"] = node.error
        entry.update(_costs(node, offline, artifacts.get(node.name, {})))
        nodes.append(entry)
    status = "aborted" if run.interrupted_by else ("completed" if run.succeeded else "failed")
    summary: dict[str, Any] = {
        "pipeline_id": run.controller_id,
        "status": status,
        "offline": offline,
        "run_dir": str(run_dir.resolve()),
        "duration_s": round(duration_s, 1),
        "nodes": nodes,
        "reused_steps": [n.name for n in run.nodes if n.reused],
        **_storage_totals(nodes, artifacts.get("data_splitting", {}).get("sequences")),
    }
    if run.interrupted_by:
        summary["aborted_by"] = run.interrupted_by
    if offline:
        summary["sessions_dir"] = str(tracking.offline_sessions_dir())
    summary.update(decisions(artifacts))
    evaluation = artifacts.get("model_evaluation")
    if run.succeeded and evaluation:
        summary.update(
            {
                "test_top1": evaluation["test_top1"],
                "test_top5": evaluation["test_top5"],
                "selected_model": artifacts["model_selection"]["model_name"],
                "evaluation_task_id": next(n.task_id for n in run.nodes if n.name == "model_evaluation"),
                "tflite": evaluation["tflite"],
            }
        )
    else:
        unfinished = [n for n in nodes if n["status"] != "completed"]
        summary["failed_steps"] = [n["name"] for n in unfinished if n["status"] == "failed"]
        summary["aborted_steps"] = [n["name"] for n in unfinished if n["status"] == "aborted"]
        summary["not_run_steps"] = [n["name"] for n in unfinished if n["status"] not in ("failed", "aborted")]
    return summary


def decisions(artifacts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The split, selection and HPO decisions with their evidence, for the steps that made them."""
    out: dict[str, Any] = {}
    source = artifacts.get("data_splitting")
    if source:
        split_by = source.get("split_by", "participant")
        out["split"] = {
            "split_by": split_by,
            "participant_independent": split_by == "participant",
            "sequences": source["sequences"],
            "per_split": source.get("per_split", {}),
        }
    selection = artifacts.get("model_selection")
    if selection:
        out["selection"] = {
            "selected_task_id": selection["task_id"],
            "selected_model": selection["model_name"],
            "rule": "highest val top-1, then lower val loss",
            "candidates": [
                {
                    k: c.get(k)
                    for k in ("model_name", "task_id", "val_accuracy", "val_top5", "val_loss", "beats_baseline")
                }
                for c in selection.get("candidates", [])
            ],
        }
        reference = selection.get("baseline")
        if reference:
            out["selection"]["baseline"] = {k: reference.get(k) for k in ("model_name", "val_accuracy", "val_top5")}
            out["selection"]["below_baseline"] = [
                c["task_id"] for c in out["selection"]["candidates"] if c.get("beats_baseline") is False
            ]
    hpo_result = artifacts.get("hyperparameter_tuning")
    if hpo_result:
        searched = [d["name"] for d in hpo_result.get("search_space", [])]
        out["hpo"] = {
            **{
                k: hpo_result.get(k)
                for k in (
                    "source",
                    "best_task_id",
                    "model_name",
                    "params",
                    "metrics",
                    "trials_finished",
                    "trials_failed",
                    "mode",
                )
            },  # fmt: skip
            "replaced_selection": hpo_result.get("source") == "hpo",
            "trials": [
                {
                    "trial": t.get("trial"),
                    "task_id": t.get("task_id"),
                    "val_accuracy": t.get("val_accuracy"),
                    "val_loss": t.get("val_loss"),
                    "params": {k: v for k, v in (t.get("params") or {}).items() if k in searched},
                    "error": t.get("error"),
                    "winner": bool(t.get("task_id")) and t.get("task_id") == hpo_result.get("best_task_id"),
                }
                for t in hpo_result.get("trials", [])
            ],
        }
    return out


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def format_decisions(summary: Mapping[str, Any]) -> list[str]:
    """The decisions as small tables: split, selection of both candidates, HPO trials with the winner."""
    lines: list[str] = []
    split = summary.get("split")
    if split:
        per_split = split.get("per_split", {})
        counts = ", ".join(f"{k} {per_split[k]}" for k in ("train", "val", "test") if k in per_split)
        independence = (
            "participant-independent"
            if split["participant_independent"]
            else "NOT participant-independent: the same signers are in train, val and test"
        )
        lines.append(f"\nsplit: by {split['split_by']} ({independence}); {split['sequences']} sequences: {counts}")
    selection = summary.get("selection")
    if selection:
        lines.append(f"\nselection ({selection['rule']}):")
        lines.append(f"  {'model':<14}{'val top-1':>10}{'val top-5':>10}{'val loss':>10}  task")
        for c in selection["candidates"]:
            mark = "  <- selected" if c["task_id"] == selection["selected_task_id"] else ""
            if c.get("beats_baseline") is False:
                mark += "  ! does not beat the baseline"
            lines.append(
                f"  {c['model_name']:<14}{_number(c['val_accuracy']):>10}{_number(c['val_top5']):>10}"
                f"{_number(c['val_loss']):>10}  {c['task_id']}{mark}"
            )
        reference = selection.get("baseline")
        if reference:
            lines.append(
                f"  {'baseline':<14}{_number(reference['val_accuracy']):>10}{_number(reference['val_top5']):>10}"
                f"{'-':>10}  {reference['model_name']} (per-sequence statistics, no order in time)"
            )
            below = [c for c in selection["candidates"] if c.get("beats_baseline") is False]
            if below:
                names = ", ".join(f"{c['model_name']} ({c['task_id']})" for c in below)
                lines.append(f"  WARNING: not better than the bag-of-frames baseline on val top-1: {names}")
    hpo_result = summary.get("hpo")
    if hpo_result:
        verdict = (
            "the best trial replaced the selection"
            if hpo_result["replaced_selection"]
            else "no trial beat the selection on val top-1: the selected model stays"
        )
        lines.append(
            f"\nHPO ({hpo_result['mode']}): {hpo_result['trials_finished']} finished, "
            f"{hpo_result['trials_failed']} failed; {verdict}"
        )
        lines.append(f"  {'trial':<6}{'val top-1':>10}{'val loss':>10}  parameters / error")
        for t in hpo_result["trials"]:
            detail = t["error"] or ", ".join(
                f"{k}={_number(v, 5) if isinstance(v, float) else v}" for k, v in t["params"].items()
            )
            mark = "  <- winner" if t["winner"] else ""
            lines.append(
                f"  {t['trial']!s:<6}{_number(t['val_accuracy']):>10}{_number(t['val_loss']):>10}  {detail}{mark}"
            )
    return lines


def _costs(node: NodeResult, offline: bool, artifact: Mapping[str, Any]) -> dict[str, Any]:
    """A node's peak RSS and the bytes it stored (data apart from model files); HPO counts its trials."""
    costs: dict[str, Any] = {"reused": node.reused, "peak_rss_mb": None, "stored_mb": None, "model_mb": None}
    if not node.task_id or node.reused:
        return costs
    task_ids = [node.task_id, *[t["task_id"] for t in artifact.get("trials", []) if t.get("task_id")]]
    if offline:
        peak = node.peak_rss_bytes
        stored = sum((stored_offline(t, tracking.offline_sessions_dir()) for t in task_ids), Stored())
    else:  # the steps report their own peak and their artifacts' sizes are on the server
        reported = reported_value(node.task_id, PEAK_RSS_VALUE)
        peak = None if reported is None else int(reported * 2**20)
        stored = Stored(sum(artifact_bytes(t) for t in task_ids))
    costs["peak_rss_mb"] = None if peak is None else round(peak / 2**20, 1)
    costs["stored_mb"] = round(stored.data_bytes / 2**20, 2)
    costs["model_mb"] = round(stored.model_bytes / 2**20, 2)
    return costs


def _storage_totals(nodes: list[dict[str, Any]], sequences: int | None) -> dict[str, Any]:
    data = sum(n["stored_mb"] or 0 for n in nodes)
    totals: dict[str, Any] = {
        "stored_mb": round(data, 2),
        "model_mb": round(sum(n["model_mb"] or 0 for n in nodes), 2),
        "peak_rss_mb": max((n["peak_rss_mb"] for n in nodes if n["peak_rss_mb"] is not None), default=None),
    }
    if sequences:
        totals["input_sequences"] = sequences
        totals["stored_kb_per_sequence"] = round(data * 1024 / sequences, 1)
    return totals


def format_summary(summary: Mapping[str, Any]) -> str:
    """The run as a table a person reads at the end of the console output."""
    header = f"\n{'step':<24}{'status':<11}{'duration':>10}{'peak RSS':>11}{'stored':>11}  key metric"
    lines = [header, "-" * 100]
    for node in summary["nodes"]:
        status = "reused" if node.get("reused") else node["status"]
        duration = f"{node['duration_s']:.1f}s" if node["duration_s"] is not None else "-"
        rss = f"{node['peak_rss_mb']:.0f} MB" if node.get("peak_rss_mb") is not None else "-"
        stored = f"{node['stored_mb']:.1f} MB" if node.get("stored_mb") is not None else "-"
        lines.append(f"{node['name']:<24}{status:<11}{duration:>10}{rss:>11}{stored:>11}  {node['key_metric']}")
    lines.append("-" * 100)
    if summary.get("input_sequences"):
        lines.append(
            f"stored: {summary['stored_mb']:.1f} MB of data ({summary['stored_kb_per_sequence']:.1f} KB per input "
            f"sequence) + {summary['model_mb']:.1f} MB of model files; "
            f"largest step peak RSS {summary['peak_rss_mb']} MB"
        )
    if summary.get("reused_steps"):
        reused = ", ".join(summary["reused_steps"])
        lines.append(f"reused from an earlier run (same data, code and parameters): {reused}")
    status = summary["status"] + (f" by {summary['aborted_by']}" if summary.get("aborted_by") else "")
    lines.append(f"pipeline {summary['pipeline_id']}: {status} in {summary['duration_s']:.0f}s")
    lines += format_decisions(summary)
    for node in summary["nodes"]:
        if node.get("error"):
            where = f"last lines of {node['log']}" if node["log"] else "as the server recorded it"
            lines.append(f"\nstep '{node['name']}' failed; {where}:\n{node['error']}")
    if summary["status"] == "completed":
        hpo_result = summary["hpo"]
        lines.append(
            f"\nfinal model: {hpo_result['model_name']} ({hpo_result['source']}), "
            f"test top-1 {summary['test_top1']:.4f}, top-5 {summary['test_top5']:.4f}"
        )
        if summary.get("tflite_path"):
            lines.append(f"TFLite model: {summary['tflite_path']}")
    else:
        lines.append(
            f"\nfailed: {summary.get('failed_steps')}; aborted: {summary.get('aborted_steps')}; "
            f"not run: {summary.get('not_run_steps')}"
        )
    lines.append(f"run folder: {summary['run_dir']}")
    if summary.get("sessions_dir"):
        lines.append(
            f"offline ClearML sessions: {summary['sessions_dir']} "
            "(upload one with: clearml-task --import-offline-session <session>.zip)"
        )
    return "\n".join(lines)
