"""The warnings engine: reads hourly counters from the store, detects, and runs the lifecycle. I/O here only.

One cycle (:meth:`WarningsEngine.run_once`, every ``warnings_interval_s``):

1. Read the hourly district counters ``<stream>.<category>.n`` of the detection window (the current,
   unfinished hour is its last bucket) and build the series: the city and every district, each stream's
   total (category ``*``) and each category.
2. Expected counts, by how much history the store holds (decided at each refit, every
   ``refit_hours``, and kept in ``warning_models()``):

   - ``nb`` (at least ``min_history_days``): the NB2 models of :mod:`metrics.warnings.nbmodel`, fitted
     on up to ``fit_weeks`` of history (the hourly tier keeps 35 days) without the last ``guard_hours``;
     a series with fewer than ``min_series_events`` events follows its parent (its share of the
     area's stream total); detectors ``spike``, ``cusum``, ``ewma``;
   - ``ears`` (10 days or more, the first day EARS C2's baseline is complete): ``ears_c2``, ``ears_c3``
     on 24-hour rolling counts;
   - ``profile`` (a day or more): each series' mean rate times its stream's hour-of-day profile in the
     city, from the history before the guard; ``spike`` only (a rough baseline biases CUSUM and EWMA).

   The unfinished hour is judged against ``expected × elapsed fraction`` (the model's rate-weighted
   fraction for ``nb``, the clock's for ``profile``).
3. Gi* per stream over every grid cell, on the last ``spatial.window_hours`` (cell expected counts: the
   cell's shrunken share of its district's history times the district's expected count).
4. Rules: ``counter`` and ``share`` rules of the configuration on district window frames, and
   counter proxies for the two ``event`` rules the counters can see:

   - ``severity4_incident``: ``incidents.<category>.s4 >= 1`` in the current or the previous hourly
     bucket, one warning per district, category and bucket;
   - ``verified_fire_smoke``: ``surveillance.fire_smoke.rev_true >= 1`` in the current or previous hour
     and ``surveillance.fire_smoke.conf90 >= 1`` over the last 24 hours in the same district. The
     counters keep "verified" and "confidence ≥ 0.9" apart, so this is an approximation: it fires when
     a verified alert and a high-confidence alert fall in one district within a day even if they are
     different alerts (it can over-warn, never miss a verified high-confidence alert whose review came
     within a day of its detection). The exact rule needs the event, i.e. a counter of verified
     alerts with confidence ≥ 0.9 in the ledger.

   A rule warning already resolved is not raised again for the same bucket (or day, for share and
   counter rules) unless its value grew; a detector's resolved episode is not raised again while it
   lasts (:meth:`WarningsEngine._drop_judged`).
5. The candidates go through :func:`metrics.warnings.lifecycle.cycle` with the stored open warnings
   and are saved (:class:`metrics.warnings.store.WarningStore`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.city import CityModel
from metrics.store import MetricsStore
from metrics.warnings.config import LEVEL_ORDER, RuleSpec, WarningsConfig
from metrics.warnings.detect import (
    Candidate,
    Explanation,
    SeriesKey,
    TemporalResult,
    ears_detect,
    spatial_candidates,
    spatial_detect,
    spike_detect,
    temporal_candidates,
    temporal_detect,
)
from metrics.warnings.errors import WarningsError
from metrics.warnings.lifecycle import Fingerprint, Status, WarningRecord
from metrics.warnings.nbmodel import (
    LOCAL_OFFSET_S,
    NBFit,
    cell_alpha,
    fit_nb,
    holiday_day_numbers,
    pearson_alpha,
    shrunken_shares,
    window_alpha,
)
from metrics.warnings.rules import evaluate_counters
from metrics.warnings.spatial import h3_weights
from metrics.warnings.store import WarningStore

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
HOUR = 3600
DAY = 86400
#: Streams the detectors watch (hazards have their own register and sweep).
STREAMS = ("incidents", "surveillance", "hotline")
#: The hourly tier's retention (metrics.keys.TIERS["1h"]) less a day of margin: history read for fits.
MAX_HISTORY_H = 34 * 24
#: Complete days of history EARS C2 needs (24-hour sums at lags of 3 … 9 days).
EARS_MIN_DAYS = 10
#: How often a completed hourly bucket is re-read (late events still land in it): (age below, every), s.
REREAD_S = ((2 * 3600, 0.0), (2 * 86400, 600.0), (math.inf, 6 * 3600.0))
#: The counters the engine reads from district buckets (detectors and rule proxies).
MEASURES = (".n", ".s4", ".rev_true", ".conf90")
#: Detectors whose warnings end by themselves when the signal goes (rules and hazards wait for a person).
RECOVERING = ("spike", "cusum", "ewma", "ears_c2", "ears_c3", "gi_star")
#: The two event rules the counters can approximate (see the module docstring).
EVENT_PROXIES = ("severity4_incident", "verified_fire_smoke")


@dataclass(frozen=True)
class EngineReport:
    """What one cycle did (for logs and tests)."""

    at: float
    baseline: str
    series: int
    candidates: int
    open: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Models:
    """The expected-count model of the city and district series, as stored in ``warning_models()``."""

    kind: str  # "nb", "ears", "profile" or "none"
    fitted_at: float
    history_start: float | None  # first bucket with data when fitted
    series: list[str] = field(default_factory=list)
    fit: NBFit | None = None
    follow: dict[str, tuple[str, float, float]] = field(default_factory=dict)  # id -> (parent, share, y)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "fitted_at": self.fitted_at,
                               "history_start": self.history_start, "series": self.series,
                               "follow": {k: list(v) for k, v in self.follow.items()}}
        if self.fit is not None:
            f = self.fit
            out["fit"] = {"coef": f.coef.tolist(), "alpha": f.alpha.tolist(), "bucket_s": f.bucket_s,
                          "harmonics": f.harmonics, "holidays": f.holidays.tolist(),
                          "trend_origin": f.trend_origin, "trend_end": f.trend_end,
                          "converged": f.converged.tolist()}
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> _Models:
        fit = None
        if d.get("fit"):
            f = d["fit"]
            fit = NBFit(coef=np.asarray(f["coef"], dtype=float), alpha=np.asarray(f["alpha"], dtype=float),
                        bucket_s=float(f["bucket_s"]), harmonics=int(f["harmonics"]),
                        holidays=np.asarray(f["holidays"], dtype=np.int64),
                        trend_origin=float(f["trend_origin"]), trend_end=float(f["trend_end"]),
                        converged=np.asarray(f["converged"], dtype=bool))
        return cls(kind=str(d["kind"]), fitted_at=float(d["fitted_at"]), history_start=d.get("history_start"),
                   series=list(d.get("series", [])), fit=fit,
                   follow={k: (str(v[0]), float(v[1]), float(v[2])) for k, v in d.get("follow", {}).items()})


@dataclass(frozen=True)
class _Series:
    """Counts of the watched series over consecutive hourly buckets."""

    keys: list[SeriesKey]
    starts: FloatArray  # (T,) bucket starts, epoch s
    counts: FloatArray  # (S, T)

    @property
    def ids(self) -> list[str]:
        return [k.series_id for k in self.keys]


class _HourlyReader:
    """District counters per hourly bucket, read with ``MetricsStore.window_frame`` and kept in memory:
    the last two hours are read every cycle, older buckets as :data:`REREAD_S` says."""

    def __init__(self, store: MetricsStore, districts: Sequence[str], streams: Sequence[str]) -> None:
        self.store = store
        self.districts = list(districts)
        self.streams = list(streams)
        self._cache: dict[int, tuple[float, pd.DataFrame]] = {}

    def frame(self, bucket: int, now: float, max_age: float | None = None) -> pd.DataFrame:
        """One bucket's counters; ``max_age`` (s) caps the age of a cached copy below the usual."""
        cached = self._cache.get(bucket)
        if cached is not None:
            every = next(every for below, every in REREAD_S if now - bucket < below)
            if max_age is not None:
                every = min(every, max_age)
            if every > 0 and now - cached[0] < every:
                return cached[1]
        frame = self.store.window_frame("district", bucket, bucket + HOUR, streams=self.streams)
        frame = frame.loc[:, [c for c in frame.columns if c.endswith(MEASURES)]]
        frame = frame.reindex(self.districts, fill_value=0.0)
        self._cache[bucket] = (now, frame)
        return frame

    def cube(self, buckets: Sequence[int], now: float, measure: str = "n", max_age: float | None = None
             ) -> tuple[list[str], FloatArray]:
        """(columns, counts ``(T, districts, columns)``) of the counters ending in ``.<measure>``."""
        frames = [self.frame(b, now, max_age) for b in buckets]
        suffix = f".{measure}"
        columns = sorted({c for f in frames for c in f.columns if c.endswith(suffix)})
        out = np.zeros((len(buckets), len(self.districts), len(columns)))
        for i, f in enumerate(frames):
            if len(f.columns):
                out[i] = f.reindex(columns=columns, fill_value=0.0).to_numpy(dtype=float)
        return columns, out

    def forget_before(self, bucket: int) -> None:
        for b in [b for b in self._cache if b < bucket]:
            del self._cache[b]


