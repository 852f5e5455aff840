"""The required check of a pull request: it fails or passes with a reason, and never by being skipped.

    python cicd/gate.py --fork false --draft false --code true --pipeline-result success --pipeline-id <id>

* a fork's pull request fails: it gets no secrets, so nothing was run (a maintainer pushes its
  branch here to run it);
* a docs-only change passes: nothing it touches is trained or served;
* a draft fails: the pipeline runs once it is marked ready for review;
* a pipeline that failed, or left no run, fails;
* otherwise ``cicd/production_tagging.py --check``: at least as good as production on the same
  test set (exit 0), or not (exit 1). Nothing moves on a pull request.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # `python cicd/gate.py`: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse

from cicd.github import write_step_summary

FORK_HELP = (
    "This pull request comes from a fork, which GitHub gives no repository secrets: the pipeline could not "
    "run on ClearML, so there is nothing to gate. A maintainer can run it by pushing the branch to this "
    "repository (git fetch <fork> <branch> && git push origin FETCH_HEAD:refs/heads/<branch>) and opening "
    "the pull request from there."
)


def verdict(fork: bool, draft: bool, code: bool, pipeline_result: str, pipeline_id: str) -> tuple[int, str] | None:
    """The gate's exit code and reason when it is decided without comparing models; ``None`` to compare."""
    if fork:
        return 1, FORK_HELP
    if not code:
        return 0, "Only documentation changed: nothing that is trained or served, so nothing to gate."
    if draft:
        return 1, "Draft pull request: the pipeline runs when it is marked ready for review."
    if pipeline_result != "success" or not pipeline_id:
        left = f"run {pipeline_id}" if pipeline_id else "no pipeline run"
        return 1, f"The pipeline job ended '{pipeline_result or 'not run'}' ({left}): see its report comment."
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fork", default="false")
    parser.add_argument("--draft", default="false")
    parser.add_argument("--code", default="true")
    parser.add_argument("--pipeline-result", default="")
    parser.add_argument("--pipeline-id", default="")
    args = parser.parse_args(argv)
    flags = (args.fork == "true", args.draft == "true", args.code == "true")
    decided = verdict(*flags, args.pipeline_result, args.pipeline_id)
    if decided is not None:
        code, reason = decided
        print(("gate passed: " if code == 0 else "gate failed: ") + reason, file=sys.stderr if code else sys.stdout)
        write_step_summary(f"### Production gate\n\n{reason}\n")
        return code
    from cicd import production_tagging

    return production_tagging.main(["--check", "--run", args.pipeline_id])


if __name__ == "__main__":
    sys.exit(main())
