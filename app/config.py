"""Settings: the one reader of the environment (STEMLAB_*)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_KEY = 32


class Settings(BaseSettings):
    """Every setting Stemlab reads; each is documented in README.md."""

    model_config = SettingsConfigDict(env_prefix="STEMLAB_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the server listens on.")
    port: int = Field(8000, description="TCP port the server listens on.")
    database_url: str = Field(
        "sqlite:///var/stemlab.db",
        description="SQLAlchemy URL of the database: sqlite:///path (a relative path is under "
        "the working directory) or postgresql://user:password@host:5432/name (driven by "
        "psycopg 3; postgresql+psycopg:// is the same).",
    )
    public_url: str = Field(
        "",
        description="Address people type on their phones, shown on the projector and in the QR "
        "code (for example https://stem.example.nl). Empty: the address the projector page "
        "was opened on.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Extra origins (scheme://host[:port]) accepted for form posts and websocket "
        "handshakes, besides the public URL and the address of the request itself.",
    )
    secure_cookies: bool = Field(
        False, description="Mark cookies Secure; turn on when served over HTTPS."
    )
    session_hours: int = Field(12, description="How long a facilitator login lasts.")
    seed_demo: bool = Field(
        True,
        description="On an empty database, create a demo facilitator and the demo presentation.",
    )
    demo_email: str = Field("demo@stemlab.local", description="Login of the demo facilitator.")
    demo_password: str = Field(
        "",
        description="Password of the demo facilitator; empty: a random one, printed once at "
        "creation.",
    )
    redis_url: str = Field(
        "",
        description="Redis URL (redis://host:6379/0) through which several workers and hosts "
        "keep their screens in step; empty: one process, nothing to install. Needed for more "
        "than one worker. Redis only carries hints: votes never depend on it.",
    )
    redis_prefix: str = Field(
        "stemlab",
        description="Prefix of the Redis channel; deployments sharing one Redis need different "
        "prefixes.",
    )
    writer_batch_max: int = Field(
        512, description="Most votes the ballot box commits in one transaction."
    )
    presenter_tick_ms: int = Field(
        100, description="Interval at which changed results are pushed to presenter screens."
    )
    phone_tick_ms: int = Field(
        250, description="Interval at which question changes are pushed to phones."
    )
    outbox_frames: int = Field(
        8, description="Frames queued per socket before a slow client is dropped."
    )
    join_rate_per_minute: int = Field(
        100,
        description="Failed join-code lookups (unknown codes) allowed per client address per "
        "minute; correct codes are never limited, so a room behind one address can join.",
    )
    join_mint_per_minute: int = Field(
        600,
        ge=1,
        description="Phones that may join (and so get a participant token) per client address "
        "per minute. A hall of 500 behind one venue address joins within a minute; a script "
        "that makes up participants is stopped with 429.",
    )
    join_code_idle_hours: float = Field(
        72,
        gt=0,
        description="A join code can no longer be typed after the facilitator has not presented "
        "for this many hours; the QR link keeps working, phones that joined keep voting, and "
        "presenting again makes the code work again.",
    )
    login_rate_per_minute: int = Field(
        10, description="Login attempts allowed per client address and per account per minute."
    )
    vote_rate_per_minute: int = Field(
        120, description="Vote submissions allowed per participant per minute."
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: none (the peer address is used).",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Secret (at least 32 characters) with which the server signs participant "
        "tokens; every worker and host needs the same. Empty: one is made on the first start "
        "and kept in the database, so every worker, host and restart uses it.",
    )
    log_level: str = Field("info", description="Log level of the server (debug, info, warning).")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines as text, or as one JSON object per line (time, level, logger, "
        "message, request).",
    )
    metrics_token: str = Field(
        "",
        description="Bearer token Prometheus must send for /metrics; empty: /metrics answers "
        "only requests made directly from this machine (loopback, not through a proxy).",
    )
    shutdown_seconds: int = Field(
        10,
        ge=1,
        description="On SIGTERM, how long queued votes and open requests may take to finish "
        "before the rest is cut off.",
    )
    ws_ping_seconds: float = Field(
        20,
        gt=0,
        description="Interval of websocket pings, and how long a pong may take: a phone that "
        "vanished without closing its socket (locked, out of range) is let go after at most "
        "twice this.",
    )
    workers: int = Field(
        1,
        ge=1,
        description="Server processes (uvicorn workers); more than one needs STEMLAB_REDIS_URL.",
    )

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < MIN_SECRET_KEY:
            raise ValueError(
                f"STEMLAB_SECRET_KEY needs at least {MIN_SECRET_KEY} characters (for example "
                "the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
                "or leave it empty to have one made and kept in the database"
            )
        return value

    @property
    def base_url(self) -> str:
        """Address participants use; falls back to the listening address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def sqlite_path(self) -> Path | None:
        """Path of the SQLite file, if the database is a SQLite file."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url[len(prefix) :])
        return None


@lru_cache
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
