"""The pipeline run's id and status as GitHub step outputs, read from the summary it wrote.

    python cicd/summary_outputs.py pipeline-summary.json >> "$GITHUB_OUTPUT"

With no summary (the run failed before it had one, e.g. at the pre-flight) the id is empty and
the status ``missing``: later jobs then say so instead of searching for a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def outputs(summary_path: str | Path) -> dict[str, str]:
    path = Path(summary_path)
    if not path.is_file():
        return {"pipeline_id": "", "status": "missing"}
    summary = json.loads(path.read_text())
    return {"pipeline_id": str(summary.get("pipeline_id") or ""), "status": str(summary.get("status") or "unknown")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for key, value in outputs(argv[0] if argv else "pipeline-summary.json").items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
