"""Request bodies -> validated float32 ``(frames, 543, 3)`` landmark arrays, or a clear 4xx.

Four forms carry one sequence: JSON ``{"landmarks": [[[x, y, z] × 543] × frames]}`` (null for a
missing point), a ``.npy`` file, the Kaggle parquet file of one sequence, and any of those as a
multipart upload. A batch is JSON ``{"sequences": [{"landmarks": ...}, ...]}`` or a ``.npz`` file.

Every check raises :class:`InputError` with the HTTP status and a message that says what is
wrong and where (``landmarks[3][17][1]: expected a number or null, got a string``). The JSON
path is fast for valid input (orjson, then one numpy conversion); the slow element-by-element
walk runs only to explain a failure.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import orjson

from pose2gloss.data.gislr import load_sequence
from pose2gloss.preprocessing.landmarks import N_COORDS, N_LANDMARKS

NPY_MAGIC = b"\x93NUMPY"
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"
SINGLE_FIELDS = frozenset({"landmarks", "top_k"})
BATCH_FIELDS = frozenset({"sequences", "top_k"})
ITEM_FIELDS = frozenset({"landmarks"})
_NUMBER_TYPES = (int, float)


class InputError(ValueError):
    """A request the server refuses; ``status`` is the HTTP code, ``reason`` a metrics label."""

    def __init__(self, message: str, status: int = 422, reason: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_frames: int = 1024
    max_batch: int = 32
    max_abs_coord: float = 1000.0
    max_body_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class Decoded:
    """What a body asked for: the sequences and, when the body says so, ``top_k``."""

    sequences: list[np.ndarray]
    top_k: int | None = None


# ---------------------------------------------------------------------------------------------
# JSON


def decode_json(body: bytes, limits: Limits, batch: bool = False) -> Decoded:
    obj = _parse_json(body)
    if not isinstance(obj, dict):
        expected = '{"sequences": [{"landmarks": ...}, ...]}' if batch else '{"landmarks": [...]}'
        raise InputError(f"expected a JSON object {expected}, got {_kind(obj)}", reason="json_shape")
    allowed = BATCH_FIELDS if batch else SINGLE_FIELDS
    _check_fields(obj, allowed, "body")
    top_k = obj.get("top_k")
    if type(top_k) is float and top_k.is_integer():  # JSON has one number type: 3.0 is the integer 3
        top_k = int(top_k)
    if top_k is not None and (type(top_k) is not int or top_k < 1):
        raise InputError(f"top_k: expected a positive integer, got {_kind(top_k)}", reason="top_k")
    if not batch:
        if "landmarks" not in obj:
            raise InputError('missing field "landmarks": a list of frames, each 543 [x, y, z] points', reason="field")
        return Decoded([landmarks_to_array(obj["landmarks"], limits, "landmarks")], top_k)
    if "sequences" not in obj:
        raise InputError('missing field "sequences": a list of {"landmarks": ...} objects', reason="field")
    items = obj["sequences"]
    if not isinstance(items, list):
        raise InputError(f"sequences: expected a list, got {_kind(items)}", reason="json_shape")
    _check_batch_size(len(items), limits)
    sequences = []
    for i, item in enumerate(items):
        where = f"sequences[{i}]"
        if not isinstance(item, dict):
            raise InputError(
                f'{where}: expected an object {{"landmarks": [...]}}, got {_kind(item)}', reason="json_shape"
            )
        _check_fields(item, ITEM_FIELDS, where)
        if "landmarks" not in item:
            raise InputError(f'{where}: missing field "landmarks"', reason="field")
        sequences.append(landmarks_to_array(item["landmarks"], limits, f"{where}.landmarks"))
    return Decoded(sequences, top_k)


def landmarks_to_array(value: Any, limits: Limits, where: str = "landmarks") -> np.ndarray:
    """Nested lists ``[frames][543][3]`` of numbers or null -> float32 array, NaN for null."""
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list of frames, got {_kind(value)}", reason="json_shape")
    _check_frame_count(len(value), limits, where)
    try:
        with np.errstate(over="ignore"):  # too large for float32 becomes inf, refused below with its position
            array = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):
        array = None
    if array is None or array.shape[1:] != (N_LANDMARKS, N_COORDS):
        _explain_structure(value, where)
        raise InputError(f"{where}: expected [frames][{N_LANDMARKS}][{N_COORDS}] numbers or null", reason="json_shape")
    # numpy quietly turns "1.5" and true into numbers; JSON coordinates must be numbers or null.
    kinds = set(map(type, chain.from_iterable(chain.from_iterable(value))))
    if not kinds <= {float, int, type(None)}:
        _explain_structure(value, where)
    return check_values(array, limits, where)


def _explain_structure(value: list, where: str) -> None:
    """Raise for the first element that breaks ``[frames][543][3]`` numbers-or-null."""
    for f, frame in enumerate(value):
        if not isinstance(frame, list):
            raise InputError(
                f"{where}[{f}]: expected a frame (a list of {N_LANDMARKS} [x, y, z] points), got {_kind(frame)}",
                reason="json_shape",
            )
        if len(frame) != N_LANDMARKS:
            raise InputError(
                f"{where}[{f}]: expected {N_LANDMARKS} landmarks per frame, got {len(frame)}", reason="landmark_count"
            )
        for i, point in enumerate(frame):
            if not isinstance(point, list):
                raise InputError(
                    f"{where}[{f}][{i}]: expected a point [x, y, z], got {_kind(point)}", reason="json_shape"
                )
            if len(point) != N_COORDS:
                raise InputError(
                    f"{where}[{f}][{i}]: expected {N_COORDS} coordinates [x, y, z], got {len(point)}",
                    reason="coord_count",
                )
            for c, number in enumerate(point):
                if number is not None and (type(number) not in _NUMBER_TYPES):
                    raise InputError(
                        f"{where}[{f}][{i}][{c}]: expected a number or null, got {_kind(number)}", reason="value_type"
                    )


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        raise InputError("empty body: send a JSON object, a .npy file or a parquet file", 400, "empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        if b"NaN" in body or b"Infinity" in body:
            raise InputError(
                f"not valid JSON ({err}); NaN and Infinity are not JSON: use null for a missing point", 400, "json"
            ) from err
        raise InputError(f"not valid JSON: {err}", 400, "json") from err


def _check_fields(obj: dict, allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}", reason="field")


# ---------------------------------------------------------------------------------------------
# Binary forms


def decode_npy(body: bytes, limits: Limits, where: str = "npy") -> np.ndarray:
    """A ``.npy`` file of a float ``(frames, 543, 3)`` array, NaN for missing points.

    The header is checked before any data is touched, so a header that claims a huge shape
    costs nothing (``np.load`` would allocate it first).
    """
    if not body:
        raise InputError("empty body: send a .npy file of shape (frames, 543, 3)", 400, "empty")
    if not body.startswith(NPY_MAGIC):
        raise InputError(
            f"{where}: not a .npy file (it must start with \\x93NUMPY; write it with numpy.save)", 400, "npy"
        )
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"format version {version} is not supported; use 1.0 or 2.0")
    except Exception as err:  # noqa: BLE001 - numpy's header parser raises many kinds on garbage
        raise InputError(f"{where}: corrupt .npy header ({err})", 400, "npy") from err
    if dtype.kind != "f" or dtype.fields is not None:
        raise InputError(
            f"{where}: dtype {dtype} not accepted; send float32 (float16 and float64 also work)", reason="dtype"
        )
    if len(shape) != 3 or tuple(shape[1:]) != (N_LANDMARKS, N_COORDS):
        raise InputError(
            f"{where}: shape {tuple(shape)} not accepted; expected (frames, {N_LANDMARKS}, {N_COORDS})", reason="shape"
        )
    _check_frame_count(shape[0], limits, where)
    count = int(np.prod(shape))
    offset = stream.tell()
    available = len(body) - offset
    if available != count * dtype.itemsize:
        raise InputError(
            f"{where}: header says {count * dtype.itemsize} bytes of data for shape {tuple(shape)}, "
            f"body has {available} (truncated or padded file)",
            400,
            "npy",
        )
    flat = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
    array = flat.reshape(shape[::-1]).transpose() if fortran_order else flat.reshape(shape)
    with np.errstate(over="ignore"):
        array = np.array(array, dtype=np.float32, order="C")
    return check_values(array, limits, where)


def decode_npz(body: bytes, limits: Limits) -> Decoded:
    """A batch as a ``.npz`` file (``numpy.savez(path, *sequences)``), in the order written."""
    if not body:
        raise InputError("empty body: send a .npz file of (frames, 543, 3) arrays", 400, "empty")
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise InputError(f"npz: not a readable .npz (zip) file ({err})", 400, "npz") from err
    _check_batch_size(len(members), limits)
    total = sum(info.file_size for info in members)
    if total > limits.max_body_bytes:
        raise InputError(
            f"npz: {total} bytes once unpacked, more than the limit of {limits.max_body_bytes}", 413, "too_large"
        )
    sequences = []
    for info in members:
        try:
            data = archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as err:
            raise InputError(f"npz: member {info.filename!r} cannot be read ({err})", 400, "npz") from err
        sequences.append(decode_npy(data, limits, where=f"npz[{info.filename!r}]"))
    return Decoded(sequences)


def decode_parquet(body: bytes, limits: Limits) -> np.ndarray:
    """The Kaggle GISLR parquet file of one sequence, read by the library's own loader."""
    if not body:
        raise InputError("empty body: send the parquet file of one sequence", 400, "empty")
    if not (body.startswith(PARQUET_MAGIC) and body.endswith(PARQUET_MAGIC)):
        raise InputError("parquet: not a parquet file (it must start and end with PAR1)", 400, "parquet")
    try:
        array = load_sequence("parquet", content=body)
    except Exception as err:  # noqa: BLE001 - untrusted file through a third-party reader: any failure is a 4xx
        message = str(err)
        if not message.startswith("parquet"):
            message = f"parquet: {message}"
        raise InputError(message, reason="parquet") from err
    if len(array) == 0:
        raise InputError("parquet: 0 frames; send at least one frame", reason="frames")
    _check_frame_count(len(array), limits, "parquet")
    return check_values(array, limits, "parquet")


