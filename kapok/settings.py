"""One typed, frozen settings object, built once at the entry point.

Precedence: command-line flag, then environment (``RK_*``), then the settings file named by
``RK_SETTINGS_FILE`` (TOML), then the defaults below. Every field is documented in the README
(``tests/test_docs.py`` fails when one is missing).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kapok.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "guangzhou"
#: Secrets that may be given as the path of a file holding them (``<name>_file``, env ``RK_<NAME>_FILE``).
SECRET_FILE_FIELDS = ("redis_password", "kafka_sasl_password", "pii_hash_key", "metrics_token")


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the TOML settings file named by RK_SETTINGS_FILE (keys are field names, lower case)."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path:
            p = Path(path)
            try:
                self._data = tomllib.loads(p.read_text(encoding="utf-8"))
            except FileNotFoundError as exc:
                raise ConfigError(f"settings file {p} does not exist (named by RK_SETTINGS_FILE)") from exc
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"settings file {p}: {exc}") from exc

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Everything an operator can configure. Environment variables are ``RK_`` + the upper-case name."""

    model_config = SettingsConfigDict(env_prefix="RK_", frozen=True, extra="ignore")

    # --- services ---
    kafka_bootstrap: str | None = Field(
        None, description="Kafka bootstrap servers, e.g. `127.0.0.1:9092`. Unset in `demo`: embedded broker."
    )
    redis_url: str | None = Field(
        None, description="Redis URL, e.g. `redis://127.0.0.1:6379/0`. Unset in `demo`: embedded Redis."
    )
    redis_cluster: bool = Field(False, description="Connect to `redis_url` as a Redis Cluster.")
    redis_username: str | None = Field(None, description="Redis ACL user (optional).")
    redis_password: SecretStr | None = Field(None, description="Redis ACL password (optional; never logged).")
    redis_tls_cafile: Path | None = Field(
        None, description="CA file for Redis over TLS (use a `rediss://` URL to turn TLS on)."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (never logged).")
    kafka_ssl_cafile: Path | None = Field(None, description="CA file for Kafka over TLS.")
    kafka_ssl_certfile: Path | None = Field(None, description="Client certificate for Kafka mutual TLS.")
    kafka_ssl_keyfile: Path | None = Field(None, description="Client key for Kafka mutual TLS.")
    key_prefix: str = Field("rk", description="Prefix of every Redis key (one store per prefix).")
    # --- topics ---
    topic_incidents: str = Field("incidents", description="Topic of incident reports.")
    topic_surveillance: str = Field("surveillance", description="Topic of video-analytics alerts.")
    topic_hotline: str = Field("hotline", description="Topic of 12345 hotline tickets.")
    topic_hazards: str = Field("hazards", description="Topic of the hazard register's reports.")
    topic_deadletter: str = Field("deadletter", description="Topic receiving every rejected record.")
    topic_partitions: int = Field(
        4, ge=1, description="Partitions per topic when Red Kapok creates the topics itself."
    )
    consumer_group: str = Field("red-kapok-consumers", description="Kafka consumer group of `consume`.")
    max_poll_interval_ms: int = Field(
        10000,
        ge=1000,
        description="Kafka rebalance timeout (ms). 5000-10000 keeps group joins fast on Tansu.",
    )
    batch_max_records: int = Field(10000, ge=1, description="Most records one consumer batch holds.")
    consumer_workers: int = Field(
        2,
        ge=0,
        le=64,
        description="Worker processes per consumer that validate, plan and apply batches while the consumer "
        "process polls Kafka (each partition goes to one of them). 0: threads inside the consumer process.",
    )
    # --- ingestion rules ---
    retention_days: int = Field(35, ge=35, description="Events older than this are rejected `too_old`.")
    future_tolerance_s: int = Field(
        600, ge=0, description="Seconds an event time may lead the clock before `future_timestamp`."
    )
    pii_hash_key: str = Field(
        "change-me-red-kapok-demo-key",
        repr=False,
        description="Secret key for the keyed hash of `caller_phone` (repeat-caller detection). Set it in "
        "production (never logged).",
    )
    text_retention_days: int = Field(7, ge=0, description="Days a hotline `text` is kept (0: never stored).")
    # --- city model ---
    districts_file: Path = Field(
        DEFAULT_DATA_DIR / "districts.geojson",
        description="District boundaries (GeoJSON, GeoPackage or Shapefile), GCJ-02 lon/lat.",
    )
    district_code_column: str = Field("code", description="Column of `districts_file` holding the code.")
    district_name_column: str = Field("name_zh", description="Column of `districts_file` holding the name.")
    district_name_en_column: str | None = Field(
        "name_en", description="Column with the English name (optional)."
    )
    population_column: str | None = Field(
        "population_approx", description="Column with resident population (optional; per-capita rates)."
    )
    city_file: Path | None = Field(
        DEFAULT_DATA_DIR / "city.geojson", description="City outline (optional; else union of districts)."
    )
    streets_file: Path | None = Field(None, description="Street (街道) boundaries (optional level).")
    street_code_column: str = Field("code", description="Column of `streets_file` holding the code.")
    street_name_column: str = Field("name", description="Column of `streets_file` holding the name.")
    grid_file: Path | None = Field(
        None, description="Own grid polygons instead of H3 cells (optional)."
    )
    grid_id_column: str = Field("id", description="Column of `grid_file` holding the cell id.")
    h3_resolution: int = Field(8, ge=5, le=10, description="H3 resolution of the default grid layer.")
    cache_dir: Path = Field(
        PROJECT_ROOT / ".cache", description="Where the built city model is cached."
    )
    # --- engines ---
    index_config: Path | None = Field(
        None,
        description="Indicator system (TOML) of the index; unset: the shipped default (metrics/index/default.toml).",
    )
    index_interval_s: float = Field(60.0, gt=0, description="Seconds between index recomputations.")
    warnings_config: Path | None = Field(
        None, description="Warning detectors, levels and rules (TOML); unset: metrics/warnings/default.toml."
    )
    warnings_interval_s: float = Field(60.0, gt=0, description="Seconds between detection cycles.")
    hazards_config: Path | None = Field(
        None,
        description="Hazard register policy (TOML: time limits, reminders, escalation per grade); "
        "unset: metrics/hazards/default.toml.",
    )
    hazards_interval_s: float = Field(60.0, gt=0, description="Seconds between hazard register sweeps.")
    # --- dashboard and API ---
    host: str = Field("127.0.0.1", description="Address the dashboard listens on.")
    port: int = Field(8050, ge=1, le=65535, description="Port of the dashboard.")
    auth: Literal["none", "login"] = Field(
        "login", description="`none` turns login off (and says so); `login` requires a user."
    )
    refresh_s: float = Field(5.0, gt=0, description="Seconds between dashboard refreshes.")
    log_level: str = Field("INFO", description="Logging level.")
    log_json: bool = Field(False, description="Write structured JSON log lines.")
    # --- access, audit, hardening (docs/security.md) ---
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="Hours a login session lasts (h).")
    cookie_secure: bool = Field(
        True, description="Send the session cookie over HTTPS only. Turn off only for plain-http localhost."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins of one user in a row before that user is locked out."
    )
    login_ip_max_failures: int = Field(
        30, ge=1, description="Failed logins from one client address in a row before it is locked out."
    )
    login_lockout_s: int = Field(
        900, ge=1, description="Seconds a lock-out lasts, counted from the last failed attempt (s)."
    )
    password_hash_time_cost: int = Field(3, ge=1, description="argon2id passes for new password hashes.")
    password_hash_memory_kib: int = Field(
        65536, ge=8192, description="argon2id memory for new password hashes (KiB)."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that may read `/metrics` without a user (for Prometheus; never logged).",
    )
    frame_ancestors: str = Field(
        "'none'",
        description="CSP `frame-ancestors`: `'none'`, or the origins allowed to show pages in a frame "
        "(space-separated, e.g. `https://wall.example.gov.cn` for a wall display's frame).",
    )
    proxy_hops: int = Field(
        0, ge=0, le=5,
        description="Reverse proxies in front of the dashboard whose X-Forwarded-For/-Proto are trusted "
        "(0: none; the client address is the TCP peer).",
    )
    audit_retention_days: int = Field(400, ge=1, description="Days audit entries are kept (d).")
    ready_heartbeat_max_s: int = Field(
        120, ge=5, description="Oldest engine heartbeat `/api/v1/ready` accepts (s)."
    )
    # Secrets may come from files (Docker/Kubernetes secrets), read once when the settings are built.
    redis_password_file: Path | None = Field(None, description="File holding `redis_password`.")
    kafka_sasl_password_file: Path | None = Field(None, description="File holding `kafka_sasl_password`.")
    pii_hash_key_file: Path | None = Field(None, description="File holding `pii_hash_key`.")
    metrics_token_file: Path | None = Field(None, description="File holding `metrics_token`.")

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        """Fill each secret from its ``*_file`` (trailing newline dropped); naming both is an error."""
        if not isinstance(data, dict):
            return data
        for name in SECRET_FILE_FIELDS:
            path = data.get(f"{name}_file")
            if not path:
                continue
            if data.get(name):
                raise ValueError(f"both {name} and {name}_file are set: keep one (RK_{name.upper()} or "
                                 f"RK_{name.upper()}_FILE)")
            try:
                data[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{name}_file {path}: cannot read it ({exc.strerror})") from None
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        import os

        toml = _TomlFileSource(settings_cls, os.environ.get("RK_SETTINGS_FILE"))
        return (init_settings, env_settings, toml, file_secret_settings)

    def topics(self) -> dict[str, str]:
        """Stream name -> topic name, for the four event streams."""
        return {
            "incidents": self.topic_incidents,
            "surveillance": self.topic_surveillance,
            "hotline": self.topic_hotline,
            "hazards": self.topic_hazards,
        }


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one clear ConfigError."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            lines.append(f"setting {name} (env RK_{name.upper()}): {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("; ".join(lines)) from exc
