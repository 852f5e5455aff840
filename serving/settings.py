"""Server settings, read once from ``POSE2GLOSS_*`` environment variables.

Every limit that protects the server from bad input lives here, with a default that a
64-frame MediaPipe request never comes near.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

from serving.decode import Limits

ENV_PREFIX = "POSE2GLOSS_"


@dataclass(frozen=True)
class Settings:
    """Server configuration; each field ``name`` is set by the variable ``POSE2GLOSS_<NAME>``."""

    model: str = ""  # a bundle folder or a .tflite file inside one; empty: ClearML, then runs/production.json
    runs_dir: Path = Path("runs")  # where the offline pipeline records the production bundle
    clearml: str = "auto"  # auto: ask ClearML when a server is configured; on: always; off: never
    model_fallback: str = ""  # "local": serve runs/production.json when ClearML cannot give the model
    clearml_tag: str = "production"
    clearml_project: str = "pose2gloss"  # only models and tasks of this project (and its subprojects); empty: any
    clearml_timeout: float = 120.0  # seconds the start-up waits for ClearML (its SDK retries an unreachable server)
    cache_dir: Path = Path.home() / ".cache" / "pose2gloss" / "models"  # bundles downloaded from ClearML
    api_key: str = ""  # when set, /predict* need the header X-API-Key with this value
    max_frames: int = 1024
    max_batch: int = 32
    max_body_bytes: int = 64 * 1024 * 1024
    max_abs_coord: float = 1000.0  # MediaPipe coordinates are image-normalised; anything larger is garbage
    top_k: int = 5  # default number of glosses returned
    num_threads: int = 1  # threads inside each LiteRT interpreter
    inference_threads: int = 0  # threads that decode and run the model (each has an interpreter); 0: one per core
    drift_window: int = 200  # requests in the rolling window compared with the bundle's reference profile
    drift_threshold: float = 0.25  # PSI above which the window counts as drifted (0.25: a significant shift)
    drift_log: str = ""  # a file that each request's profile (never its landmarks) is appended to, as JSON lines
    host: str = "127.0.0.1"  # for `python serving/pose2gloss.py`
    port: int = 8000
    workers: int = 1

    @cached_property
    def limits(self) -> Limits:
        """The bounds every request body is checked against (and the schema documents); built once."""
        return Limits(self.max_frames, self.max_batch, self.max_abs_coord, self.max_body_bytes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the environment (``os.environ`` by default); keyword overrides win."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is None or field.name in overrides:
                continue
            default = getattr(cls, field.name)
            try:
                values[field.name] = type(default)(raw.strip())
            except ValueError as err:
                kind = type(default).__name__
                raise ValueError(f"{ENV_PREFIX}{field.name.upper()}={raw!r}: not a valid {kind}") from err
        settings = cls(**{**values, **overrides})  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Reject settings that would make the server misbehave, naming the variable."""
        positive = (
            "max_frames", "max_batch", "max_body_bytes", "max_abs_coord", "top_k", "num_threads", "workers",
            "clearml_timeout",
        )  # fmt: skip
        if self.inference_threads < 0:
            raise ValueError(
                f"{ENV_PREFIX}INFERENCE_THREADS must be 0 (one per core) or more, got {self.inference_threads}"
            )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be positive, got {getattr(self, name)}")
        if self.clearml not in ("auto", "on", "off"):
            raise ValueError(f"{ENV_PREFIX}CLEARML must be auto, on or off, got {self.clearml!r}")
        if self.model_fallback not in ("", "local"):
            raise ValueError(f"{ENV_PREFIX}MODEL_FALLBACK must be empty or local, got {self.model_fallback!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"{ENV_PREFIX}PORT must be 1..65535, got {self.port}")
