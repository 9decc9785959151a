"""Rate limits (Litestar's `RateLimitMiddleware`, one per rule, behind one dispatching middleware):

| rule           | counts                                             | per                              |
|----------------|----------------------------------------------------|----------------------------------|
| `registration` | POST /v1/participants (and the web page /register) | client address                   |
| `writes`       | every other POST/PATCH/PUT/DELETE                  | API key (client address without) |
| `plots`        | GET of a rendered figure (a path with `/plots/`,   | API key (client address without) |
|                |  the web pages' figures included)                  |                                  |

Each rule's limit comes from `TURNSIGNAL_RATE_<RULE>` as `"N/unit"` (unit: second, minute, hour,
day; a fixed window starting at the first counted request) or `"off"`. Over the limit the reply is
429 with the error shape, naming the rule, and `RateLimit-*` headers (the reset in seconds).

The counters live in memory (per process: with `--workers N` each process counts on its own) unless
`TURNSIGNAL_REDIS_URL` is set, when all processes share them in Redis (keys under
`<TURNSIGNAL_REDIS_NAMESPACE>:rate:<rule>`). API keys are never stored: a counter is named by the
first 32 hex digits of sha256(key). The client address is the TCP peer's: behind a proxy, let the
server rewrite it from the proxy's headers (e.g. uvicorn `--proxy-headers`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import DURATION_VALUES, RateLimitConfig, RateLimitMiddleware, get_remote_address
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.types import ASGIApp, Receive, Scope, Send

from api.auth import hash_api_key
from api.settings import Settings

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
REGISTRATION_PATHS = frozenset({"/v1/participants", "/register"})  # the API's and the web page's
STORE_PREFIX = "rate_limit_"


def parse_rate(text: str, variable: str) -> tuple[Any, int] | None:
    """`"N/unit"` -> (unit, N); `"off"` -> None. ValueError naming `variable` for anything else."""
    value = text.strip().lower()
    if value == "off":
        return None
    count, _, unit = value.partition("/")
    unit = unit.strip().removesuffix("s")
    if not count.strip().isdigit() or int(count) < 1 or unit not in DURATION_VALUES:
        raise ValueError(f"{variable} must be 'N/second|minute|hour|day' (N >= 1) or 'off', got {text!r}")
    return unit, int(count)


def _paths(scope: Scope) -> tuple[str, ...]:
    handler = scope.get("route_handler")
    return tuple(getattr(handler, "paths", ()) or ())


def is_registration(scope: Scope) -> bool:
    return scope["method"] == "POST" and any(path in REGISTRATION_PATHS for path in _paths(scope))


def is_write(scope: Scope) -> bool:
    return scope["method"] in WRITE_METHODS and not is_registration(scope)


def is_plot(scope: Scope) -> bool:
    return scope["method"] == "GET" and any("/plots/" in path for path in _paths(scope))


def key_or_address(request: Request[Any, Any, Any]) -> str:
    """`key:<sha256 prefix>` of the bearer token, or `ip:<address>` when the request sends none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "key:" + hash_api_key(token.strip())[:32]
    return "ip:" + get_remote_address(request)


@dataclass(frozen=True)
class Rule:
    """A rate-limit rule: which requests it counts (decided from the ASGI scope: method and route)
    and whom it counts them for."""

    name: str
    applies: Callable[[Scope], bool]
    identify: Callable[[Request[Any, Any, Any]], str]


RULES = (
    Rule("registration", is_registration, lambda request: "ip:" + get_remote_address(request)),
    Rule("writes", is_write, key_or_address),
    Rule("plots", is_plot, key_or_address),
)


class NamedRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's middleware whose 429 names its rule (from the store name) and the limit."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as exc:
            rule = self.config.store.removeprefix(STORE_PREFIX)
            exc.detail = (f"rate limit '{rule}' exceeded ({self.max_requests} per {self.unit}); "
                          "retry after RateLimit-Reset seconds")
            raise


def _rate_setting(settings: Settings, rule: str) -> str:
    return str(getattr(settings, f"rate_{rule}"))


class RateLimits:
    """The one rate-limit middleware: picks the rule that applies to a request from its ASGI scope
    (method and route; the rules never overlap) and hands the request to that rule's
    `NamedRateLimitMiddleware`; a request no rule counts (most GETs) passes straight through,
    without a `Request` being built."""

    def __init__(self, app: ASGIApp, rules: Sequence[tuple[Rule, RateLimitConfig]]) -> None:
        self.app = app
        self.limits = [(rule.applies, NamedRateLimitMiddleware(app, config)) for rule, config in rules]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for applies, limit in self.limits:
                if applies(scope):
                    await limit(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def rate_limit_middleware(settings: Settings) -> list[DefineMiddleware]:
    """The rate-limit middleware for the rules that are not `off` (none when all are; ValueError
    for a malformed setting)."""
    rules = []
    for rule in RULES:
        limit = parse_rate(_rate_setting(settings, rule.name), f"TURNSIGNAL_RATE_{rule.name.upper()}")
        if limit is not None:
            rules.append((rule, RateLimitConfig(rate_limit=limit, identifier_for_request=rule.identify,
                                                store=STORE_PREFIX + rule.name, middleware_class=NamedRateLimitMiddleware)))
    return [DefineMiddleware(RateLimits, rules=rules)] if rules else []


def rate_limit_stores(settings: Settings) -> dict[str, Store]:
    """The counters' stores, one per rule: in memory, or in Redis when `settings.redis_url` is set."""
    if not settings.redis_url:
        return {STORE_PREFIX + rule.name: MemoryStore() for rule in RULES}
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url)
    return {STORE_PREFIX + rule.name: RedisStore(client, namespace=f"{settings.redis_namespace}:rate:{rule.name}",
                                                 handle_client_shutdown=index == 0)  # closed once, at app shutdown
            for index, rule in enumerate(RULES)}
