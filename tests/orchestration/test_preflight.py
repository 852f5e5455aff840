"""The server pre-flight: queues and workers (behind a fake API boundary), and the code agents check out."""

import subprocess
from pathlib import Path

import pytest

from pose2gloss.orchestration import preflight


class FakeServer:
    """The two questions the pre-flight asks a server, answered from fixed data."""

    def __init__(self, queues, workers):
        self.queues, self.workers = set(queues), workers

    def queue_names(self):
        return self.queues

    def workers_by_queue(self):
        return self.workers


def test_queues_with_their_own_workers_pass():
    api = FakeServer({"cpu", "gpu", "services"}, {"cpu": ["laptop:0"], "gpu": ["colab:0"], "services": ["svc:0"]})
    assert preflight.check_queues(api, cpu_queue="cpu", gpu_queue="gpu", controller_queue="services") == []


def test_missing_queue_and_queue_without_worker_name_the_queue_and_the_agent_command():
    api = FakeServer({"cpu", "gpu"}, {"cpu": ["laptop:0"]})
    problems = preflight.check_queues(api, cpu_queue="cpu", gpu_queue="gpu", controller_queue="services")
    assert len(problems) == 2
    assert "queue 'gpu' has no worker" in problems[0] and "clearml-agent daemon --queue gpu" in problems[0]
    assert "queue 'services' does not exist" in problems[1]
    assert "clearml-agent daemon --services-mode --queue services" in problems[1]


def test_one_agent_serving_both_queues_is_refused():
    api = FakeServer({"cpu", "gpu"}, {"cpu": ["box:0"], "gpu": ["box:0"]})
    (problem,) = preflight.check_queues(api, cpu_queue="cpu", gpu_queue="gpu")
    assert "every worker of 'gpu' also serves 'cpu'" in problem
    (same,) = preflight.check_queues(FakeServer({"q"}, {"q": ["a"]}), cpu_queue="q", gpu_queue="q")
    assert "both 'q'" in same


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "t@example.com")
    git(work, "config", "user.name", "t")
    (work / "pose2gloss").mkdir()
    (work / "pose2gloss" / "__init__.py").write_text("")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "first")
    return work


def test_repository_without_remote_fails(repo):
    (problem,) = preflight.check_repository(repo)
    assert "no remote" in problem


def add_remote(repo: Path) -> None:
    remote = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))


def test_unpushed_head_and_untracked_module_fail_then_a_pushed_clean_repo_passes(repo):
    add_remote(repo)
    problems = preflight.check_repository(repo)
    assert len(problems) == 1 and "is on no remote branch" in problems[0]

    git(repo, "push", "-q", "origin", "main")
    assert preflight.check_repository(repo) == []

    (repo / "pose2gloss" / "new_module.py").write_text("x = 1\n")
    (problem,) = preflight.check_repository(repo)
    assert "untracked modules" in problem and "pose2gloss/new_module.py" in problem

    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "second")
    (problem,) = preflight.check_repository(repo)
    assert "is on no remote branch" in problem


def test_diff_above_what_clearml_stores_fails(repo):
    add_remote(repo)
    git(repo, "push", "-q", "origin", "main")
    (repo / "pose2gloss" / "__init__.py").write_text("# " + "x" * preflight.MAX_DIFF_BYTES + "\n")
    (problem,) = preflight.check_repository(repo)
    assert "500 kB" in problem


def test_not_a_repository(tmp_path):
    (problem,) = preflight.check_repository(tmp_path)
    assert "not a git repository" in problem
