"""UI speed: MediaPipe extraction frames/s, and the time from the end of a sign to its gloss and English.

1. Extraction: :class:`pose2gloss.capture.LandmarkExtractor` (Holistic, model_complexity=1, video
   mode) on 640x480 frames of a drawn signer that Holistic detects with face, pose and both hands,
   and on empty frames (nothing detected: the detectors run, the landmark models do not).
2. End of sign -> gloss: the webcam path without the browser. A camera clock delivers the signing
   clip at ``--fps``; frames are processed by :class:`pose2gloss.capture.LiveCapture` as the webrtc
   callback would (a frame that arrives while the previous one is still being processed is dropped,
   as streamlit-webrtc's async processing does); a page loop polls for finished signs every 0.1 s
   like ``ui/app.py``, posts each to a real uvicorn server (``/predict``, ``.npy``) and translates
   the sentence. Measured from the camera time of the last frame with hands to the moment the
   gloss and its English are in the session, i.e. ready to be drawn; the browser's repaint over the
   websocket is not included.

    python benchmarks/bench_ui.py [--model BUNDLE] [--signs 5] [--fps 15] [--frames 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks.bench_serving import find_or_build_model, free_port, start_server  # noqa: E402
from pose2gloss.capture import LandmarkExtractor, LiveCapture, hands_present  # noqa: E402
from pose2gloss.translate import translator_from_env  # noqa: E402
from tests.drawn_person import empty_frame, person_frame  # noqa: E402
from ui.client import ClientSettings, PredictionClient  # noqa: E402
from ui.session import SignSession, predict_sequences  # noqa: E402

POLL_S = 0.1  # as ui/app.py


def extraction_rate(frames: list[np.ndarray]) -> tuple[float, float]:
    """Frames/s and median ms per frame of one Holistic graph in video mode (first frame excluded)."""
    with LandmarkExtractor() as extractor:
        extractor.frame(frames[0])
        times = []
        for frame in frames:
            start = time.perf_counter()
            extractor.frame(frame)
            times.append(time.perf_counter() - start)
    return len(times) / sum(times), statistics.median(times) * 1000


def sign_to_gloss(url: str, signs: int, fps: float) -> list[dict[str, float]]:
    """Play ``signs`` signs through the live path at ``fps``; per sign, the delays after its last hand frame."""
    down, up = person_frame(hands=False), person_frame(hands=True)
    clip = [down] * int(fps) + ([up] * int(2 * fps) + [down] * int(1.5 * fps)) * signs
    live, session = LiveCapture(), SignSession()
    client, translator = PredictionClient(ClientSettings(url=url)), translator_from_env()
    last_hand_at: list[float] = []  # camera time of the last processed frame with hands, per sign
    camera_done = threading.Event()

    def camera() -> None:
        t0, previous_present = time.monotonic(), False
        for i, frame in enumerate(clip):
            due = t0 + i / fps
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            elif now > due + 1 / fps:
                continue  # arrived while the previous frame was being processed: dropped
            live.process(frame)
            present = hands_present(live.last_landmarks)
            if present:
                hand_time = due
            if previous_present and not present:
                last_hand_at.append(hand_time)
            previous_present = present
        camera_done.set()

    thread = threading.Thread(target=camera)
    thread.start()
    results: list[dict[str, float]] = []
    deadline = None
    while True:
        for segment, cut_at in live.take_segments():
            polled_at = time.monotonic()
            predict_sequences(client, [segment.landmarks], session, "bench", top_k=3)
            answered_at = time.monotonic()
            session.retranslate(translator)
            results.append({"cut": cut_at, "polled": polled_at, "answered": answered_at, "done": time.monotonic()})
        if camera_done.is_set():
            deadline = deadline or time.monotonic() + 3.0
            if len(results) >= len(last_hand_at) or time.monotonic() > deadline:
                break
        time.sleep(POLL_S)
    thread.join()
    live.close()
    for result, end in zip(results, last_hand_at, strict=False):
        result["end"] = end
    return [r for r in results if "end" in r]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="bundle folder (default: runs/production.json, else a fresh GISLR model)")
    parser.add_argument("--signs", type=int, default=5, help="signs played through the live path")
    parser.add_argument("--fps", type=float, default=15.0, help="camera frame rate")
    parser.add_argument("--frames", type=int, default=60, help="frames per extraction measurement")
    args = parser.parse_args(argv)
    print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    person_fps, person_ms = extraction_rate([person_frame(dx=0)] * args.frames)
    empty_fps, empty_ms = extraction_rate([empty_frame(0)] * args.frames)
    print("\nextraction (640x480, Holistic model_complexity=1, video mode)")
    print(f"  person with face, pose, both hands: {person_fps:6.1f} frames/s  ({person_ms:.1f} ms median)")
    print(f"  empty frame (nothing detected):     {empty_fps:6.1f} frames/s  ({empty_ms:.1f} ms median)")

    with tempfile.TemporaryDirectory() as workdir:
        bundle = find_or_build_model(args.model, Path(workdir))
        port = free_port()
        server = start_server(bundle, port, workers=1)
        try:
            results = sign_to_gloss(f"http://127.0.0.1:{port}", args.signs, args.fps)
        finally:
            server.terminate()
            server.wait(timeout=20)
    if not results:
        print("no sign was cut from the stream: nothing to report", file=sys.stderr)
        return 1
    rows = {
        "end of sign -> sign cut (gap frames + processing lag)": [r["cut"] - r["end"] for r in results],
        "sign cut -> page loop picks it up": [r["polled"] - r["cut"] for r in results],
        "/predict round trip (.npy, uvicorn)": [r["answered"] - r["polled"] for r in results],
        "translation (rules)": [r["done"] - r["answered"] for r in results],
        "end of sign -> gloss and English ready": [r["done"] - r["end"] for r in results],
    }
    print(f"\nend of sign -> gloss ({len(results)} signs at {args.fps:g} frames/s camera, {POLL_S} s polling)")
    for name, values in rows.items():
        ms = np.asarray(values) * 1000
        print(f"  {name:55s} median {np.median(ms):7.1f} ms   max {ms.max():7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
