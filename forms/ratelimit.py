"""Rate limits per client address, counted in Redis so that every web process shares them.

A fixed window: the first request of an address in a window creates a Redis counter that
expires with the window; a request that takes the count over the limit gets a 429 page with
Retry-After. When Redis cannot be reached the pages are served anyway (the limit fails open,
with one warning per outage): a partner's check-in matters more than a guesser's slowdown.

Use it on any view that takes a secret from the visitor:

    @bp.get("/c/<token>")
    @rate_limited("token")
    def show(token): ...

`COS_RATE_LIMIT` sets the limit of the "token" bucket (default 60/minute); another bucket reads
`COS_<BUCKET>_RATE_LIMIT`: COS_API_RATE_LIMIT for the JSON API (default 300/minute), and e.g.
COS_SIGNIN_RATE_LIMIT for a sign-in page. Under /api/ the 429 answer is JSON.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import redis
from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue

from pipeline.config import ConfigError, Settings
from pipeline.queues import find_redis_url

log = logging.getLogger(__name__)

DEFAULT = "60/minute"
DEFAULTS = {"api": "300/minute"}
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
RATE_RE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*(second|minute|hour|day)s?\s*$", re.I)
# INCR a window's counter, and give it its expiry when this is its first request.
COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# After Redis failed, requests skip it for this long (no connect timeout on every request).
RETRY_REDIS_AFTER = 5.0

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


@dataclass(frozen=True)
class Rate:
    """At most `count` requests per `seconds` from one address; count 0 means no limit."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str, name: str = "COS_RATE_LIMIT") -> Rate:
        """Read '60/minute', '10 per second', '1000/hour', '5/10 minutes' or 'off'."""
        if text.strip().lower() in ("off", "none", "0"):
            return cls(0, 1)
        found = RATE_RE.match(text)
        if not found or int(found.group(1)) < 1:
            raise ConfigError(f"{name}={text!r} is not a rate like 60/minute, 10/second, "
                              "1000/hour or 5/10minutes (or off)")
        return cls(int(found.group(1)),
                   int(found.group(2) or 1) * UNITS[found.group(3).lower()])

    def __str__(self) -> str:
        return "off" if not self.count else f"{self.count} per {self.seconds} s"


def rate_from_env(bucket: str) -> Rate:
    """Return the limit of a bucket: COS_RATE_LIMIT for 'token', else COS_<BUCKET>_RATE_LIMIT."""
    name = "COS_RATE_LIMIT" if bucket == "token" else f"COS_{bucket.upper()}_RATE_LIMIT"
    return Rate.parse(os.environ.get(name) or DEFAULTS.get(bucket, DEFAULT), name)


class RateLimiter:
    """Count requests per address and bucket in Redis; say how long an address must wait."""

    def __init__(self, settings: Settings, bucket: str, rate: Rate) -> None:
        self.settings = settings
        self.bucket = bucket
        self.rate = rate
        self._client: redis.Redis | None = None
        self._count: Any = None  # COUNT_SCRIPT on the client (EVALSHA, loaded when missing)
        self._down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()

    def _redis(self) -> redis.Redis | None:
        if self._client is None:
            url = find_redis_url(self.settings.redis_url, self.settings.instance)
            if url is None:
                return None
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            self._count = client.register_script(COUNT_SCRIPT)
            self._client = client
        return self._client

    def wait_for(self, address: str) -> int:
        """Count one request; return 0 if it may go on, else the seconds until it may."""
        if not self.rate.count or time.monotonic() < self._down_until:
            return 0
        now = time.time()
        window = int(now // self.rate.seconds)
        key = f"cos:rate:{self.bucket}:{address}:{window}"
        try:
            client = self._redis()
            if client is None:
                raise redis.exceptions.ConnectionError("no Redis is configured or running")
            # One command, atomic: the count, and the expiry of a window's first count (the
            # key names its window, so a limit never outlives it).
            count = int(self._count(keys=[key], args=[self.rate.seconds + 1]))
        except (redis.exceptions.RedisError, OSError) as exc:
            self._failed(exc)
            return 0
        if self._warned:
            with self._lock:
                self._warned = False
            log.warning("rate limit %r: Redis answers again, limiting again", self.bucket)
        if count <= self.rate.count:
            return 0
        return max(1, int((window + 1) * self.rate.seconds - now + 0.999))

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_REDIS_AFTER
            self._client = None
            first, self._warned = not self._warned, True
        if first:
            log.warning("rate limit %r is off while Redis cannot be reached (pages are served "
                        "without it): %s", self.bucket, exc)


def limiter(bucket: str) -> RateLimiter:
    """Return the app's limiter of a bucket, made on first use from the app's settings."""
    limiters: dict[str, RateLimiter] = current_app.extensions.setdefault("cos_rate_limits", {})
    if bucket not in limiters:
        settings: Settings = current_app.config["COS_SETTINGS"]
        rates: dict[str, Rate] = current_app.config.get("COS_RATE_LIMITS", {})
        limiters[bucket] = RateLimiter(settings, bucket, rates.get(bucket) or
                                       rate_from_env(bucket))
    return limiters[bucket]


def too_many(retry_after: int) -> ResponseReturnValue:
    """The friendly 429 page, with Retry-After."""
    minutes = (retry_after + 59) // 60
    wait = (f"{retry_after} seconds" if retry_after < 60 else
            f"{minutes} minute{'s' if minutes > 1 else ''}")
    if request.path.startswith("/api/"):
        return ({"error": f"too many requests from this address: try again in {wait}",
                 "status": 429}, 429, {"Retry-After": str(retry_after)})
    body = render_template(
        "problem.html", title="Too many requests",
        message=f"This address opened a lot of pages in a short time, so we are pausing it "
                f"for a moment. Nothing you saved is lost. Please try again in {wait}.")
    return body, 429, {"Retry-After": str(retry_after)}


def rate_limited(bucket: str = "token") -> Callable[[F], F]:
    """Decorate a view: count each request against its client address in `bucket`."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            wait = limiter(bucket).wait_for(request.remote_addr or "unknown")
            if wait:
                return too_many(wait)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(text: str) -> list[Network]:
    """Read COS_TRUSTED_PROXIES: addresses or networks, separated by commas or spaces."""
    networks = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"COS_TRUSTED_PROXIES: {item!r} is not an address or network "
                              "like 127.0.0.1 or 10.0.0.0/8") from None
    return networks


class TrustedProxies:
    """WSGI middleware: take the client address from X-Forwarded-For, only via trusted proxies.

    Walking X-Forwarded-For from the right, each hop added by a trusted proxy is skipped; the
    first address not in the list is the client. A request from any other peer keeps its
    REMOTE_ADDR, so a visitor cannot choose its own address by sending the header.
    """

    def __init__(self, app: Any, proxies: Iterable[Network]) -> None:
        self.app = app
        self.proxies = list(proxies)

    def trusted(self, address: str) -> bool:
        """Say whether an address belongs to a trusted proxy."""
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded and self.trusted(peer):
            client = peer
            for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
                client = hop
                if not self.trusted(hop):
                    break
            environ["cos.proxy_peer"] = peer
            environ["REMOTE_ADDR"] = client
        return self.app(environ, start_response)
