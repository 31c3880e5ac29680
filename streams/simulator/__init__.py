"""The event simulator: a seeded model of Guangzhou's four event streams, history backfill, a live feed,
injected scenarios with ground truth, and replay of recorded files (docs/simulator.md).

The lead's ``app.py simulate`` wires :func:`add_arguments` and :func:`run` to a :class:`RecordSink`.
"""

from streams.simulator.runner import BadRow, RunSummary, add_arguments, file_sink, run
from streams.simulator.sinks import FileSink, MemorySink, RecordSink

__all__ = [
    "BadRow",
    "FileSink",
    "MemorySink",
    "RecordSink",
    "RunSummary",
    "add_arguments",
    "file_sink",
    "run",
]
