import os

# pylibsrtp (aiortc, under streamlit-webrtc) segfaults when it is first imported after TensorFlow has been
# loaded; the UI tests run the page in this process after other tests imported TensorFlow, so load it first.
import pylibsrtp  # noqa: F401

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CLEARML_OFFLINE_MODE", "1")

# The ClearML stand-in (server, files server, agents) for the server-mode tests.
pytest_plugins = ["tests.clearml_standin.fixtures"]
