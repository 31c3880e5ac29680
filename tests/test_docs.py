"""The README documents every setting, and the two start-up commands exist as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from kapok.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(name: str) -> None:
    assert f"`RK_{name.upper()}`" in README, f"add RK_{name.upper()} to the README's configuration table"


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not missing


@pytest.mark.parametrize("script", ["bin/demo", "bin/test"])
def test_the_two_commands_exist(script: str) -> None:
    assert f"bash {script}" in README
    assert (ROOT / script).exists()


def test_ci_runs_the_readme_test_command() -> None:
    assert "bin/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
