"""Where the GISLR data comes from: a ClearML Dataset version, or a local folder.

``python -m pose2gloss.datasets register --path data/sample`` uploads a local folder as a new
version of the ``pose2gloss/gislr`` dataset (server needed) and prints its id, which is the
pipeline's ``dataset_id`` parameter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pose2gloss.data.gislr import INDEX_FILE, SIGN_MAP_FILE

DATASET_PROJECT = "pose2gloss"
DATASET_NAME = "gislr"
SAMPLE_DIR = Path("data/sample")
# The bundled sample: enough signs and participants to learn from, small enough for a laptop run.
SAMPLE_SIZE = {"n_signs": 20, "n_participants": 6, "sequences_per_sign": 4, "seed": 0}


def resolve_data_root(dataset_id: str, data_dir: str | Path, generate_if_missing: bool = False) -> Path:
    """A local folder in GISLR layout: the dataset's cached copy, or ``data_dir``."""
    if dataset_id:
        from clearml import Dataset

        return Path(Dataset.get(dataset_id=dataset_id).get_local_copy())
    root = Path(data_dir)
    if not (root / INDEX_FILE).is_file():
        if not generate_if_missing:
            raise FileNotFoundError(f"{root / INDEX_FILE} not found; pass data_dir of a GISLR folder or a dataset_id")
        from pose2gloss.data.synthetic import generate_sample

        print(f"{root} has no {INDEX_FILE}: generating the synthetic sample there", flush=True)
        generate_sample(root, **SAMPLE_SIZE)
    return root.resolve()


def register_dataset(path: str | Path, name: str = DATASET_NAME, project: str = DATASET_PROJECT) -> str:
    """Upload a GISLR folder as a new dataset version (parent: the latest version) and return its id."""
    from clearml import Dataset

    path = Path(path)
    for required in (INDEX_FILE, SIGN_MAP_FILE):
        if not (path / required).is_file():
            raise FileNotFoundError(f"{path / required} not found: not a GISLR folder")
    try:
        parents = [Dataset.get(dataset_project=project, dataset_name=name).id]
    except ValueError:
        parents = None
    dataset = Dataset.create(dataset_name=name, dataset_project=project, parent_datasets=parents)
    dataset.add_files(str(path))
    dataset.upload()
    dataset.finalize()
    return dataset.id


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
