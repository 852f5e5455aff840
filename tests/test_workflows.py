"""The GitHub workflows' structure: jobs, order, triggers, permissions, secrets, forks, caching."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"
CLEARML_JOBS = [
    "test-remote-runnable",
    "execute-pipeline",
    "report-pipeline-metrics",
    "production-pipeline-tagging",
    "deploy-fastapi",
]
SECRETS = ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY", "CLEARML_API_HOST")


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def steps_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


@pytest.fixture(scope="module")
def pipeline() -> dict:
    return load("pipeline.yaml")


def test_pipeline_runs_on_pull_requests_to_main_and_cancels_superseded_runs(pipeline):
    assert pipeline["on"] == {"pull_request": {"branches": ["main"]}}
    assert "github.event.pull_request.number" in pipeline["concurrency"]["group"]
    assert pipeline["concurrency"]["cancel-in-progress"] is True


def test_pipeline_jobs_and_their_order(pipeline):
    jobs = pipeline["jobs"]
    assert set(jobs) == {*CLEARML_JOBS, "fork-pull-request"}
    needs = {name: jobs[name].get("needs") for name in CLEARML_JOBS}
    assert needs == {
        "test-remote-runnable": None,
        "execute-pipeline": "test-remote-runnable",
        "report-pipeline-metrics": "execute-pipeline",
        "production-pipeline-tagging": "execute-pipeline",
        "deploy-fastapi": "production-pipeline-tagging",
    }
    scripts = {
        "test-remote-runnable": "cicd/check_remotely_runnable.py",
        "execute-pipeline": "pipeline_from_tasks.py",
        "report-pipeline-metrics": "cicd/pipeline_reports.py",
        "production-pipeline-tagging": "cicd/production_tagging.py",
        "deploy-fastapi": "cicd/deploy_check.py",
    }
    for name, script in scripts.items():
        assert script in steps_text(jobs[name]), f"{name} does not run {script}"
        assert (Path(WORKFLOWS).parents[1] / script).is_file()


def test_every_clearml_job_has_the_secrets_and_checks_out_the_pr_head(pipeline):
    for secret in SECRETS:
        assert pipeline["env"][secret] == f"${{{{ secrets.{secret} }}}}"
    for name in CLEARML_JOBS:
        checkout = next(
            s for s in pipeline["jobs"][name]["steps"] if str(s.get("uses", "")).startswith("actions/checkout")
        )
        assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha }}", name


def test_permissions_are_minimal_with_pr_write_only_for_the_comment(pipeline):
    assert pipeline["permissions"] == {"contents": "read"}
    for name, job in pipeline["jobs"].items():
        if name == "report-pipeline-metrics":
            assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
        else:
            assert "permissions" not in job, f"{name} should inherit read-only permissions"


def test_fork_pull_requests_skip_clearml_jobs_with_a_visible_reason(pipeline):
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    assert pipeline["jobs"]["test-remote-runnable"]["if"] == same_repo  # the others need it, so they skip too
    notice = pipeline["jobs"]["fork-pull-request"]
    assert notice["if"] == same_repo.replace("==", "!=")
    assert "::notice" in steps_text(notice) and "GITHUB_STEP_SUMMARY" in steps_text(notice)


def test_remote_check_takes_the_task_id_from_clearml_task_output(pipeline):
    text = steps_text(pipeline["jobs"]["test-remote-runnable"])
    assert "clearml-task" in text and "cicd/example_task.py" in text and "tee clearml-task.log" in text
    assert "--from-output clearml-task.log" in text


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


def test_image_workflow_builds_on_prs_touching_images_and_pushes_from_main():
    workflow = load("image.yaml")
    assert "Dockerfile" in workflow["on"]["pull_request"]["paths"]
    assert workflow["on"]["push"]["branches"] == ["main"]
    job = workflow["jobs"]["images"]
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    builds = [s for s in job["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action")]
    assert {b["with"]["file"] for b in builds} == {"Dockerfile", "ui/Dockerfile"}
    assert all(b["with"]["tags"].endswith(":${{ github.sha }}") for b in builds)
    assert all(b["with"]["push"] == "${{ env.PUSH == 'true' }}" for b in builds)
    assert job["env"]["PUSH"] == "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}"
    assert "hadolint Dockerfile" in steps_text(job)
