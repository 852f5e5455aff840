import numpy as np
import pytest

from pose2gloss.augment import (
    AugmentConfig,
    affine,
    augment_sequence,
    frame_drop,
    hflip,
    temporal_crop,
    temporal_resample,
)
from pose2gloss.landmarks import LEFT_HAND, POSE, RIGHT_HAND
from tests.gislr_files import random_sequence


@pytest.fixture
def sequence():
    return random_sequence(np.random.default_rng(0), 30)


def test_flip_twice_is_identity(sequence):
    np.testing.assert_allclose(hflip(hflip(sequence)), sequence, equal_nan=True, atol=1e-6)


def test_flip_swaps_hands_and_mirrors_x(sequence):
    flipped = hflip(sequence)
    np.testing.assert_array_equal(np.isnan(flipped[:, RIGHT_HAND]), np.isnan(sequence[:, LEFT_HAND]))
    np.testing.assert_allclose(flipped[:, LEFT_HAND, 0], 1 - sequence[:, RIGHT_HAND, 0])
    np.testing.assert_allclose(flipped[:, LEFT_HAND, 1:], sequence[:, RIGHT_HAND, 1:])
    np.testing.assert_allclose(flipped[:, POSE.start + 11, 0], 1 - sequence[:, POSE.start + 12, 0])


def test_affine_keeps_missing_points_and_relative_geometry(sequence):
    out = affine(sequence, np.random.default_rng(1), scale=(2.0, 2.0), shift=0.0, rotation_deg=0.0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(sequence))
    a, b = sequence[0, 0, :2], sequence[0, 5, :2]
    assert np.linalg.norm(out[0, 0, :2] - out[0, 5, :2]) == pytest.approx(2 * np.linalg.norm(a - b), rel=1e-5)


def test_rotation_preserves_distances(sequence):
    out = affine(sequence, np.random.default_rng(2), scale=(1.0, 1.0), shift=0.0, rotation_deg=40)
    d = lambda s: np.linalg.norm(s[3, 10, :2] - s[3, 100, :2])  # noqa: E731
    assert d(out) == pytest.approx(d(sequence), rel=1e-5)


def test_temporal_ops_keep_frames_from_the_sequence(sequence):
    rng = np.random.default_rng(3)
    for op in (temporal_resample, temporal_crop, frame_drop):
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
    assert a.shape[1:] == (543, 3)
    c = augment_sequence(sequence, np.random.default_rng(8), AugmentConfig(flip_probability=0, affine_probability=1))
    assert not np.allclose(
        c[:, :, :2][np.isfinite(c[:, :, :2])][:100], sequence[:1, :, :2][np.isfinite(sequence[:1, :, :2])][:100]
    )
