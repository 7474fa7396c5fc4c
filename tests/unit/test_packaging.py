"""The wheel holds one `herald` package: installing Herald adds no generic top-level names."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.infra import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("herald-*.whl")
    return built


def test_every_file_of_the_wheel_is_under_herald(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"herald"}
    for folder in ("shared", "services", "cli", "client"):
        assert f"herald/{folder}/__init__.py" in names
    assert "herald/services/mailer/templates/email.html.j2" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "herald = herald.cli.main:app" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_wheel_runs_without_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """Unpacked apart from the checkout (a pure wheel installs so), the services, the
    client, the CLI and the mailer's templates import, and the bare names do not."""
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.remove(sys.argv[2])\n"
        "import herald, herald.client.commands, herald.services.scheduler.app\n"
        "import herald.services.mailer.compose as compose, herald.cli.main\n"
        "assert list(herald.__path__) == [sys.argv[1] + '/herald'], herald.__path__\n"
        "compose._templates.get_template('email.html.j2')\n"
        "from importlib.util import find_spec\n"
        "assert find_spec('shared') is None and find_spec('services') is None\n"
    )
    subprocess.run([sys.executable, "-c", probe, str(target), str(REPO)], check=True, cwd=tmp_path)


def test_the_herald_command_of_the_development_install_runs_from_anywhere(tmp_path: Path) -> None:
    """The editable install must not hide the checkout's `herald` package from the command."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("herald")), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "schedules" in done.stdout
