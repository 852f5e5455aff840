"""Hand-written GISLR-format files for tests, written the way the real data is (pandas, float64)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pose2gloss.preprocessing.landmarks import LANDMARK_TYPES, TYPE_SIZES


def sequence_frame(sequence: np.ndarray, first_frame: int = 20) -> pd.DataFrame:
    """Rows of one sequence in the GISLR layout (per frame: face, left_hand, pose, right_hand)."""
    types = np.concatenate([[t] * TYPE_SIZES[t] for t in LANDMARK_TYPES])
    indices = np.concatenate([np.arange(TYPE_SIZES[t]) for t in LANDMARK_TYPES])
    frames = np.repeat(np.arange(len(sequence)) + first_frame, len(types))
    all_types = np.tile(types, len(sequence))
    all_indices = np.tile(indices, len(sequence))
    flat = sequence.reshape(-1, 3).astype(np.float64)
    return pd.DataFrame(
        {
            "frame": frames.astype(np.int16),
            "row_id": [f"{f}-{t}-{i}" for f, t, i in zip(frames, all_types, all_indices, strict=True)],
            "type": all_types,
            "landmark_index": all_indices.astype(np.int16),
            "x": flat[:, 0],
            "y": flat[:, 1],
            "z": flat[:, 2],
        }
    )


def write_sequence(path: Path, sequence: np.ndarray, first_frame: int = 20, shuffle_rows: bool = False) -> Path:
    frame = sequence_frame(sequence, first_frame)
    if shuffle_rows:
        frame = frame.sample(frac=1.0, random_state=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def write_dataset(root: Path, sequences: dict[tuple[int, int], tuple[np.ndarray, str]], signs: list[str]) -> Path:
    """Write train.csv, the sign map and one parquet per ``(participant, sequence) -> (array, sign)``."""
    rows = []
    for (participant, sequence_id), (array, sign) in sequences.items():
        relative = f"train_landmark_files/{participant}/{sequence_id}.parquet"
        write_sequence(root / relative, array)
        rows.append({"path": relative, "participant_id": participant, "sequence_id": sequence_id, "sign": sign})
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    (root / "sign_to_prediction_index_map.json").write_text(json.dumps({s: i for i, s in enumerate(signs)}))
    return root


def random_sequence(rng: np.random.Generator, frames: int, missing_left: bool = True) -> np.ndarray:
    sequence = rng.random((frames, 543, 3)).astype(np.float32)
    if missing_left:
        sequence[:, 468:489] = np.nan
    return sequence
