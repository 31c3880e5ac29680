"""The counter vocabulary the index may read (mirrors docs/architecture.md, "Base metrics")."""

from __future__ import annotations

from streams.schemas import CATEGORIES as _STREAM_CATEGORIES

# The stream vocabularies are the contract's (streams.schemas), so an index configuration can name only
# categories that the consumers can count.
CATEGORIES: dict[str, frozenset[str]] = dict(_STREAM_CATEGORIES)

MEASURES: dict[str, frozenset[str]] = {
    "incidents": frozenset({"rec", "n", "sev", "s4", "disp_n", "disp_s", "arr_n", "arr_s", "closed_n"}),
    "surveillance": frozenset({"rec", "n", "conf90", "rev_n", "rev_true", "rev_false"}),
    "hotline": frozenset(
        {
            "rec",
            "n",
            "resp_n",
            "resp_sla",
            "resp_s",
            "res_n",
            "res_intime",
            "rate_n",
            "rate_sum",
            "rate_ok",
            "reopen_n",
        }
    ),
    "hazards": frozenset({"rec", "n", "gA", "gB", "gC", "gD"}),
}

#: Window name -> length in seconds. ``1h`` is only used by surge indicators and gates.
WINDOWS: dict[str, int] = {"1h": 3600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}

#: Frame key holding the mean of the same hour of week over the previous weeks (surge baseline).
BASELINE_FRAME = "1h_baseline"

LEVELS: tuple[str, ...] = ("grid", "district", "city")

#: Counters of events of severity 4 (the level hold reads their 24 h sum).
S4_EXPRESSION = "incidents.*.s4"

#: Counters of events (first-stage records) of every stream, for the thin-data mark.
EVENTS_EXPRESSION = "incidents.*.n + surveillance.*.n + hotline.*.n + hazards.*.n"
