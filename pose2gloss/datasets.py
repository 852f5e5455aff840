"""Where the GISLR data comes from: a ClearML Dataset version, or a local folder.

``python -m pose2gloss.datasets register --path data/sample`` uploads a local folder as a
``pose2gloss/gislr`` dataset version (server needed), or finds the completed version that
already holds it, and prints its id: the pipeline's ``dataset_id`` parameter.
"""

from __future__ import annotations

import argparse
import sys

from pose2gloss.orchestration.datasets import DATASET_NAME, SAMPLE_DIR, register_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    register = sub.add_parser("register", help="upload a local GISLR folder as a new dataset version")
    register.add_argument("--path", default=str(SAMPLE_DIR))
    register.add_argument("--name", default=DATASET_NAME)
    args = parser.parse_args(argv)
    print(register_dataset(args.path, args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
