import numpy as np
import pytest

from pose2gloss.data.augment import (
    MODEL_POINTS,
    RAW,
    AugmentConfig,
    Layout,
    augment_sequence,
    finger_jitter,
    frame_drop,
    hand_pose,
    hflip,
    rotate,
    temporal_crop,
    temporal_resample,
    time_warp,
)
from pose2gloss.preprocessing.features import FeatureConfig, preprocess_numpy
from pose2gloss.preprocessing.landmarks import (
    FACE,
    LEFT_HAND,
    LIPS_FACE_INDICES,
    POSE,
    RIGHT_HAND,
    lip_mirror_pairs,
    mirror_permutation,
    model_landmark_indices,
    model_points,
)
from tests.gislr_files import random_sequence


@pytest.fixture
def sequence():
    return random_sequence(np.random.default_rng(0), 30)


@pytest.fixture
def two_handed():
    """Both hands tracked, with a few dropped frames, as in a real recording."""
    sequence = random_sequence(np.random.default_rng(1), 40, missing_left=False)
    sequence[[3, 17], LEFT_HAND] = np.nan
    sequence[[8], RIGHT_HAND] = np.nan
    return sequence


def features(sequence: np.ndarray) -> np.ndarray:
    return preprocess_numpy(sequence, np.array([len(sequence)]), FeatureConfig())[0]


def test_flip_twice_is_identity_on_all_points(two_handed):
    twice = hflip(hflip(two_handed))
    np.testing.assert_array_equal(np.isnan(twice), np.isnan(two_handed))
    np.testing.assert_allclose(twice, two_handed, atol=1e-6)  # only x rounds through 1 - (1 - x)
    perm = mirror_permutation()
    np.testing.assert_array_equal(perm[perm], np.arange(543))


def test_flip_swaps_hands_and_mirrors_x(sequence):
    flipped = hflip(sequence)
    np.testing.assert_array_equal(np.isnan(flipped[:, RIGHT_HAND]), np.isnan(sequence[:, LEFT_HAND]))
    np.testing.assert_allclose(flipped[:, LEFT_HAND, 0], 1 - sequence[:, RIGHT_HAND, 0])
    np.testing.assert_allclose(flipped[:, LEFT_HAND, 1:], sequence[:, RIGHT_HAND, 1:])
    np.testing.assert_allclose(flipped[:, POSE.start + 11, 0], 1 - sequence[:, POSE.start + 12, 0])


def test_flip_mirrors_the_lips(sequence):
    flipped = hflip(sequence)
    corners = FACE.start + 61, FACE.start + 291  # the mouth corners swap
    np.testing.assert_allclose(flipped[:, corners[0], 0], 1 - sequence[:, corners[1], 0])
    middle = FACE.start + 0  # the middle of the upper lip stays itself
    np.testing.assert_allclose(flipped[:, middle, 0], 1 - sequence[:, middle, 0])


def test_lip_partners_cover_the_forty_lip_points_once():
    pairs = lip_mirror_pairs()
    paired = [i for pair in pairs for i in pair]
    assert len(paired) == len(set(paired)) == 36
    midline = set(LIPS_FACE_INDICES) - set(paired)
    assert midline == {0, 17, 13, 14}  # the middles of the outer and inner, upper and lower lips


def test_lip_partners_match_the_face_mesh_geometry():
    """On the mean face that MediaPipe's face-landmark model outputs, partners sit mirror-wise."""
    linear_sum_assignment = pytest.importorskip("scipy.optimize").linear_sum_assignment
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    import importlib.util
    from pathlib import Path

    root = Path(importlib.util.find_spec("mediapipe").submodule_search_locations[0])
    interpreter = interpreter_module.Interpreter(model_path=str(root / "modules/face_landmark/face_landmark.tflite"))
    interpreter.allocate_tensors()
    image = interpreter.get_input_details()[0]
    interpreter.set_tensor(image["index"], np.full(image["shape"], 0.5, np.float32))
    interpreter.invoke()
    mesh = next(
        interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details() if o["shape"][-1] == 468 * 3
    ).reshape(468, 3)
    lips = np.asarray(LIPS_FACE_INDICES)
    xy = mesh[lips, :2]
    mirrored = xy * [-1, 1] + [2 * np.median(mesh[[0, 17, 13, 14], 0]), 0]
    cost = np.linalg.norm(xy[:, None] - mirrored[None], axis=-1)
    rows, cols = linear_sum_assignment(cost + cost.T)
    geometric = {(min(a, b), max(a, b)) for a, b in zip(lips[rows], lips[cols], strict=True) if a != b}
    assert geometric == set(lip_mirror_pairs())


