"""The MediaPipe Holistic landmark layout used by the GISLR data.

Every frame holds 543 landmarks in a fixed order (face, left hand, pose, right hand).
Everything that indexes landmarks — the loader, the synthetic generator, preprocessing and
augmentation — takes the offsets from here, so they cannot disagree.
"""

from __future__ import annotations

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


def mirror_permutation() -> np.ndarray:
    """Permutation of the 543 landmarks that a horizontal mirror applies (an involution).

    Hands swap with each other and pose left/right pairs swap; face points keep their index
    (the mesh is only mirrored in x).
    """
    perm = np.arange(N_LANDMARKS)
    perm[LEFT_HAND] = np.arange(RIGHT_HAND.start, RIGHT_HAND.stop)
    perm[RIGHT_HAND] = np.arange(LEFT_HAND.start, LEFT_HAND.stop)
    for a, b in POSE_MIRROR_PAIRS:
        perm[POSE.start + a], perm[POSE.start + b] = POSE.start + b, POSE.start + a
    return perm
