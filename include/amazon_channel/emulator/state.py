"""The emulator's state and settings: EmulatorConfig; SellerRegion, one seller's authorization in one region with
its world, feeds, rate-limit buckets and counters; and Emulator holding them with the clock, access tokens and the
fault-injection random generator.

Without `--sellers` there is one SellerRegion (no seller id, no region) on the unprefixed paths, as Amazon's single
endpoint was emulated before. With `--sellers N`, sellers SELLER1..N are each authorized in na, eu and fe, each
(seller, region) with its own refresh token and world; Amazon meters per seller and region, so each has its own
buckets. Clock, config and reset stay global.

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
from .feeds import FIRST_FEED_ID, FeedStore
from .http import ApiError
from .marketplaces import MARKETPLACE_BY_ID, MARKETPLACES, REGION_ACCEPTS, REGION_MARKETPLACES, REGIONS, Marketplace
from .world import World

SELLER_ID_PREFIX = "A1EMULATORSELLER"  # seller n is A1EMULATORSELLER<n>
FEED_IDS_PER_SELLER_REGION = 10**6  # feed ids of each seller-region start this far apart, so they never collide


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
    sellers: int = 0  # 0: one seller on one endpoint; N: sellers SELLER1..N in regions /na, /eu, /fe (`orders` each)

    # Settings that may change while running (the rest shape the world, fixed at start).
    RUNTIME = ("rate_scale", "access_token_ttl", "page_token_ttl", "error_rate", "slow_rate",
               "slow_seconds", "repeat_rate", "throttle_rate", "feed_processing_seconds")


class SellerRegion:
    """One seller's authorization in one region: its refresh token, world, feeds, rate buckets and counters."""

    def __init__(self, seller_id: str | None, region: str | None, refresh_token: str, world: World,
                 accepts: frozenset[str], first_feed_id: int):
        self.seller_id, self.region, self.refresh_token, self.world = seller_id, region, refresh_token, world
        self.accepts = accepts  # the marketplaceIds its endpoint takes; any other is a 400
        self.first_feed_id = first_feed_id

    @property
    def marketplaces(self) -> tuple[Marketplace, ...]:
        return self.world.marketplaces

    def tag(self) -> dict:
        """{"sellerId", "region"} for the admin API's entries; empty for the single seller, whose answers stay
        as they always were."""
        return {"sellerId": self.seller_id, "region": self.region} if self.seller_id else {}

    def reset(self, rate_scale: float) -> None:
        self.world.reset()
        self.feeds = FeedStore(first_feed_id=self.first_feed_id)
        self.buckets = {op: TokenBucket(rate * rate_scale, burst) for op, (rate, burst) in RATE_LIMITS.items()}
        self.stats = {op: {"requests": 0, "throttled": 0, "injected_errors": 0} for op in RATE_LIMITS}


class Emulator:
    """State behind the app: the sellers' regions (worlds, feeds, buckets, counters), the clock and tokens."""

    def __init__(self, config: EmulatorConfig):
        self.initial_config = config
        start = parse_iso(config.clock_start) if config.clock_start else utcnow()
        self.clock_start = int(start.timestamp())
        span = (int(self.clock_start - config.history_days * 86400), int(self.clock_start + config.future_days * 86400))
        if config.sellers < 0:
            raise ValueError("sellers must be 0 (one seller) or more")
        if config.sellers * len(REGIONS) * config.orders > 10**7:
            raise ValueError("at most 10,000,000 orders in all worlds (order ids number them)")
        if config.sellers == 0:
            self.seller_regions = [SellerRegion(None, None, config.refresh_token,
                                                World(config.seed, config.orders, *span, MARKETPLACES),
                                                frozenset(MARKETPLACE_BY_ID), FIRST_FEED_ID)]
        else:
            self.seller_regions = []
            for n in range(1, config.sellers + 1):
                seller_id = f"{SELLER_ID_PREFIX}{n}"
                for region in REGIONS:
                    k = len(self.seller_regions)
                    world = World(f"{config.seed}:{seller_id}:{region}", config.orders, *span,
                                  REGION_MARKETPLACES[region], id_offset=k * config.orders)
                    self.seller_regions.append(SellerRegion(
                        seller_id, region, f"Atzr|emulator-{seller_id.lower()}-{region}", world,
                        REGION_ACCEPTS[region], FIRST_FEED_ID + k * FEED_IDS_PER_SELLER_REGION))
        # The single seller answers on the unprefixed paths; None when the emulator has --sellers.
        self.single = None if config.sellers else self.seller_regions[0]
        self.by_refresh_token = {sr.refresh_token: sr for sr in self.seller_regions}
        self.order_owner = {order_id: sr for sr in self.seller_regions for order_id in sr.world.by_id}
        self.reset()

    def reset(self) -> None:
        self.config = replace(self.initial_config)
        for seller_region in self.seller_regions:
            seller_region.reset(self.config.rate_scale)
        self._real_start = time.monotonic()
        self.clock_offset = 0.0
        # access token -> (time.monotonic() it expires at, the seller-region it was granted for)
        self.access_tokens: dict[str, tuple[float, SellerRegion]] = {}
        self.rng = random.Random(self.config.seed)

    def now(self) -> int:
        return int(self.clock_start + (time.monotonic() - self._real_start) * self.config.clock_speed
                   + self.clock_offset)

    def settle(self) -> None:
        """Finish the feeds whose processing time is up, so every answer sees their cancellations."""
        now = self.now()
        for seller_region in self.seller_regions:
            seller_region.feeds.settle(seller_region.world, now, self.config.feed_processing_seconds)

    def select(self, seller_id: str | None, region: str | None) -> list[SellerRegion]:
        """The seller-regions matching the admin API's optional filters (ApiError 400 for an unknown value)."""
        if seller_id is not None and seller_id not in {sr.seller_id for sr in self.seller_regions}:
            raise ApiError(400, "InvalidInput", f"unknown seller_id {seller_id!r} (see /_emulator/sellers)")
        if region is not None and region not in {sr.region for sr in self.seller_regions}:
            raise ApiError(400, "InvalidInput", f"unknown region {region!r} (the emulator's regions: "
                                                f"{', '.join(REGIONS) if self.single is None else 'none'})")
        return [sr for sr in self.seller_regions
                if seller_id in (None, sr.seller_id) and region in (None, sr.region)]

    def update_config(self, changes: dict) -> None:
        unknown = set(changes) - set(EmulatorConfig.RUNTIME)
        if unknown:
            raise ApiError(400, "InvalidInput", f"not changeable at run time: {sorted(unknown)}")
        for key, value in changes.items():
            setattr(self.config, key, type(getattr(self.config, key))(value))
        if "rate_scale" in changes:
            for seller_region in self.seller_regions:
                for op, (rate, _) in RATE_LIMITS.items():
                    seller_region.buckets[op].set_rate(rate * self.config.rate_scale)


async def get_emulator(request: Request) -> Emulator:
    """The app's Emulator (async, so resolving it stays on the event loop that serialises state changes)."""
    return request.app.state.emulator


EmulatorDep = Annotated[Emulator, Depends(get_emulator)]