def test_hand_pose_keeps_missing_points_and_hand_shape(two_handed):
    out = hand_pose(two_handed, np.random.default_rng(1), scale=0.0, rotation_deg=30.0, offset=0.2)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(two_handed))
    distance = lambda s: np.linalg.norm(s[0, RIGHT_HAND.start + 4, :2] - s[0, RIGHT_HAND.start + 20, :2])  # noqa: E731
    assert distance(out) == pytest.approx(distance(two_handed), rel=1e-5)
    np.testing.assert_array_equal(out[:, FACE], two_handed[:, FACE])


def test_hand_pose_moves_the_hands_pose_points_with_them(two_handed):
    out = hand_pose(two_handed, np.random.default_rng(2), scale=0.0, rotation_deg=0.0, offset=0.3)
    hand_move = out[0, RIGHT_HAND.start, :2] - two_handed[0, RIGHT_HAND.start, :2]
    pose_wrist_move = out[0, POSE.start + 16, :2] - two_handed[0, POSE.start + 16, :2]
    np.testing.assert_allclose(pose_wrist_move, hand_move, rtol=1e-5)
    assert np.abs(hand_move).max() > 0
    np.testing.assert_array_equal(out[:, POSE.start + 11], two_handed[:, POSE.start + 11])  # shoulder stays


def test_finger_jitter_leaves_wrists_and_body(two_handed):
    out = finger_jitter(two_handed, np.random.default_rng(3), sigma=0.05)
    for hand in (LEFT_HAND, RIGHT_HAND):
        np.testing.assert_array_equal(out[:, hand.start], two_handed[:, hand.start])
    np.testing.assert_array_equal(out[:, POSE], two_handed[:, POSE])
    np.testing.assert_array_equal(np.isnan(out), np.isnan(two_handed))
    assert not np.allclose(out[:, RIGHT_HAND], two_handed[:, RIGHT_HAND], equal_nan=True)


def test_time_warp_keeps_length_ends_and_order(sequence):
    out = time_warp(sequence, np.random.default_rng(4), strength=0.9)
    assert out.shape == sequence.shape
    np.testing.assert_array_equal(out[[0, -1]], sequence[[0, -1]])
    source = [int(np.flatnonzero(sequence[:, 0, 0] == f)[0]) for f in out[:, 0, 0]]
    assert source == sorted(source) and source != list(range(len(sequence)))
    with pytest.raises(ValueError, match="strength"):
        time_warp(sequence, np.random.default_rng(4), strength=1.0)


@pytest.mark.parametrize(
    "augmentation",
    [
        hflip,
        lambda s: rotate(s, np.random.default_rng(5)),
        lambda s: hand_pose(s, np.random.default_rng(6), scale=0.2, rotation_deg=0.0, offset=0.0),
        lambda s: hand_pose(s, np.random.default_rng(7), scale=0.0, rotation_deg=20.0, offset=0.0),
        lambda s: hand_pose(s, np.random.default_rng(8), scale=0.0, rotation_deg=0.0, offset=0.2),
        lambda s: finger_jitter(s, np.random.default_rng(9)),
        lambda s: time_warp(s, np.random.default_rng(10), strength=0.5),
        lambda s: temporal_resample(s, np.random.default_rng(11)),
        lambda s: temporal_crop(s, np.random.default_rng(12), min_fraction=0.5),
        lambda s: frame_drop(s, np.random.default_rng(13), probability=0.3),
    ],
    ids=[
        "flip",
        "rotate",
        "hand_scale",
        "hand_rotation",
        "hand_offset",
        "finger_jitter",
        "time_warp",
        "resample",
        "crop",
        "drop",
    ],
)
def test_each_augmentation_reaches_the_model_features(two_handed, augmentation):
    before, after = features(two_handed), features(augmentation(two_handed))
    assert np.abs(after - before).max() > 0.05


