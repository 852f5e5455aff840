"""Landmark extraction with real MediaPipe Holistic, and sign segmentation on synthetic landmark streams."""

from __future__ import annotations

import numpy as np
import pytest

from pose2gloss.capture import (
    LandmarkExtractor,
    Segmenter,
    SegmenterConfig,
    VideoError,
    draw_landmarks,
    extract_landmarks,
    hands_present,
    read_video,
    segment_sequence,
)
from pose2gloss.preprocessing.landmarks import FACE, LEFT_HAND, POSE, RIGHT_HAND
from tests.drawn_person import empty_frame, person_frame, signing_clip, write_video

# ---------------------------------------------------------------------------------------------
# Extraction (real MediaPipe)


@pytest.fixture(scope="module")
def extractor():
    with LandmarkExtractor(static_images=True) as extractor:
        yield extractor


def test_nothing_detected_is_nan_with_the_right_shape():
    landmarks = extract_landmarks([empty_frame(0), empty_frame(255)])
    assert landmarks.shape == (2, 543, 3)
    assert landmarks.dtype == np.float32
    assert np.isnan(landmarks).all()


def test_a_person_fills_every_part_in_gislr_order(extractor):
    frame = extractor.frame(person_frame())
    assert frame.shape == (543, 3) and frame.dtype == np.float32
    for part in (FACE, LEFT_HAND, POSE, RIGHT_HAND):
        assert np.isfinite(frame[part]).all()
    # The face sits above the hands; the person's left hand is on the image's right (not mirrored).
    assert np.nanmean(frame[FACE, 1]) < np.nanmean(frame[LEFT_HAND, 1])
    assert frame[LEFT_HAND, 0].mean() > frame[RIGHT_HAND, 0].mean()
    # Pose landmark 15 is the left wrist, 16 the right wrist: each near its own hand's wrist (hand point 0).
    assert abs(frame[POSE.start + 15, 0] - frame[LEFT_HAND.start, 0]) < 0.05
    assert abs(frame[POSE.start + 16, 0] - frame[RIGHT_HAND.start, 0]) < 0.05


def test_moving_one_hand_moves_only_its_slots(extractor):
    still = extractor.frame(person_frame(dx=0))
    moved = extractor.frame(person_frame(dx=-10))  # the hand drawn on the image's left (the right hand), 5 px left
    assert moved[RIGHT_HAND, 0].mean() - still[RIGHT_HAND, 0].mean() < -0.004
    assert abs(moved[LEFT_HAND, 0].mean() - still[LEFT_HAND, 0].mean()) < 0.002


def test_hands_down_leaves_hand_slots_nan(extractor):
    frame = extractor.frame(person_frame(hands=False))
    assert np.isnan(frame[LEFT_HAND]).all() and np.isnan(frame[RIGHT_HAND]).all()


def test_bad_frames_are_refused(extractor):
    with pytest.raises(ValueError, match="RGB uint8"):
        extractor.frame(np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError, match="RGB uint8"):
        extractor.frame(np.zeros((48, 64, 3), np.float32))


def test_video_file_to_landmarks_to_one_segment(tmp_path):
    video = write_video(tmp_path / "clip.mp4", signing_clip(sign_frames=16, rest_frames=10))
    frames = list(read_video(video))
    assert len(frames) == 36 and frames[0].shape == (480, 640, 3)
    landmarks = extract_landmarks(frames)
    assert landmarks.shape == (36, 543, 3)
    with_hands = np.array([hands_present(frame) for frame in landmarks])
    assert with_hands[10:26].mean() > 0.8 and not with_hands[:10].any() and not with_hands[28:].any()
    (segment,) = segment_sequence(landmarks)
    assert 8 <= segment.start <= 12 and 24 <= segment.end <= 28


def test_unreadable_videos_raise_a_clear_error(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoError, match="broken.mp4"):
        list(read_video(broken))
    with pytest.raises(VideoError, match="no such file"):
        list(read_video(tmp_path / "missing.mp4"))


def test_draw_landmarks_marks_detected_points_only():
    frame = np.zeros((100, 200, 3), np.uint8)
    landmarks = np.full((543, 3), np.nan, np.float32)
    landmarks[LEFT_HAND.start] = (0.5, 0.5, 0.0)
    drawn = draw_landmarks(frame, landmarks)
    assert drawn[50, 100].any() and not drawn[10, 10].any() and not frame.any()


# ---------------------------------------------------------------------------------------------
# Segmentation on synthetic streams


def _stream(pattern: str, rng: np.random.Generator) -> np.ndarray:
    """One frame per character: '.' no hands, 'm' a moving hand, 's' a still hand."""
    frames = np.full((len(pattern), 543, 3), np.nan, np.float32)
    frames[:, POSE] = 0.5
    position = np.array([0.5, 0.5])
    for i, kind in enumerate(pattern):
        if kind == ".":
            continue
        if kind == "m":
            position = position + rng.uniform(0.01, 0.02, 2) * rng.choice([-1, 1], 2)
        frames[i, RIGHT_HAND, :2] = position + np.linspace(0, 0.05, 21)[:, None]
        frames[i, RIGHT_HAND, 2] = 0.0
    return frames


CONFIG = SegmenterConfig(gap_frames=4, still_frames=5, min_frames=4, max_frames=30, pre_roll=2)


def _cuts(pattern: str, config: SegmenterConfig = CONFIG) -> list[tuple[int, int, str]]:
    segments = segment_sequence(_stream(pattern, np.random.default_rng(0)), config)
    return [(s.start, s.end, s.reason) for s in segments]


def test_hands_entering_and_leaving_make_one_segment_with_pre_roll():
    assert _cuts("....." + "m" * 10 + "......") == [(3, 15, "hands left")]


def test_short_flicker_of_a_hand_is_not_a_sign():
    assert _cuts("....mm......mm.......") == []


def test_two_signs_separated_by_a_gap():
    assert _cuts("..mmmmmmm.....mmmmmm.....") == [(0, 9, "hands left"), (13, 20, "hands left")]


def test_holding_still_ends_a_sign_and_motion_starts_the_next():
    cuts = _cuts("mmmmmmmm" + "s" * 7 + "mmmmmm" + "....")
    assert cuts == [(0, 8, "hands still"), (13, 21, "hands left")]  # pre-roll: 2 still frames


def test_endless_signing_falls_back_to_fixed_windows():
    cuts = _cuts("m" * 70)
    assert [(start, end) for start, end, _ in cuts] == [(0, 30), (30, 60), (60, 70)]
    assert [reason for *_, reason in cuts] == ["window", "window", "stream end"]


def test_segment_landmarks_are_the_stream_frames():
    stream = _stream("..mmmmmm....", np.random.default_rng(1))
    (segment,) = segment_sequence(stream, CONFIG)
    np.testing.assert_array_equal(segment.landmarks, stream[segment.start : segment.end])


def test_live_segmenter_reports_each_sign_when_it_ends():
    stream = _stream("..mmmmmm....." + "mmmmm", np.random.default_rng(2))
    segmenter = Segmenter(CONFIG)
    ended_at = [i for i, frame in enumerate(stream) if segmenter.push(frame)]
    assert ended_at == [11]  # the 4th frame without hands
    assert segmenter.in_sign
    assert [s.reason for s in segmenter.flush()] == ["stream end"]
    assert segmenter.frames_since_hands == 0


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="min_frames"):
        SegmenterConfig(min_frames=10, max_frames=5)
    with pytest.raises(ValueError, match="gap_frames"):
        SegmenterConfig(gap_frames=0)
