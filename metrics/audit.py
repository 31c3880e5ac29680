"""The append-only audit log: one Redis stream entry per login, view of event details or personal data,
export, warning action and user change (who, what, when, from where).

The application only appends (XADD) and reads (XRANGE); nothing in it edits or deletes an entry. Entries
older than the retention are dropped by ``XTRIM MINID`` as new ones arrive. The stream survives a restart
when Redis persists (AOF in production: docs/deploy.md).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import redis

from metrics.keys import DAY, Keys

#: Columns every entry has, first in CSV exports; event-specific fields follow in sorted order.
BASE_FIELDS = ("id", "at", "event", "user", "ip")
#: A cell starting with one of these is taken as a formula by spreadsheets: exported with a leading '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ms(ts: float) -> int:
    return int(ts * 1000)


class AuditLog:
    """Appends to and reads the audit stream of one store."""

    def __init__(self, client: redis.Redis, keys: Keys, *, retention_days: int) -> None:
        self.client = client
        self.key = keys.audit_log()
        self.retention_s = retention_days * DAY

    def append(self, event: str, fields: Mapping[str, Any], *, now: float | None = None) -> str:
        """Add one entry; returns its stream id (milliseconds-sequence, the time it was written).

        ``fields`` values are stored as text (None as empty); ``event`` names what happened, e.g.
        ``login``, ``login.failed``, ``view.grid``, ``export.audit``, ``warning.ack``.
        """
        now = time.time() if now is None else now
        entry = {"event": event, "at": f"{now:.3f}"}
        for name, value in fields.items():
            if name not in entry:
                entry[name] = "" if value is None else str(value)
        # approximate trimming frees whole stream nodes, which is cheap; entries may outlive the
        # retention by one node's worth until the next append
        entry_id = self.client.xadd(self.key, entry, minid=f"{_ms(now - self.retention_s)}-0",
                                    approximate=True)
        return _text(entry_id)

    def trim(self, *, now: float | None = None) -> int:
        """Drop every entry older than the retention (exact); returns how many went."""
        now = time.time() if now is None else now
        return int(self.client.xtrim(self.key, minid=f"{_ms(now - self.retention_s)}-0", approximate=False))

    def entries(self, since: float | None = None, until: float | None = None, *,
                limit: int | None = None, page: int = 1000) -> Iterator[dict[str, str]]:
        """Entries from ``since`` to ``until`` (epoch s, inclusive), oldest first, read in pages."""
        start = f"{_ms(since)}-0" if since is not None else "-"
        end = f"{_ms(until)}" if until is not None else "+"
        sent = 0
        while limit is None or sent < limit:
            count = page if limit is None else min(page, limit - sent)
            batch = self.client.xrange(self.key, min=start, max=end, count=count)
            for entry_id, fields in batch:
                row = {"id": _text(entry_id)}
                row.update({_text(k): _text(v) for k, v in fields.items()})
                yield row
                sent += 1
            if len(batch) < count:
                return
            start = "(" + _text(batch[-1][0])  # exclusive: the next page starts after the last id

    def __len__(self) -> int:
        return int(self.client.xlen(self.key))


def to_json_lines(entries: Iterator[Mapping[str, str]]) -> Iterator[str]:
    for entry in entries:
        yield json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(entries: Iterator[Mapping[str, str]]) -> Iterator[str]:
    """CSV lines: the base columns, then ``details`` (the event's own fields as a JSON object), so every
    entry fits one header; cells a spreadsheet would take for a formula are defused with a leading '."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*BASE_FIELDS, "details"])
    yield buffer.getvalue()
    for entry in entries:
        buffer.seek(0)
        buffer.truncate()
        details = {k: v for k, v in sorted(entry.items()) if k not in BASE_FIELDS}
        writer.writerow([_cell(entry.get(name, "")) for name in BASE_FIELDS]
                        + [_cell(json.dumps(details, ensure_ascii=False, separators=(",", ":")))])
        yield buffer.getvalue()
