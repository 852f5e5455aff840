"""The container images, built and run for real: the server answers /ready and /predict as a non-root
user, and the UI answers its health check.

A Docker daemon of the test's own runs without a bridge (containers share the host's network). No
registry may be reachable, so the base image is a local stand-in of ``python:3.11-slim-bookworm``
made once from Debian's packages (debootstrap) and kept in the daemon's data root for later runs.
``make docker-engine`` installs Debian's docker.io and debootstrap when they are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DOCKER = "/usr/bin/docker"  # Debian's client: its `docker build` runs BuildKit without the buildx plugin
# The daemon's socket and data root: kept between runs, so the base image is made once.
STATE = Path(os.environ.get("POSE2GLOSS_DOCKER_STATE", "/tmp/pose2gloss-docker"))
BASE = "local/python:3.11-slim-bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def docker(*args: str, timeout: float = 900, check: bool = True, env: dict | None = None) -> str:
    done = subprocess.run(
        [DOCKER, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "DOCKER_HOST": f"unix://{STATE}/docker.sock", **(env or {})},
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def daemon_answers() -> bool:
    """The daemon on the test's socket is up (``docker info`` prints the client part even when it is not)."""
    done = subprocess.run([DOCKER, "-H", f"unix://{STATE}/docker.sock", "info"], capture_output=True, timeout=30)
    return done.returncode == 0


@pytest.fixture(scope="module")
def daemon() -> Iterator[None]:
    missing = [tool for tool in (DOCKER, "dockerd", "debootstrap") if not shutil.which(tool)]
    assert not missing, f"{missing} not installed: run `make docker-engine` (Debian's docker.io and debootstrap)"
    STATE.mkdir(exist_ok=True)
    started = None
    if not daemon_answers():
        log = (STATE / "dockerd.log").open("ab")
        started = subprocess.Popen(
            [
                "dockerd",
                "--data-root",
                f"{STATE}/root",
                "--exec-root",
                f"{STATE}/exec",
                "--pidfile",
                f"{STATE}/pid",
                "--host",
                f"unix://{STATE}/docker.sock",
                "--bridge=none",
                "--iptables=false",
            ],  # fmt: skip
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while not daemon_answers():
            assert time.monotonic() < deadline, (STATE / "dockerd.log").read_text()[-3000:]
            time.sleep(1)
    if BASE not in docker("images", "--format", "{{.Repository}}:{{.Tag}}"):
        make_base_image()
    yield
    if started is not None:
        started.terminate()
        started.wait(30)


def make_base_image() -> None:
    """Debian bookworm with Python 3.11 in a venv on PATH, as in the official slim image."""
    rootfs = STATE / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR], check=True,
                   capture_output=True, timeout=900)  # fmt: skip
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run([DOCKER, "-H", f"unix://{STATE}/docker.sock", "import", "-", "local/bookworm"], stdin=tar.stdout,
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    docker("rm", "-f", "mkbase", check=False)
    setup = "apt-get update -qq && apt-get install -y -qq python3 python3-venv && python3 -m venv /opt/venv"
    docker("run", "--name", "mkbase", "--network", "host", "local/bookworm", "bash", "-c", setup)
    path = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    docker("commit", "--change", f"ENV PATH={path}", "mkbase", BASE)
    docker("rm", "mkbase")


def build(dockerfile: str, tag: str) -> int:
    """Build from the repository root on the local base; the image's size in bytes."""
    args = ["build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={BASE}", "-f", dockerfile, "-t", tag]
    if os.environ.get("PIP_CERT"):  # a proxy's CA bundle, handed to pip as a secret, never a layer
        args += ["--secret", f"id=pip_cert,src={os.environ['PIP_CERT']}"]
    docker(*args, str(REPO), env={"DOCKER_BUILDKIT": "1"}, timeout=1500)
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).strip())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    import keras

    from pose2gloss.bundle.export import export_bundle
    from pose2gloss.preprocessing.features import FeatureConfig
    from pose2gloss.training.registry import build_model

    keras.utils.set_random_seed(5)
    signs = ["hello", "thanks", "yes"]
    config = FeatureConfig()
    model = build_model("GISLR", (config.max_len, config.n_features), len(signs), {"dim": 16, "num_blocks": 1})
    directory = tmp_path_factory.mktemp("bundle")
    export_bundle(model, config, directory, {s: i for i, s in enumerate(signs)}, {"model_id": "image-test"})
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)  # readable by the image's non-root user
    return directory


def test_the_server_image_serves_the_model_as_a_non_root_user(daemon, bundle, capsys):
    size = build("Dockerfile", "pose2gloss-serve:test")
    port = free_port()
    name = "pose2gloss-serve-test"
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, "--network", "host", "-e", f"POSE2GLOSS_PORT={port}",
           "-v", f"{bundle}:/model:ro", "pose2gloss-serve:test")  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "cicd/deploy_check.py", "--url", f"http://127.0.0.1:{port}", "--timeout", "120"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=200,
        )
        assert done.returncode == 0, f"{done.stderr}\n{docker('logs', name, check=False)}"
        assert '"model_id": "image-test"' in done.stdout
        assert docker("exec", name, "id", "-u").strip() == "10001"
    finally:
        docker("rm", "-f", name, check=False)
    with capsys.disabled():
        print(f"\nserving image: {size / 1e6:.0f} MB")


def test_the_ui_image_answers_its_health_check(daemon, capsys):
    size = build("ui/Dockerfile", "pose2gloss-ui:test")
    port = free_port()
    name = "pose2gloss-ui-test"
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, "--network", "host", "-e", f"UI_PORT={port}", "pose2gloss-ui:test")
    try:
        deadline, answer = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=5)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        assert answer is not None and answer.text == "ok", docker("logs", name, check=False)
        assert docker("exec", name, "id", "-u").strip() == "10001"
        # the page's own imports work in the image (MediaPipe Holistic included)
        docker("exec", name, "python", "-c", "import mediapipe, streamlit, streamlit_webrtc, ui.client")
    finally:
        docker("rm", "-f", name, check=False)
    with capsys.disabled():
        print(f"\nUI image: {size / 1e6:.0f} MB")
