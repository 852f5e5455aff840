import numpy as np
import pytest

from pose2gloss.features import (
    N_MODEL_LANDMARKS,
    FeatureConfig,
    preprocess_numpy,
    preprocess_sequence,
    preprocess_sequences,
)
from pose2gloss.landmarks import model_landmark_indices
from tests.gislr_files import random_sequence


def reference(sequence: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Plain numpy restatement of the documented preprocessing, one sequence at a time."""
    points = sequence[:, model_landmark_indices(), :2].astype(np.float64)
    visible = np.isfinite(points).all(axis=-1)
    values = points[visible]
    mean = values.mean(axis=0) if len(values) else np.zeros(2)
    std = np.sqrt(((values - mean) ** 2).mean()) if len(values) else 1.0
    std = std if std > 1e-6 else 1.0
    normalised = np.where(visible[..., None], (points - mean) / std, 0.0)
    length = len(sequence)
    if length > config.max_len:
        normalised = normalised[(np.arange(config.max_len) * length) // config.max_len]
        valid = np.ones(config.max_len, bool)
    else:
        normalised = np.concatenate([normalised, np.zeros((config.max_len - length, *normalised.shape[1:]))])
        valid = np.arange(config.max_len) < length
    features = normalised.reshape(config.max_len, -1)
    if not config.motion:
        return features
    motion = np.zeros_like(features)
    both = valid[1:] & valid[:-1]
    motion[:-1] = (features[1:] - features[:-1]) * both[:, None]
    return np.concatenate([features, motion], axis=1)


def test_hand_checked_case():
    """Two visible points (0,0) and (2,2): mean (1,1), std of all coordinates 1 -> (-1,-1) and (1,1)."""
    config = FeatureConfig(max_len=3, motion=False)
    sequence = np.full((1, 543, 3), np.nan, np.float32)
    lips, left_wrist = model_landmark_indices()[0], model_landmark_indices()[40]
    sequence[0, lips] = [0.0, 0.0, 5.0]
    sequence[0, left_wrist] = [2.0, 2.0, 5.0]
    out = preprocess_sequence(sequence, config).numpy()
    assert out.shape == (3, N_MODEL_LANDMARKS * 2)
    np.testing.assert_allclose(out[0, 0:2], [-1.0, -1.0])
    np.testing.assert_allclose(out[0, 80:82], [1.0, 1.0])
    assert np.count_nonzero(out) == 4  # everything missing or padded is exactly zero


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
