"""Build a GISLR-layout dataset from a folder of labelled videos (``DIR/<gloss>/*.mp4``).

    python -m pose2gloss.data.from_videos --videos DIR --out DIR [--participants CSV]

Every video becomes one sequence: MediaPipe Holistic landmarks from the same extraction function as
the UI, written as ``train_landmark_files/<participant>/<sequence>.parquet`` with the real columns,
plus ``train.csv`` and ``sign_to_prediction_index_map.json``, so ``load_index``/``load_sequence`` and
the pipeline read it like the Kaggle data. Participant ids come from an optional CSV
(``path,participant_id``, paths relative to ``--videos``); without one every video is participant 0,
and the pipeline must then split by sequence. Videos OpenCV cannot read, and videos in which no person
is detected, are skipped with a warning and counted in the final line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from pose2gloss.capture.extract import VideoError, extract_landmarks, read_video
from pose2gloss.data.gislr import INDEX_FILE, SIGN_MAP_FILE
from pose2gloss.data.synthetic import landmarks_table

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".y4m"}
DEFAULT_PARTICIPANT = 0


@dataclass
class BuildReport:
    written: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (video, why)

    def summary(self, out: Path) -> str:
        return f"{self.written} sequences written to {out}; {len(self.skipped)} videos skipped"


def find_videos(videos_dir: Path) -> list[tuple[Path, str]]:
    """``(video, gloss)`` for each video file one level down, the folder name being the gloss."""
    if not videos_dir.is_dir():
        raise FileNotFoundError(f"{videos_dir}: no such folder")
    found = [
        (path, path.parent.name)
        for path in sorted(videos_dir.glob("*/*"))
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES
    ]
    if not found:
        raise FileNotFoundError(
            f"{videos_dir}: no videos found as <gloss>/<video> ({', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    return found


def read_participants(csv_path: Path, videos_dir: Path) -> dict[Path, int]:
    """``path,participant_id`` rows -> absolute video path -> participant id."""
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "participant_id"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path}: missing columns {sorted(missing)}; found {reader.fieldnames}")
        participants = {}
        for line, row in enumerate(reader, start=2):
            try:
                participants[(videos_dir / row["path"]).resolve()] = int(row["participant_id"])
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"{csv_path}:{line}: participant_id must be an integer, got {row['participant_id']!r}"
                ) from err
    return participants


def build_dataset(
    videos_dir: Path,
    out_dir: Path,
    participants: dict[Path, int] | None = None,
    extract: Callable[[Path], np.ndarray] | None = None,
    progress: bool = True,
    warn: Callable[[str], None] = lambda message: tqdm.write(f"warning: {message}", file=sys.stderr),
) -> BuildReport:
    """Extract, write and index every video; return what was written and what was skipped."""
    videos = find_videos(videos_dir)
    extract = extract or (lambda path: extract_landmarks(read_video(path)))
    participants = participants or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    report = BuildReport()
    for sequence_id, (video, gloss) in enumerate(tqdm(videos, desc="videos", unit="video", disable=not progress)):
        try:
            landmarks = extract(video)
        except VideoError as err:
            report.skipped.append((video, str(err)))
            warn(f"skipped {err}")
            continue
        if not np.isfinite(landmarks).any():
            report.skipped.append((video, "no person detected in any frame"))
            warn(f"skipped {video}: no person detected in any frame")
            continue
        participant = participants.get(video.resolve(), DEFAULT_PARTICIPANT)
        relative = Path("train_landmark_files") / str(participant) / f"{sequence_id}.parquet"
        (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(landmarks_table(landmarks, first_frame=0), out_dir / relative, compression="zstd")
        rows.append(
            {"path": relative.as_posix(), "participant_id": participant, "sequence_id": sequence_id, "sign": gloss}
        )
        report.written += 1
    signs = sorted({str(row["sign"]) for row in rows})
    with (out_dir / INDEX_FILE).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "participant_id", "sequence_id", "sign"])
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / SIGN_MAP_FILE).write_text(json.dumps({sign: i for i, sign in enumerate(signs)}, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, required=True, help="folder of <gloss>/<video> files")
    parser.add_argument("--out", type=Path, required=True, help="output folder (GISLR layout)")
    parser.add_argument("--participants", type=Path, help="CSV with columns path,participant_id")
    args = parser.parse_args(argv)
    try:
        participants = read_participants(args.participants, args.videos) if args.participants else None
        report = build_dataset(args.videos, args.out, participants)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.summary(args.out))
    return 0 if report.written else 1


if __name__ == "__main__":
    sys.exit(main())
