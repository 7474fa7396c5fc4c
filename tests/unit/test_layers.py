"""The layer rules in pyproject.toml catch what they promise: each violation breaks its rule."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra import REPO

LINT_IMPORTS = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "lint-imports"

#: module to edit -> the import added to it, and the contract it must break.
VIOLATIONS = {
    "services/scheduler/timing.py": (
        "import herald.services.mailer.outcome",
        "Services never import each other",
    ),
    "shared/runtime/kafka.py": ("import herald.cli.support", "The CLI sits on top"),
    "shared/contract/topics.py": ("import herald.shared.runtime.logs", "Shared by layer"),
    "client/commands.py": (
        "import herald.shared.runtime.settings",
        "client depends on the contract",
    ),
    "services/mailer/compose.py": ("import pymongo", "do no I/O"),
    "services/renderer/render.py": ("import shared.contract.topics", "never by their bare names"),
    "shared/runtime/mongo.py": ("import herald.shared.runtime.service", "No import cycles"),
}


def _tree(root: Path) -> Path:
    """A copy of the checkout's packages laid out as the wheel lays them out."""
    package = root / "herald"
    for folder in ("shared", "services", "cli", "client"):
        shutil.copytree(
            REPO / folder, package / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "herald" / "__init__.py", package / "__init__.py")
    return package


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )


def _broken(output: str) -> list[str]:
    """The names of the broken contracts in lint-imports' summary (a name may wrap)."""
    summary = " ".join(output.split("Contracts\n---------", 1)[1].split("\n\n", 3)[2].split())
    return [part.strip() for part in summary.split(" BROKEN")[:-1]]


def test_the_checkout_keeps_every_contract(tmp_path: Path) -> None:
    _tree(tmp_path)
    result = _lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module", VIOLATIONS)
def test_a_violation_breaks_its_contract(module: str, tmp_path: Path) -> None:
    package = _tree(tmp_path)
    statement, contract = VIOLATIONS[module]
    edited = package / module
    edited.write_text(edited.read_text() + f"\n{statement}  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    # One edit may break more than one rule (an upward import is often a cycle too).
    assert any(contract in name for name in _broken(result.stdout)), result.stdout
