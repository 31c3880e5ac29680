"""The hazard policy file: the shipped default and errors that name line and field."""

from __future__ import annotations

import pytest

from metrics.hazards.config import DEFAULT_CONFIG, default_config, load_config, parse_config
from metrics.hazards.errors import HazardsConfigError

GOOD = """\
[register]
retention_days = 400

[grade.A]
limit_days = 3
weight = 8
remind_hours = [24]
warning = "red"
escalate = { street = 0, district = 24, city = 72 }

[grade.B]
limit_days = 7
weight = 4
remind_hours = [48, 24]
warning = "orange"
escalate = { street = 0, district = 72, city = 168 }

[grade.C]
limit_days = 15
weight = 2
remind_hours = []
warning = ""
escalate = { street = 0 }

[grade.D]
limit_days = 30
weight = 1
remind_hours = []
warning = ""
escalate = {}
"""


def test_shipped_default_is_the_documented_policy() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert config == default_config()
    a = config.grades["A"]
    assert (a.limit_days, a.weight, a.remind_hours, a.warning) == (3.0, 8.0, (24.0,), "red")
    assert a.escalate == (("street", 0.0), ("district", 24.0), ("city", 72.0))
    assert config.grades["B"].warning == "orange"
    assert [config.grades[g].weight for g in "ABCD"] == [8.0, 4.0, 2.0, 1.0]
    assert config.retention_days == 400.0


def test_parse_good_text() -> None:
    config = parse_config(GOOD)
    assert config.grades["B"].remind_hours == (48.0, 24.0)
    assert config.grades["D"].escalate == ()
    assert config.grades["C"].escalate_after_h("district") is None
    assert config.grades["A"].escalate_after_h("city") == 72.0


def _edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (_edit("retention_days = 400", "retention_days = -1"), 2, "register.retention_days", ">= 0"),
    (_edit("retention_days = 400", "retention = 400"), 2, "register.retention", "unknown field"),
    (_edit("limit_days = 3", "limit_days = 0"), 5, "grade.A.limit_days", "> 0"),
    (_edit("limit_days = 3", 'limit_days = "3d"'), 5, "grade.A.limit_days", "expected a number"),
    (_edit("weight = 8", "weight = true"), 6, "grade.A.weight", "expected a number"),
    (_edit("remind_hours = [24]", "remind_hours = 24"), 7, "grade.A.remind_hours", "list of hours"),
    (_edit("remind_hours = [48, 24]", "remind_hours = [24, 24]"), 14, "grade.B.remind_hours", "repeat"),
    (_edit('warning = "red"', 'warning = "crimson"'), 8, "grade.A.warning", "expected one of"),
    (_edit("street = 0, district = 24", "street = 0, county = 24"), 9, "grade.A.escalate.county",
     "unknown tier"),
    (_edit("street = 0, district = 24, city = 72", "street = 0, district = 24, city = 12"), 9,
     "grade.A.escalate.city", "may not decrease"),
    (_edit("escalate = { street = 0, district = 72, city = 168 }", "escalate = { district = 72 }"), 16,
     "grade.B.escalate.street", "one tier at a time"),
    (_edit("escalate = { street = 0 }", "escalate = 5"), 23, "grade.C.escalate", "expected a table"),
    (_edit("weight = 2\n", ""), 18, "grade.C", "missing required field 'weight'"),
    (_edit("weight = 1\n", "weight = 1\ncolour = 'blue'\n"), 28, "grade.D.colour", "unknown field"),
    (_edit("[grade.D]", "[grade.E]"), 25, "grade.E", "unknown grade"),
    (GOOD + "\n[alerts]\nx = 1\n", 32, "alerts", "unknown table"),
    (GOOD.split("[grade.D]")[0], None, "grade", "[grade.D]"),
])
def test_errors_name_line_and_field(text: str, line: int | None, field: str, words: str) -> None:
    with pytest.raises(HazardsConfigError) as info:
        parse_config(text, "policy.toml")
    err = info.value
    assert (err.line, err.field) == (line, field), str(err)
    assert words in str(err)
    assert str(err).startswith(f"policy.toml:{line}" if line else "policy.toml")


def test_not_toml_names_the_line() -> None:
    with pytest.raises(HazardsConfigError) as info:
        parse_config(GOOD.replace("weight = 4", "weight = = 4"), "p.toml")
    assert info.value.line == 13
    assert "not valid TOML" in str(info.value)


def test_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HazardsConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
