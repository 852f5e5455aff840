"""Reader for the Kaggle GISLR ("asl-signs") layout.

A sequence file holds one row per (frame, landmark). Real files vary: frames need not start
at 0, ``row_id`` is a string such as ``20-face-0`` and coordinates may be float32 or float64.
So rows are placed by ``type`` and ``landmark_index``, never by their position in the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pose2gloss.preprocessing.landmarks import COORD_COLUMNS, N_LANDMARKS, TYPE_OFFSETS, TYPE_SIZES, model_points

if TYPE_CHECKING:
    import pandas as pd

INDEX_COLUMNS = ("path", "participant_id", "sequence_id", "sign")
SIGN_MAP_FILE = "sign_to_prediction_index_map.json"
INDEX_FILE = "train.csv"
_INDEX_READ_COLUMNS = ["frame", "type", "landmark_index"]
_READ_COLUMNS = [*_INDEX_READ_COLUMNS, *COORD_COLUMNS]
_TYPE_NAMES = list(TYPE_OFFSETS)
_TYPE_OFFSET_ARRAY = np.asarray([TYPE_OFFSETS[t] for t in _TYPE_NAMES], dtype=np.int64)
_TYPE_SIZE_ARRAY = np.asarray([TYPE_SIZES[t] for t in _TYPE_NAMES], dtype=np.int64)
# Type code and landmark index of each of the 543 rows of a frame, in layout order.
_LAYOUT_TYPE_CODES = np.repeat(np.arange(len(_TYPE_NAMES)), [TYPE_SIZES[t] for t in _TYPE_NAMES])
_LAYOUT_LANDMARK_INDEX = np.concatenate([np.arange(TYPE_SIZES[t]) for t in _TYPE_NAMES])


class DataError(ValueError):
    """Input data that does not follow the GISLR layout; the message names the file and the fault."""


def load_sequence(path: str | Path, content: bytes | None = None) -> np.ndarray:
    """Load one sequence file as float32 ``(frames, 543, 3)``, ordered by frame, NaN kept.

    With ``content`` the parquet bytes are read from memory and ``path`` only names them in errors
    (the server reads uploaded files this way).
    """
    return _load(Path(path), content, COORD_COLUMNS)


def load_points(path: str | Path, content: bytes | None = None) -> np.ndarray:
    """Load only what the models see: the model landmarks' x and y, float32 ``(frames, 89, 2)``.

    The same checks as :func:`load_sequence`; depth is never decoded, which saves a sixth of the read.
    """
    return model_points(_load(Path(path), content, COORD_COLUMNS[:2]))


def _load(path: Path, content: bytes | None, coords: tuple[str, ...]) -> np.ndarray:
    """``(frames, 543, len(coords))`` from a GISLR file, whatever the order of its rows."""
    table = _read_table(path, content, coords)
    frames = _int_column(table, "frame", path)
    landmark_index = _int_column(table, "landmark_index", path)
    type_codes = _type_codes(table, path)
    values = _coords(table, path, coords)
    if _in_layout_order(frames, type_codes, landmark_index):  # how real and generated files are written
        return values.reshape(-1, N_LANDMARKS, len(coords))
    return _place_rows(path, frames.astype(np.int64), type_codes, landmark_index.astype(np.int64), values)


def _in_layout_order(frames: np.ndarray, type_codes: np.ndarray, landmark_index: np.ndarray) -> bool:
    """True when every frame is 543 consecutive rows in layout order and frames ascend."""
    if len(frames) == 0 or len(frames) % N_LANDMARKS:
        return False
    per_frame = frames.reshape(-1, N_LANDMARKS)
    first = per_frame[:, 0]
    return bool(
        (per_frame == first[:, None]).all()
        and (first[1:] > first[:-1]).all()
        and (type_codes.reshape(-1, N_LANDMARKS) == _LAYOUT_TYPE_CODES).all()
        and (landmark_index.reshape(-1, N_LANDMARKS) == _LAYOUT_LANDMARK_INDEX).all()
    )


def _place_rows(
    path: Path, frames: np.ndarray, type_codes: np.ndarray, landmark_index: np.ndarray, coords: np.ndarray
) -> np.ndarray:
    """Put rows in any order into ``(frames, 543, 3)``, checking that each frame has each landmark once."""
    sizes = _TYPE_SIZE_ARRAY[type_codes]
    bad = (landmark_index < 0) | (landmark_index >= sizes)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{path}: landmark_index {landmark_index[row]} out of range for type "
            f"'{_TYPE_NAMES[type_codes[row]]}' (row {row})"
        )
    position = _TYPE_OFFSET_ARRAY[type_codes] + landmark_index
    frame_numbers, frame_slot = _frame_slots(frames)
    counts = np.bincount(frame_slot, minlength=len(frame_numbers))
    if (counts != N_LANDMARKS).any():
        slot = int(np.argmax(counts != N_LANDMARKS))
        raise DataError(f"{path}: frame {frame_numbers[slot]} has {counts[slot]} landmarks, expected {N_LANDMARKS}")
    flat = frame_slot * N_LANDMARKS + position
    seen = np.zeros(len(flat), dtype=bool)
    seen[flat] = True
    if not seen.all():
        missing = int(np.argmin(seen))
        raise DataError(
            f"{path}: frame {frame_numbers[missing // N_LANDMARKS]} repeats a landmark and lacks "
            f"landmark {missing % N_LANDMARKS}"
        )
    out = np.empty((len(flat), coords.shape[1]), dtype=np.float32)
    out[flat] = coords
    return out.reshape(len(frame_numbers), N_LANDMARKS, coords.shape[1])


def load_sign_map(root: str | Path) -> dict[str, int]:
    """Read ``sign_to_prediction_index_map.json``: gloss name -> label id (0..N-1, no gaps)."""
    path = Path(root) / SIGN_MAP_FILE
    if not path.is_file():
        raise DataError(f"{path}: sign map not found")
    try:
        mapping = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(mapping, dict) or not mapping:
        raise DataError(f"{path}: expected a non-empty object of sign -> index")
    ids = sorted(mapping.values())
    if ids != list(range(len(mapping))):
        raise DataError(f"{path}: label ids must be 0..{len(mapping) - 1} without gaps or repeats")
    return {str(sign): int(idx) for sign, idx in mapping.items()}


def load_index(root: str | Path) -> pd.DataFrame:
    """Read ``train.csv`` with absolute paths and a ``label`` column from the sign map."""
    import pandas as pd  # here, so that reading sequences (the server) does not need pandas

    root = Path(root).resolve()
    csv_path = root / INDEX_FILE
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: index file not found")
    index = pd.read_csv(csv_path)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise DataError(f"{csv_path}: missing columns {missing}; found {list(index.columns)}")
    sign_map = load_sign_map(root)
    unknown = sorted(set(index["sign"]) - set(sign_map))
    if unknown:
        raise DataError(f"{csv_path}: signs not in {SIGN_MAP_FILE}: {unknown[:10]}")
    index = index.loc[:, list(INDEX_COLUMNS)].copy()
    index["path"] = [str(root / p) for p in index["path"]]
    index["label"] = index["sign"].map(sign_map).astype(np.int64)
    return index.reset_index(drop=True)


def _read_table(path: Path, content: bytes | None = None, coords: tuple[str, ...] = COORD_COLUMNS) -> pa.Table:
    if content is None and not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        parquet = pq.ParquetFile(path if content is None else pa.BufferReader(content), read_dictionary=["type"])
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable parquet file ({err})") from err
    names = parquet.schema_arrow.names
    missing = [c for c in _READ_COLUMNS if c not in names]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; found {names}")
    try:
        return parquet.read(columns=[*_INDEX_READ_COLUMNS, *coords], use_threads=False)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read columns ({err})") from err


def _int_column(table: pa.Table, name: str, path: Path) -> np.ndarray:
    column = table.column(name)
    if not pa.types.is_integer(column.type) and not pa.types.is_floating(column.type):
        raise DataError(f"{path}: column '{name}' must be numeric, found {column.type}")
    values = column.to_numpy()
    if column.null_count or (values.dtype.kind == "f" and not np.all(values == np.round(values))):
        raise DataError(f"{path}: column '{name}' must hold whole numbers without nulls")
    return values if values.dtype.kind in "iu" else values.astype(np.int64)


def _frame_slots(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct frame numbers and each row's index into them (O(n) for dense numbering)."""
    if len(frames) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = int(frames.min())
    offset = frames - first
    span = int(offset.max()) + 1
    if span > 4 * len(frames):  # sparse frame numbers: fall back to sorting
        return np.unique(frames, return_inverse=True)
    present = np.zeros(span, dtype=bool)
    present[offset] = True
    slot_of_offset = np.cumsum(present) - 1
    return np.flatnonzero(present) + first, slot_of_offset[offset]


