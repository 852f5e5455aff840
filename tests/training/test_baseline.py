"""The bag-of-frames baseline sees where things are and how much they move, never their order."""

import numpy as np
import pytest

from pose2gloss.preprocessing.features import N_MODEL_LANDMARKS
from pose2gloss.training.baseline import evaluate_baseline, fit_baseline, sequence_statistics
from pose2gloss.training.batches import ArrayFeatures

F = N_MODEL_LANDMARKS * 2 * 2


def _sequences(rng, n, offsets, reverse=False, length=20, max_len=32):
    x = np.zeros((n, max_len, F), np.float32)
    ramp = np.linspace(-1.0, 1.0, length)[::-1] if reverse else np.linspace(-1.0, 1.0, length)
    for i in range(n):
        x[i, :length, : N_MODEL_LANDMARKS * 2] = (
            offsets + ramp[:, None] + rng.normal(0, 0.3, (length, N_MODEL_LANDMARKS * 2))
        )
    return x


def test_statistics_ignore_padding_and_order():
    rng = np.random.default_rng(0)
    x = _sequences(rng, 1, 0.5)
    stats = sequence_statistics(x)
    valid = x[0, :20, : N_MODEL_LANDMARKS * 2]
    np.testing.assert_allclose(stats[0], np.concatenate([valid.mean(0), valid.std(0)]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sequence_statistics(x[:, ::-1]), stats, atol=1e-6)  # frames reversed, padding first


def test_separates_what_statistics_show_but_not_the_order():
    rng = np.random.default_rng(1)
    where = np.concatenate([_sequences(rng, 40, 0.0), _sequences(rng, 40, 0.5)])
    order = np.concatenate([_sequences(rng, 40, 0.0), _sequences(rng, 40, 0.0, reverse=True)])
    labels = np.repeat([3, 7], 40)
    train, test = np.arange(80) % 2 == 0, np.arange(80) % 2 == 1
    for x, low, high in ((where, 0.95, 1.0), (order, 0.0, 0.75)):
        fitted = fit_baseline(ArrayFeatures(x[train], labels[train]), 10)
        assert low <= evaluate_baseline(fitted, ArrayFeatures(x[test], labels[test]))["accuracy"] <= high
        assert set(fitted.scores(x[test]).argmax(axis=1)) <= {3, 7}  # classes never seen are never predicted


def test_rejects_empty_data():
    with pytest.raises(ValueError, match="no training samples"):
        fit_baseline(ArrayFeatures(np.zeros((0, 4, F), np.float32), np.zeros(0, np.int64)), 3)
