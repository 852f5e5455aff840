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


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/acme/pose2gloss.git", "acme/pose2gloss"),
        ("https://github.com/acme/pose2gloss", "acme/pose2gloss"),
        ("git@github.com:acme/pose2gloss.git", "acme/pose2gloss"),
        ("ssh://git@github.com/acme/pose2gloss.git", "acme/pose2gloss"),
        ("https://gitlab.example.com/acme/pose2gloss.git", None),
        ("/srv/git/pose2gloss.git", None),
        ("file:///srv/git/pose2gloss.git", None),
    ],
)
def test_github_repository_is_read_from_every_url_form(url, repository):
    assert preflight.github_repository(url) == repository


def never_asked(repository):
    raise AssertionError(f"GitHub was asked about {repository}")


@pytest.mark.parametrize("url", ["git@github.com:acme/pose2gloss.git", "ssh://git@gitlab.example.com/acme/p.git"])
def test_an_ssh_origin_needs_agent_credentials(url):
    (problem,) = preflight.check_agent_clone(url, has_credentials=lambda: False, visibility=never_asked)
    assert "SSH URL" in problem and "no SSH key" in problem
    assert "CLEARML_AGENT_GIT_USER" in problem and "CLEARML_AGENT_GIT_PASS" in problem
    assert "fine-grained personal access token with read-only" in problem
    assert preflight.check_agent_clone(url, has_credentials=lambda: True, visibility=never_asked) == []


@pytest.mark.parametrize(
    ("seen", "said"), [("private", "is private"), ("unknown", "may be private (GitHub did not say)")]
)
def test_a_github_repository_not_known_to_be_public_needs_agent_credentials(seen, said):
    asked = []

    def visibility(repository):
        asked.append(repository)
        return seen

    url = "https://github.com/acme/pose2gloss.git"
    (problem,) = preflight.check_agent_clone(url, has_credentials=lambda: False, visibility=visibility)
    assert f"acme/pose2gloss {said}" in problem and "CLEARML_AGENT_GIT_PASS" in problem
    assert asked == ["acme/pose2gloss"]
    assert preflight.check_agent_clone(url, has_credentials=lambda: True, visibility=never_asked) == []


def test_a_public_github_repository_or_a_local_origin_needs_nothing():
    public = preflight.check_agent_clone(
        "https://github.com/acme/pose2gloss", has_credentials=lambda: False, visibility=lambda r: "public"
    )
    assert public == []
    for url in ("/srv/git/pose2gloss.git", "file:///srv/git/pose2gloss.git", "https://gitlab.example.com/a/b.git"):
        assert preflight.check_agent_clone(url, has_credentials=lambda: False, visibility=never_asked) == []


def test_agent_credentials_are_both_variables():
    user, password = preflight.AGENT_GIT_VARIABLES
    assert preflight.agents_have_git_credentials({user: "me", password: "github_pat_x"})
    assert not preflight.agents_have_git_credentials({user: "me"})
    assert not preflight.agents_have_git_credentials({user: "me", password: ""})


def test_the_repository_check_asks_about_the_origin_a_task_records(repo, monkeypatch):
    add_remote(repo)
    git(repo, "push", "-q", "origin", "main")
    git(repo, "remote", "set-url", "origin", "git@github.com:acme/pose2gloss.git")
    assert preflight.origin_url(repo) == "git@github.com:acme/pose2gloss.git"
    for name in preflight.AGENT_GIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    (problem,) = preflight.check_repository(repo)
    assert "git@github.com:acme/pose2gloss.git is an SSH URL" in problem
    for name in preflight.AGENT_GIT_VARIABLES:
        monkeypatch.setenv(name, "set")
    assert preflight.check_repository(repo) == []


@pytest.mark.parametrize(
    ("host", "where"), [("http://localhost:8081", "this machine"), ("http://10.1.2.3:8081", "a private network")]
)
def test_a_files_server_colab_cannot_reach_is_warned_about(host, where):
    (warning,) = preflight.files_server_warnings(host, "gpu")
    assert where in warning and "'gpu'" in warning and "cannot upload" in warning


def test_a_public_files_server_is_not_warned_about():
    assert preflight.files_server_warnings("https://8.8.8.8:8081", "gpu") == []
