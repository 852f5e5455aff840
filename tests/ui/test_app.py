"""The page logic with streamlit's AppTest (a stub prediction client), and the plain parts it runs on."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.client
from pose2gloss.capture import LiveCapture, SegmenterConfig
from pose2gloss.data.signs import GISLR_SIGNS
from pose2gloss.translate import FallbackTranslator, RuleTranslator
from tests.drawn_person import empty_frame, person_frame, signing_clip, write_video
from tests.gislr_files import random_sequence, write_dataset
from ui.client import (
    ClientSettings,
    GlossScore,
    InputCheck,
    Prediction,
    PredictionClient,
    ServerError,
    ServerStatus,
)
from ui.session import SignSession, translate_video

APP = "ui/app.py"


class StubClient:
    """Answers like the server: the gloss is chosen by the number of frames sent, so tests know it."""

    signs = ("hello", "dog", "go", "store", "yesterday")
    sent: list[np.ndarray] = []
    inputs = InputCheck(False)  # what /drift says

    def __init__(self, settings: ClientSettings, transport=None) -> None:
        self.url = settings.url

    def status(self) -> ServerStatus:
        return ServerStatus(True, f"server ready at {self.url}: model stub", "stub")

    def predict(self, landmarks: np.ndarray, top_k: int = 5) -> Prediction:
        StubClient.sent.append(landmarks)
        first = self.signs[len(landmarks) % len(self.signs)]
        others = [s for s in self.signs if s != first][: top_k - 1]
        glosses = [GlossScore(first, 0.9)] + [GlossScore(s, 0.1 / len(others)) for s in others]
        return Prediction(glosses, "stub", len(landmarks), 1.0, 2.0)

    def drift(self) -> InputCheck:
        return StubClient.inputs


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    # The stub's gloss depends on the number of frames: 21 -> dog, 22 -> go, 23 -> store.
    sequences = {
        (1, 10): (random_sequence(rng, 21), "dog"),
        (1, 11): (random_sequence(rng, 22), "go"),
        (2, 12): (random_sequence(rng, 23), "store"),
    }
    write_dataset(tmp_path / "data", sequences, ["dog", "go", "store"])
    monkeypatch.setenv("POSE2GLOSS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr(ui.client, "PredictionClient", StubClient)
    monkeypatch.delenv("POSE2GLOSS_LLM_URL", raising=False)
    StubClient.sent = []
    StubClient.inputs = InputCheck(False)
    st.cache_resource.clear()
    yield StubClient
    st.cache_resource.clear()


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _pick(at: AppTest, index: int) -> AppTest:
    at.selectbox[0].select(index).run()
    next(b for b in at.button if b.label == "Translate this sequence").click().run()
    assert not at.exception, at.exception
    return at


def test_picking_sequences_fills_glosses_scores_and_english(stub, data_dir):
    at = _app()
    assert "server ready" in at.sidebar.success[0].value
    assert "rules (offline)" in at.sidebar.caption[0].value
    for index in range(3):
        _pick(at, index)
    text = _markdown(at)
    assert "**Gloss sentence:** DOG GO STORE" in text
    assert "### The dog goes to the store." in text
    assert "1. **DOG** (0.90) — top-k: dog 0.90, hello 0.05, go 0.05" in text
    assert "3. **STORE** (0.90)" in text
    assert [len(s) for s in stub.sent] == [21, 22, 23]


def test_page_says_plainly_when_inputs_look_unlike_the_training_data(stub, data_dir):
    at = _pick(_app(), 0)
    assert not at.warning  # the server sees nothing unusual
    stub.inputs = InputCheck(True, "Recent inputs look unlike the training data: no hand visible in 83% of frames")
    at = _pick(at, 1)
    assert [w.value for w in at.warning] == [stub.inputs.message]
    assert "**Gloss sentence:** DOG GO" in _markdown(at)  # the glosses stay, under the warning


def test_client_reads_drift_in_plain_words():
    answers = {
        "drift": {"status": "drift", "score": 3.1, "threshold": 0.25, "reasons": ["no hand visible in 83% of frames"]},
        "ok": {"status": "ok", "score": 0.05, "threshold": 0.25, "reasons": []},
    }
    for status, body in answers.items():
        check = _client(lambda request, body=body: httpx.Response(200, json=body)).drift()
        assert check.unlike_training == (status == "drift")
        assert ("no hand visible in 83% of frames" in check.message) == (status == "drift")
    old_server = _client(lambda request: httpx.Response(404, json={"detail": "Not Found"}))
    assert old_server.drift() == InputCheck(False)

    def down(request):
        raise httpx.ConnectError("refused")

    assert _client(down).drift() == InputCheck(False)


def test_undo_and_clear(stub, data_dir):
    at = _pick(_pick(_app(), 0), 1)
    assert "### The dog goes." in _markdown(at)
    next(b for b in at.button if b.label == "Undo last gloss").click().run()
    assert "**Gloss sentence:** DOG\n" in _markdown(at) and "GO" not in _markdown(at)
    assert "### The dog." in _markdown(at)
    next(b for b in at.button if b.label == "Clear sentence").click().run()
    assert "_nothing yet_" in _markdown(at)
    assert "The English translation appears here" in _markdown(at)


def test_server_down_is_a_clear_message_not_a_traceback(monkeypatch, data_dir):
    monkeypatch.setenv("POSE2GLOSS_SERVER_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    st.cache_resource.clear()
    at = _app()
    assert "cannot reach the server at http://127.0.0.1:9" in at.sidebar.error[0].value
    assert any("No predictions until the server is ready" in e.value for e in at.error)
    _pick(at, 0)
    assert any("cannot reach the server" in e.value for e in at.error)
    assert not at.exception


def test_failing_llm_falls_back_to_the_rules_with_a_notice(stub, data_dir, monkeypatch):
    monkeypatch.setenv("POSE2GLOSS_LLM_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("POSE2GLOSS_LLM_TIMEOUT", "2")
    at = _pick(_app(), 0)
    assert "LLM gpt-4o-mini at http://127.0.0.1:9/v1" in at.sidebar.caption[0].value
    assert any("translated by rules (offline) instead" in w.value for w in at.warning)
    assert "### The dog." in _markdown(at)


def test_missing_data_folder_says_how_to_make_one(stub, monkeypatch, tmp_path):
    monkeypatch.setenv("POSE2GLOSS_DATA_DIR", str(tmp_path / "nothing"))
    at = _app()
    assert any("python -m pose2gloss.data.synthetic" in i.value for i in at.info)


# ---------------------------------------------------------------------------------------------
# The plain parts: client error mapping, video path, live capture


def _client(handler) -> PredictionClient:
    return PredictionClient(
        ClientSettings("http://server.test", api_key="secret"), transport=httpx.MockTransport(handler)
    )


def test_client_sends_npy_with_the_api_key_and_reads_the_answer():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(type=request.headers["content-type"], key=request.headers["x-api-key"], query=request.url.query)
        array = np.load(__import__("io").BytesIO(request.read()))
        seen["shape"] = array.shape
        body = {"model_id": "m", "predictions": [{"gloss": "dog", "score": 0.7}], "frames": 4, "inference_ms": 1.5}
        return httpx.Response(200, json=body)

    prediction = _client(handler).predict(np.zeros((4, 543, 3)), top_k=3)
    assert prediction.top == GlossScore("dog", 0.7) and prediction.frames == 4
    assert seen == {"type": "application/x-npy", "key": "secret", "query": b"top_k=3", "shape": (4, 543, 3)}


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (httpx.Response(401, json={"detail": "missing or wrong X-API-Key header"}), "refused the API key"),
        (httpx.Response(503, json={"detail": "model not loaded"}), "not ready: model not loaded"),
        (httpx.Response(422, json={"detail": "every point is missing"}), "every point is missing"),
        (httpx.Response(200, json={"odd": True}), "unexpected answer"),
        (httpx.ConnectError("refused"), "cannot reach the server at http://server.test"),
    ],
)
def test_client_failures_become_clear_messages(response, words):
    def handler(request):
        if isinstance(response, Exception):
            raise response
        return response

    with pytest.raises(ServerError, match=words):
        _client(handler).predict(np.zeros((4, 543, 3)))


def test_status_says_why_the_server_is_not_ready():
    not_ready = _client(lambda r: httpx.Response(503, json={"ready": False, "reason": "no model found"})).status()
    assert not not_ready.ready and "no model found" in not_ready.message
    down = _client(lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused"))).status()
    assert not down.ready and "cannot reach" in down.message


def test_settings_from_environment():
    assert ClientSettings.from_env({}) == ClientSettings("http://127.0.0.1:8000", None)
    env = {"POSE2GLOSS_SERVER_URL": "http://h:1", "POSE2GLOSS_API_KEY": "k"}
    assert ClientSettings.from_env(env) == ClientSettings("http://h:1", "k")


def test_video_goes_through_landmarks_segments_and_predictions(tmp_path, stub):
    video = write_video(tmp_path / "one sign.mp4", signing_clip(sign_frames=14, rest_frames=10))
    session = SignSession()
    result = translate_video(video, StubClient(ClientSettings()), session)
    assert result.frames == 34 and result.segments == 1
    (sent,) = stub.sent
    assert sent.shape[1:] == (543, 3) and 12 <= len(sent) <= 18
    assert np.isfinite(sent[:, 468:489]).any()
    assert session.glosses == [StubClient.signs[len(sent) % 5]]
    assert session.entries[0].source == "video one sign.mp4"
    session.retranslate(FallbackTranslator(RuleTranslator()))
    assert session.translation.text.endswith(".")


def test_video_without_hands_gives_no_sign_and_sends_nothing(tmp_path, stub):
    video = write_video(tmp_path / "empty.mp4", [empty_frame(30)] * 12)
    result = translate_video(video, StubClient(ClientSettings()), SignSession())
    assert (result.frames, result.segments, stub.sent) == (12, 0, [])


def test_live_capture_hands_finished_signs_to_the_page_thread():
    live = LiveCapture(SegmenterConfig(gap_frames=3, min_frames=3, pre_roll=0))
    frames = [person_frame(hands=False)] * 3 + [person_frame()] * 6 + [person_frame(hands=False)] * 4
    drawn = [live.process(frame) for frame in frames]
    assert live.frames == 13 and drawn[5].shape == (480, 640, 3)
    assert not np.array_equal(drawn[5], frames[5])  # landmarks drawn over the picture
    finished = live.take_segments()
    assert len(finished) == 1 and 5 <= len(finished[0][0].landmarks) <= 7
    assert live.take_segments() == []
    assert live.frames_since_hands == 4
    live.close()


def test_sign_list_of_the_stub_is_real():
    assert set(StubClient.signs) <= set(GISLR_SIGNS)
