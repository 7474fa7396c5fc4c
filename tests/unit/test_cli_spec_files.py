"""`herald schedules create --file` reads JSON or YAML specs, and says why a file is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from herald.cli.schedules import _from_file


def test_json_and_yaml_specs_read_the_same(tmp_path: Path) -> None:
    as_json = tmp_path / "brief.json"
    as_json.write_text('{"name": "Morning Brief", "frequency": "daily", "recipients": ["a@x.io"]}')
    as_yaml = tmp_path / "brief.yaml"
    as_yaml.write_text("name: Morning Brief\nfrequency: daily\nrecipients:\n  - a@x.io\n")
    assert _from_file(as_json) == _from_file(as_yaml)
    assert _from_file(None) == {}


def test_a_yaml_time_of_day_stays_the_text_it_looks_like(tmp_path: Path) -> None:
    """YAML 1.1 reads 12:30 as the base-60 integer 750 (and 08:00 as text)."""
    spec = tmp_path / "brief.yaml"
    spec.write_text("time_of_day: 12:30\nweekday: 2\ncatch_up_seconds: 0x10\n")
    assert _from_file(spec) == {"time_of_day": "12:30", "weekday": 2, "catch_up_seconds": 16}


def test_a_file_that_is_not_one_mapping_is_refused(tmp_path: Path) -> None:
    listed = tmp_path / "list.yml"
    listed.write_text("- one\n- two\n")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for path in (listed, broken):
        with pytest.raises(typer.Exit):
            _from_file(path)
