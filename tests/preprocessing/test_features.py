import numpy as np
import pytest

from pose2gloss.preprocessing.features import (
    N_MODEL_LANDMARKS,
    REFERENCE_POINT,
    FeatureConfig,
    preprocess_numpy,
    preprocess_sequence,
    preprocess_sequences,
)
from pose2gloss.preprocessing.landmarks import model_landmark_indices
from tests.gislr_files import random_sequence


def reference(sequence: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Plain numpy restatement of the documented preprocessing, one sequence at a time."""
    points = sequence[:, model_landmark_indices(), :2].astype(np.float64)
    visible = np.isfinite(points).all(axis=-1)
    detected = visible.any(axis=1)
    points, visible = (points[detected], visible[detected]) if detected.any() else (points[:1], visible[:1])
    values = points[visible]
    nose = points[visible[:, REFERENCE_POINT], REFERENCE_POINT]
    centre = nose.mean(axis=0) if len(nose) else values.mean(axis=0) if len(values) else np.zeros(2)
    std = np.sqrt(((values - centre) ** 2).mean(axis=0)) if len(values) else np.ones(2)
    std = np.where(std > 1e-6, std, 1.0)
    normalised = np.where(visible[..., None], (points - centre) / std, 0.0)
    length = len(points)
    if length > config.max_len:
        chosen = (np.arange(config.max_len) * length) // config.max_len
        normalised, visible = normalised[chosen], visible[chosen]
    else:
        normalised = np.concatenate([normalised, np.zeros((config.max_len - length, *normalised.shape[1:]))])
        visible = np.concatenate([visible, np.zeros((config.max_len - length, visible.shape[1]), bool)])
    features = normalised.reshape(config.max_len, -1)
    if not config.motion:
        return features
    parts = [features]
    for step in (1, 2):
        motion = np.zeros_like(normalised)
        both = visible[step:] & visible[:-step]
        motion[step:] = (normalised[step:] - normalised[:-step]) * both[..., None]
        parts.append(motion.reshape(config.max_len, -1))
    return np.concatenate(parts, axis=1)


def test_hand_checked_case():
    """Nose (1, 1), lips (0, 0), wrist (2, 4): centred on the nose; per-axis std about it (sqrt(2/3), sqrt(10/3))."""
    config = FeatureConfig(max_len=3, motion=False)
    sequence = np.full((1, 543, 3), np.nan, np.float32)
    lips, left_wrist = model_landmark_indices()[0], model_landmark_indices()[40]
    nose = model_landmark_indices()[REFERENCE_POINT]
    sequence[0, nose] = [1.0, 1.0, 5.0]
    sequence[0, lips] = [0.0, 0.0, 5.0]
    sequence[0, left_wrist] = [2.0, 4.0, 5.0]
    out = preprocess_sequence(sequence, config).numpy()
    assert out.shape == (3, N_MODEL_LANDMARKS * 2)
    std_x, std_y = np.sqrt(2 / 3), np.sqrt((1 + 9) / 3)
    np.testing.assert_allclose(out[0, 0:2], [-1.0 / std_x, -1.0 / std_y], rtol=1e-6)
    np.testing.assert_allclose(out[0, 80:82], [1.0 / std_x, 3.0 / std_y], rtol=1e-6)
    assert np.count_nonzero(out) == 4  # the nose itself is 0; everything missing or padded is exactly zero


def test_moving_hands_do_not_move_the_reference():
    """The nose stays at 0 whatever the hands do: the centre is a fixed face point, not the mean of all points."""
    rng = np.random.default_rng(5)
    sequence = random_sequence(rng, 12, missing_left=False)
    moved = sequence.copy()
    moved[:, 468:489, :2] += 0.3  # the left hand moves far away
    nose = slice(REFERENCE_POINT * 2, REFERENCE_POINT * 2 + 2)
    for seq in (sequence, moved):
        out = preprocess_sequence(seq, FeatureConfig(max_len=16, motion=False)).numpy()
        assert abs(out[:12, nose].mean(axis=0)).max() < 1e-5


def test_motion_is_zero_across_a_missing_point_and_spans_one_and_two_frames():
    rng = np.random.default_rng(6)
    sequence = random_sequence(rng, 10, missing_left=False)
    sequence[4, 468:489] = np.nan  # the left hand is lost in frame 4
    config = FeatureConfig(max_len=10)
    out = preprocess_sequence(sequence, config).numpy()
    p = N_MODEL_LANDMARKS * 2
    position, one, two = out[:, :p], out[:, p : 2 * p], out[:, 2 * p :]
    hand = slice(40 * 2, 61 * 2)
    assert np.all(one[4, hand] == 0) and np.all(one[5, hand] == 0)  # either frame misses the hand
    assert np.all(two[4, hand] == 0) and np.all(two[6, hand] == 0)
    np.testing.assert_allclose(two[5, hand], position[5, hand] - position[3, hand], atol=1e-6)  # both seen
    np.testing.assert_allclose(one[3, hand], position[3, hand] - position[2, hand], atol=1e-6)
    assert np.all(one[0] == 0) and np.all(two[:2] == 0)  # no frame before the first
    # the hand reappearing is no jump from 0: where it is seen again, its motion is 0, not its position
    assert np.all(one[5, hand] == 0) and np.abs(position[5, hand]).max() > 0


def test_frames_with_nothing_detected_change_nothing():
    rng = np.random.default_rng(7)
    sequence = random_sequence(rng, 30)
    empty = np.full((10, 543, 3), np.nan, np.float32)
    config = FeatureConfig(max_len=32)
    expected = preprocess_sequence(sequence, config).numpy()
    for padded in (np.concatenate([empty, sequence]), np.concatenate([sequence, empty])):
        np.testing.assert_array_equal(preprocess_sequence(padded, config).numpy(), expected)


def test_max_len_is_bounded():
    assert FeatureConfig(max_len=384).n_features == N_MODEL_LANDMARKS * 2 * 3
    with pytest.raises(ValueError, match="max_len"):
        FeatureConfig(max_len=385)


@pytest.mark.parametrize("motion", [True, False])
@pytest.mark.parametrize("lengths", [(1, 5, 64, 65, 200), (30,)])
def test_packed_matches_reference(motion, lengths):
    rng = np.random.default_rng(1)
    config = FeatureConfig(max_len=64, motion=motion)
    sequences = [random_sequence(rng, n, missing_left=bool(i % 2)) for i, n in enumerate(lengths)]
    sequences[0][0, :200] = np.nan
    out = preprocess_numpy(np.concatenate(sequences), np.array(lengths), config)
    assert out.shape == (len(lengths), 64, config.n_features)
    for i, sequence in enumerate(sequences):
        np.testing.assert_allclose(out[i], reference(sequence, config), atol=2e-5)
        np.testing.assert_allclose(preprocess_sequence(sequence, config).numpy(), out[i], atol=1e-6)


def test_all_missing_sequence_is_zero_not_nan():
    out = preprocess_sequence(np.full((7, 543, 3), np.nan, np.float32), FeatureConfig()).numpy()
    assert np.all(out == 0)


def test_invariant_to_shift_and_scale_of_all_landmarks():
    rng = np.random.default_rng(2)
    sequence = random_sequence(rng, 20)
    moved = sequence.copy()
    moved[..., :2] = sequence[..., :2] * 1.7 + np.array([0.3, -0.2], np.float32)
    config = FeatureConfig()
    np.testing.assert_allclose(
        preprocess_sequence(sequence, config).numpy(), preprocess_sequence(moved, config).numpy(), atol=1e-4
    )


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(3)
    lengths = np.array([3, 9, 70, 2, 15])
    frames = np.concatenate([random_sequence(rng, n) for n in lengths])
    np.testing.assert_array_equal(
        preprocess_numpy(frames, lengths, FeatureConfig(), chunk=2), preprocess_numpy(frames, lengths, FeatureConfig())
    )


def test_streaming_preprocessing_matches_packed():
    rng = np.random.default_rng(4)
    sequences = [random_sequence(rng, n) for n in (4, 80, 1, 33, 64)]
    lengths = np.array([len(s) for s in sequences])
    np.testing.assert_array_equal(
        preprocess_sequences(iter(sequences), FeatureConfig(), chunk=2),
        preprocess_numpy(np.concatenate(sequences), lengths, FeatureConfig()),
    )
    assert preprocess_sequences([], FeatureConfig()).shape == (0, 64, FeatureConfig().n_features)
