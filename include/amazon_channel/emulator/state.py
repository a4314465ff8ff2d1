"""The emulator's state and settings: EmulatorConfig, and Emulator holding the world, the feeds, the clock, access
tokens, rate-limit buckets, counters and the fault-injection random generator.

One Emulator lives on `app.state.emulator`; routes get it through the `EmulatorDep` dependency.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request

from ..ratelimit import DEFAULT_USAGE_PLANS as RATE_LIMITS
from ..ratelimit import TokenBucket
from ..timeutil import parse_iso, utcnow
from .feeds import FeedStore
from .http import ApiError
from .world import World


@dataclass
class EmulatorConfig:
    seed: int = 42
    orders: int = 5000
    history_days: float = 7.0  # orders created before the clock start
    future_days: float = 2.0  # orders still to arrive as the clock moves on
    clock_start: str | None = None  # ISO time the emulator clock starts at; None = real now
    clock_speed: float = 1.0  # emulator seconds per real second; 0 = stopped, moved only by /_emulator/clock/advance
    rate_scale: float = 1.0  # >1 speeds Amazon's refill rates up (tests, benchmarks)
    access_token_ttl: int = 3600
    page_token_ttl: int = 86400
    client_id: str = "amzn1.application-oa2-client.emulator"
    client_secret: str = "emulator-secret"
    refresh_token: str = "Atzr|emulator-refresh-token"
    error_rate: float = 0.0  # share of Amazon-facing answers that are 500/503
    slow_rate: float = 0.0  # share of answers delayed by slow_seconds
    slow_seconds: float = 2.0
    repeat_rate: float = 0.0  # share of pages whose last order is repeated on the next page
    throttle_rate: float = 0.0  # share of answers that are 429 whatever the bucket holds (a throttling storm)
    feed_processing_seconds: float = 2.0  # real seconds from createFeed to DONE (IN_QUEUE, then IN_PROGRESS)

    # Settings that may change while running (the rest shape the world, fixed at start).
    RUNTIME = ("rate_scale", "access_token_ttl", "page_token_ttl", "error_rate", "slow_rate",
               "slow_seconds", "repeat_rate", "throttle_rate", "feed_processing_seconds")


class Emulator:
    """State behind the app: the world, the feeds, the clock, tokens, rate buckets and counters."""

    def __init__(self, config: EmulatorConfig):
        self.initial_config = config
        start = parse_iso(config.clock_start) if config.clock_start else utcnow()
        self.clock_start = int(start.timestamp())
        self.world = World(config.seed, config.orders,
                           int(self.clock_start - config.history_days * 86400),
                           int(self.clock_start + config.future_days * 86400))
        self.reset()

    def reset(self) -> None:
        self.config = replace(self.initial_config)
        self.world.reset()
        self.feeds = FeedStore()
        self._real_start = time.monotonic()
        self.clock_offset = 0.0
        self.access_tokens: dict[str, float] = {}  # access token -> time.monotonic() it expires at
        self.buckets = {op: TokenBucket(rate * self.config.rate_scale, burst)
                        for op, (rate, burst) in RATE_LIMITS.items()}
        self.stats = {op: {"requests": 0, "throttled": 0, "injected_errors": 0} for op in RATE_LIMITS}
        self.rng = random.Random(self.config.seed)

    def now(self) -> int:
        return int(self.clock_start + (time.monotonic() - self._real_start) * self.config.clock_speed
                   + self.clock_offset)

    def settle(self) -> None:
        """Finish the feeds whose processing time is up, so every answer sees their cancellations."""
        self.feeds.settle(self.world, self.now(), self.config.feed_processing_seconds)

    def update_config(self, changes: dict) -> None:
        unknown = set(changes) - set(EmulatorConfig.RUNTIME)
        if unknown:
            raise ApiError(400, "InvalidInput", f"not changeable at run time: {sorted(unknown)}")
        for key, value in changes.items():
            setattr(self.config, key, type(getattr(self.config, key))(value))
        if "rate_scale" in changes:
            for op, (rate, _) in RATE_LIMITS.items():
                self.buckets[op].set_rate(rate * self.config.rate_scale)


async def get_emulator(request: Request) -> Emulator:
    """The app's Emulator (async, so resolving it stays on the event loop that serialises state changes)."""
    return request.app.state.emulator


EmulatorDep = Annotated[Emulator, Depends(get_emulator)]
