"""Service settings, read from environment variables (prefix `TURNSIGNAL_`).

| variable                              | default                               | meaning                                   |
|---------------------------------------|---------------------------------------|-------------------------------------------|
| TURNSIGNAL_DATABASE_URL               | sqlite+aiosqlite:///./turnsignal.db   | SQLAlchemy async URL (SQLite or asyncpg)  |
| TURNSIGNAL_MAX_BODY_BYTES             | 1048576                               | request bodies above this get 413         |
| TURNSIGNAL_REVEAL_POLL_SECONDS        | 2.0                                   | how often due sealed results are revealed |
| TURNSIGNAL_LEADERBOARD_MIN_QUESTIONS  | 3                                     | resolved questions needed to be ranked    |
| TURNSIGNAL_OPEN_REGISTRATION          | true                                  | anyone may register as a participant      |
| TURNSIGNAL_DB_POOL_SIZE               | 10                                    | PostgreSQL connection pool size           |
| TURNSIGNAL_DB_BUSY_TIMEOUT_SECONDS    | 30                                    | SQLite: wait this long for another        |
|                                       |                                       | writer's lock, then 503                   |
| TURNSIGNAL_DATABASE_SCHEMA            | (none)                                | PostgreSQL schema (search_path) to use    |
| TURNSIGNAL_DATA_DIR                   | ./turnsignal-data                     | fit posteriors (NetCDF) live here         |
| TURNSIGNAL_MAX_DATASET_BYTES          | 33554432                              | largest dataset upload accepted           |
| TURNSIGNAL_FIT_LEASE_SECONDS          | 60                                    | a running fit's lease; heartbeat renews it |
|                                       |                                       | (PostgreSQL: a procrastinate worker silent |
|                                       |                                       | this long is stalled; heartbeat = lease/4) |
| TURNSIGNAL_FIT_MAX_ATTEMPTS           | 2                                     | tries before a lost fit is marked failed  |
| TURNSIGNAL_WORKER_POLL_SECONDS        | 1.0                                   | how often an idle worker polls for jobs   |
| TURNSIGNAL_LOG_LEVEL                  | INFO                                  | level of the service's own logs; libraries |
|                                       |                                       | log WARNING and above (DEBUG: everything) |
| TURNSIGNAL_ACCESS_LOG                 | true                                  | one log line per request: method, path,   |
|                                       |                                       | status, milliseconds                      |
| TURNSIGNAL_RATE_REGISTRATION          | 10/hour                               | registrations per client address          |
| TURNSIGNAL_RATE_WRITES                | 120/minute                            | POST/PATCH/PUT/DELETE per API key         |
| TURNSIGNAL_RATE_PLOTS                 | 10/minute                             | rendered figures per API key; each rate   |
|                                       |                                       | is "N/second|minute|hour|day" or "off"    |
|                                       |                                       | (api/rate_limits.py)                      |
| TURNSIGNAL_REDIS_URL                  | (none)                                | share rate-limit counters across processes |
| TURNSIGNAL_REDIS_NAMESPACE            | turnsignal                            | prefix of the Redis keys                  |
| TURNSIGNAL_DAILY_GRANT_CAP            | 100                                   | starting grants paid per 24 h, service-wide |
|                                       |                                       | (later accounts start at 0 until an admin |
|                                       |                                       | grants)                                   |
| TURNSIGNAL_SESSION_SECRET             | (random per process)                  | signs/encrypts the web pages' session and |
|                                       |                                       | CSRF cookies; set it so sign-ins survive  |
|                                       |                                       | a restart                                 |
| TURNSIGNAL_STARTING_GRANT_CREDITS     | 1000                                  | play money granted to each new account    |
| TURNSIGNAL_AUTH_CACHE_SECONDS         | 30                                    | API-key lookups cached this long (0: off) |
| TURNSIGNAL_DEBUG                      | (unset)                               | CLI: set (not 0) for a traceback instead  |
|                                       |                                       | of the one-line error (`show_tracebacks`) |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./turnsignal.db"


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment; build with `Settings.from_env()`."""

    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = 1_048_576
    reveal_poll_seconds: float = 2.0
    leaderboard_min_questions: int = 3
    open_registration: bool = True
    db_pool_size: int = 10
    db_busy_timeout_seconds: float = 30.0
    database_schema: str | None = None
    run_migrations: bool = True
    data_dir: str = "./turnsignal-data"
    max_dataset_bytes: int = 33_554_432
    fit_lease_seconds: float = 60.0
    fit_max_attempts: int = 2
    worker_poll_seconds: float = 1.0
    starting_grant_credits: float = 1000.0
    auth_cache_seconds: float = 30.0
    extra: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    access_log: bool = True
    rate_registration: str = "10/hour"
    rate_writes: str = "120/minute"
    rate_plots: str = "10/minute"
    redis_url: str | None = None
    redis_namespace: str = "turnsignal"
    daily_grant_cap: int = 100
    session_secret: str | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        """Read `TURNSIGNAL_*` variables, falling back to the defaults above."""
        env = os.environ
        return cls(
            database_url=env.get("TURNSIGNAL_DATABASE_URL", DEFAULT_DATABASE_URL),
            max_body_bytes=int(env.get("TURNSIGNAL_MAX_BODY_BYTES", "1048576")),
            reveal_poll_seconds=float(env.get("TURNSIGNAL_REVEAL_POLL_SECONDS", "2.0")),
            leaderboard_min_questions=int(env.get("TURNSIGNAL_LEADERBOARD_MIN_QUESTIONS", "3")),
            open_registration=_env_bool("TURNSIGNAL_OPEN_REGISTRATION", True),
            db_pool_size=int(env.get("TURNSIGNAL_DB_POOL_SIZE", "10")),
            db_busy_timeout_seconds=float(env.get("TURNSIGNAL_DB_BUSY_TIMEOUT_SECONDS", "30")),
            database_schema=env.get("TURNSIGNAL_DATABASE_SCHEMA") or None,
            data_dir=env.get("TURNSIGNAL_DATA_DIR", "./turnsignal-data"),
            max_dataset_bytes=int(env.get("TURNSIGNAL_MAX_DATASET_BYTES", "33554432")),
            fit_lease_seconds=float(env.get("TURNSIGNAL_FIT_LEASE_SECONDS", "60")),
            fit_max_attempts=int(env.get("TURNSIGNAL_FIT_MAX_ATTEMPTS", "2")),
            worker_poll_seconds=float(env.get("TURNSIGNAL_WORKER_POLL_SECONDS", "1.0")),
            log_level=env.get("TURNSIGNAL_LOG_LEVEL", "INFO"),
            access_log=_env_bool("TURNSIGNAL_ACCESS_LOG", True),
            rate_registration=env.get("TURNSIGNAL_RATE_REGISTRATION", "10/hour"),
            rate_writes=env.get("TURNSIGNAL_RATE_WRITES", "120/minute"),
            rate_plots=env.get("TURNSIGNAL_RATE_PLOTS", "10/minute"),
            redis_url=env.get("TURNSIGNAL_REDIS_URL") or None,
            redis_namespace=env.get("TURNSIGNAL_REDIS_NAMESPACE", "turnsignal"),
            daily_grant_cap=int(env.get("TURNSIGNAL_DAILY_GRANT_CAP", "100")),
            starting_grant_credits=float(env.get("TURNSIGNAL_STARTING_GRANT_CREDITS", "1000")),
            auth_cache_seconds=float(env.get("TURNSIGNAL_AUTH_CACHE_SECONDS", "30")),
            session_secret=env.get("TURNSIGNAL_SESSION_SECRET") or None,
        )


DEBUG_ENV = "TURNSIGNAL_DEBUG"


def show_tracebacks() -> bool:
    """The CLI's debug switch: TURNSIGNAL_DEBUG set and not 0 (read when an error happens, not at start)."""
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
