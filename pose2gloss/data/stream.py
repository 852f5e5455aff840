"""From GISLR files to landmark shards, a chunk of sequences at a time (step 2's library).

Raw files are read and augmented in worker processes, chunk by chunk, with a bounded number of
chunks in flight, so memory depends on the chunk size and never on the dataset. Once a raw
sequence has been read and augmented, only the model landmarks (x, y) are kept, as float16:
a tenth of the raw size, and what :func:`pose2gloss.preprocessing.features.preprocess_points` reads.

Augmented copy ``c`` of the sequence at ``position`` in its split uses its own random stream
``(seed, c, position)``, so the result does not depend on chunk size, shard size or workers.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose2gloss.data.augment import AugmentConfig, augment_sequence
from pose2gloss.data.background import prefetched
from pose2gloss.data.gislr import load_points
from pose2gloss.data.shards import Block
from pose2gloss.preprocessing.landmarks import MODEL_LANDMARKS, N_COORDS, N_LANDMARKS, model_points

POINTS_DTYPE = np.float16


def to_points(sequence: np.ndarray) -> np.ndarray:
    """Raw ``(frames, 543, 3)`` -> the stored model landmarks ``(frames, P, 2)`` float16."""
    return model_points(sequence).astype(POINTS_DTYPE)


def to_raw(points: np.ndarray) -> np.ndarray:
    """Stored points back to a raw ``(frames, 543, 3)`` float32 array, NaN where nothing was kept.

    Preprocessing reads only the model landmarks' x and y, so this array gives the exported
    model exactly the input that the stored points describe.
    """
    raw = np.full((len(points), N_LANDMARKS, N_COORDS), np.nan, np.float32)
    raw[:, MODEL_LANDMARKS, :2] = points
    return raw


@dataclass(frozen=True)
class ChunkJob:
    paths: tuple[str, ...]
    labels: np.ndarray
    meta: dict[str, np.ndarray]
    first_position: int
    multiplier: int
    seed: int
    augment: AugmentConfig


def augmented_copy(points: np.ndarray, copy: int, position: int, seed: int, config: AugmentConfig) -> np.ndarray:
    """Augmented copy ``copy`` (1, 2, ...) of the model points of the sequence at ``position`` in its split."""
    return augment_sequence(points, np.random.default_rng([seed, copy, position]), config)


def read_chunk(job: ChunkJob) -> Block:
    """Read a chunk of files; return the originals then each augmented copy, as stored points.

    Augmentation acts on the model landmarks only, which gives the same points as augmenting
    the raw sequence (see :mod:`pose2gloss.data.augment`) for a tenth of the arithmetic.
    """
    contents = prefetched(map(_file_bytes, job.paths), depth=8)  # the disk reads ahead while this process parses
    originals = [load_points(p, content) for p, content in zip(job.paths, contents, strict=True)]
    points = [p.astype(POINTS_DTYPE) for p in originals]
    copies = [np.zeros(len(originals), np.int8)]
    for copy in range(1, job.multiplier + 1):
        for offset, original in enumerate(originals):
            augmented = augmented_copy(original, copy, job.first_position + offset, job.seed, job.augment)
            points.append(augmented.astype(POINTS_DTYPE))
        copies.append(np.full(len(originals), copy, np.int8))
    repeat = job.multiplier + 1
    rows = np.array([len(p) for p in points], np.int64)
    meta = {k: np.tile(v, repeat) for k, v in job.meta.items()}
    meta["copy"] = np.concatenate(copies)  # 0: the original, c: augmented copy c
    return Block(np.concatenate(points), rows, rows, np.tile(job.labels, repeat), meta)


def _file_bytes(path: str) -> bytes | None:
    """A file's bytes; None when it cannot be read, so that :func:`load_points` names the fault."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def point_blocks(
    paths: Sequence[str | Path],
    labels: np.ndarray,
    meta: dict[str, np.ndarray],
    *,
    multiplier: int = 0,
    seed: int = 0,
    augment: AugmentConfig = AugmentConfig(),
    chunk: int = 256,
    pool: Executor | None = None,
    in_flight: int = 4,
) -> Iterator[Block]:
    """Blocks of points for the sequences in ``paths``, in order; ``multiplier`` augmented copies each.

    With ``pool`` (see :func:`worker_pool`) chunks are read in parallel, ``in_flight`` at a time.
    """
    if multiplier < 0:
        raise ValueError(f"multiplier must be >= 0, got {multiplier}")
    jobs = (
        ChunkJob(
            tuple(str(p) for p in paths[start : start + chunk]),
            np.asarray(labels[start : start + chunk]),
            {k: np.asarray(v[start : start + chunk]) for k, v in meta.items()},
            start,
            multiplier,
            seed,
            augment,
        )
        for start in range(0, len(paths), chunk)
    )
    if pool is None or len(paths) <= chunk:
        yield from map(read_chunk, jobs)
    else:
        yield from _bounded_map(pool, jobs, in_flight)


def worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """Processes for :func:`point_blocks` (None for ``workers <= 1``: read in this process).

    Spawned, not forked: the parent runs ClearML's threads, which a forked child must not inherit.
    """
    if workers <= 1:
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _bounded_map(pool: Executor, jobs: Iterator[ChunkJob], in_flight: int) -> Iterator[Block]:
    """``pool.map`` in order, with at most ``in_flight`` chunks submitted but not yet consumed."""
    pending: deque[Future[Block]] = deque()
    for job in jobs:
        pending.append(pool.submit(read_chunk, job))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
