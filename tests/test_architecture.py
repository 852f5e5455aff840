"""The package's layout holds: each room imports only the rooms below it, and the ML core runs without ClearML.

Read from the source (every ``import`` statement, also those inside functions), so a lazy
import cannot hide a dependency. The rooms and what each may import are those of the README's
"Architecture" section.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pose2gloss"
PROJECT_ROOTS = (PACKAGE, ROOT / "serving", ROOT / "cicd", ROOT / "ui")  # the project's own Python code
# The rooms of the ML core and the rooms each may import (besides itself).
CORE_RULES: dict[str, set[str]] = {
    "preprocessing": set(),
    "translate": set(),
    "capture": {"preprocessing"},
    "data": {"preprocessing", "capture"},
    "models": {"preprocessing"},
    "bundle": {"preprocessing"},
    "evaluation": {"bundle"},
    "training": {"preprocessing", "data", "models", "evaluation"},
    "monitor": {"preprocessing", "data", "bundle"},
}
CLEARML_MODULES = ("clearml", "clearml_agent")
MAX_MODULE_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> Iterator[str]:
    """Every absolute module an import statement in ``path`` names, ``from a import b`` as ``a`` and ``a.b``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def room_of(module: str) -> str | None:
    """The subpackage of ``pose2gloss`` a module belongs to; None for the top level (steps and commands)."""
    parts = module.split(".")
    if parts[0] != "pose2gloss" or len(parts) < 2 or not (PACKAGE / parts[1]).is_dir():
        return None
    return parts[1]


@pytest.mark.parametrize("room", sorted(CORE_RULES))
def test_the_ml_core_imports_nothing_of_clearml_or_orchestration(room: str) -> None:
    offenders = [
        f"{module_name(path)} imports {name}"
        for path in sorted((PACKAGE / room).rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in CLEARML_MODULES or room_of(name) == "orchestration"
    ]
    assert offenders == []


@pytest.mark.parametrize("room", sorted(CORE_RULES))
def test_each_room_imports_only_the_rooms_below_it(room: str) -> None:
    allowed = CORE_RULES[room] | {room}
    offenders = set()
    for path in sorted((PACKAGE / room).rglob("*.py")):
        for name in imported_modules(path):
            if name.startswith("pose2gloss.") and (target := room_of(name)) not in allowed:
                offenders.add(f"{module_name(path)} imports {name} ({target or 'the top level'})")
    assert sorted(offenders) == []


def test_every_room_of_the_package_has_its_rule() -> None:
    rooms = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert rooms == set(CORE_RULES) | {"orchestration"}


def test_the_rules_themselves_form_no_circle() -> None:
    order: list[str] = []
    remaining = dict(CORE_RULES)
    while remaining:
        ready = sorted(room for room, needs in remaining.items() if needs <= set(order))
        assert ready, f"rooms that need each other: {sorted(remaining)}"
        order += ready
        for room in ready:
            del remaining[room]


def test_no_module_imports_itself_back_in_a_circle() -> None:
    """Module-level cycles among the project's own modules (package, server, CI, UI), found by depth-first search."""
    paths = {module_name(p): p for root in PROJECT_ROOTS for p in root.rglob("*.py")}
    graph = {
        module: {name for name in imported_modules(path) if name in paths and name != module}
        for module, path in paths.items()
    }
    # ``import a.b`` also runs ``a/__init__``: a package's own modules importing it is not a circle.
    state: dict[str, str] = {}
    circles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if module.startswith(target + "."):
                continue
            if state.get(target) == "open":
                circles.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_no_module_is_longer_than_the_house_rule() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for root in PROJECT_ROOTS
        for path in root.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
