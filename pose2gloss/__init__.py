"""pose2gloss: MediaPipe landmarks in, ASL glosses out."""

__version__ = "0.1.0"
