"""Comment a pipeline run's results on its pull request: one sticky comment, updated on every re-run.

    python cicd/pipeline_reports.py --commit "$SHA" --pr 12    # ClearML server + GitHub
    python cicd/pipeline_reports.py --offline                  # the newest local run: print the Markdown
    python cicd/pipeline_reports.py --offline --pr 12          # ... and post it (GITHUB_TOKEN, GITHUB_REPOSITORY)

The comment shows the test top-1/top-5 of step 7, every candidate of the model selection, the
HPO result and trials, and a link to the run; for a failed run, each failed step with its reason
and the end of its log. Exit code 2 if no run is found, unless ``--job-url`` is given: then the
comment says the pipeline job failed before a run existed, linking its log.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # `python cicd/pipeline_reports.py`: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
from typing import Any

from cicd.github import GitHub, GitHubError, write_step_summary
from cicd.runs import RunNotFound, RunView, source

MARKER = "pose2gloss-pipeline-report"  # hidden in the comment: how a re-run finds it


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def render(run: RunView) -> str:
    """The comment's Markdown."""
    link = (
        f"[`{run.pipeline_id}`]({run.link})" if run.link.startswith("http") else f"`{run.pipeline_id}` (`{run.link}`)"
    )
    commit = f" on commit `{run.commit[:12]}`" if run.commit else ""
    lines = [f"### pose2gloss pipeline: {run.status}", "", f"Pipeline {link}{commit}.", ""]
    evaluation = run.evaluation
    if evaluation:
        test_set = evaluation.get("test_set") or {}
        lines += _table(
            ["test top-1", "test top-5", "test sequences", "final model", "from"],
            [
                [
                    f"**{_number(evaluation.get('test_top1'))}**",
                    _number(evaluation.get("test_top5")),
                    str(evaluation.get("n_test", test_set.get("sequences", "-"))),
                    str(evaluation.get("model_name", "-")),
                    str(evaluation.get("source", "-")),
                ]
            ],
        )
        if test_set:
            data = test_set["data"].split(":")[-1][:12]
            lines += ["", f"Test set: index `{data}`, test manifest `{test_set['test_manifest'][:12]}`."]
    else:
        lines.append("No evaluation metrics: step 7 did not complete.")
    for failure in run.extra.get("failures") or []:
        reason = str(failure.get("reason") or "no message").strip()
        lines += ["", f"**Step `{failure['step']}` {failure['status']}:**", "", "```", reason[-1500:], "```"]
    if run.selection:
        lines += ["", "**Model selection** (validation)", ""]
        rows = [
            [
                str(c.get("model_name")),
                f"`{c.get('task_id')}`",
                _number(c.get("val_accuracy")),
                _number(c.get("val_top5")),
                _number(c.get("val_loss")),
                "selected" if c.get("task_id") == run.selection.get("task_id") else "",
            ]
            for c in run.selection.get("candidates", [])
        ]
        lines += _table(["model", "training task", "val top-1", "val top-5", "val loss", ""], rows)
    if run.hpo:
        hpo = run.hpo
        best = hpo.get("metrics", {})
        lines += [
            "",
            f"**Hyperparameter tuning** ({hpo.get('mode', '-')}): {hpo.get('trials_finished', '-')} trials finished, "
            f"{hpo.get('trials_failed', '-')} failed; the final model comes from **{hpo.get('source', '-')}** "
            f"(`{hpo.get('best_task_id', '-')}`, val top-1 {_number(best.get('val_accuracy'))}).",
        ]
        trials = hpo.get("trials") or []
        searched = {d["name"] for d in hpo.get("search_space", []) if "name" in d}
        if trials:
            rows = [
                [
                    str(t.get("trial", i)),
                    _number(t.get("val_accuracy")),
                    _number(t.get("val_loss")),
                    ", ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in sorted((t.get("params") or {}).items())
                        if not searched or k in searched
                    ),
                    "failed: " + str(t["error"])[:80] if t.get("error") else "",
                ]
                for i, t in enumerate(trials)
            ]
            lines += [""] + _table(["trial", "val top-1", "val loss", "parameters", ""], rows)
    promotion = run.extra.get("summary", {}).get("promotion")
    if promotion:
        lines += ["", f"Local production record: {promotion['summary']}"]
    return "\n".join(lines) + "\n"


def render_no_run(why: str, job_url: str) -> str:
    """The comment when the pipeline job ended before any run could be found (pre-flight, set-up, a crash)."""
    where = f" ([job log]({job_url}))" if job_url else ""
    return (
        "### pose2gloss pipeline: failed before a run was recorded\n\n"
        f"The pipeline job failed{where} before a pipeline run could be read: {why}\n"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commit", default="", help="the pull request's head commit")
    parser.add_argument("--run", default="", help="a pipeline id (server) or run folder (offline) instead")
    parser.add_argument("--tag", action="append", default=[], help="the run carries this tag (e.g. pr-12)")
    parser.add_argument(
        "--job-url", default="", help="the pipeline job's log, linked when no run exists (it failed before one)"
    )
    parser.add_argument("--pr", type=int, default=0, help="pull request number to comment on (0: print only)")
    parser.add_argument("--offline", action="store_true", help="use local run folders instead of a ClearML server")
    parser.add_argument("--runs-dir", default="runs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        body = render(source(args.offline, args.runs_dir).find(commit=args.commit, run=args.run, tags=args.tag))
    except RunNotFound as err:
        print(f"pipeline report: {err}", file=sys.stderr)
        if not args.job_url:
            return 2
        body = render_no_run(str(err), args.job_url)  # the pull request still hears that it failed
    print(body)
    write_step_summary(body)
    if args.pr:
        try:
            action, comment = GitHub.from_env().upsert_sticky_comment(args.pr, MARKER, body)
        except GitHubError as err:
            print(f"pipeline report: commenting on pull request #{args.pr} failed: {err}", file=sys.stderr)
            return 1
        print(f"{action} comment {comment.get('html_url', comment.get('id'))} on pull request #{args.pr}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
