"""Errors of the governance index (configuration and input shape)."""

from __future__ import annotations

from kapok.errors import ConfigError, RedKapokError


class IndexConfigError(ConfigError):
    """The indicator configuration is wrong; the message names the file, line and field.

    Attributes:
        source: file name (or ``<string>``) the configuration came from.
        line: 1-based line of the offending table or key, or None when it cannot be located.
        field: dotted path of the offending field, e.g. ``indicator.serious_incidents.window``.
    """

    def __init__(self, message: str, *, source: str, line: int | None, field: str | None) -> None:
        where = f"{source}:{line}" if line is not None else source
        what = f" [{field}]" if field else ""
        super().__init__(f"{where}{what}: {message}")
        self.source = source
        self.line = line
        self.field = field
        self.reason = message


class IndexInputError(RedKapokError):
    """The frames or attributes handed to the index do not have the expected shape."""
