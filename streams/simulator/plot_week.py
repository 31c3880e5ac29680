"""Draw one simulated week (docs/sim-week.png): hourly events per stream, and two districts compared.

A developer tool, not part of the runtime: it needs matplotlib (``pip install matplotlib``), which the
project does not depend on. Run from the repository root::

    python -m streams.simulator.plot_week [OUT.png] [--seed N] [--until ISO]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import numpy as np

from kapok.settings import PROJECT_ROOT, load_settings
from streams.schemas import STREAMS
from streams.simulator.model import HOUR, SimParams, generate_hour
from streams.simulator.runner import make_world, parse_until
from streams.simulator.scenarios import DEFAULT_SCENARIOS_FILE, load_scenarios, plan_scenarios

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def week_counts(seed: int, until: int, districts: tuple[str, str]) -> dict[str, np.ndarray]:
    """Hourly first-stage event counts over the 7 days before ``until``: per stream, and per district."""
    settings = load_settings()
    world = make_world(settings, seed)
    plans = plan_scenarios(load_scenarios(DEFAULT_SCENARIOS_FILE), world, until)
    first = (until - 7 * 86400) // HOUR
    hours = np.arange(first, until // HOUR)
    codes = list(world.districts.index)
    out = {s: np.zeros(len(hours)) for s in (*STREAMS, *districts)}
    for i, hour in enumerate(hours):
        for hs in generate_hour(world, SimParams(), int(hour), plans):
            out[hs.stream][i] = len(hs.events)
            for code in districts:
                out[code][i] += int((hs.events.district == codes.index(code)).sum())
    out["hours"] = hours
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(PROJECT_ROOT / "docs" / "sim-week.png"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--until", default="2026-11-23T00:00:00+08:00")
    args = parser.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_week needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 1
    districts = ("440111", "440106")
    names = {"440111": "Baiyun", "440106": "Tianhe"}
    counts = week_counts(args.seed, parse_until(args.until), districts)
    times = [dt.datetime.fromtimestamp(int(h) * HOUR, SHANGHAI).replace(tzinfo=None) for h in counts["hours"]]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7.5), sharex=True, constrained_layout=True)
    for stream in STREAMS:
        top.plot(times, counts[stream], label=stream, linewidth=1.1)
    top.set_ylabel("events per hour")
    top.set_title(f"One simulated week, city-wide (seed {args.seed}, default scenarios)")
    top.legend(loc="upper left", ncols=4)
    for code in districts:
        bottom.plot(times, counts[code], label=names[code], linewidth=1.1)
    bottom.set_ylabel("events per hour, all streams")
    bottom.set_title("Baiyun (a rainstorm scenario starts Saturday 00:00) against Tianhe")
    bottom.legend(loc="upper left")
    bottom.xaxis.set_major_locator(mdates.DayLocator())
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b"))
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
