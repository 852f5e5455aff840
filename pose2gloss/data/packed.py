"""Many variable-length sequences as one array: frames stacked, plus the length of each.

Packing keeps a whole split in a single ``.npz`` (fast to store as an artifact, fast to load)
and lets preprocessing run on all sequences in one vectorised call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose2gloss.data.gislr import load_sequence
from pose2gloss.preprocessing.landmarks import N_COORDS, N_LANDMARKS


@dataclass
class PackedSequences:
    """Sequences stacked along the frame axis: ``frames[offsets[i]:offsets[i] + lengths[i]]``."""

    frames: np.ndarray  # (total_frames, 543, 3) float32, NaN for missing landmarks
    lengths: np.ndarray  # (n,) int64
    labels: np.ndarray  # (n,) int64
    meta: dict[str, np.ndarray] = field(default_factory=dict)  # per-sequence columns, e.g. ids

    def __post_init__(self) -> None:
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.frames.ndim != 3 or self.frames.shape[1:] != (N_LANDMARKS, N_COORDS):
            raise ValueError(f"frames must be (total, {N_LANDMARKS}, {N_COORDS}), got {self.frames.shape}")
        if int(self.lengths.sum()) != len(self.frames):
            raise ValueError(f"lengths sum to {int(self.lengths.sum())} but there are {len(self.frames)} frames")
        if len(self.labels) != len(self.lengths):
            raise ValueError(f"{len(self.labels)} labels for {len(self.lengths)} sequences")
        if (self.lengths < 1).any():
            raise ValueError("every sequence needs at least one frame")
        for name, values in self.meta.items():
            if len(values) != len(self.lengths):
                raise ValueError(f"meta column '{name}' has {len(values)} values for {len(self.lengths)} sequences")

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def sequence(self, i: int) -> np.ndarray:
        start = int(self.offsets[i])
        return self.frames[start : start + int(self.lengths[i])]

    def sequences(self) -> list[np.ndarray]:
        return np.split(self.frames, np.cumsum(self.lengths)[:-1])

    @classmethod
    def from_sequences(
        cls, sequences: Sequence[np.ndarray], labels: Sequence[int], meta: dict[str, np.ndarray] | None = None
    ) -> PackedSequences:
        frames = (
            np.concatenate(sequences).astype(np.float32, copy=False)
            if len(sequences)
            else np.zeros((0, N_LANDMARKS, N_COORDS), np.float32)
        )
        return cls(frames, np.array([len(s) for s in sequences]), np.asarray(labels), dict(meta or {}))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            frames=self.frames,
            lengths=self.lengths,
            labels=self.labels,
            **{f"meta_{k}": v for k, v in self.meta.items()},
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> PackedSequences:
        with np.load(path, allow_pickle=False) as npz:
            meta = {k[len("meta_") :]: npz[k] for k in npz.files if k.startswith("meta_")}
            return cls(npz["frames"], npz["lengths"], npz["labels"], meta)


def iter_sequences(paths: Sequence[str | Path], workers: int = 4) -> Iterator[np.ndarray]:
    """Load sequence files in parallel threads (pyarrow releases the GIL), yielding them in order.

    Consumers can work on early sequences while later ones are still being read.
    """
    if workers <= 1 or len(paths) < 2:
        yield from map(load_sequence, paths)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(load_sequence, paths)


def load_sequences(paths: Sequence[str | Path], workers: int = 4) -> list[np.ndarray]:
    return list(iter_sequences(paths, workers))
