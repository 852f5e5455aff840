"""pose2gloss in the browser: sign into the webcam (or upload a video, or pick a sequence), read English.

    streamlit run ui/app.py

Every input goes the same way: frames -> MediaPipe landmarks (GISLR layout) -> signs cut by hand
presence and motion -> the server's ``/predict`` (as ``.npy``) -> the running gloss sentence -> English.
The server URL and API key come from POSE2GLOSS_SERVER_URL / POSE2GLOSS_API_KEY or the sidebar; the
translator from POSE2GLOSS_LLM_* (see pose2gloss.translate), the rules otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import streamlit as st

# Before anything loads TensorFlow (MediaPipe does): pylibsrtp, under streamlit-webrtc, segfaults when it is
# first imported after TensorFlow.
from streamlit_webrtc import WebRtcMode, webrtc_streamer

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("pose2gloss.ui")
if str(ROOT) not in sys.path:  # `streamlit run ui/app.py` puts only ui/ on the path
    sys.path.insert(0, str(ROOT))

from pose2gloss.capture import LiveCapture, VideoError, video_frame_count  # noqa: E402
from pose2gloss.data import DataError, load_index, load_sequence  # noqa: E402
from pose2gloss.translate import FallbackTranslator, translator_from_env  # noqa: E402
from ui.client import ClientSettings, PredictionClient, ServerError  # noqa: E402
from ui.session import SignSession, predict_sequences, translate_video  # noqa: E402

VIDEO_TYPES = ["mp4", "avi", "mov", "mkv", "webm", "m4v", "mpg", "mpeg"]
NO_HANDS_AFTER_FRAMES = 45  # about 3 s of webcam frames without a hand
POLL_S = 0.1


@st.cache_resource
def _translator() -> FallbackTranslator:
    return translator_from_env()


@st.cache_resource
def _client(url: str, api_key: str | None) -> PredictionClient:
    """One HTTP client (and its connection pool) per server and key, shared across reruns."""
    return PredictionClient(ClientSettings(url=url, api_key=api_key))


def _session() -> SignSession:
    if "signs" not in st.session_state:
        st.session_state.signs = SignSession()
    return st.session_state.signs


def _sidebar() -> tuple[PredictionClient, int]:
    defaults = ClientSettings.from_env()
    st.sidebar.header("Settings")
    url = st.sidebar.text_input("Server URL", defaults.url, help="POSE2GLOSS_SERVER_URL")
    key = st.sidebar.text_input("API key", defaults.api_key or "", type="password", help="POSE2GLOSS_API_KEY")
    top_k = int(st.sidebar.number_input("Glosses per sign (top-k)", 1, 10, 3))
    return _client(url, key or None), top_k


class Panels:
    """The result panels: placeholders filled again whenever the session changes.

    Each render asks the server whether its recent inputs look like the training data, and says
    so above the glosses when they do not: a confident gloss of an input unlike anything the model
    was trained on is not to be trusted.
    """

    def __init__(self, client: PredictionClient) -> None:
        self.client = client
        st.subheader("Glosses")
        clear, undo = st.columns(2)
        if clear.button("Clear sentence", use_container_width=True):
            _session().clear()
        if undo.button("Undo last gloss", use_container_width=True) and _session().entries:
            _session().undo()
            _session().retranslate(_translator())
        self.inputs = st.empty()
        self.sentence = st.empty()
        self.english = st.empty()
        self.notice = st.empty()
        self.scores = st.empty()

    def render(self, session: SignSession) -> None:
        check = self.client.drift() if session.entries else None
        if check is not None and check.unlike_training:
            self.inputs.warning(check.message, icon="⚠️")
        else:
            self.inputs.empty()
        glosses = " ".join(g.upper() for g in session.glosses)
        self.sentence.markdown(f"**Gloss sentence:** {glosses or '_nothing yet_'}")
        translation = session.translation
        text = translation.text if translation and session.entries else ""
        self.english.markdown(f"### {text}" if text else "_The English translation appears here._")
        if translation and translation.notice:
            self.notice.warning(translation.notice)
        else:
            self.notice.empty()
        with self.scores.container():
            for number, entry in reversed(list(enumerate(session.entries, 1))):
                scores = ", ".join(f"{g.gloss} {g.score:.2f}" for g in entry.top)
                st.markdown(
                    f"{number}. **{entry.gloss.upper()}** ({entry.score:.2f}) — top-k: {scores} · {entry.source}"
                )


def _live_tab(client: PredictionClient, top_k: int, panels: Panels) -> None:
    st.caption(
        "Press START and allow the camera when the browser asks. If the camera is denied or missing, "
        "allow it in the address bar, or use the other tabs."
    )
    if "live" not in st.session_state:
        st.session_state.live = LiveCapture()
    live: LiveCapture = st.session_state.live

    def on_frame(frame):  # runs on streamlit-webrtc's thread: no st.* here
        import av

        return av.VideoFrame.from_ndarray(live.process(frame.to_ndarray(format="rgb24")), format="rgb24")

    try:
        ice = json.loads(os.environ.get("POSE2GLOSS_ICE_SERVERS", "[]"))
    except json.JSONDecodeError as err:
        raise ValueError(f"POSE2GLOSS_ICE_SERVERS must be a JSON list of ICE servers ({err})") from err
    context = webrtc_streamer(
        key="camera",
        mode=WebRtcMode.SENDRECV,
        video_frame_callback=on_frame,
        media_stream_constraints={"video": True, "audio": False},
        rtc_configuration={"iceServers": ice},
    )
    hint, problem = st.empty(), st.empty()
    session = _session()
    while context.state.playing:
        finished = live.take_segments()
        for segment, _ in finished:
            try:
                predict_sequences(client, [segment.landmarks], session, "webcam", top_k)
            except ServerError as err:
                problem.error(str(err))  # stays until a sign gets through
                continue
            problem.empty()
            session.retranslate(_translator())
        if finished:
            panels.render(session)
        if live.frames == 0:
            hint.info("Waiting for the camera...")
        elif live.frames_since_hands >= NO_HANDS_AFTER_FRAMES:
            hint.warning("No hands seen: sign with your hands inside the picture.")
        elif not finished:
            hint.caption(f"{live.frames} frames processed" + (" · signing..." if live.in_sign else ""))
        time.sleep(POLL_S)


def _upload_tab(client: PredictionClient, top_k: int, panels: Panels) -> None:
    upload = st.file_uploader("A video of one or more signs", type=VIDEO_TYPES)
    if upload is None or st.session_state.get("last_upload") == upload.file_id:
        return
    st.session_state.last_upload = upload.file_id
    session = _session()
    progress = st.progress(0.0, text="Extracting landmarks...")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        total = max(video_frame_count(path), 1)

        def advance(i: int) -> None:
            progress.progress(min(1.0, (i + 1) / total), text=f"Extracting landmarks: frame {i + 1} of {total}")

        try:
            result = translate_video(path, client, session, top_k, on_frame=advance)
        except VideoError as err:
            progress.empty()
            st.error(f"Cannot read this video: {err}")
            return
    progress.empty()
    if not result.segments:
        st.warning(f"No hands seen in {result.frames} frames: no sign to translate.")
        return
    session.retranslate(_translator())
    panels.render(session)
    st.success(
        f"{upload.name}: {result.frames} frames, {result.segments} sign(s) "
        f"({result.frames / max(result.extract_s, 1e-9):.1f} frames/s extraction)"
    )


def _pick_tab(client: PredictionClient, top_k: int, panels: Panels) -> None:
    data_dir = Path(os.environ.get("POSE2GLOSS_DATA_DIR", "data/sample"))
    try:
        index = load_index(data_dir)
    except DataError as err:
        st.info(f"No data folder to pick from ({err}). Make one with `python -m pose2gloss.data.synthetic`.")
        return
    labels = [
        f"{row.sign} · participant {row.participant_id} · sequence {row.sequence_id}" for row in index.itertuples()
    ]
    choice = st.selectbox("Sequence", range(len(labels)), format_func=labels.__getitem__)
    if st.button("Translate this sequence"):
        row = index.iloc[int(choice)]
        session = _session()
        sequence = load_sequence(row["path"])
        predict_sequences(client, [sequence], session, f"sequence {row['sequence_id']} ({row['sign']})", top_k)
        session.retranslate(_translator())
        panels.render(session)


def main() -> None:
    st.set_page_config(page_title="pose2gloss", page_icon="🤟", layout="wide")
    st.title("pose2gloss: sign language to English")
    client, top_k = _sidebar()
    status = client.status()
    (st.sidebar.success if status.ready else st.sidebar.error)(status.message)
    st.sidebar.caption(f"Translation: {_translator().name}")
    inputs, results = st.columns([3, 2])
    with results:
        panels = Panels(client)
        panels.render(_session())
    with inputs:
        if not status.ready:
            st.error(f"No predictions until the server is ready. {status.message}")
        live, upload, pick = st.tabs(["Webcam", "Upload a video", "Pick a sequence"])
        for tab, fill in ((upload, _upload_tab), (pick, _pick_tab), (live, _live_tab)):
            with tab:
                try:
                    fill(client, top_k, panels)
                except ServerError as err:
                    st.error(str(err))
                except (DataError, VideoError, OSError, ValueError) as err:
                    st.error(f"{type(err).__name__}: {err}")
                except Exception as err:  # the page never shows a traceback; the server log keeps it
                    log.exception("unexpected error in the %s tab", fill.__name__)
                    st.error(f"Unexpected error ({type(err).__name__}): {err}")


main()
