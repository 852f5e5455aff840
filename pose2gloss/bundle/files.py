"""The deployable model bundle: TFLite files, the sign map and a card, in one folder.

Step 7 writes it; the server reads it. The gloss names travel with the model, and
the card records where the model came from and a checksum of each file, so a served model can
always be traced back to its pipeline run. No TensorFlow here: the server does not need it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "model.tflite"
MODEL_FP16_FILE = "model_fp16.tflite"
SIGN_MAP_FILE = "sign_to_prediction_index_map.json"
CARD_FILE = "model_card.json"
REFERENCE_FILE = "reference_profile.json"  # the training inputs' profile, for drift monitoring (pose2gloss.monitor)
PRODUCTION_POINTER = "production.json"
DEFAULT_RUNS_DIR = Path("runs")


class BundleError(ValueError):
    """A bundle that is missing files or whose files do not match its card."""


@dataclass(frozen=True)
class ModelBundle:
    directory: Path
    card: dict[str, Any]
    signs: list[str]  # index -> gloss

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE

    @property
    def reference_path(self) -> Path | None:
        """The reference profile, when the bundle has one (bundles before it did not)."""
        return self.directory / REFERENCE_FILE if REFERENCE_FILE in self.card.get("files", {}) else None

    @property
    def model_id(self) -> str:
        return str(self.card.get("model_id", self.directory.name))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bundle(directory: str | Path, sign_map: dict[str, int], card: dict[str, Any]) -> Path:
    """Finish a bundle whose TFLite files are already in ``directory``: add the map and the card."""
    directory = Path(directory)
    (directory / SIGN_MAP_FILE).write_text(json.dumps(sign_map, indent=1, sort_keys=True))
    files = {
        name: sha256(directory / name)
        for name in (MODEL_FILE, MODEL_FP16_FILE, SIGN_MAP_FILE, REFERENCE_FILE)
        if (directory / name).is_file()
    }
    if MODEL_FILE not in files:
        raise BundleError(f"{directory}: {MODEL_FILE} missing")
    (directory / CARD_FILE).write_text(json.dumps({**card, "files": files}, indent=2, sort_keys=True))
    return directory


def read_bundle(directory: str | Path, verify: bool = True) -> ModelBundle:
    """Read a bundle; with ``verify``, every file's checksum must match the card.

    A card without the checksums of the model and the sign map cannot be verified, so with
    ``verify`` it is refused rather than trusted.
    """
    directory = Path(directory)
    card_path = directory / CARD_FILE
    if not card_path.is_file():
        raise BundleError(f"{directory}: {CARD_FILE} missing; not a model bundle")
    card = json.loads(card_path.read_text())
    files = card.get("files") or {}
    unchecked = [name for name in (MODEL_FILE, SIGN_MAP_FILE) if name not in files]
    if verify and unchecked:
        raise BundleError(
            f"{card_path}: no checksum for {', '.join(unchecked)}; an unverifiable bundle is not used "
            "(export it again with pose2gloss.bundle.export)"
        )
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            raise BundleError(f"{directory}: {name} listed in the card but missing")
        if verify and sha256(path) != expected:
            raise BundleError(f"{path}: checksum does not match {CARD_FILE}")
    sign_map = json.loads((directory / SIGN_MAP_FILE).read_text())
    signs = [""] * len(sign_map)
    for sign, index in sign_map.items():
        if not 0 <= index < len(signs) or signs[index]:
            raise BundleError(f"{directory / SIGN_MAP_FILE}: label ids must be 0..{len(signs) - 1} once each")
        signs[index] = sign
    return ModelBundle(directory, card, signs)


def record_production(bundle_dir: str | Path, runs_dir: str | Path = DEFAULT_RUNS_DIR, **info: Any) -> Path:
    """Point ``runs/production.json`` at a bundle (what an offline run promotes to production)."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    pointer = runs_dir / PRODUCTION_POINTER
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps({"bundle": str(Path(bundle_dir).resolve()), **info}, indent=2, sort_keys=True))
    os.replace(tmp, pointer)
    return pointer


def production_bundle_dir(runs_dir: str | Path = DEFAULT_RUNS_DIR) -> Path | None:
    """The bundle that the last offline pipeline run recorded as production, if any."""
    record = production_metrics(runs_dir)
    return Path(record["bundle"]) if record else None


def production_metrics(runs_dir: str | Path = DEFAULT_RUNS_DIR) -> dict[str, Any] | None:
    """What ``runs/production.json`` records about the current production model, if any."""
    pointer = Path(runs_dir) / PRODUCTION_POINTER
    return json.loads(pointer.read_text()) if pointer.is_file() else None