def _type_codes(table: pa.Table, path: Path) -> np.ndarray:
    """Row -> index into LANDMARK_TYPES, via the column's small dictionary of distinct strings."""
    column = table.column("type")
    if pa.types.is_dictionary(column.type):
        if not (pa.types.is_string(column.type.value_type) or pa.types.is_large_string(column.type.value_type)):
            raise DataError(f"{path}: column 'type' must be strings, found {column.type.value_type}")
        column = column.unify_dictionaries() if column.num_chunks > 1 else column
        chunks = column.chunks
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        chunks = [pc.dictionary_encode(chunk) for chunk in column.chunks]
    else:
        raise DataError(f"{path}: column 'type' must be strings, found {column.type}")
    if column.null_count:
        raise DataError(f"{path}: column 'type' has missing values")
    codes = []
    for chunk in chunks:
        names = chunk.dictionary.to_pylist()
        unknown = [n for n in names if n not in _TYPE_NAMES]
        if unknown:
            raise DataError(f"{path}: unknown landmark types {unknown[:5]}; expected {_TYPE_NAMES}")
        lookup = np.asarray([_TYPE_NAMES.index(n) for n in names], dtype=np.int64)
        codes.append(lookup[chunk.indices.to_numpy(zero_copy_only=False)])
    return np.concatenate(codes) if codes else np.zeros(0, np.int64)


def _coords(table: pa.Table, path: Path, names: tuple[str, ...]) -> np.ndarray:
    columns = []
    for name in names:
        column = table.column(name)
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            raise DataError(f"{path}: column '{name}' must be numeric, found {column.type}")
        columns.append(column.to_numpy(zero_copy_only=False).astype(np.float32, copy=False))
    return np.stack(columns, axis=1)
