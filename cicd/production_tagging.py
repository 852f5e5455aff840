"""Production gate: a pipeline run becomes production only if it is at least as good, on the same test set.

    python cicd/production_tagging.py --check --run "$PIPELINE_ID"  # a pull request: the gate, nothing moves
    python cicd/production_tagging.py --tag pr-12 --tag sha-<head>  # the merge: re-check, then move production
    python cicd/production_tagging.py --merged-commit "$GITHUB_SHA" # ... the pull request found through GitHub
    python cicd/production_tagging.py --offline           # the newest local run vs runs/production.json
    python cicd/production_tagging.py --offline --run runs/20261129-101500 --promote

The check is :func:`pose2gloss.evaluation.promotion.decide`, the one the pipeline applies locally. Beside it,
McNemar's paired test on the shared test set says whether a difference is more than noise.
Exit codes: 0 the run is production (promoted now, or already), or with ``--check`` would be; 1
production kept (worse, or tested on another test set: the two metric sets are shown side by
side); 2 nothing to compare. ``--check`` never changes production: on a pull request production
must not move, since the change may never be merged.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # `python cicd/production_tagging.py`: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse

from cicd.github import GitHub, GitHubError, write_step_summary
from cicd.runs import RunNotFound, RunView, source
from pose2gloss.evaluation.promotion import (
    Decision,
    PromotionError,
    decide,
    describe,
    describe_mcnemar,
    mcnemar,
    side_by_side,
)

PROMOTED, KEPT, NOTHING_TO_COMPARE = 0, 1, 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--commit", default="", help="the pull request's head commit (its pipeline run is the candidate)"
    )
    parser.add_argument("--run", default="", help="the candidate: a pipeline id (server) or run folder (offline)")
    parser.add_argument(
        "--tag", action="append", default=[], help="the candidate carries this tag (e.g. pr-12, sha-<head commit>)"
    )
    parser.add_argument("--check", action="store_true", help="only say whether the candidate passes; move nothing")
    parser.add_argument(
        "--merged-commit",
        default="",
        help="a commit on main: the candidate is the run tagged with its merged pull request (GitHub API)",
    )
    parser.add_argument("--offline", action="store_true", help="use local run folders and runs/production.json")
    parser.add_argument("--runs-dir", default="runs", help="where offline runs and production.json are (offline)")
    parser.add_argument("--promote", action="store_true", help="make the candidate production whatever the check says")
    return parser.parse_args(argv)


def merge_tags(commit: str) -> list[str]:
    """The tags the pull request's pipeline run got (``pr-<number>``, ``sha-<head>``) for a merge commit."""
    pulls = GitHub.from_env().merged_pulls(commit)
    if not pulls:
        raise RunNotFound(f"commit {commit} belongs to no merged pull request")
    return [tag for p in pulls for tag in (f"pr-{p['number']}", f"sha-{p['head']['sha']}")]


def paired_test(decision: Decision, candidate: RunView, production: RunView | None) -> str:
    """McNemar's test line, or why there is none."""
    if production is None:
        return "McNemar's test: no production model to compare with"
    if decision.candidate.test_set is None or not decision.candidate.test_set.matches(decision.production.test_set):
        return "McNemar's test: not computed, the two models were tested on different test sets"
    if candidate.predictions is None or production.predictions is None:
        missing = "candidate" if candidate.predictions is None else "production"
        return f"McNemar's test: not computed, the {missing} has no per-sequence test predictions"
    try:
        return describe_mcnemar(mcnemar(candidate.predictions, production.predictions))
    except PromotionError as err:
        return f"McNemar's test: not computed, {err}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = source(args.offline, args.runs_dir)
    try:
        tags = args.tag + (merge_tags(args.merged_commit) if args.merged_commit else [])
        candidate = runs.find(commit=args.commit, run=args.run, tags=tags)
        production = runs.production()
        decision = decide(candidate.contender(), production.contender() if production else None, force=args.promote)
    except (RunNotFound, PromotionError, GitHubError) as err:
        print(f"production gate: {err}", file=sys.stderr)
        return NOTHING_TO_COMPARE
    lines = [
        f"candidate: pipeline {candidate.pipeline_id} ({candidate.link})",
        side_by_side(decision),
        paired_test(decision, candidate, production),
    ]
    if production is not None and production.pipeline_id == candidate.pipeline_id:
        lines.append(f"pipeline {candidate.pipeline_id} is already production")
        code = PROMOTED
    elif args.check:
        verdict = "passes" if decision.promote else "does not pass"
        lines.append(f"gate: the candidate {verdict} [{decision.case}]: {decision.reason} (check only, nothing moved)")
        code = PROMOTED if decision.promote else KEPT
    else:
        lines.append(describe(decision))
        if decision.promote:
            lines.append(runs.make_production(candidate, decision))
        code = PROMOTED if decision.promote else KEPT
    report = "\n".join(lines)
    print(report)
    write_step_summary(f"### Production gate\n\n```\n{report}\n```\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
