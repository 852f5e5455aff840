import errno
import os

import pytest

from pose2gloss.orchestration import artifacts, tracking


def test_overrides_are_typed_like_defaults():
    defaults = {"name": "GISLR", "epochs": 3, "rate": 0.1, "flag": True}
    params = tracking.parse_overrides(defaults, ["--epochs", "7", "--rate", "0.5", "--flag", "false"])
    assert params == {"name": "GISLR", "epochs": 7, "rate": 0.5, "flag": False}
    assert tracking.coerce_like(defaults, {"name": "x", "epochs": "4", "rate": "1e-3", "flag": "True"}) == {
        "name": "x",
        "epochs": 4,
        "rate": 1e-3,
        "flag": True,
    }


def test_bad_override_is_a_usage_error():
    with pytest.raises(SystemExit):
        tracking.parse_overrides({"flag": True}, ["--flag", "maybe"])


def test_server_detection(monkeypatch, tmp_path):
    for name in ("CLEARML_OFFLINE_MODE", "CLEARML_API_HOST", "CLEARML_API_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CLEARML_CONFIG_FILE", raising=False)
    assert not tracking.server_configured()
    monkeypatch.setenv("CLEARML_API_HOST", "https://api.example")
    monkeypatch.setenv("CLEARML_API_ACCESS_KEY", "key")
    assert tracking.server_configured()
    monkeypatch.setenv("CLEARML_OFFLINE_MODE", "1")
    assert not tracking.server_configured()
    monkeypatch.delenv("CLEARML_OFFLINE_MODE")
    monkeypatch.delenv("CLEARML_API_HOST")
    (tmp_path / "clearml.conf").write_text("api { credentials { access_key: abc } }")
    assert tracking.server_configured()


def test_child_environment_detaches_from_parent_task(monkeypatch):
    monkeypatch.setenv("CLEARML_TASK_ID", "parent")
    monkeypatch.setenv("TRAINS_PROC_MASTER_ID", "1:parent")
    env = tracking.child_environment()
    assert "CLEARML_TASK_ID" not in env and "TRAINS_PROC_MASTER_ID" not in env
    assert tracking.child_environment("child")["CLEARML_TASK_ID"] == "child"


def test_values_that_do_not_parse_as_the_type_are_errors():
    assert tracking.parse_value(3, "7") == 7 and tracking.parse_value(3, "2.0") == 2
    assert tracking.parse_value(0.1, "1e-3") == 1e-3 and tracking.parse_value(True, "off") is False
    for default, text in ((1, "1.5"), (1, "one"), (0.1, "fast"), (True, "maybe")):
        with pytest.raises(ValueError):
            tracking.parse_value(default, text)
    with pytest.raises(SystemExit, match="multiplier='1.5'"):
        tracking.coerce_like({"multiplier": 1}, {"multiplier": "1.5"})
    with pytest.raises(SystemExit):
        tracking.parse_overrides({"multiplier": 1}, ["--multiplier", "1.5"])


def test_server_tasks_upload_to_the_files_server():
    assert tracking.init_options("step", "training", offline=False)["output_uri"] is True
    assert tracking.init_options("step", "training", offline=True)["output_uri"] is None


def test_file_artifacts_are_hard_linked_and_copied_only_across_file_systems(tmp_path, monkeypatch):
    source = tmp_path / "store" / "test_predictions.csv"
    source.parent.mkdir()
    source.write_text("label,prediction\n1,1\n")
    monkeypatch.setattr(artifacts, "artifact_local_copy", lambda task_id, name: source)

    linked = artifacts.link_artifact("t", "test_predictions", tmp_path / "linked.csv")
    assert linked.read_text() == source.read_text() and os.path.samefile(linked, source)

    def refuse(code):
        def link(src, dst):
            raise OSError(code, os.strerror(code))

        return link

    monkeypatch.setattr(artifacts.os, "link", refuse(errno.EXDEV))
    copied = artifacts.link_artifact("t", "test_predictions", tmp_path / "copied.csv")
    assert copied.read_text() == source.read_text() and not os.path.samefile(copied, source)
    monkeypatch.setattr(artifacts.os, "link", refuse(errno.EACCES))
    with pytest.raises(PermissionError):
        artifacts.link_artifact("t", "test_predictions", tmp_path / "denied.csv")
