"""Errors of the warnings package, under the project-wide root."""

from __future__ import annotations

from kapok.errors import ConfigError, RedKapokError


class WarningsError(RedKapokError):
    """A detector or the warning lifecycle was given input it cannot work with."""


class WarningsConfigError(ConfigError):
    """The warnings configuration (levels, rules, calibration) is wrong; the message says where."""


class TransitionError(WarningsError):
    """A lifecycle action is not allowed from the warning's current status."""


class WarningNotFound(WarningsError):
    """No stored warning has the given id."""


class InvalidAction(WarningsError):
    """A request to the warnings store is malformed: an unknown action, outcome or filter value, no actor."""


__all__ = ["InvalidAction", "TransitionError", "WarningNotFound", "WarningsConfigError", "WarningsError"]
