"""``python -m pose2gloss.monitor``: the offline drift report, and a reference profile from a GISLR folder.

    python -m pose2gloss.monitor report --requests drift.jsonl --model runs/<run>/bundle --out report.html
    python -m pose2gloss.monitor reference --data-dir data/sample --out reference_profile.json

Exit code of ``report``: 0 no drift, 1 drift (so a scheduled job can alert), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pose2gloss.bundle.files import REFERENCE_FILE, production_bundle_dir, read_bundle
from pose2gloss.monitor.drift import DEFAULT_THRESHOLD


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose2gloss.monitor", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="compare a request log (POSE2GLOSS_DRIFT_LOG) with a reference")
    report.add_argument("--requests", required=True, type=Path, help="the JSON-lines profile log the server wrote")
    report.add_argument("--model", type=Path, help="bundle folder (default: runs/production.json's)")
    report.add_argument("--reference", type=Path, help="a reference profile file instead of a bundle's")
    report.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    report.add_argument("--out", type=Path, default=Path("report.html"))
    reference = commands.add_parser("reference", help="the reference profile of a GISLR data folder's sequences")
    reference.add_argument("--data-dir", required=True, type=Path)
    reference.add_argument("--out", type=Path, default=Path(REFERENCE_FILE))
    args = parser.parse_args(argv)
    try:
        return _report(args) if args.command == "report" else _reference(args)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _report(args: argparse.Namespace) -> int:
    from pose2gloss.monitor.profile import read_reference
    from pose2gloss.monitor.report import read_request_log, write_report

    path = args.reference
    if path is None:
        folder = args.model or production_bundle_dir()
        if folder is None:
            raise ValueError("no --model, --reference or runs/production.json: which reference?")
        path = read_bundle(folder, verify=True).reference_path
        if path is None:
            raise ValueError(f"{folder}: the bundle has no {REFERENCE_FILE} (exported before drift monitoring)")
    result = write_report(read_request_log(args.requests), read_reference(path), args.out, args.threshold)
    print(f"{result.status}: score {result.score}, {result.requests} requests; {args.out}")
    for reason in result.reasons:
        print(f"  {reason}")
    return 1 if result.status == "drift" else 0


def _reference(args: argparse.Namespace) -> int:
    from pose2gloss.data.gislr import load_index, load_sequence
    from pose2gloss.monitor.profile import ReferenceBuilder, raw_profile, write_reference

    builder = ReferenceBuilder()
    for path in load_index(args.data_dir)["path"]:  # one file at a time
        builder.add_profiles(raw_profile(load_sequence(path)))
    write_reference(builder.result(inputs=str(args.data_dir)), args.out)
    print(f"{builder.sequences} sequences profiled; {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
