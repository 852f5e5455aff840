"""The MediaPipe Holistic landmark layout used by the GISLR data.

Every frame holds 543 landmarks in a fixed order (face, left hand, pose, right hand).
Everything that indexes landmarks — the loader, the synthetic generator, preprocessing and
augmentation — takes the offsets from here, so they cannot disagree.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np

LANDMARK_TYPES: Final[tuple[str, ...]] = ("face", "left_hand", "pose", "right_hand")
TYPE_SIZES: Final[dict[str, int]] = {"face": 468, "left_hand": 21, "pose": 33, "right_hand": 21}
TYPE_OFFSETS: Final[dict[str, int]] = {
    "face": 0,
    "left_hand": 468,
    "pose": 489,
    "right_hand": 522,
}
N_LANDMARKS: Final[int] = 543
N_COORDS: Final[int] = 3
COORD_COLUMNS: Final[tuple[str, ...]] = ("x", "y", "z")
PARQUET_COLUMNS: Final[tuple[str, ...]] = ("frame", "row_id", "type", "landmark_index", "x", "y", "z")

FACE = slice(0, 468)
LEFT_HAND = slice(468, 489)
POSE = slice(489, 522)
RIGHT_HAND = slice(522, 543)

# Outer and inner lip contours of the face mesh (40 points), as used by top GISLR solutions.
LIPS_FACE_INDICES: Final[tuple[int, ...]] = (
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409,
    291, 146, 91, 181, 84, 17, 314, 405, 321, 375,
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415,
    95, 88, 178, 87, 14, 317, 402, 318, 324, 308,
)  # fmt: skip
# Nose, shoulders, elbows and wrists of the pose model.
POSE_SUBSET_INDICES: Final[tuple[int, ...]] = (0, 11, 12, 13, 14, 15, 16)

# Pose landmarks that swap under a horizontal mirror (MediaPipe's left/right pairs).
POSE_MIRROR_PAIRS: Final[tuple[tuple[int, int], ...]] = (
    (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
    (17, 18), (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
)  # fmt: skip


def model_landmark_indices() -> np.ndarray:
    """Indices into the 543 landmarks that the models see: lips, left hand, right hand, pose subset."""
    lips = np.asarray(LIPS_FACE_INDICES) + TYPE_OFFSETS["face"]
    left = np.arange(TYPE_SIZES["left_hand"]) + TYPE_OFFSETS["left_hand"]
    right = np.arange(TYPE_SIZES["right_hand"]) + TYPE_OFFSETS["right_hand"]
    pose = np.asarray(POSE_SUBSET_INDICES) + TYPE_OFFSETS["pose"]
    return np.concatenate([lips, left, right, pose]).astype(np.int32)


MODEL_LANDMARKS: Final[np.ndarray] = model_landmark_indices()  # computed once, for everyone


def model_points(sequence: np.ndarray) -> np.ndarray:
    """The part of raw ``(frames, 543, 3)`` landmarks that preprocessing reads: ``(frames, P, 2)``.

    C-contiguous: NumPy lays the fancy-indexed result out landmark-major, which makes every
    later operation on it several times slower.
    """
    return np.ascontiguousarray(sequence[:, MODEL_LANDMARKS, :2])


def mirror_permutation() -> np.ndarray:
    """Permutation of the 543 landmarks that a horizontal mirror applies (an involution).

    Hands swap with each other, pose left/right pairs swap and lip points swap with their
    partners across the mouth (:func:`lip_mirror_pairs`); the other face points keep their
    index (the models see only the lips of the face).
    """
    perm = np.arange(N_LANDMARKS)
    perm[LEFT_HAND] = np.arange(RIGHT_HAND.start, RIGHT_HAND.stop)
    perm[RIGHT_HAND] = np.arange(LEFT_HAND.start, LEFT_HAND.stop)
    pairs = [(POSE.start + a, POSE.start + b) for a, b in POSE_MIRROR_PAIRS]
    pairs += [(FACE.start + a, FACE.start + b) for a, b in lip_mirror_pairs()]
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


@lru_cache(maxsize=1)
def lip_mirror_pairs() -> tuple[tuple[int, int], ...]:
    """Left/right partners among the 40 lip points, derived from MediaPipe's face-mesh lip contours.

    ``FACEMESH_LIPS`` draws each lip (outer upper, outer lower, inner upper, inner lower) as a
    chain of edges from one mouth corner to the other, so the point ``i`` steps from one corner
    is the mirror image of the point ``i`` steps from the other; the middle point is its own.
    Each pair is listed once; midline points are left out.
    """
    edges = _face_mesh_connections("FACEMESH_LIPS")
    following: dict[int, list[int]] = {}
    for start, end in edges:
        following.setdefault(start, []).append(end)
    corners = sorted({a for a, _ in edges} - {b for _, b in edges})
    pairs: set[tuple[int, int]] = set()
    covered: set[int] = set()
    for corner in corners:
        for first in following[corner]:
            chain = [corner, first]
            while chain[-1] in following:
                chain.append(following[chain[-1]][0])
            if len(chain) % 2 == 0:
                raise RuntimeError(f"lip chain {chain} has no middle point: FACEMESH_LIPS changed its layout")
            pairs.update((min(a, b), max(a, b)) for a, b in zip(chain, reversed(chain), strict=True) if a != b)
            covered.update(chain)
    if covered != set(LIPS_FACE_INDICES):
        raise RuntimeError("FACEMESH_LIPS and LIPS_FACE_INDICES name different lip points")
    return tuple(sorted(pairs))


def _face_mesh_connections(name: str) -> frozenset[tuple[int, int]]:
    """A connection set of the installed MediaPipe face mesh, read without importing ``mediapipe``.

    Importing the package loads its native graph runtime (and TensorFlow, seconds), which the
    plain data module ``face_mesh_connections`` does not need.
    """
    package = importlib.util.find_spec("mediapipe")
    if package is None or not package.submodule_search_locations:
        raise RuntimeError("mediapipe is not installed; it defines the face-mesh layout")
    path = Path(package.submodule_search_locations[0]) / "python" / "solutions" / "face_mesh_connections.py"
    spec = importlib.util.spec_from_file_location("_face_mesh_connections", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(getattr(module, name))