def build_series(columns: Sequence[str], cube: FloatArray, districts: Sequence[str],
                 starts: FloatArray, streams: Sequence[str] = STREAMS) -> _Series:
    """The city and each district × (each stream's total, each category) from a ``(T, D, C)`` cube of
    ``<stream>.<category>.n`` counts."""
    areas = [("city", "city")] + [("district", d) for d in districts]
    by_area = np.concatenate([cube.sum(axis=1, keepdims=True), cube], axis=1)  # (T, A, C)
    keys: list[SeriesKey] = []
    rows: list[FloatArray] = []
    for stream in streams:
        idx = [i for i, c in enumerate(columns) if c.startswith(f"{stream}.")]
        if not idx:
            continue
        cats = [columns[i].split(".")[1] for i in idx]
        for a, (scope, target) in enumerate(areas):
            keys.append(SeriesKey(scope, target, stream, "*"))
            rows.append(by_area[:, a, idx].sum(axis=1))
            for i, cat in zip(idx, cats, strict=True):
                keys.append(SeriesKey(scope, target, stream, cat))
                rows.append(by_area[:, a, i])
    counts = np.vstack(rows) if rows else np.zeros((0, len(starts)))
    return _Series(keys, np.asarray(starts, dtype=float), counts)


def parent_id(key: SeriesKey) -> str | None:
    """The series a sparse series follows: a category its area's stream total; a district total the city's."""
    if key.category != "*":
        return SeriesKey(key.scope, key.target, key.stream, "*").series_id
    if key.scope != "city":
        return SeriesKey("city", "city", key.stream, "*").series_id
    return None


