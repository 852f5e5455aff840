"""Writing a synthetic sample to disk in the exact GISLR layout.

``train.csv``, one zstd parquet file of landmarks per sequence under ``train_landmark_files/``
(frames numbered from an offset, like the real files) and ``sign_to_prediction_index_map.json``
with the full vocabulary, so that code written for the real data reads the sample unchanged.
"""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pose2gloss.data.gislr import INDEX_COLUMNS, INDEX_FILE, SIGN_MAP_FILE
from pose2gloss.data.signs import GISLR_SIGNS
from pose2gloss.data.synthetic.recording import synthesize_landmarks
from pose2gloss.data.synthetic.signers import Participant, _random_participant
from pose2gloss.data.synthetic.vocabulary import SignSpec, _check_int, sample_signs, sign_spec
from pose2gloss.preprocessing.landmarks import LANDMARK_TYPES, N_LANDMARKS, TYPE_SIZES

LANDMARK_DIR: Final[str] = "train_landmark_files"

MAX_PARTICIPANTS: Final[int] = 1000
MAX_SEQUENCES_PER_SIGN: Final[int] = 1000
# The default sample (with seed 0), which `python -m pose2gloss.data.synthetic` and the pipeline
# generate: enough signs and participants to learn from, small enough for a laptop run.
DEFAULT_SIZE: Final[dict[str, int]] = {"n_signs": 20, "n_participants": 6, "sequences_per_sign": 4}

# The sample seed's random streams for the ids and the recordings (the participants' is in signers.py).
_IDS_STREAM: Final[int] = 0
_SEQUENCE_STREAM: Final[int] = 2

# Parquet encodings that shrink the files by ~40% versus plain snappy; pyarrow and pandas read them.
_COLUMN_ENCODING: Final[dict[str, str]] = {
    "row_id": "DELTA_BYTE_ARRAY",
    "x": "BYTE_STREAM_SPLIT",
    "y": "BYTE_STREAM_SPLIT",
    "z": "BYTE_STREAM_SPLIT",
}


def generate_sample(
    out_dir: Path | str,
    *,
    n_signs: int = DEFAULT_SIZE["n_signs"],
    n_participants: int = DEFAULT_SIZE["n_participants"],
    sequences_per_sign: int = DEFAULT_SIZE["sequences_per_sign"],
    seed: int = 0,
) -> Path:
    """Write a GISLR-layout sample of ``n_signs * n_participants * sequences_per_sign`` sequences.

    Existing files of the same names are overwritten; other files in ``out_dir`` are left alone.
    Returns ``out_dir`` (the directory that holds ``train.csv``).
    """
    signs = sample_signs(n_signs)
    _check_int("n_participants", n_participants, 1, MAX_PARTICIPANTS)
    _check_int("sequences_per_sign", sequences_per_sign, 1, MAX_SEQUENCES_PER_SIGN)
    _check_int("seed", seed, 0, 2**63 - 1)
    out = Path(out_dir)
    id_rng = np.random.default_rng([seed, _IDS_STREAM])
    participant_ids = _unique_ints(id_rng, n_participants, 10_000, 99_999)
    sequence_ids = _unique_ints(id_rng, n_signs * n_participants * sequences_per_sign, 10**9, 2**32 - 1)
    participants = [_random_participant(seed, i, pid) for i, pid in enumerate(participant_ids)]
    rows: list[tuple[str, int, int, str]] = []
    ids = iter(sequence_ids)
    for p_idx, participant in enumerate(participants):
        (out / LANDMARK_DIR / str(participant.participant_id)).mkdir(parents=True, exist_ok=True)
        for sign in signs:
            spec = sign_spec(GISLR_SIGNS.index(sign))
            for rep in range(sequences_per_sign):
                sequence_id = next(ids)
                rng = np.random.default_rng([seed, _SEQUENCE_STREAM, p_idx, spec.label, rep])
                rel_path = f"{LANDMARK_DIR}/{participant.participant_id}/{sequence_id}.parquet"
                _write_sequence(out / rel_path, spec, participant, rng)
                rows.append((rel_path, participant.participant_id, sequence_id, sign))
    _write_train_csv(out / INDEX_FILE, rows)
    _write_sign_map(out / SIGN_MAP_FILE)
    return out


def landmarks_table(coords: np.ndarray, first_frame: int) -> pa.Table:
    """The GISLR parquet table of ``coords`` (frames, 543, 3) with frames numbered from ``first_frame``."""
    n_frames = coords.shape[0]
    frame = np.repeat(np.arange(first_frame, first_frame + n_frames, dtype=np.int16), N_LANDMARKS)
    per_frame = pa.array(np.tile(np.arange(N_LANDMARKS, dtype=np.int32), n_frames))
    types, indices, suffixes = _landmark_columns()
    frame_arr = pa.array(frame, type=pa.int16())
    row_id = pc.binary_join_element_wise(pc.cast(frame_arr, pa.string()), pc.take(suffixes, per_frame), "")
    flat = coords.reshape(-1, 3)
    return pa.table(
        {
            "frame": frame_arr,
            "row_id": row_id,
            "type": pc.take(types, per_frame),
            "landmark_index": pa.array(np.tile(indices, n_frames), type=pa.int16()),
            "x": pa.array(flat[:, 0], type=pa.float32()),
            "y": pa.array(flat[:, 1], type=pa.float32()),
            "z": pa.array(flat[:, 2], type=pa.float32()),
        }
    )


def _unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> list[int]:
    """``n`` distinct random integers in [low, high], like the ids of the real data."""
    return [int(v) for v in rng.choice(high - low + 1, size=n, replace=False) + low]


@lru_cache(maxsize=1)
def _landmark_columns() -> tuple[pa.Array, np.ndarray, pa.Array]:
    """Per-landmark type names, in-type indices and row_id suffixes of one frame (543 each)."""
    types = [t for t in LANDMARK_TYPES for _ in range(TYPE_SIZES[t])]
    indices = np.concatenate([np.arange(TYPE_SIZES[t]) for t in LANDMARK_TYPES]).astype(np.int16)
    suffixes = [f"-{t}-{i}" for t, i in zip(types, indices.tolist(), strict=True)]
    return pa.array(types, type=pa.string()), indices, pa.array(suffixes, type=pa.string())


def _write_sequence(path: Path, spec: SignSpec, participant: Participant, rng: np.random.Generator) -> None:
    """Synthesize one recording and write it as a GISLR parquet file (frames start at an offset)."""
    coords = synthesize_landmarks(spec, participant, rng)
    first_frame = int(rng.integers(10, 201))
    pq.write_table(
        landmarks_table(coords, first_frame),
        path,
        compression="zstd",
        version="2.6",
        use_dictionary=["type"],
        column_encoding=_COLUMN_ENCODING,
        write_statistics=True,
    )


def _write_train_csv(path: Path, rows: list[tuple[str, int, int, str]]) -> None:
    """The index of all sequences, sorted by sequence id like the real ``train.csv``."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(INDEX_COLUMNS)
        writer.writerows(sorted(rows, key=lambda row: row[2]))


def _write_sign_map(path: Path) -> None:
    """The full 250-sign vocabulary, so models trained on the sample have the real output size."""
    mapping = {sign: index for index, sign in enumerate(GISLR_SIGNS)}
    path.write_text(json.dumps(mapping), encoding="utf-8")
