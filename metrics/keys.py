"""Every Redis key Red Kapok uses, with its type and retention. No key string is built anywhere else.

Layout rules:
- Every key starts with ``<prefix>:v1:`` — a change of meaning gets a new version, not a silent reuse.
- Keys written by one consumer batch share the hash tag ``{<stream>.<partition>}`` so that the one Lua
  script applying the batch touches a single Redis Cluster slot. Readers sum over partitions.
- Counters are Redis hashes, one per (partition, granularity, scope, bucket), with fields
  ``<entity>|<category>|<measure>`` (see docs/architecture.md, "Base metrics").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Granularity = Literal["5m", "1h", "1d"]
Scope = Literal["g", "d"]  # grid cell, district (the city is the sum of districts)

MINUTE = 60
HOUR = 3600
DAY = 86400
#: Days are Asia/Shanghai days: a daily bucket starts at 00:00 UTC+8 (16:00 UTC the day before).
DAY_OFFSET_S = 8 * HOUR


@dataclass(frozen=True)
class Tier:
    """One counter granularity: bucket length, how long buckets are kept, which scopes it holds, and
    whether it keeps categories and every measure (``detailed``) or only per-district totals."""

    name: Granularity
    seconds: int
    retention_s: int
    scopes: tuple[Scope, ...]
    detailed: bool = True

    def bucket_start(self, ts: float) -> int:
        """Start (epoch s) of the bucket holding event time ``ts``."""
        if self.name == "1d":
            return int((ts + DAY_OFFSET_S) // DAY * DAY - DAY_OFFSET_S)
        return int(ts // self.seconds * self.seconds)


#: The category of the 5-minute tier's totals.
ALL_CATEGORIES = "*"
#: Measures the 5-minute tier keeps.
TOTAL_MEASURES = ("n", "rec")

#: - 5-minute buckets for 48 h: per district and stream, totals only (``*|n``, ``*|rec``) — the wall's
#:   live counters. Per category they would cost two writes per record and aggregate nothing.
#: - hourly buckets for 35 days: grid and district, every category and measure — windows up to 30 days,
#:   trends and detector baselines (the unfinished current hour serves the detectors' latency).
#: - daily buckets for 400 days: district, every category and measure — long trends. Grid cells have no
#:   daily tier: their events are too sparse for a day to aggregate, so it would nearly double the writes.
TIERS: dict[Granularity, Tier] = {
    "5m": Tier("5m", 5 * MINUTE, 48 * HOUR, ("d",), detailed=False),
    "1h": Tier("1h", HOUR, 35 * DAY, ("g", "d")),
    "1d": Tier("1d", DAY, 400 * DAY, ("d",)),
}

#: Extra time a counter hash lives past its retention, so a reader at the edge of a window finds it.
EXPIRY_SLACK_S = 2 * HOUR


class Keys:
    """Builds the keys of one store (one ``prefix``)."""

    def __init__(self, prefix: str = "rk") -> None:
        self.root = f"{prefix}:v1"

    @staticmethod
    def tag(stream: str, partition: int) -> str:
        """The hash tag shared by every key one partition's batches write."""
        return f"{{{stream}.{partition}}}"

    # --- written by the consumer batch script (one slot per partition) ---
    def offset(self, stream: str, partition: int) -> str:
        """STRING: the next Kafka offset to apply for this partition. Kept forever (no TTL)."""
        return f"{self.root}:{self.tag(stream, partition)}:offset"

    def log_id(self, stream: str, partition: int) -> str:
        """STRING: the Kafka topic id the stored offset refers to. A different id on assignment means the
        topic was recreated (or a memory-only broker restarted): the offset is meaningless there. No TTL."""
        return f"{self.root}:{self.tag(stream, partition)}:logid"

    def counters(self, stream: str, partition: int, tier: Granularity, scope: Scope, bucket: int) -> str:
        """HASH field ``<entity>|<category>|<measure>`` -> int. Expires ``TIERS[tier].retention_s`` after
        the bucket ends (plus slack)."""
        return f"{self.root}:{self.tag(stream, partition)}:c:{tier}:{scope}:{bucket}"

    def parse_counters(self, key: str) -> tuple[str, int, Granularity, Scope, int]:
        """``(stream, partition, tier, scope, bucket)`` of a key made by :meth:`counters`."""
        tag, _, rest = key[len(self.root) + 2:].partition("}:c:")
        stream, _, partition = tag.rpartition(".")
        tier, scope, bucket = rest.split(":")
        return stream, int(partition), tier, scope, int(bucket)  # type: ignore[return-value]

    def counter_versions(self, stream: str, partition: int) -> str:
        """HASH counter key -> its version (incremented by every batch that writes it): readers see which
        buckets changed with one HMGET per partition. Fields of expired buckets stay until the hash itself
        expires, 400 days after the partition's last write (a few thousand fields a year)."""
        return f"{self.root}:{self.tag(stream, partition)}:versions"

    def event_state(self, stream: str, partition: int, event_id: str) -> str:
        """STRING (JSON object) of one event's lifecycle: ``s:<stage>`` -> event time (epoch s) of each
        accepted stage (the duplicate check), ``g`` grid, ``d`` district, ``c`` category, ``sla`` hours, and
        stream extras. One string, not a hash, so a batch writes it with a single SET. Expires
        ``retention_days`` after its last accepted record."""
        return f"{self.root}:{self.tag(stream, partition)}:ev:{event_id}"

    def register(self, stream: str, partition: int) -> str:
        """HASH event id -> register entry JSON, for streams that keep a register (the hazard register:
        grade, stage, deadline, place, stage history). Entries of closed hazards are removed by the hazard
        sweep after the hazard retention. No TTL on the hash."""
        return f"{self.root}:{self.tag(stream, partition)}:register"

    def hazard_register(self, partition: int) -> str:
        """The hazard register of one partition of the hazards stream (see :meth:`register`)."""
        return self.register("hazards", partition)

    def stats(self, stream: str, partition: int) -> str:
        """HASH: ``accepted``, ``duplicates``, ``rej:<reason>`` counts since the store was created, and
        ``last_ts`` (newest event time seen) and ``applied_at`` (wall clock of the last batch). No TTL."""
        return f"{self.root}:{self.tag(stream, partition)}:stats"

    def recent(self, stream: str, partition: int) -> str:
        """ZSET of recent accepted records (JSON summaries, personal data masked) scored by event time.
        Trimmed by the batch script to ``text_retention_days`` and to ``RECENT_MAX`` members."""
        return f"{self.root}:{self.tag(stream, partition)}:recent"

    # --- registry (not touched by the batch script) ---
    def partitions(self) -> str:
        """SET of ``<stream>.<partition>`` tags that have ever been applied; readers sum over them.
        No TTL."""
        return f"{self.root}:partitions"

    def consumer_lag(self) -> str:
        """HASH ``<stream>.<partition>`` -> lag in records, written by consumers after each commit.
        Expires after 60 s without an update (a dead consumer's lag is unknown, not zero)."""
        return f"{self.root}:lag"

    # --- engines ---
    def index_snapshot(self, level: str, tier: str, as_of: int) -> str:
        """STRING (JSON) of one index snapshot of a level (``grid``, ``district``, ``city``). Tier
        ``5m`` kept 48 h, ``1h`` 90 days, ``1d`` two years."""
        return f"{self.root}:{{index}}:snap:{level}:{tier}:{as_of}"

    def index_snapshots(self, level: str, tier: str) -> str:
        """ZSET of snapshot times (member = as_of) per level and tier, trimmed with the snapshots."""
        return f"{self.root}:{{index}}:snaps:{level}:{tier}"

    def index_ids(self, level: str, digest: str) -> str:
        """STRING (JSON list) of the entity ids of history snapshots with that digest (a city model's
        cells change rarely, so history rows store only the digest). No TTL."""
        return f"{self.root}:{{index}}:ids:{level}:{digest}"

    def index_latest(self) -> str:
        """HASH ``<level>`` -> latest full snapshot JSON and ``<level>:as_of`` -> its time (what the dashboard
        reads). No TTL."""
        return f"{self.root}:{{index}}:latest"

    def warnings(self) -> str:
        """HASH warning id -> warning JSON (current state and its transitions; see
        :mod:`metrics.warnings.store`). Warnings no longer open are removed by the engine's daily sweep
        90 days after their last change."""
        return f"{self.root}:{{warn}}:all"

    def warning_fingerprints(self) -> str:
        """HASH fingerprint key -> warning id of the open warning with that fingerprint (the lifecycle's
        dedup); the field is removed when the warning leaves the open statuses. No TTL."""
        return f"{self.root}:{{warn}}:fp"

    def warning_seen(self) -> str:
        """HASH fingerprint key -> id of the newest warning ever raised with that fingerprint, open or not
        (so a rule hit already resolved is not raised again). Removed with that warning by the sweep."""
        return f"{self.root}:{{warn}}:seen"

    def warning_silences(self) -> str:
        """HASH silence id -> silence JSON (end time, reason, who, what it matches). Expired silences are
        removed by the engine's sweep."""
        return f"{self.root}:{{warn}}:silences"

    def warning_events(self) -> str:
        """STREAM of warning transitions (warning, at, by, action, status, level, note), append-only,
        capped at ~100,000 entries (``XADD MAXLEN ~``)."""
        return f"{self.root}:{{warn}}:log"

    def warning_state(self) -> str:
        """HASH name -> JSON engine state carried between cycles (``sweep_at``: the last sweep). The
        detectors recompute their window every cycle, so no detector state is kept. No TTL."""
        return f"{self.root}:{{warn}}:state"

    def warning_models(self) -> str:
        """HASH ``district`` -> JSON of the fitted expected-count models of the city and district series
        (kind, fit time, coefficients, dispersion per series). Refitted every ``refit_hours``; no TTL."""
        return f"{self.root}:{{warn}}:models"

    def hazard_steps(self) -> str:
        """HASH step id -> step JSON: each reminder and escalation step of the hazard sweep, recorded once.
        Steps leave with their hazard (after the hazard retention)."""
        return f"{self.root}:{{hz}}:steps"

    def backfill_running(self) -> str:
        """STRING set while a direct backfill writes history (engines then run less often: every window
        changes under them). Expires 120 s after the backfill's last refresh, so a crash does not leave it."""
        return f"{self.root}:backfill"

    def engine_timings(self) -> str:
        """HASH engine name -> seconds its last run took (for /metrics). No TTL."""
        return f"{self.root}:engine:timings"

    def engine_heartbeat(self, engine: str) -> str:
        """STRING: epoch seconds of an engine's last completed run. Expires after 10 minutes."""
        return f"{self.root}:hb:{engine}"

    # --- operations (written by consumers and engines, read by /metrics) ---
    def batch_latency(self) -> str:
        """HASH of the consumers' batch-latency histogram (seconds from poll to applied batch), summed over
        every consumer process: ``le:<bound>`` -> batches at or under the bound (cumulative, Prometheus
        style, bounds in :data:`metrics.opstats.LATENCY_BOUNDS_S` plus ``le:+Inf``), ``sum`` (seconds) and
        ``count``. Counts since the store was created; no TTL."""
        return f"{self.root}:ops:batch_latency"

    # --- access and audit (dashboard, ``users`` command); one slot so a login touches one shard ---
    def users(self) -> str:
        """SET of the user names of this store. No TTL."""
        return f"{self.root}:{{auth}}:users"

    def user(self, name: str) -> str:
        """HASH of one user: ``role``, ``districts`` (comma-separated codes, empty: every district),
        ``pw`` (argon2id hash), ``created`` and ``updated`` (epoch s). No TTL; deleted by ``users remove``."""
        return f"{self.root}:{{auth}}:user:{name}"

    def session(self, session_digest: str) -> str:
        """HASH of one login session, keyed by the SHA-256 of its cookie (a dump of Redis holds no usable
        cookie): ``user``, ``csrf``, ``created`` (epoch s), ``ip``. Expires ``session_hours`` after login."""
        return f"{self.root}:{{auth}}:session:{session_digest}"

    def user_sessions(self, name: str) -> str:
        """SET of the session digests of one user, to end them all on ``passwd`` or ``remove``. Expires with
        the user's newest session."""
        return f"{self.root}:{{auth}}:sessions:{name}"

    def login_failures(self, kind: str, ident: str) -> str:
        """STRING: failed logins of one user name (``kind`` ``user``) or one client address (``ip``) in a
        row. Expires ``login_lockout_s`` after the last failure; at ``login_max_failures`` (user) or
        ``login_ip_max_failures`` (address) further attempts are refused until it expires."""
        return f"{self.root}:{{auth}}:fail:{kind}:{ident}"

    def audit_log(self) -> str:
        """STREAM of audit entries (``event``, ``user``, ``ip``, ``at`` and event fields), append-only: the
        app only XADDs. Trimmed at each append by ``XTRIM MINID`` to ``audit_retention_days``."""
        return f"{self.root}:{{audit}}:log"


#: Most recent-event summaries kept per partition.
RECENT_MAX = 5000
