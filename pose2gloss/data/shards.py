"""Splits stored as fixed-size shards, so that no step holds more than one shard of data.

A split is a list of ``.npz`` shards of ``shard_size`` sequences (the last one may be shorter,
an empty split has none) plus an index (a dict, stored as JSON) that lists them. Each shard
holds one ragged array ``data`` whose rows belong to consecutive sequences (``rows[i]`` of
them), the frame count ``lengths`` and ``labels`` of each sequence, and per-sequence metadata
columns (ids, the augmentation flag). Two kinds are written by the pipeline:

* ``points``: the model landmarks of every frame, ``(frames, P, 2)`` float16, NaN kept;
* ``features``: the output rows of :mod:`pose2gloss.preprocessing.features` that are not padding,
  ``(min(length, max_len), F)`` float16 per sequence; padding rows are all zero by
  definition and are put back on reading.

Shards are uncompressed ``.npz`` files: zip members carry a CRC-32, so a damaged shard is
detected on reading and reported with its file name.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "pose2gloss-shards/1"
_FIXED = ("data", "rows", "lengths", "labels")


class ShardError(ValueError):
    """A shard that cannot be read or does not match its index; the message names the file."""


@dataclass
class Block:
    """Consecutive sequences in memory: ``data[offsets[i]:offsets[i] + rows[i]]`` is sequence ``i``."""

    data: np.ndarray
    rows: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, np.int64)
        self.lengths = np.asarray(self.lengths, np.int64)
        self.labels = np.asarray(self.labels, np.int64)
        n = len(self.rows)
        if int(self.rows.sum()) != len(self.data):
            raise ValueError(f"rows sum to {int(self.rows.sum())} but data has {len(self.data)}")
        for name, values in {"lengths": self.lengths, "labels": self.labels, **self.meta}.items():
            if len(values) != n:
                raise ValueError(f"column '{name}' has {len(values)} values for {n} sequences")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)

    def item(self, i: int) -> np.ndarray:
        offsets = self.offsets
        return self.data[offsets[i] : offsets[i + 1]]

    def take(self, start: int, stop: int) -> Block:
        offsets = self.offsets
        return Block(
            self.data[offsets[start] : offsets[stop]],
            self.rows[start:stop],
            self.lengths[start:stop],
            self.labels[start:stop],
            {k: v[start:stop] for k, v in self.meta.items()},
        )

    @classmethod
    def concat(cls, blocks: list[Block]) -> Block:
        if len(blocks) == 1:
            return blocks[0]
        return cls(
            np.concatenate([b.data for b in blocks]),
            np.concatenate([b.rows for b in blocks]),
            np.concatenate([b.lengths for b in blocks]),
            np.concatenate([b.labels for b in blocks]),
            {k: np.concatenate([b.meta[k] for b in blocks]) for k in blocks[0].meta},
        )


def write_split(
    blocks: Iterable[Block],
    directory: str | Path,
    split: str,
    shard_size: int,
    on_shard: Callable[[Path], None] | None = None,
) -> dict:
    """Re-cut ``blocks`` (any sizes) into shards of ``shard_size`` sequences under ``directory``.

    ``on_shard`` is called with each finished file (the pipeline uploads and removes it there),
    so at most one shard is held in memory; the caller decides how many stay on disk. Returns the index.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    index: dict = {"format": FORMAT, "split": split, "shard_size": shard_size, "sequences": 0, "shards": []}
    pending: list[Block] = []
    buffered = 0

    def flush(block: Block) -> None:
        name = f"{split}-{len(index['shards']):05d}.npz"
        path = directory / name
        arrays = {"data": block.data, "rows": block.rows, "lengths": block.lengths, "labels": block.labels}
        np.savez(path, **arrays, **{f"meta_{k}": v for k, v in block.meta.items()})
        index["shards"].append({"file": name, "sequences": len(block), "rows": int(block.rows.sum())})
        index["sequences"] += len(block)
        if on_shard is not None:
            on_shard(path)

    for block in blocks:
        if len(block) == 0:
            continue
        pending.append(block)
        buffered += len(block)
        if buffered >= shard_size:
            merged = Block.concat(pending)
            start = 0
            while len(merged) - start >= shard_size:
                flush(merged.take(start, start + shard_size))
                start += shard_size
            pending = [merged.take(start, len(merged))] if start < len(merged) else []
            buffered = len(merged) - start
    if buffered:
        flush(Block.concat(pending))
    return index


def read_shard(path: str | Path, expected: Mapping | None = None) -> Block:
    """Load one shard; any damage or mismatch with its index entry raises :class:`ShardError`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ShardError(f"{path}: unreadable shard ({err})") from err
    missing = [k for k in _FIXED if k not in arrays]
    if missing:
        raise ShardError(f"{path}: shard lacks arrays {missing}")
    try:
        block = Block(
            arrays["data"],
            arrays["rows"],
            arrays["lengths"],
            arrays["labels"],
            {k[len("meta_") :]: v for k, v in arrays.items() if k.startswith("meta_")},
        )
    except ValueError as err:
        raise ShardError(f"{path}: inconsistent shard ({err})") from err
    if expected is not None and (len(block), int(block.rows.sum())) != (expected["sequences"], expected["rows"]):
        raise ShardError(
            f"{path}: holds {len(block)} sequences / {int(block.rows.sum())} rows, "
            f"the index says {expected['sequences']} / {expected['rows']}"
        )
    return block


@dataclass(frozen=True)
class ShardedSplit:
    """A written split: its index and where each shard file is (``locate`` may download it)."""

    index: Mapping
    locate: Callable[[str], Path]

    def __post_init__(self) -> None:
        if self.index.get("format") != FORMAT:
            raise ShardError(f"not a shard index of format {FORMAT}: {dict(self.index)}")

    @classmethod
    def from_directory(cls, directory: str | Path, index: Mapping) -> ShardedSplit:
        directory = Path(directory)
        return cls(index, lambda name: directory / name)

    def __len__(self) -> int:
        return int(self.index["sequences"])

    @property
    def shard_sizes(self) -> list[int]:
        return [int(s["sequences"]) for s in self.index["shards"]]

    def shard(self, number: int) -> Block:
        entry = self.index["shards"][number]
        return read_shard(self.locate(entry["file"]), entry)

    def __iter__(self) -> Iterator[Block]:
        for number in range(len(self.index["shards"])):
            yield self.shard(number)

    def column(self, name: str) -> np.ndarray:
        """One small per-sequence column (``labels``, ``lengths`` or a meta column) of the whole split."""
        parts = [getattr(b, name) if name in ("labels", "lengths", "rows") else b.meta[name] for b in self]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def pad_features(block: Block, max_len: int) -> np.ndarray:
    """Feature shard rows back to the model input ``(n, max_len, F)`` float32 (padding rows are zero)."""
    out = np.zeros((len(block), max_len, block.data.shape[-1]), np.float32)
    mask = np.arange(max_len)[None, :] < block.rows[:, None]
    out[mask] = block.data
    return out


def unpad_features(features: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-padding rows of ``(n, max_len, F)`` features and their count per sequence."""
    rows = np.minimum(np.asarray(lengths, np.int64), features.shape[1])
    mask = np.arange(features.shape[1])[None, :] < rows[:, None]
    return features[mask], rows
