"""Errors of the hazard register package, under the project-wide root."""

from __future__ import annotations

from kapok.errors import ConfigError, RedKapokError


class HazardsError(RedKapokError):
    """The hazard register was given input it cannot work with."""


class HazardQueryError(HazardsError, ValueError):
    """A hazards API parameter is wrong (the route answers 400 with the message)."""


class HazardsConfigError(ConfigError):
    """The hazard policy file is wrong; the message names the file, line and field.

    Attributes:
        source: file name (or ``<string>``) the policy came from.
        line: 1-based line of the offending table or key, or None when it cannot be located.
        field: dotted path of the offending field, e.g. ``grade.A.escalate.district``.
    """

    def __init__(self, message: str, *, source: str, line: int | None, field: str | None) -> None:
        where = f"{source}:{line}" if line is not None else source
        what = f" [{field}]" if field else ""
        super().__init__(f"{where}{what}: {message}")
        self.source = source
        self.line = line
        self.field = field
        self.reason = message


__all__ = ["HazardQueryError", "HazardsConfigError", "HazardsError"]