def test_global_scale_and_shift_do_not_reach_the_features(two_handed):
    """Why there is no global scale/shift augmentation: the per-sequence normalisation undoes it."""
    moved = two_handed.copy()
    moved[..., :2] = moved[..., :2] * 1.3 + np.array([0.1, -0.05], np.float32)
    np.testing.assert_allclose(features(moved), features(two_handed), atol=1e-4)


def test_hand_augmentations_leave_a_sequence_without_hands_alone(sequence):
    handless = sequence.copy()
    handless[:, RIGHT_HAND] = np.nan
    out = finger_jitter(hand_pose(handless, np.random.default_rng(14)), np.random.default_rng(15))
    np.testing.assert_array_equal(out, handless)


def test_temporal_ops_keep_frames_from_the_sequence(sequence):
    rng = np.random.default_rng(3)
    for op in (temporal_resample, temporal_crop, frame_drop, time_warp):
        out = op(sequence, rng)
        assert len(out) >= 1
        for frame in out[:, 0, 0]:
            assert frame in sequence[:, 0, 0]
    crop = temporal_crop(sequence, rng, min_fraction=0.5)
    assert len(crop) >= 15
    start = int(np.flatnonzero(sequence[:, 0, 0] == crop[0, 0, 0])[0])
    np.testing.assert_array_equal(crop, sequence[start : start + len(crop)])


def test_frame_drop_never_empties():
    single = random_sequence(np.random.default_rng(4), 1)
    assert len(frame_drop(single, np.random.default_rng(5), probability=1.0)) == 1


def test_augment_is_seeded_and_changes_data(sequence):
    a = augment_sequence(sequence, np.random.default_rng(7))
    b = augment_sequence(sequence, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.shape[1:] == (543, 3) and a.dtype == np.float32
    assert any(
        not np.array_equal(augment_sequence(sequence, np.random.default_rng(s)), sequence, equal_nan=True)
        for s in range(3)
    )


def test_policy_with_everything_off_changes_nothing(two_handed):
    off = AugmentConfig(**{k: 0.0 for k in AugmentConfig().to_dict() if k.endswith("probability")})
    np.testing.assert_array_equal(augment_sequence(two_handed, np.random.default_rng(0), off), two_handed)


def test_augmenting_the_model_points_gives_the_model_points_of_the_augmented_sequence(two_handed, sequence):
    """Step 2 augments the 89 stored landmarks; that must be the same as augmenting all 543."""
    handless = sequence.copy()
    handless[:, RIGHT_HAND] = np.nan
    shoulderless = two_handed.copy()
    shoulderless[:, POSE.start + 11] = np.nan  # body size then falls back to the landmarks' spread
    for raw in (two_handed, sequence, handless, shoulderless):
        for seed in range(40):
            from_raw = model_points(augment_sequence(raw, np.random.default_rng(seed)))
            from_points = augment_sequence(model_points(raw), np.random.default_rng(seed))
            assert from_points.shape == from_raw.shape and from_points.dtype == np.float32
            np.testing.assert_array_equal(np.isnan(from_points), np.isnan(from_raw))
            np.testing.assert_allclose(from_points, from_raw, atol=1e-6)


def test_layouts_find_the_same_landmarks():
    indices = model_landmark_indices()
    assert MODEL_POINTS.size == len(indices) and RAW.size == 543
    np.testing.assert_array_equal(indices[MODEL_POINTS.mirror], mirror_permutation()[indices])
    for side in range(2):
        np.testing.assert_array_equal(indices[MODEL_POINTS.hands[side]], RAW.hands[side])
        assert set(indices[MODEL_POINTS.hand_rows[side]]) == set(RAW.hand_rows[side]) & set(indices)
    assert tuple(indices[list(MODEL_POINTS.shoulders)]) == RAW.shoulders
    with pytest.raises(ValueError, match="mirror image"):
        Layout.of(np.array([LEFT_HAND.start]))  # a left wrist without the right one
    with pytest.raises(ValueError, match="whole hand"):
        Layout.of(
            np.concatenate(
                [np.arange(LEFT_HAND.start, LEFT_HAND.start + 3), np.arange(RIGHT_HAND.start, RIGHT_HAND.start + 3)]
            )
        )


def test_augment_names_a_sequence_in_no_known_layout():
    with pytest.raises(ValueError, match=r"\(frames, 543, 3\) or \(frames, 89, 2\), got \(4, 100, 2\)"):
        augment_sequence(np.zeros((4, 100, 2), np.float32), np.random.default_rng(0))
