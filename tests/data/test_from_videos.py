"""The video-folder dataset builder: real videos -> GISLR layout -> the project's own loader."""

from __future__ import annotations

import numpy as np
import pytest

from pose2gloss.data import load_index, load_sequence
from pose2gloss.data.from_videos import main
from tests.drawn_person import signing_clip, write_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for gloss, sign_frames in (("hello", 6), ("dog", 8)):
        (root / gloss).mkdir()
        write_video(root / gloss / "a.mp4", signing_clip(sign_frames=sign_frames, rest_frames=2))
    (root / "dog" / "broken.mp4").write_bytes(b"\x00not a video" * 50)
    (root / "participants.csv").write_text("path,participant_id\nhello/a.mp4,17\ndog/a.mp4,23\n")
    return root


def test_round_trip_through_the_loader_and_the_broken_video_is_skipped(videos, tmp_path, capsys):
    out = tmp_path / "dataset"
    assert main(["--videos", str(videos), "--out", str(out), "--participants", str(videos / "participants.csv")]) == 0
    captured = capsys.readouterr()
    assert "broken.mp4" in captured.err and "warning" in captured.err
    assert "2 sequences written" in captured.out and "1 videos skipped" in captured.out

    index = load_index(out)
    assert sorted(index["sign"]) == ["dog", "hello"]
    assert dict(zip(index["sign"], index["participant_id"], strict=True)) == {"hello": 17, "dog": 23}
    assert sorted(index["label"]) == [0, 1]
    for path, sign in zip(index["path"], index["sign"], strict=True):
        sequence = load_sequence(path)
        assert sequence.shape == ({"hello": 10, "dog": 12}[sign], 543, 3) and sequence.dtype == np.float32
        assert np.isfinite(sequence[:, 468:489]).any()  # hands were extracted
        assert np.isnan(sequence[0, 468:489]).all()  # hands down in the first frame: NaN, as in GISLR


def test_no_participant_file_means_participant_zero(videos, tmp_path):
    out = tmp_path / "dataset"
    assert main(["--videos", str(videos), "--out", str(out)]) == 0
    assert set(load_index(out)["participant_id"]) == {0}


def test_folder_without_videos_is_an_error(tmp_path, capsys):
    assert main(["--videos", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no videos found" in capsys.readouterr().err
