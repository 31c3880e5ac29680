"""The indicator configuration: the shipped default, versions, and errors that name line and field."""

from __future__ import annotations

import pytest

from metrics.index.config import DEFAULT_CONFIG_PATH, load_config, parse_config
from metrics.index.errors import IndexConfigError

DEFAULT_TEXT = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
FLOOR_LINE = next(line for line in DEFAULT_TEXT.splitlines() if line.startswith("geometric_floor"))


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """1-based line of the first ``needle`` (after the line holding ``after``, if given)."""
    lines = text.splitlines()
    start = 0
    if after is not None:
        start = next(k for k, line in enumerate(lines) if after in line)
    return next(k for k in range(start, len(lines)) if needle in lines[k]) + 1


def test_default_configuration_loads_with_the_documented_dimensions() -> None:
    cfg = load_config()
    assert [d.name for d in cfg.score_dimensions()] == [
        "public_order",
        "disputes",
        "safety_hazards",
        "service",
    ]
    assert [d.name for d in cfg.dimensions if d.role == "gate"] == ["data_coverage"]
    assert cfg.method.normalisation == "goalposts"
    assert cfg.method.weighting == "expert"
    assert cfg.method.aggregation == "geometric"
    kinds = {i.name: i.kind for i in cfg.indicators}
    assert kinds["incident_surge"] == "surge" and kinds["repeat_places"] == "repeat_places"
    assert {kinds["hazards_open_weighted"], kinds["hazards_overdue_share"]} == {"attribute"}
    assert cfg.windows_used() == {"1h", "24h", "7d", "30d"}
    assert len(cfg.version) == 12


def test_version_ignores_comments_but_not_content() -> None:
    base = parse_config(DEFAULT_TEXT).version
    assert parse_config("# a comment\n" + DEFAULT_TEXT).version == base
    changed = DEFAULT_TEXT.replace("goalposts = [0.0, 3.0]", "goalposts = [0.0, 4.0]")
    assert parse_config(changed).version != base


def test_toml_syntax_error_names_the_line() -> None:
    text = DEFAULT_TEXT.replace('label = "Disputes"', 'label = "Disputes')
    with pytest.raises(IndexConfigError) as err:
        parse_config(text, source="index.toml")
    assert err.value.line == line_of(text, 'label = "Disputes')
    assert f"index.toml:{err.value.line}" in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "needle", "field", "message"),
    [
        (
            'window = "7d"\nunit = "per_10k"\ndirection = "higher_worse"\nweight = 0.40',
            'window = "2d"\nunit = "per_10k"\ndirection = "higher_worse"\nweight = 0.40',
            'window = "2d"',
            "indicator.serious_incidents.window",
            "expected one of 24h, 7d, 30d",
        ),
        (
            'numerator = "incidents.theft|fraud.n"',
            'numerator = "incidents.theft|frawd.n"',
            "frawd",
            "indicator.property_fraud.numerator",
            "unknown incidents category",
        ),
        (
            'numerator = "incidents.theft|fraud.n"',
            'numerator = "incidents.theft|fraud.count"',
            "fraud.count",
            "indicator.property_fraud.numerator",
            "unknown measure 'count'",
        ),
        (
            "goalposts = [0.0, 5.0]\n\n[indicator.incident_surge]",
            "goalposts = [5.0, 0.0]\n\n[indicator.incident_surge]",
            "goalposts = [5.0, 0.0]",
            "indicator.property_fraud.goalposts",
            "low < high",
        ),
        (
            'denominator = "incidents.*.disp_n"\n',
            "",
            'unit = "duration"',
            "indicator.dispatch_minutes.unit",
            "needs a 'denominator'",
        ),
        (
            'label = "Ratings of 4 or 5"',
            'label = "Ratings of 4 or 5"\ncolour = "red"',
            'colour = "red"',
            "indicator.satisfaction_rate.colour",
            "unknown field 'colour'",
        ),
        (
            'dimension = "disputes"\nlabel = "Verified crowd',
            'dimension = "dispute"\nlabel = "Verified crowd',
            'dimension = "dispute"',
            "indicator.crowd_alerts.dimension",
            "expected one of public_order",
        ),
        ("A = 80.0", "A = 60.0", "A = 60.0", "levels.A", "A > B > C"),
        (
            'weighting = "expert"',
            'weighting = "ahp"',
            'weighting = "ahp"',
            "method.weighting",
            "needs a [method.ahp.dimensions]",
        ),
        (
            'normalisation = "goalposts"',
            'normalisation = "ranks"',
            'normalisation = "ranks"',
            "method.normalisation",
            "expected one of goalposts, minmax, zscore, target",
        ),
        (
            "min = 0.3",
            "",
            "[indicator.alerts_reviewed]",
            "indicator.alerts_reviewed",
            "needs 'min' and/or 'max'",
        ),
        (
            'kind = "surge"',
            'kind = "surge"\nwindow = "24h"',
            'window = "24h"',
            "indicator.incident_surge.window",
            "always compares the last hour",
        ),
    ],
)
def test_semantic_errors_name_line_and_field(
    old: str, new: str, needle: str, field: str, message: str
) -> None:
    assert old in DEFAULT_TEXT
    text = DEFAULT_TEXT.replace(old, new, 1)
    with pytest.raises(IndexConfigError) as err:
        parse_config(text, source="index.toml")
    assert err.value.field == field
    assert message in err.value.reason
    assert err.value.line == line_of(text, needle)
    assert str(err.value).startswith(f"index.toml:{err.value.line} [{field}]")


AHP_OK = """
[method.ahp.dimensions]
order = ["public_order", "disputes", "safety_hazards", "service"]
matrix = [[1, 2, 2, 3], [0.5, 1, 1, 2], [0.5, 1, 1, 2], [0.3333333, 0.5, 0.5, 1]]
"""


def test_ahp_weights_are_accepted_when_consistent() -> None:
    text = DEFAULT_TEXT.replace('weighting = "expert"', 'weighting = "ahp"').replace(
        FLOOR_LINE,
        "geometric_floor = 1.0" + AHP_OK,
    )
    cfg = parse_config(text)
    ahp = cfg.method.ahp_dimensions
    assert ahp is not None and ahp.consistency_ratio < 0.1
    assert ahp.weights[0] == max(ahp.weights)


def test_inconsistent_ahp_matrix_is_rejected_at_its_line() -> None:
    # cyclic judgements: public order >> disputes >> hazards >> public order
    bad = AHP_OK.replace(
        "matrix = [[1, 2, 2, 3], [0.5, 1, 1, 2], [0.5, 1, 1, 2], [0.3333333, 0.5, 0.5, 1]]",
        "matrix = [[1, 9, 0.1111111, 1], [0.1111111, 1, 9, 1], [9, 0.1111111, 1, 1], [1, 1, 1, 1]]",
    )
    text = DEFAULT_TEXT.replace(
        FLOOR_LINE,
        "geometric_floor = 1.0" + bad,
    )
    with pytest.raises(IndexConfigError) as err:
        parse_config(text, source="index.toml")
    assert err.value.field == "method.ahp.dimensions.matrix"
    assert "CR =" in err.value.reason
    assert err.value.line == line_of(text, "matrix = [[1, 9")


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(IndexConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
