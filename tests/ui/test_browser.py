"""The page in a real browser: headless Debian Chromium (Selenium), `streamlit run`, a uvicorn server.

Chromium's fake camera plays a y4m clip of a drawn person raising both hands (a sign) and lowering
them; the same clip as an MP4 goes through the upload path. Both must put glosses from the real
TFLite model and an English sentence on the page. Screenshots go to $POSE2GLOSS_TEST_ARTIFACTS
(default: the test's tmp folder).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pose2gloss.data.signs import GISLR_SIGNS
from tests.drawn_person import signing_clip, write_video, write_y4m

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(command: list[str], env: dict[str, str], probe: str, log: Path) -> subprocess.Popen:
    """Start ``command`` with its output in ``log``; return once ``probe`` answers 200."""
    handle = log.open("w")
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{command[2]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(probe, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"{probe} did not answer within 90 s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    """A small real TFLite bundle (untrained weights: the glosses are real model outputs, not meaningful ones)."""
    import keras

    from pose2gloss.bundle.export import export_bundle
    from pose2gloss.preprocessing.features import FeatureConfig
    from pose2gloss.training.registry import build_model

    keras.utils.set_random_seed(3)
    model = build_model(
        "GISLR", (FeatureConfig().max_len, FeatureConfig().n_features), len(GISLR_SIGNS), {"dim": 32, "num_blocks": 1}
    )
    sign_map = {sign: i for i, sign in enumerate(GISLR_SIGNS)}
    directory = tmp_path_factory.mktemp("bundle")
    return export_bundle(model, FeatureConfig(), directory, sign_map, {"model_id": "browser-test"})


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("POSE2GLOSS_TEST_ARTIFACTS") or tmp_path_factory.mktemp("ui-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clips")
    frames = signing_clip(sign_frames=40, rest_frames=20)
    return write_video(folder / "sign.mp4", frames), write_y4m(folder / "sign.y4m", frames)


@pytest.fixture(scope="module")
def page_url(bundle_dir, artifacts):
    server_port, page_port = _free_port(), _free_port()
    server = _serve(
        [sys.executable, "-m", "uvicorn", "serving.pose2gloss:app", "--host", "127.0.0.1", "--port", str(server_port)],
        {"POSE2GLOSS_MODEL": str(bundle_dir), "POSE2GLOSS_CLEARML": "off"},
        f"http://127.0.0.1:{server_port}/ready",
        artifacts / "server.log",
    )
    try:
        page = _serve(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "ui/app.py",
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(page_port),
                "--browser.gatherUsageStats",
                "false",
            ],  # fmt: skip
            {"POSE2GLOSS_SERVER_URL": f"http://127.0.0.1:{server_port}", "POSE2GLOSS_LLM_URL": ""},
            f"http://127.0.0.1:{page_port}/_stcore/health",
            artifacts / "streamlit.log",
        )
    except BaseException:
        _stop(server)
        raise
    yield f"http://127.0.0.1:{page_port}"
    _stop(page)
    _stop(server)


@pytest.fixture(scope="module")
def browser(clips, artifacts):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    assert not missing, f"{missing} not found: `make browser` installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clips[1]}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(CHROMEDRIVER, log_output=str(artifacts / "chromedriver.log")), options=options
    )
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait_for(driver, condition, timeout: float, what: str, artifacts: Path):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(condition)
    except Exception as err:
        driver.save_screenshot(str(artifacts / "failure.png"))
        body = driver.find_element("tag name", "body").text
        raise AssertionError(f"timed out waiting for {what}; page text:\n{body[-2000:]}") from err


def _page_text(driver) -> str:
    return driver.find_element("tag name", "body").text


def _glosses_and_english(driver) -> tuple[list[str], str]:
    """The running gloss sentence and the English line shown under it."""
    lines = _page_text(driver).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Gloss sentence:"))
    return lines[at].removeprefix("Gloss sentence:").split(), lines[at + 1]


def _start_button(driver):
    from selenium.webdriver.common.by import By

    return next((b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip().upper() == "START"), None)


def _webcam_component(driver, artifacts: Path):
    """Switch into the streamlit-webrtc iframe once its START button is there (the component has mounted)."""
    from selenium.webdriver.common.by import By

    def mounted(d):
        for frame in d.find_elements(By.TAG_NAME, "iframe"):
            d.switch_to.frame(frame)
            if _start_button(d):
                return True
            d.switch_to.default_content()
        return False

    _wait_for(driver, mounted, 60, "the webcam component", artifacts)


def _tab(driver, label: str, artifacts: Path):
    from selenium.webdriver.common.by import By

    def find(d):
        return next((t for t in d.find_elements(By.CSS_SELECTOR, "[role=tab]") if label in t.text), None)

    return _wait_for(driver, find, 30, f"the tab {label!r}", artifacts)


def test_upload_and_webcam_put_glosses_and_english_on_the_page(browser, page_url, clips, artifacts):
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    _wait_for(browser, lambda d: "server ready" in _page_text(d), 60, "the server status", artifacts)
    _webcam_component(browser, artifacts)  # wait until the first run has mounted every widget
    browser.switch_to.default_content()

    # Without a camera: upload the clip.
    _tab(browser, "Upload a video", artifacts).click()
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(clips[0]))
    _wait_for(browser, lambda d: "sign(s)" in _page_text(d), 120, "the upload to be processed", artifacts)
    glosses, english = _glosses_and_english(browser)
    assert len(glosses) == 1 and glosses[0].lower() in GISLR_SIGNS, glosses
    assert english[0].isupper() and english[-1] in ".?", english
    assert "top-k:" in _page_text(browser) and "video sign.mp4" in _page_text(browser)
    browser.save_screenshot(str(artifacts / "upload.png"))

    # The webcam: Chromium's fake camera plays the same clip in a loop.
    _tab(browser, "Webcam", artifacts).click()
    _webcam_component(browser, artifacts)
    _start_button(browser).click()
    browser.switch_to.default_content()
    _wait_for(browser, lambda d: "· webcam" in _page_text(d), 120, "a gloss from the webcam", artifacts)
    glosses, english = _glosses_and_english(browser)
    assert len(glosses) >= 2 and all(g.lower() in GISLR_SIGNS for g in glosses), glosses
    assert english[0].isupper() and english[-1] in ".?", english
    browser.save_screenshot(str(artifacts / "webcam.png"))
    assert "Traceback" not in _page_text(browser)
