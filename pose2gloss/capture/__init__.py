"""From camera or video frames to GISLR landmarks and sign segments (plain Python, no UI framework)."""

from pose2gloss.capture.draw import draw_landmarks
from pose2gloss.capture.extract import (
    LandmarkExtractor,
    VideoError,
    extract_landmarks,
    read_video,
    results_to_array,
    video_frame_count,
)
from pose2gloss.capture.live import LiveCapture
from pose2gloss.capture.segment import Segment, Segmenter, SegmenterConfig, hands_present, segment_sequence

__all__ = [
    "LandmarkExtractor",
    "LiveCapture",
    "Segment",
    "Segmenter",
    "SegmenterConfig",
    "VideoError",
    "draw_landmarks",
    "extract_landmarks",
    "hands_present",
    "read_video",
    "results_to_array",
    "segment_sequence",
    "video_frame_count",
]