def sniff_file(data: bytes, limits: Limits) -> np.ndarray | Decoded:
    """An uploaded file of any accepted form, told apart by its first bytes."""
    if data.startswith(NPY_MAGIC):
        return decode_npy(data, limits)
    if data.startswith(PARQUET_MAGIC):
        return decode_parquet(data, limits)
    if data.lstrip()[:1] == b"{":
        return decode_json(data, limits)
    raise InputError("file: not a .npy, parquet or JSON file", 415, "file_type")


# ---------------------------------------------------------------------------------------------
# Checks shared by every form


def check_values(array: np.ndarray, limits: Limits, where: str) -> np.ndarray:
    """NaN marks a missing point; infinities, huge values and all-missing input are refused."""
    finite = np.isfinite(array)
    if not finite.all():
        infinite = np.isinf(array)
        if infinite.any():
            f, i, c = np.argwhere(infinite)[0]
            raise InputError(
                f"{where}[{f}][{i}][{c}]: infinite value (or beyond float32 range); "
                "use null (JSON) or NaN (.npy) for a missing point",
                reason="value_range",
            )
        if not finite.any():
            raise InputError(
                f"{where}: every landmark of every frame is missing (null/NaN): nothing to recognise",
                reason="all_missing",
            )
    magnitude = np.abs(array, where=finite, out=np.zeros_like(array))
    if magnitude.max() > limits.max_abs_coord:
        f, i, c = np.argwhere(magnitude > limits.max_abs_coord)[0]
        raise InputError(
            f"{where}[{f}][{i}][{c}]: {array[f, i, c]:.6g} is out of range; MediaPipe coordinates are "
            f"image-normalised (limit ±{limits.max_abs_coord:g})",
            reason="value_range",
        )
    return array


def _check_frame_count(frames: int, limits: Limits, where: str) -> None:
    if frames == 0:
        raise InputError(f"{where}: 0 frames; send at least one frame", reason="frames")
    if frames > limits.max_frames:
        raise InputError(
            f"{where}: {frames} frames, more than the limit of {limits.max_frames} "
            "(POSE2GLOSS_MAX_FRAMES); the model resamples to a fixed length anyway",
            reason="frames",
        )


def _check_batch_size(n: int, limits: Limits) -> None:
    if n == 0:
        raise InputError("batch: no sequences; send at least one", reason="batch_size")
    if n > limits.max_batch:
        raise InputError(
            f"batch: {n} sequences, more than the limit of {limits.max_batch} (POSE2GLOSS_MAX_BATCH)",
            reason="batch_size",
        )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, _NUMBER_TYPES):
        return f"a number ({value!r})"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
