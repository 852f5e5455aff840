"""What a change is, for the CI jobs: code or docs only, from a fork, a draft; whether the pipeline runs.

    python cicd/changes.py --base <sha> --head <sha> --fork false --draft false >> "$GITHUB_OUTPUT"

Prints ``key=value`` lines (GitHub step outputs). Docs-only changes (Markdown, ``docs/``, the
licence) and drafts do not start the GPU pipeline; fork pull requests cannot (no secrets).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterable

DOCS_SUFFIXES = (".md", ".rst", ".txt")
DOCS_DIRS = ("docs/", ".github/ISSUE_TEMPLATE/")
DOCS_FILES = ("LICENSE", "CODEOWNERS")
NO_BASE = "0" * 40  # what GitHub sends as "before" for a new branch


def is_docs(path: str) -> bool:
    """A file whose change cannot alter what the pipeline trains or serves (requirements.txt can)."""
    if path == "requirements.txt":
        return False
    return path.endswith(DOCS_SUFFIXES) or path.startswith(DOCS_DIRS) or path.split("/")[-1] in DOCS_FILES


def classify(files: Iterable[str], *, fork: bool, draft: bool) -> dict[str, bool]:
    """``code``: something besides docs changed (or nothing is known); ``run_pipeline``: and it can run now."""
    files = list(files)
    code = not files or any(not is_docs(f) for f in files)
    return {"code": code, "fork": fork, "draft": draft, "run_pipeline": code and not fork and not draft}


def changed_files(base: str, head: str) -> list[str]:
    """Files changed between ``base`` and ``head`` (their merge base); empty when there is no base."""
    if not base or base == NO_BASE:
        return []
    done = subprocess.run(
        ["git", "diff", "--name-only", f"{base}...{head}"], capture_output=True, text=True, check=True
    )
    return [line for line in done.stdout.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--fork", default="false")
    parser.add_argument("--draft", default="false")
    args = parser.parse_args(argv)
    files = changed_files(args.base, args.head)
    verdict = classify(files, fork=args.fork == "true", draft=args.draft == "true")
    for key, value in verdict.items():
        print(f"{key}={str(value).lower()}")
    print(f"{len(files)} changed file(s): {', '.join(files[:20]) or 'unknown'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
