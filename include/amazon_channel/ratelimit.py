"""Token bucket, shared by the SP-API client (to pace itself) and the emulator (to enforce limits).

Amazon meters each operation with a bucket of `burst` tokens refilled at `rate` tokens per second.
"""

from __future__ import annotations

import threading
import time

# Amazon's default usage plans per operation, (rate per second, burst), from ../shared/spapi-models.
DEFAULT_USAGE_PLANS = {
    "searchOrders": (0.0056, 20),
    "getOrder": (0.5, 30),
    "confirmShipment": (2.0, 10),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
}


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()
        self._left_full = False  # the last reservation took the bucket off full (see settle)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> bool:
        """Take a token if one is there (the emulator's check)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def reserve(self) -> float:
        """Take a token, possibly on credit; return how long the caller must wait before using it."""
        with self._lock:
            self._refill()
            self._left_full = self._tokens >= self.burst
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def settle(self) -> None:
        """The answer to the call just reserved has come. If that call took a full bucket, Amazon's bucket began to
        refill when the call reached it, later than we sent it: count our refill from now, so pacing can never run
        ahead of Amazon's bucket when one call's trip is shorter than the first one's (a 429 otherwise)."""
        with self._lock:
            if self._left_full:
                self._stamp, self._left_full = self._clock(), False

    def acquire(self) -> float:
        """Block until a token is ours (the client's pacing); return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            time.sleep(wait)
        return wait

    def set_rate(self, rate: float) -> None:
        """Adopt a new refill rate (from Amazon's x-amzn-RateLimit-Limit header)."""
        if rate > 0:
            with self._lock:
                self._refill()
                self.rate = rate

    def drain(self) -> None:
        """Forget any remaining burst (after a 429 the server's bucket is evidently empty)."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)
