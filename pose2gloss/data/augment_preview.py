"""Figures the steps log: built on matplotlib's object API (no global pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from pose2gloss.preprocessing.landmarks import LEFT_HAND, MODEL_LANDMARKS, RIGHT_HAND


def augmentation_preview(original: np.ndarray, augmented: np.ndarray | None) -> Figure:
    """Model landmarks of the first, middle and last frame, original next to an augmented copy."""
    columns = [("original", original)] + ([("augmented", augmented)] if augmented is not None else [])
    fig = Figure(figsize=(4 * len(columns), 4))
    subset = MODEL_LANDMARKS
    for position, (title, sequence) in enumerate(columns, start=1):
        ax = fig.add_subplot(1, len(columns), position)
        for frame, alpha in zip((0, len(sequence) // 2, len(sequence) - 1), (0.3, 0.6, 1.0), strict=True):
            points = sequence[frame, subset]
            ax.scatter(points[:, 0], points[:, 1], s=4, alpha=alpha)
        for hand, colour in ((LEFT_HAND, "tab:blue"), (RIGHT_HAND, "tab:red")):
            wrist = sequence[:, hand.start, :2]
            ax.plot(wrist[:, 0], wrist[:, 1], color=colour, linewidth=1)
        ax.invert_yaxis()
        ax.set_aspect("equal")
        ax.set_title(f"{title} ({len(sequence)} frames)")
    fig.tight_layout()
    return fig
