"""The warnings' Redis store: warnings, their fingerprints, the transition log, silences and models.

Handed its client; every key comes from :mod:`metrics.keys` and shares the ``{warn}`` hash tag, so each
change is one ``WATCH``/``MULTI`` transaction on one slot (Redis Cluster included):

- ``warnings()``: HASH id -> warning JSON (:func:`metrics.warnings.records.dumps`);
- ``warning_fingerprints()``: HASH fingerprint key -> id of the *open* warning (the lifecycle's dedup);
- ``warning_seen()``: HASH fingerprint key -> id of the newest warning ever raised with it;
- ``warning_events()``: STREAM, append-only, one entry per transition (who, what, when);
- ``warning_silences()``: HASH silence id -> silence JSON.

Writers (the engine's cycle, a hazard descriptor, a user's action) read, change and write under
``WATCH`` on the warning hashes: when another writer got in between, the transaction is refused and the
change is recomputed on the fresh state, so an acknowledgement made during an engine cycle is never
overwritten by it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any

import redis

from metrics.keys import Keys
from metrics.warnings import lifecycle
from metrics.warnings.config import LEVEL_ORDER
from metrics.warnings.detect import Candidate
from metrics.warnings.errors import InvalidAction, WarningNotFound, WarningsError
from metrics.warnings.lifecycle import Board, Outcome, Silence, Status, Transition, WarningRecord
from metrics.warnings.records import api_order_key, dumps, loads, precision_table, to_api

log = logging.getLogger(__name__)

#: Entries kept in the transition log (approximately: ``XADD MAXLEN ~``).
LOG_MAX = 100_000
#: Days a warning no longer open stays in the store after its last change.
KEEP_DAYS = 90.0
#: Actions users may take, as the API names them.
USER_ACTIONS = ("ack", "dispatch", "resolve")
_RETRIES = 20


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class WarningStore:
    """Warnings of one store (one key prefix).

    Args:
        client: a ``redis.Redis`` (or cluster) client.
        prefix: the store's key prefix (``settings.key_prefix``); ignored when ``keys`` is given.
        keys: the key builder to use (e.g. ``MetricsStore.keys``).
        log_max: transition-log entries kept (approximately).
        clock: epoch seconds now, for actions without an explicit time.
    """

    def __init__(self, client: redis.Redis, prefix: str = "rk", *, keys: Keys | None = None,
                 log_max: int = LOG_MAX, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.keys = keys or Keys(prefix)
        self.log_max = log_max
        self.clock = clock
        k = self.keys
        self._watched = (k.warnings(), k.warning_fingerprints())

    # ------------------------------------------------------------------ reading
    def get(self, warning_id: str) -> WarningRecord:
        """One warning; :class:`WarningNotFound` when no warning has that id."""
        raw = self.client.hget(self.keys.warnings(), warning_id)
        if raw is None:
            raise WarningNotFound(f"no warning with id {warning_id!r}")
        return loads(raw)

    def all(self) -> list[WarningRecord]:
        """Every stored warning (open ones and those kept after they ended), oldest first."""
        records = [loads(raw) for raw in self.client.hvals(self.keys.warnings())]
        return sorted(records, key=lambda w: (w.raised_at, w.id))

    def open_board(self) -> Board:
        """The open warnings, oldest first: what the lifecycle works on."""
        return self._open_board(self.client)

    def _open_board(self, conn: Any) -> Board:
        ids = [_text(v) for v in conn.hvals(self.keys.warning_fingerprints())]
        if not ids:
            return Board()
        raws = conn.hmget(self.keys.warnings(), ids)
        records = [loads(raw) for raw in raws if raw is not None]
        return Board(tuple(sorted(records, key=lambda w: (w.raised_at, w.id))))

    def latest(self, fingerprint_keys: Iterable[str]) -> dict[str, WarningRecord]:
        """The newest warning ever raised with each fingerprint key (open or not), where there is one."""
        wanted = list(dict.fromkeys(fingerprint_keys))
        if not wanted:
            return {}
        ids = self.client.hmget(self.keys.warning_seen(), wanted)
        pairs = [(fp, _text(i)) for fp, i in zip(wanted, ids, strict=True) if i is not None]
        if not pairs:
            return {}
        raws = self.client.hmget(self.keys.warnings(), [i for _, i in pairs])
        return {fp: loads(raw) for (fp, _), raw in zip(pairs, raws, strict=True) if raw is not None}

    def query(self, district_of: Mapping[str, str], *, status: str | None = "open", district: str | None = None,
             level: str | None = None, stream: str | None = None) -> list[dict[str, Any]]:
        """Warnings in the API shape (:func:`metrics.warnings.records.to_api`), filtered, most severe first
        and then newest first.

        ``status``: ``open`` (raised, acknowledged or dispatched; the default when None), ``all``, or one
        status; ``level``: a level name; ``district``: a district code (a cell's warning belongs to the
        district holding the cell; city warnings to none); ``stream``: a stream name. A value outside
        these raises :class:`InvalidAction`.
        """
        status = status or "open"
        statuses = [s.value for s in Status]
        if status not in ("open", "all", *statuses):
            raise InvalidAction(f"status {status!r} is not understood; use open, all or one of {statuses}")
        if level is not None and level not in LEVEL_ORDER:
            raise InvalidAction(f"level {level!r} is not a warning level; use one of {list(LEVEL_ORDER)}")
        records = self.open_board().warnings if status == "open" else tuple(self.all())
        out = []
        for w in records:
            if status not in ("open", "all") and w.status.value != status:
                continue
            if level is not None and w.level_name != level:
                continue
            if stream is not None and w.fingerprint.stream != stream:
                continue
            item = to_api(w, district_of)
            if district is not None and item["district"] != district:
                continue
            out.append(item)
        return sorted(out, key=api_order_key)

    def transitions(self, warning_id: str | None = None, count: int = 1000) -> list[dict[str, Any]]:
        """The newest ``count`` entries of the transition log (oldest first), optionally of one warning."""
        entries = self.client.xrevrange(self.keys.warning_events(), count=count)
        out = []
        for entry_id, fields in reversed(entries):
            item = {_text(k): _text(v) for k, v in fields.items()}
            if warning_id is not None and item.get("warning") != warning_id:
                continue
            item["entry"] = _text(entry_id)
            item["at"] = float(item["at"])
            item["level"] = int(item["level"])
            out.append(item)
        return out

    def precision(self) -> dict[str, dict[str, Any]]:
        """Per detector: warnings raised, open, auto-recovered, resolved by outcome, and the precision
        ((true_event + known_cause) / resolved with an outcome), over the warnings still kept."""
        return precision_table(self.all())

    # ------------------------------------------------------------------ silences
    def silences(self, now: float | None = None) -> list[Silence]:
        """Silences not yet ended at ``now`` (default: the clock)."""
        now = self.clock() if now is None else now
        found = []
        for raw in self.client.hvals(self.keys.warning_silences()):
            s = Silence(**json.loads(raw))
            if s.ends_at > now:
                found.append(s)
        return sorted(found, key=lambda s: s.starts_at)

    def add_silence(self, *, by: str, reason: str, ends_at: float, starts_at: float | None = None,
                    detector: str | None = None, stream: str | None = None, category: str | None = None,
                    scope: str | None = None, target: str | None = None) -> Silence:
        """Mute matching candidates until ``ends_at`` (None fields match anything); who and why are
        required (:class:`~metrics.warnings.errors.WarningsError` otherwise)."""
        silence = Silence(id="s-" + uuid.uuid4().hex[:12], by=by, reason=reason,
                          starts_at=self.clock() if starts_at is None else starts_at, ends_at=ends_at,
                          detector=detector, stream=stream, category=category, scope=scope, target=target)
        self.client.hset(self.keys.warning_silences(), silence.id, json.dumps(asdict(silence)))
        return silence

    def remove_silence(self, silence_id: str) -> bool:
        return bool(self.client.hdel(self.keys.warning_silences(), silence_id))

    # ------------------------------------------------------------------ writing
    def _transaction(self, change: Callable[[Any], tuple[Board, Board, Any]]) -> Any:
        """Run ``change(conn)`` -> (before, after, result) under WATCH and write the difference; retried
        when another writer changed the warnings meanwhile."""
        for _ in range(_RETRIES):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(*self._watched)
                    before, after, result = change(pipe)
                    pipe.multi()
                    self._write(pipe, before, after)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue
        raise WarningsError(f"the warnings changed under {_RETRIES} attempts in a row; retry shortly")

    def _write(self, pipe: Any, before: Board, after: Board) -> None:
        k = self.keys
        old = {w.id: w for w in before.warnings}
        for w in after.warnings:
            prev = old.get(w.id)
            if prev is w:
                continue
            pipe.hset(k.warnings(), w.id, dumps(w))
            fp_key = w.fingerprint.key
            if w.is_open:
                pipe.hset(k.warning_fingerprints(), fp_key, w.id)
            elif prev is None or prev.is_open:
                pipe.hdel(k.warning_fingerprints(), fp_key)
            if prev is None:
                pipe.hset(k.warning_seen(), fp_key, w.id)
            for t in w.history[len(prev.history) if prev is not None else 0:]:
                pipe.xadd(k.warning_events(), _log_entry(w.id, t), maxlen=self.log_max, approximate=True)

    def cycle(self, candidates: Iterable[Candidate], now: float, *,
              district_of: Mapping[str, str] | None = None,
              ack_minutes: Mapping[str, float] | None = None) -> Board:
        """One engine cycle on the stored open warnings (:func:`metrics.warnings.lifecycle.cycle`), saved.
        Returns the open warnings after it."""
        cands = list(candidates)
        silences = self.silences(now)

        def change(conn: Any) -> tuple[Board, Board, Board]:
            before = self._open_board(conn)
            after = lifecycle.cycle(before, cands, now, silences=silences, district_of=district_of,
                                    ack_minutes=ack_minutes)
            return before, after, after

        board: Board = self._transaction(change)
        return Board(tuple(w for w in board.warnings if w.is_open))

    def raise_candidates(self, candidates: Iterable[Candidate], now: float) -> list[WarningRecord]:
        """Create or update open warnings from candidates outside the engine's cycle (hazard descriptors):
        the lifecycle's dedup and silences apply, nothing auto-recovers. Returns the resulting warnings."""
        cands = list(candidates)
        silences = self.silences(now)
        wanted = {lifecycle.Fingerprint.of(c) for c in cands}

        def change(conn: Any) -> tuple[Board, Board, list[WarningRecord]]:
            before = self._open_board(conn)
            after = lifecycle.apply_candidates(before, cands, now, silences)
            return before, after, [w for w in after.warnings if w.is_open and w.fingerprint in wanted]

        result: list[WarningRecord] = self._transaction(change)
        return result

    def act(self, warning_id: str, action: str, by: str, now: float | None = None, *,
            outcome: str | None = None, note: str = "") -> WarningRecord:
        """A user's action on one warning: ``ack``, ``dispatch`` or ``resolve`` (with an ``outcome``).

        Raises :class:`WarningNotFound` (no such id), :class:`InvalidAction` (unknown action or outcome,
        no actor) or :class:`TransitionError` (not allowed from the warning's status).
        """
        if action not in USER_ACTIONS:
            raise InvalidAction(f"unknown action {action!r}; use one of {list(USER_ACTIONS)}")
        if not by or not by.strip():
            raise InvalidAction(f"{action} of warning {warning_id}: who acts is required")
        kwargs: dict[str, str] = {"note": note}
        if action == "resolve":
            outcomes = [o.value for o in Outcome]
            if outcome not in outcomes:
                raise InvalidAction(f"resolve needs an outcome, one of {outcomes}; got {outcome!r}")
            kwargs["outcome"] = outcome
        elif outcome is not None:
            raise InvalidAction(f"an outcome is given only when resolving, not on {action}")
        at = self.clock() if now is None else now

        def change(conn: Any) -> tuple[Board, Board, WarningRecord]:
            raw = conn.hget(self.keys.warnings(), warning_id)
            if raw is None:
                raise WarningNotFound(f"no warning with id {warning_id!r}")
            before = Board((loads(raw),))
            after = lifecycle.act(before, warning_id, action, by, at, **kwargs)
            return before, after, after.warnings[0]

        result: WarningRecord = self._transaction(change)
        log.info("warning %s: %s by %s", warning_id, action, by)
        return result

    def sweep(self, now: float, keep_days: float = KEEP_DAYS) -> int:
        """Remove warnings no longer open whose last change is older than ``keep_days``, their
        fingerprint entries, and ended silences. Returns the warnings removed."""
        k = self.keys
        limit = now - keep_days * 86400
        old = [w for w in self.all() if not w.is_open and w.updated_at < limit]
        ended = [sid for sid, raw in self.client.hgetall(k.warning_silences()).items()
                 if json.loads(raw)["ends_at"] <= now]
        gone = {w.id for w in old}
        seen = [fp for fp, i in self.client.hgetall(k.warning_seen()).items() if _text(i) in gone]
        pipe = self.client.pipeline(transaction=True)
        for start in range(0, len(old), 1000):
            pipe.hdel(k.warnings(), *[w.id for w in old[start:start + 1000]])
        for start in range(0, len(seen), 1000):
            pipe.hdel(k.warning_seen(), *seen[start:start + 1000])
        if ended:
            pipe.hdel(k.warning_silences(), *ended)
        pipe.execute()
        return len(old)


def _log_entry(warning_id: str, t: Transition) -> dict[str, str]:
    return {"warning": warning_id, "at": repr(t.at), "by": t.by, "action": t.action,
            "status": t.status.value, "level": str(t.level), "note": t.note}


__all__ = ["KEEP_DAYS", "LOG_MAX", "USER_ACTIONS", "WarningStore"]
