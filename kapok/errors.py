"""The project-wide exception root; each package raises subclasses of it."""

from __future__ import annotations


class RedKapokError(Exception):
    """Root of every error Red Kapok raises on purpose."""


class ConfigError(RedKapokError):
    """A setting, configuration file or boundary file is wrong; the message says where and how to fix it."""


class ServiceError(RedKapokError):
    """An embedded or external service (Redis, Kafka) could not be started or reached."""
