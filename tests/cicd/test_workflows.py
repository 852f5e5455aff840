"""The GitHub workflows: what runs on a pull request and on a merge, and the checkout the pipeline job gets.

Structure is read from the YAML; the checkout is executed: actions/checkout's own fetch for the
pipeline job's settings, against a ``file://`` remote, followed by the pipeline's pre-flight.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from cicd import changes, gate, summary_outputs
from pose2gloss.orchestration import preflight

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
SECRETS = ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY", "CLEARML_API_HOST")
PR_JOBS = ("test-remote-runnable", "execute-pipeline", "report-pipeline-metrics", "gate")
MERGE_JOBS = ("production-tagging", "deploy")


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def steps_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def checkout_of(job: dict) -> dict:
    step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout"))
    return step.get("with") or {}


@pytest.fixture(scope="module")
def pipeline() -> dict:
    return load("pipeline.yaml")


def test_triggers_pull_requests_ready_for_review_and_merges_to_main(pipeline):
    assert pipeline["on"]["pull_request"]["branches"] == ["main"]
    assert "ready_for_review" in pipeline["on"]["pull_request"]["types"]
    assert pipeline["on"]["push"] == {"branches": ["main"]}
    # a new push to a pull request cancels its old run; merges to main are never cancelled
    assert pipeline["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_a_pull_request_decides_but_never_moves_production(pipeline):
    jobs = pipeline["jobs"]
    run = steps_text(jobs["execute-pipeline"])
    assert "pipeline_from_tasks.py" in run and "--no-promote" in run
    assert '--tag "pr-$PR"' in run and '--tag "sha-$HEAD_SHA"' in run
    assert "production_tagging" not in steps_text(jobs["gate"])  # through cicd/gate.py, which adds --check
    assert "--merged-commit" not in "".join(steps_text(jobs[name]) for name in PR_JOBS)
    for name in PR_JOBS:
        assert "github.event_name == 'pull_request'" in jobs[name]["if"], name
    for name in MERGE_JOBS:
        assert "github.event_name == 'push'" in str(jobs[name].get("if", "")) or jobs[name]["needs"] in MERGE_JOBS


def test_the_run_limit_is_below_the_job_timeout(pipeline):
    job = pipeline["jobs"]["execute-pipeline"]
    limit = int(re.search(r"--time-limit-minutes (\d+)", steps_text(job)).group(1))
    assert limit < job["timeout-minutes"]


def test_jobs_read_the_run_id_from_the_pipeline_job_outputs(pipeline):
    jobs = pipeline["jobs"]
    assert set(jobs["execute-pipeline"]["outputs"]) >= {"pipeline_id", "status"}
    outcome = next(s for s in jobs["execute-pipeline"]["steps"] if s.get("id") == "outcome")
    assert outcome["if"] == "always()" and "cicd/summary_outputs.py" in outcome["run"]
    for name in ("report-pipeline-metrics", "gate"):
        env = next(s for s in jobs[name]["steps"] if "PIPELINE_ID" in (s.get("env") or {}))["env"]
        assert env["PIPELINE_ID"] == "${{ needs.execute-pipeline.outputs.pipeline_id }}"
        assert jobs[name]["if"].startswith("always()"), f"{name} must also run when the pipeline failed"


def test_the_gate_always_runs_and_the_merge_deploys_the_image_it_checked(pipeline):
    jobs = pipeline["jobs"]
    assert "cicd/gate.py" in steps_text(jobs["gate"])
    assert "--merged-commit" in steps_text(jobs["production-tagging"])
    deploy = steps_text(jobs["deploy"])
    assert deploy.index("docker build") < deploy.index("docker run") < deploy.index("deploy_check.py --url")
    assert deploy.index("deploy_check.py --url") < deploy.index("docker push")
    assert ':$GITHUB_SHA" -t "$IMAGE:production"' in deploy and "--require-source clearml" in deploy
    assert jobs["deploy"]["permissions"] == {"contents": "read", "packages": "write"}


def test_secrets_only_in_the_steps_that_use_them(pipeline):
    assert not set(SECRETS) & set(pipeline.get("env", {}))
    for name, job in pipeline["jobs"].items():
        assert not set(SECRETS) & set(job.get("env", {})), name
        for step in job["steps"]:
            for secret in SECRETS:
                if secret in (step.get("env") or {}):
                    assert step["env"][secret] == f"${{{{ secrets.{secret} }}}}"


def test_each_job_has_its_own_pip_cache_key(pipeline):
    keys = [
        str(step["with"]["cache-dependency-path"])
        for job in pipeline["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/setup-python") and step["with"].get("cache") == "pip"
    ]
    # jobs that install different packages key their caches differently (5 install sets)
    assert len(set(keys)) >= 5, keys


def test_permissions_are_minimal(pipeline):
    assert pipeline["permissions"] == {"contents": "read"}
    writers = {name: job["permissions"] for name, job in pipeline["jobs"].items() if "permissions" in job}
    assert writers == {
        "report-pipeline-metrics": {"contents": "read", "pull-requests": "write"},
        "deploy": {"contents": "read", "packages": "write"},
    }


def test_changes_classify_docs_forks_and_drafts():
    code = changes.classify(["pose2gloss/training/train.py", "README.md"], fork=False, draft=False)
    assert code == {"code": True, "fork": False, "draft": False, "run_pipeline": True}
    assert changes.classify(["README.md", "docs/x.md"], fork=False, draft=False)["run_pipeline"] is False
    assert changes.classify(["requirements.txt"], fork=False, draft=False)["code"] is True
    assert changes.classify(["serving/pose2gloss.py"], fork=True, draft=False)["run_pipeline"] is False
    assert changes.classify(["serving/pose2gloss.py"], fork=False, draft=True)["run_pipeline"] is False
    assert changes.classify([], fork=False, draft=False)["code"] is True  # nothing known: treat as code


@pytest.mark.parametrize(
    ("flags", "result", "run_id", "code", "said"),
    [
        ((True, False, True), "skipped", "", 1, "comes from a fork"),
        ((False, False, False), "skipped", "", 0, "Only documentation"),
        ((False, True, True), "skipped", "", 1, "Draft"),
        ((False, False, True), "failure", "abc", 1, "ended 'failure'"),
        ((False, False, True), "success", "", 1, "no pipeline run"),
    ],
)
def test_the_gate_never_passes_by_being_skipped(flags, result, run_id, code, said):
    decided = gate.verdict(*flags, result, run_id)
    assert decided is not None and decided[0] == code and said in decided[1]
    assert gate.verdict(False, False, True, "success", "abc") is None  # compared with production


def test_summary_outputs_name_the_run_or_say_there_is_none(tmp_path):
    assert summary_outputs.outputs(tmp_path / "missing.json") == {"pipeline_id": "", "status": "missing"}
    (tmp_path / "s.json").write_text('{"pipeline_id": "p1", "status": "failed"}')
    assert summary_outputs.outputs(tmp_path / "s.json") == {"pipeline_id": "p1", "status": "failed"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def actions_checkout(origin: str, dest: Path, ref: str, fetch_depth: int) -> None:
    """What actions/checkout (v5, src/git-source-provider.ts and ref-helper.ts) runs for a commit SHA as ``ref``.

    A 40-hex ``ref`` is taken as the commit with no ref. Depth 0 fetches every branch and tag
    (getRefSpecForAllHistory); a depth fetches only the commit, with no destination (getRefSpec).
    Then the commit is checked out, detached.
    """
    dest.mkdir()
    git(dest, "init", "-q")
    git(dest, "remote", "add", "origin", origin)
    options = ["-c", "protocol.version=2", "fetch", "--no-tags", "--prune", "--no-recurse-submodules"]
    if fetch_depth <= 0:
        git(dest, *options, "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
    else:
        git(dest, *options, f"--depth={fetch_depth}", "origin", ref)
    git(dest, "checkout", "-q", "--force", ref)


def test_the_pipeline_jobs_checkout_passes_the_preflight(pipeline, tmp_path):
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "init", "-q", str(work))
    (work / "x.txt").write_text("x")
    git(work, "add", "x.txt")
    git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a pull request's head")
    git(work, "push", "-q", str(origin), "HEAD:refs/heads/feature")
    head = git(work, "rev-parse", "HEAD").strip()

    settings = checkout_of(pipeline["jobs"]["execute-pipeline"])
    assert settings["ref"] == "${{ github.event.pull_request.head.sha }}"
    actions_checkout(origin.as_uri(), tmp_path / "job", head, int(settings.get("fetch-depth", 1)))
    assert preflight.check_repository(tmp_path / "job", package_dirs=()) == []
    # what the default depth of 1 gives: the commit alone, on no remote branch, which the pre-flight refuses
    actions_checkout(origin.as_uri(), tmp_path / "shallow", head, 1)
    assert "is on no remote branch" in " ".join(preflight.check_repository(tmp_path / "shallow", package_dirs=()))


def test_image_workflow_lints_and_builds_on_pull_requests_touching_images():
    workflow = load("image.yaml")
    assert "Dockerfile" in workflow["on"]["pull_request"]["paths"]
    job = workflow["jobs"]["images"]
    builds = [s for s in job["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action")]
    assert {b["with"]["file"] for b in builds} == {"Dockerfile", "ui/Dockerfile"}
    assert all(b["with"]["push"] is False for b in builds)  # the merge's deploy job pushes what it checked
    assert "hadolint Dockerfile" in steps_text(job)


def test_test_workflow_runs_the_readme_command_with_pip_cache_and_coverage():
    workflow = load("test.yaml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["test"]
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    text = steps_text(job)
    assert "make test" in text and "make test" in (WORKFLOWS.parents[1] / "README.md").read_text()
    assert "--cov-report=markdown:coverage.md" in text and "GITHUB_STEP_SUMMARY" in text
