"""Where the GISLR data comes from: a ClearML Dataset version, or a local folder.

The pipeline resolves its data root here; ``python -m pose2gloss.datasets register`` uploads a
folder as a version (see that command).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pose2gloss.data.gislr import INDEX_FILE, SIGN_MAP_FILE
from pose2gloss.orchestration.tracking import REPO_ROOT

DATASET_PROJECT = "pose2gloss"
DATASET_NAME = "gislr"
SAMPLE_DIR = Path("data/sample")
LANDMARK_DIR = "train_landmark_files"
# Versions whose upload finished (Dataset.finalize). Dataset.list_datasets(only_completed=True) also
# returns "stopped" ones: a registration that was killed, or stopped by the server's watchdog, mid-upload.
FINAL_STATUSES = ("completed", "published", "closed")
FINGERPRINT_TAG = "content-"  # + a fingerprint of the folder: an unchanged folder reuses its version


def is_sample_dir(path: str | Path) -> bool:
    """True for the bundled sample's folder, the only one that is ever generated when missing."""
    resolved = Path(path).resolve()
    return resolved in {SAMPLE_DIR.resolve(), (REPO_ROOT / SAMPLE_DIR).resolve()}


def missing_gislr_parts(root: str | Path) -> list[str]:
    """What a folder lacks to be GISLR data: the index, the sign map, the landmark files."""
    root = Path(root)
    if not root.is_dir():
        return [f"the folder itself ({root} does not exist)"]
    missing = [name for name in (INDEX_FILE, SIGN_MAP_FILE) if not (root / name).is_file()]
    if not (root / LANDMARK_DIR).is_dir():
        missing.append(f"{LANDMARK_DIR}/")
    return missing


def local_data_root(data_dir: str | Path, generate_sample: bool = True) -> Path:
    """``data_dir`` as a GISLR folder: the bundled sample is generated when missing, any other folder must exist.

    A typo in a path must never train on freshly generated synthetic data.
    """
    root = Path(data_dir)
    missing = missing_gislr_parts(root)
    if missing and generate_sample and is_sample_dir(root):
        from pose2gloss.data.synthetic import generate_sample as generate

        print(f"{root} has no {INDEX_FILE}: generating the synthetic sample there", flush=True)
        generate(root)  # the default sample (synthetic.DEFAULT_SIZE, seed 0)
        missing = missing_gislr_parts(root)
    if missing:
        raise FileNotFoundError(
            f"{root.resolve()} is not a GISLR data folder: missing {', '.join(missing)} "
            f"(expected {INDEX_FILE}, {SIGN_MAP_FILE} and {LANDMARK_DIR}/<participant>/<sequence>.parquet)"
        )
    return root.resolve()


def resolve_data_root(
    dataset_id: str, data_dir: str | Path, generate_if_missing: bool = False, index_only: bool = False
) -> Path:
    """A local folder in GISLR layout: the dataset's cached copy, or ``data_dir`` (see :func:`local_data_root`).

    ``index_only`` fetches just ``train.csv`` and the sign map of a dataset (what splitting
    reads), not the ~40 GB of landmark files: only the chunks holding those two are downloaded,
    and :func:`register_dataset` stores them in a chunk of their own.
    """
    if dataset_id:
        from clearml import Dataset

        dataset = Dataset.get(dataset_id=dataset_id, only_completed=True)
        return Path(dataset.get_local_copy(files=list(INDEX_FILES) if index_only else None))
    return local_data_root(data_dir, generate_sample=generate_if_missing)


INDEX_FILES = (INDEX_FILE, SIGN_MAP_FILE)


def fingerprint(root: str | Path) -> str:
    """A content fingerprint of a GISLR folder: the index and sign map bytes, every file's path and size.

    Cheap on the full 40 GB set (no parquet is read), and it changes whenever a sequence is
    added, removed, renamed or rewritten at another size, or the index changes.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for name in (INDEX_FILE, SIGN_MAP_FILE):
        digest.update((root / name).read_bytes())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:32]


def register_dataset(path: str | Path, name: str = DATASET_NAME, project: str = DATASET_PROJECT) -> str:
    """The id of a completed dataset version holding exactly ``path`` (server needed).

    An unchanged folder (same :func:`fingerprint`) reuses its completed version instead of
    uploading and hashing again; a version whose upload never finished is uploaded anew. The
    index and sign map are uploaded first, as a chunk of their own. A new version has no parent:
    the sample and the real data never merge into one lineage, and ``get_local_copy`` fetches
    only this folder's files.
    """
    from clearml import Dataset

    path = local_data_root(path, generate_sample=False)
    tag = FINGERPRINT_TAG + fingerprint(path)
    for found in Dataset.list_datasets(dataset_project=project, tags=[tag], only_completed=True):
        status = str(found.get("status"))  # the API's status enum; its str is the status name
        if status not in FINAL_STATUSES:  # "stopped" passes only_completed: a killed upload
            print(f"dataset {found['id']} holds {path} ({tag}) but is {status}: not reused", flush=True)
            continue
        print(f"dataset {found['id']} already holds {path} ({tag}): reusing it", flush=True)
        return found["id"]
    dataset = Dataset.create(dataset_name=name, dataset_project=project, dataset_tags=[tag])
    for file in INDEX_FILES:  # uploaded first, alone: a chunk that splitting fetches without the landmarks
        dataset.add_files(path=str(path / file))
    dataset.upload(show_progress=False)
    dataset.sync_folder(local_path=str(path))
    dataset.upload(show_progress=False)
    dataset.finalize()
    return dataset.id