def local_hour(starts: FloatArray) -> npt.NDArray[np.int64]:
    return (((np.asarray(starts) + LOCAL_OFFSET_S) % DAY) // HOUR).astype(np.int64)


def profile_expected(counts: FloatArray, starts: FloatArray, fit_mask: npt.NDArray[np.bool_],
                     profile_rows: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """Short-history expected counts ``(S, T)`` and NB2 dispersion ``(S,)``: each series' mean rate over
    the ``fit_mask`` buckets times the hour-of-day profile of series ``profile_rows[s]`` (its stream's
    city total), normalised to mean 1. Half an event is added to every series' total so an empty
    series expects a little, not nothing."""
    hours = local_hour(starts)
    y_fit = counts[:, fit_mask]
    h_fit = hours[fit_mask]
    sums = np.zeros((counts.shape[0], 24))
    seen = np.zeros(24)
    np.add.at(seen, h_fit, 1.0)
    for h in range(24):
        sums[:, h] = y_fit[:, h_fit == h].sum(axis=1)
    mean_by_hour = np.where(seen > 0, sums / np.maximum(seen, 1.0), np.nan)
    base = mean_by_hour[profile_rows]
    overall = np.nanmean(base, axis=1, keepdims=True)
    shape = np.where(np.isfinite(base) & (overall > 0), base / np.maximum(overall, 1e-12), 1.0)
    shape = np.maximum(shape, 0.05)  # an hour that happened to be empty still expects something
    rate = (y_fit.sum(axis=1) + 0.5) / np.maximum(shape[:, h_fit].sum(axis=1), 1e-12)
    mu = rate[:, None] * shape[:, hours]
    n = max(int(fit_mask.sum()) - 1, 1)
    alpha = pearson_alpha(y_fit, np.maximum(mu[:, fit_mask], 1e-9), n)
    return mu, alpha


class WarningsEngine:
    """Runs one detection cycle per call of :meth:`run_once` and takes hazard descriptors.

    Args:
        store: the metrics store (counters).
        warnings: the warnings store.
        city: the city model (districts, grid cells).
        config: the warnings configuration (``metrics.warnings.config.load_config``).
        streams: the event streams watched.
        clock: epoch seconds now (tests freeze it).
    """

    def __init__(self, store: MetricsStore, warnings: WarningStore, city: CityModel, config: WarningsConfig,
                 *, streams: Sequence[str] = STREAMS, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.warnings = warnings
        self.city = city
        self.config = config
        self.streams = tuple(streams)
        self.clock = clock
        self.districts = [str(d) for d in city.districts.index]
        self.grid_ids = [str(g) for g in city.grids.index]
        self.district_of: dict[str, str] = {str(g): str(d) for g, d in city.grids["district_code"].items()}
        self._cell_district = np.array([self.districts.index(self.district_of[g]) for g in self.grid_ids])
        area = city.grids["area_km2"].to_numpy(dtype=float)
        district_area = np.bincount(self._cell_district, weights=area)[self._cell_district]
        self._cell_prior = area / np.maximum(district_area, 1e-12)
        self._weights: Any = None  # built on first use (H3 rings of every cell)
        self._reader = _HourlyReader(store, self.districts, self.streams)
        self._models: _Models | None = None
        self._cell_history: tuple[float, dict[str, FloatArray]] | None = None
        self.last: EngineReport | None = None

    # ------------------------------------------------------------------ models
    def _load_models(self) -> _Models | None:
        raw = self.warnings.client.hget(self.warnings.keys.warning_models(), "district")
        if raw is None:
            return None
        try:
            return _Models.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("stored warning models are unreadable (%s); refitting", exc)
            return None

    def _save_models(self, models: _Models) -> None:
        self.warnings.client.hset(self.warnings.keys.warning_models(), "district",
                                  json.dumps(models.to_json(), separators=(",", ":")))

    def _models_for(self, hour: int, now: float) -> _Models:
        models = self._models or self._load_models()
        # the NB fit is renewed on schedule; a young store's baseline is re-decided hourly (every cycle
        # while it holds less than a day), so it moves on as soon as the history allows
        every = {"nb": self.config.model.refit_hours * HOUR, "ears": HOUR, "profile": HOUR}
        if models is None or now - models.fitted_at >= every.get(models.kind, 0):
            models = self._refit(hour, now)
            self._save_models(models)
            self._cell_history = None
        self._models = models
        return models

    def _refit(self, hour: int, now: float) -> _Models:
        """Decide the baseline from the history held, and fit the NB models when there is enough."""
        cfg = self.config.model
        span_h = min(cfg.fit_weeks * 7 * 24, MAX_HISTORY_H)
        buckets = list(range(hour - span_h * HOUR, hour, HOUR))
        # a fit reads its history afresh (older history may have been written since: the demo's backfill)
        columns, cube = self._reader.cube(buckets, now, max_age=HOUR)
        starts = np.asarray(buckets, dtype=float)
        series = build_series(columns, cube, self.districts, starts, self.streams)
        totals = cube.sum(axis=(1, 2))
        have = np.flatnonzero(totals > 0)
        if not have.size:
            return _Models("none", now, None)
        first = int(have[0])
        history_start = float(starts[first])
        days = (hour - history_start) / DAY
        if days < 1:
            return _Models("none", now, history_start)
        if days < cfg.min_history_days:
            return _Models("ears" if days >= EARS_MIN_DAYS else "profile", now, history_start)
        end = len(buckets) - cfg.guard_hours
        y = series.counts[:, first:end].copy()
        fit = fit_nb(y, starts[first:end], bucket_s=HOUR, harmonics=cfg.harmonics,
                     holidays=holiday_day_numbers(self.config.holidays), ridge=cfg.ridge)
        ids = series.ids
        row = {sid: i for i, sid in enumerate(ids)}
        follow: dict[str, tuple[str, float, float]] = {}
        events = y.sum(axis=1)
        for i, key in enumerate(series.keys):
            if events[i] >= cfg.min_series_events:
                continue
            parent = parent_id(key)
            if parent is None:
                continue
            follow[ids[i]] = (parent, float(events[i] / max(events[row[parent]], 1.0)), float(events[i]))
        log.info("warnings: fitted NB models of %d series on %d hours (%d follow their parent)",
                 len(ids), y.shape[1], len(follow))
        return _Models("nb", now, history_start, ids, fit, follow)

    # ------------------------------------------------------------------ expected counts
    def _nb_expected(self, models: _Models, series: _Series, now: float
                     ) -> tuple[list[int], FloatArray, FloatArray]:
        """(rows of ``series`` with a model, expected ``(S', T)``, alpha ``(S',)``)."""
        assert models.fit is not None
        fitted = {sid: i for i, sid in enumerate(models.series)}
        mu_all = models.fit.expected(series.starts)
        frac = models.fit.elapsed_fraction(float(series.starts[-1]), now)
        mu_all[:, -1] *= frac
        rows, mus, alphas = [], [], []
        for r, sid in enumerate(series.ids):
            if sid not in fitted:
                continue
            if sid in models.follow:
                parent, share, y = models.follow[sid]
                p = fitted.get(parent)
                if p is None:
                    continue
                # the share's own uncertainty (a gamma posterior on y events) widens the parent's dispersion
                mus.append(mu_all[p] * share)
                alphas.append(float(cell_alpha(models.fit.alpha[p], max(y, 0.5))))
            else:
                i = fitted[sid]
                mus.append(mu_all[i])
                alphas.append(float(models.fit.alpha[i]))
            rows.append(r)
        return rows, np.asarray(mus).reshape(len(rows), -1), np.asarray(alphas)

    def _profile(self, series: _Series, now: float, history_start: float | None
                 ) -> tuple[FloatArray, FloatArray] | None:
        starts = series.starts
        complete = starts + HOUR <= now
        if history_start is not None:
            complete &= starts >= history_start
        n = int(complete.sum())
        if n < 24:
            return None
        guard = min(self.config.model.guard_hours, n - 24)
        fit_mask = complete.copy()
        if guard > 0:
            fit_mask[np.flatnonzero(complete)[-guard:]] = False
        total_row = {(k.stream): i for i, k in enumerate(series.keys) if k.scope == "city" and k.category == "*"}
        profile_rows = np.array([total_row[k.stream] for k in series.keys])
        mu, alpha = profile_expected(series.counts, starts, fit_mask, profile_rows)
        mu[:, -1] *= float(np.clip((now - starts[-1]) / HOUR, 0.0, 1.0))
        return mu, alpha

    # ------------------------------------------------------------------ detection
    def _temporal(self, kind: str, series: _Series, now: float, models: _Models
                  ) -> tuple[list[Candidate], dict[str, tuple[FloatArray, FloatArray]]]:
        """Candidates of the temporal detectors, and each stream's district-total expected counts and
        dispersion ``(D, T)``, ``(D,)`` for the spatial map."""
        cfg = self.config
        totals: dict[str, tuple[FloatArray, FloatArray]] = {}
        if kind == "nb":
            rows, mu, alpha = self._nb_expected(models, series, now)
            result = temporal_detect(series.counts[rows], mu, alpha, cfg)
            keys = [series.keys[r] for r in rows]
            base_mu, base_alpha, base_keys = mu, alpha, keys
        else:
            prof = self._profile(series, now, models.history_start)
            if prof is None:
                return [], {}
            base_mu, base_alpha, base_keys = prof[0], prof[1], series.keys
            if kind == "ears":
                result = ears_detect(series.counts, cfg)
                keys, alpha = series.keys, None
            else:
                result = spike_detect(series.counts, prof[0], prof[1], cfg)
                keys, alpha = series.keys, prof[1]
        for stream in self.streams:
            idx = {k.target: i for i, k in enumerate(base_keys)
                   if k.scope == "district" and k.stream == stream and k.category == "*"}
            if len(idx) == len(self.districts):
                order = [idx[d] for d in self.districts]
                totals[stream] = (base_mu[order], base_alpha[order])
        window = cfg.detectors.window_hours
        trimmed = _last(result, window)
        cands = temporal_candidates(keys, trimmed, series.starts[-trimmed.level.shape[1]:], HOUR, now,
                                    alpha=alpha)
        out = [replace(c, explanation=replace(c.explanation, counters=(f"{c.stream}.{c.category}.n",),
                                              baseline=kind)) for c in cands]
        return out, totals

    def _cell_counts(self, hour: int, now: float, window_start: float, models: _Models) -> dict[str, FloatArray]:
        """Each stream's events per cell over the history before the spatial window (for cell shares)."""
        if self._cell_history is not None and now - self._cell_history[0] < self.config.model.refit_hours * HOUR:
            return self._cell_history[1]
        start = window_start - 7 * DAY
        if models.history_start is not None:
            start = max(start, models.history_start)
        out: dict[str, FloatArray] = {}
        if window_start - start >= DAY:
            for stream in self.streams:
                frame = self.store.window_frame("grid", start, window_start, streams=[stream])
                out[stream] = _stream_events(frame, stream).reindex(self.grid_ids, fill_value=0.0).to_numpy()
        self._cell_history = (now, out)
        return out

    def _spatial(self, hour: int, now: float, models: _Models, series: _Series,
                 totals: Mapping[str, tuple[FloatArray, FloatArray]]) -> list[Candidate]:
        cfg = self.config.spatial
        width = cfg.window_hours
        window_start = float(hour - (width - 1) * HOUR)
        window_end = float(hour + HOUR)  # hour-aligned, so only hourly buckets are read
        history = self._cell_counts(hour, now, window_start, models)
        if not history or not totals:
            return []
        if self._weights is None:
            self._weights = h3_weights(self.grid_ids, cfg.ring)
        out: list[Candidate] = []
        for stream in self.streams:
            if stream not in totals or stream not in history:
                continue
            mu_d, alpha_d = totals[stream]
            mu_window = mu_d[:, -width:]
            expected_d = mu_window.sum(axis=1)
            alpha_window = window_alpha(mu_window, alpha_d)
            share, shape = shrunken_shares(history[stream], self._cell_district, self._cell_prior,
                                           self.config.model.shrink_strength)
            expected = share * expected_d[self._cell_district]
            alpha = cell_alpha(alpha_window[self._cell_district], shape)
            frame = self.store.window_frame("grid", window_start, window_end, streams=[stream])
            observed = _stream_events(frame, stream).reindex(self.grid_ids, fill_value=0.0).to_numpy()
            if observed.sum() <= 0:
                continue
            result = spatial_detect(observed, expected, alpha, self._weights, self.config)
            shown = expected
            if cfg.condition_on_total:
                shown = expected * observed.sum() / max(expected.sum(), 1e-12)
            for c in spatial_candidates(self.grid_ids, result, observed, shown, stream, "*", window_start,
                                        now, self.config):
                out.append(replace(c, explanation=replace(c.explanation, counters=(f"{stream}.*.n",),
                                                          baseline=models.kind)))
        return out

    # ------------------------------------------------------------------ rules
    def _rules(self, hour: int, now: float) -> list[Candidate]:
        out: list[Candidate] = []
        rules = {r.name: r for r in self.config.rules}
        recent = [hour - HOUR, hour]
        for name in EVENT_PROXIES:
            rule = rules.get(name)
            if rule is None:
                continue
            for bucket in recent:
                frame = self._reader.frame(bucket, now)
                if name == "severity4_incident":
                    out += self._s4_hits(rule, frame, bucket, now)
                else:
                    out += self._fire_hits(rule, frame, bucket, now)
        day = _local_day(now)
        for rule in self.config.rules:
            if rule.kind == "event":
                if rule.name not in EVENT_PROXIES:
                    log.debug("event rule %s needs events; the engine sees only counters", rule.name)
                continue
            # hour-aligned windows read hourly buckets only (the 5-minute tier has no categories)
            start = hour - (math.ceil(rule.window_hours) - 1) * HOUR
            frame = self.store.window_frame("district", start, hour + HOUR, streams=[rule.stream])
            for hit in evaluate_counters(frame, "district", [rule]):
                counters = ((f"{hit.stream}.{hit.category}.{rule.part}", f"{hit.stream}.{hit.category}.{rule.whole}")
                            if rule.kind == "share" else (f"{hit.stream}.{hit.category}.{rule.counter}",))
                what = ("SLA-breach share" if rule.complement else "share") if rule.kind == "share" else rule.counter
                summary = (f"rule {rule.name}: {what} {hit.value:.2f} ≥ {hit.threshold:g} over the last "
                           f"{rule.window_hours:g} h in {hit.scope} {hit.target} ({hit.stream}/{hit.category})")
                out.append(self._rule_candidate(rule, hit.category, hit.target, hit.value, hit.threshold,
                                                start, now, counters, summary, day, ()))
        return out

    def _rule_candidate(self, rule: RuleSpec, category: str, district: str, value: float, threshold: float,
                        start: float, end: float, counters: tuple[str, ...], summary: str, subject: str,
                        cells: tuple[str, ...]) -> Candidate:
        expl = Explanation(detector=rule.name, observed=value, expected=threshold, p_value=math.nan,
                           recurrence_days=math.nan, window_start=start, window_end=end,
                           area=f"district:{district}",
                           series_ids=tuple(f"district:{district}:{c}" for c in counters), cells=cells,
                           counters=counters, baseline="rule", summary=summary)
        return Candidate(detector=rule.name, stream=rule.stream, category=category, scope="district",
                         target=district, level=LEVEL_ORDER.index(rule.level) + 1, at=end, explanation=expl,
                         subject=subject)

    def _cells_with(self, bucket: int, column: str, district: str) -> tuple[str, ...]:
        frame = self.store.window_frame("grid", bucket, bucket + HOUR, streams=[column.split(".")[0]])
        if column not in frame.columns:
            return ()
        hit = frame.index[frame[column] > 0]
        return tuple(sorted(str(g) for g in hit if self.district_of.get(str(g)) == district))

    def _s4_hits(self, rule: RuleSpec, frame: pd.DataFrame, bucket: int, now: float) -> list[Candidate]:
        out = []
        for col in [c for c in frame.columns if c.startswith("incidents.") and c.endswith(".s4")]:
            for district, value in frame[col][frame[col] >= 1].items():
                category = col.split(".")[1]
                local = _local_time(bucket)
                summary = (f"{value:.0f} severity-4 incident(s) ({category}) in district {district} in the "
                           f"hour from {local} (UTC+8)")
                out.append(self._rule_candidate(rule, category, str(district), float(value), 1.0, bucket,
                                                min(now, bucket + HOUR), (col,), summary, _bucket_id(bucket),
                                                self._cells_with(bucket, col, str(district))))
        return out

    def _fire_hits(self, rule: RuleSpec, frame: pd.DataFrame, bucket: int, now: float) -> list[Candidate]:
        col = f"surveillance.{rule.category}.rev_true"
        if col not in frame.columns or not (frame[col] >= 1).any():
            return []
        conf_col = f"surveillance.{rule.category}.conf90"
        hour = int(now // HOUR * HOUR)
        day_frame = self.store.window_frame("district", hour - 23 * HOUR, hour + HOUR, streams=["surveillance"])
        conf = day_frame[conf_col] if conf_col in day_frame.columns else pd.Series(dtype=float)
        out = []
        for district, verified in frame[col][frame[col] >= 1].items():
            high = float(conf.get(district, 0.0))
            if high < 1:
                continue
            value = min(float(verified), high)
            local = _local_time(bucket)
            summary = (f"{verified:.0f} verified {rule.category} alert(s) in district {district} in the hour "
                       f"from {local} (UTC+8), with {high:.0f} alert(s) of confidence ≥ 0.9 there in the "
                       f"last 24 h (counter proxy of 'verified and confidence ≥ 0.9')")
            out.append(self._rule_candidate(rule, rule.category, str(district), value, 1.0, bucket,
                                            min(now, bucket + HOUR), (col, conf_col), summary,
                                            _bucket_id(bucket), self._cells_with(bucket, col, str(district))))
        return out

    def _drop_judged(self, cands: list[Candidate]) -> list[Candidate]:
        """Leave out candidates of an episode a person already resolved (or closed).

        A rule hit (same fingerprint: same bucket or day) is raised again only when its value grew. A
        detector's candidate is the same episode while its window reaches back into the resolved
        warning's window (plus the level's hysteresis), e.g. the rest of the hour of a spike or a CUSUM
        run that has not ended; a new episode raises a new warning.
        """
        if not cands:
            return cands
        latest = self.warnings.latest(Fingerprint.of(c).key for c in cands)
        hold = (self.config.hysteresis_windows - 1) * HOUR
        keep = []
        for c in cands:
            w: WarningRecord | None = latest.get(Fingerprint.of(c).key)
            if w is not None and w.status in (Status.RESOLVED, Status.CLOSED):
                if c.detector in RECOVERING:
                    if c.explanation.window_start < w.explanation.window_end + hold:
                        continue
                elif not c.explanation.observed > w.explanation.observed:
                    continue
            keep.append(c)
        return keep

    # ------------------------------------------------------------------ the cycle
    def run_once(self, now: float | None = None) -> EngineReport:
        """One detection cycle at ``now`` (default: the clock); see the module docstring."""
        started = time.perf_counter()
        now = self.clock() if now is None else now
        hour = int(now // HOUR * HOUR)
        timings: dict[str, float] = {}
        mark = time.perf_counter()
        models = self._models_for(hour, now)
        timings["models"] = time.perf_counter() - mark
        mark = time.perf_counter()
        window = self.config.detectors.window_hours
        if models.kind == "ears":
            window = max(window, EARS_MIN_DAYS * 24 + 24)
        buckets = list(range(hour - (window - 1) * HOUR, hour + HOUR, HOUR))
        columns, cube = self._reader.cube(buckets, now)
        series = build_series(columns, cube, self.districts, np.asarray(buckets, dtype=float), self.streams)
        self._reader.forget_before(hour - MAX_HISTORY_H * HOUR)
        timings["read"] = time.perf_counter() - mark
        candidates: list[Candidate] = []
        totals: dict[str, tuple[FloatArray, FloatArray]] = {}
        mark = time.perf_counter()
        if models.kind != "none" and len(series.keys):
            found, totals = self._temporal(models.kind, series, now, models)
            candidates += found
        timings["temporal"] = time.perf_counter() - mark
        mark = time.perf_counter()
        candidates += self._spatial(hour, now, models, series, totals)
        timings["spatial"] = time.perf_counter() - mark
        mark = time.perf_counter()
        candidates += self._rules(hour, now)
        candidates = self._drop_judged(candidates)
        timings["rules"] = time.perf_counter() - mark
        mark = time.perf_counter()
        board = self.warnings.cycle(candidates, now, district_of=self.district_of,
                                    ack_minutes=self.config.ack_minutes)
        self._sweep(now)
        timings["lifecycle"] = time.perf_counter() - mark
        report = EngineReport(at=now, baseline=models.kind, series=len(series.keys), candidates=len(candidates),
                              open=len(board.warnings), seconds=time.perf_counter() - started,
                              timings={k: round(v, 3) for k, v in timings.items()})
        self.last = report
        log.info("warnings cycle: %s baseline, %d series, %d candidates, %d open (%.2f s)", report.baseline,
                 report.series, report.candidates, report.open, report.seconds)
        return report

    def _sweep(self, now: float) -> None:
        key = self.warnings.keys.warning_state()
        last = self.warnings.client.hget(key, "sweep_at")
        if last is not None and now - float(last) < DAY:
            return
        removed = self.warnings.sweep(now)
        self.warnings.client.hset(key, "sweep_at", repr(now))
        if removed:
            log.info("warnings sweep: removed %d warnings ended more than 90 days ago", removed)

    # ------------------------------------------------------------------ hazard descriptors
    def raise_warning(self, descriptor: Any) -> WarningRecord | None:
        """Create or update a warning from another engine's descriptor (a mapping, or an object with
        ``to_dict()`` such as :class:`metrics.hazards.sweep.WarningDescriptor`).

        Keys: ``fingerprint`` (tuple naming one warning; it becomes the fingerprint's subject), ``level``
        (blue … red), ``scope``, ``target``, ``stream``, ``category``, ``detector``, ``explanation``
        (text); ``raised_at`` (epoch s) is used when given. The lifecycle's dedup applies: the same
        fingerprint updates the open warning and may raise its level. Returns the warning, or None when
        an active silence muted it.
        """
        d: Mapping[str, Any] = descriptor.to_dict() if hasattr(descriptor, "to_dict") else descriptor
        missing = [k for k in ("fingerprint", "level", "scope", "target", "stream", "category", "detector")
                   if k not in d]
        if missing:
            raise WarningsError(f"warning descriptor lacks {missing}; got keys {sorted(d)}")
        if d["level"] not in LEVEL_ORDER:
            raise WarningsError(f"warning descriptor level {d['level']!r} is not one of {LEVEL_ORDER}")
        now = self.clock()
        at = float(d.get("raised_at") or now)
        fp = d["fingerprint"]
        subject = "|".join(str(x) for x in fp) if isinstance(fp, list | tuple) else str(fp)
        expl = Explanation(detector=str(d["detector"]), observed=math.nan, expected=math.nan, p_value=math.nan,
                           recurrence_days=math.nan, window_start=at, window_end=at,
                           area=f"{d['scope']}:{d['target']}", series_ids=(), baseline=str(d["stream"]),
                           summary=str(d.get("explanation") or f"{d['detector']} {d['target']}"))
        cand = Candidate(detector=str(d["detector"]), stream=str(d["stream"]), category=str(d["category"]),
                         scope=str(d["scope"]), target=str(d["target"]),
                         level=LEVEL_ORDER.index(d["level"]) + 1, at=at, explanation=expl, subject=subject)
        raised = self.warnings.raise_candidates([cand], max(now, at))
        if not raised:
            log.info("warning %s is silenced; nothing was raised", Fingerprint.of(cand).key)
            return None
        return raised[0]


def _last(result: TemporalResult, width: int) -> TemporalResult:
    """The last ``width`` buckets of a detector result (EARS reads a longer window than it reports)."""
    if result.level.shape[1] <= width:
        return result

    def cut(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v[:, -width:] for k, v in d.items()}

    return replace(result, stat=cut(result.stat), recurrence_days=cut(result.recurrence_days),
                   observed=cut(result.observed), expected=cut(result.expected), window=cut(result.window),
                   raw_level=result.raw_level[:, -width:], level=result.level[:, -width:],
                   best=result.best[:, -width:], extra=cut(result.extra))


def _stream_events(frame: pd.DataFrame, stream: str) -> pd.Series:
    cols = [c for c in frame.columns if c.startswith(f"{stream}.") and c.endswith(".n")]
    if not cols:
        return pd.Series(0.0, index=frame.index)
    return frame[cols].sum(axis=1)


def _local_time(ts: float) -> str:
    return (datetime.fromtimestamp(ts, tz=UTC) + timedelta(seconds=LOCAL_OFFSET_S)).strftime("%Y-%m-%d %H:%M")


def _local_day(ts: float) -> str:
    return (datetime.fromtimestamp(ts, tz=UTC) + timedelta(seconds=LOCAL_OFFSET_S)).strftime("%Y-%m-%d")


def _bucket_id(bucket: int) -> str:
    return datetime.fromtimestamp(bucket, tz=UTC).strftime("%Y-%m-%dT%H:00Z")


__all__ = ["EVENT_PROXIES", "STREAMS", "EngineReport", "WarningsEngine", "build_series", "profile_expected"]
