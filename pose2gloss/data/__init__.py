"""GISLR data: reading the Kaggle layout, packing sequences, splitting by participant."""

from pose2gloss.data.gislr import DataError, load_index, load_sequence, load_sign_map
from pose2gloss.data.packed import PackedSequences, iter_sequences, load_sequences
from pose2gloss.data.split import SPLITS, make_manifest, split_by_participant, split_summary

__all__ = [
    "SPLITS",
    "DataError",
    "PackedSequences",
    "iter_sequences",
    "load_index",
    "load_sequence",
    "load_sequences",
    "load_sign_map",
    "make_manifest",
    "split_by_participant",
    "split_summary",
]
