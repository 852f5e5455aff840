"""What a task records resolves where agents run it: CPython 3.12 on Linux, Colab's GPU runtime.

An agent installs the requirements a task records on every fresh runtime, so a pin with no wheel
for the agent's Python, or two pins that conflict, fails the step after the data steps already
ran. pip's own resolver answers it here without installing anything (``--dry-run``), for the
target interpreter and platform rather than this machine's (3.11, this machine's, is proven by
``make setup`` itself). The resolution needs the package index, so it is marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from pose2gloss.orchestration import tracking

REPO = Path(__file__).resolve().parents[2]
# The wheels a glibc 2.35 x86_64 runtime (Colab's Ubuntu 22.04) accepts: every manylinux tag up to 2.35,
# the legacy aliases, and plain linux wheels.
COLAB_PLATFORMS = [
    *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 36)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
]


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them, without extras."""
    return canonicalize_name(name.split("[")[0])


def resolve(pins: dict[str, str], python_version: str, tmp_path: Path) -> dict:
    """pip's install report for ``pins`` on CPython ``python_version``, binary wheels only; fails with pip's error."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{name}{version}\n" for name, version in pins.items()))
    report = tmp_path / "report.json"
    platforms = [arg for platform in COLAB_PLATFORMS for arg in ("--platform", platform)]
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
        "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version, *platforms,
        "--target", str(tmp_path / "target"), "--report", str(report), "-r", str(requirements),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: Location")]
    assert done.returncode == 0, f"pins of a {python_version} task do not resolve:\n" + "\n".join(errors[-20:])
    return json.loads(report.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("gpu", [False, True], ids=["cpu-task", "gpu-task"])
def test_the_pins_a_task_records_resolve_on_colabs_python(gpu: bool, tmp_path) -> None:
    pins = tracking.task_requirements(gpu)
    installed = {
        normalized(item["metadata"]["name"]): item["metadata"]["version"]
        for item in resolve(pins, "3.12", tmp_path)["install"]
    }
    for name, version in pins.items():
        package = normalized(name)
        assert installed.get(package) == version.removeprefix("=="), f"{package}: {installed.get(package)}"
    if gpu:
        assert "tensorflow" in installed and "tensorflow-cpu" not in installed
        assert any(name.startswith("nvidia-cudnn") for name in installed), "tensorflow[and-cuda] brought no CUDA"


def test_tasks_record_no_development_tool() -> None:
    """The tools that develop and test the project never reach an agent's fresh runtime."""
    tools = {
        normalized(line.split("==")[0].strip())
        for line in (REPO / "requirements-dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for gpu in (False, True):
        recorded = {normalized(name) for name in tracking.task_requirements(gpu)}
        assert recorded, "a task records no pins"
        assert not recorded & tools, sorted(recorded & tools)
