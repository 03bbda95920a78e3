"""A per-key token bucket, pure: the caller passes the time in.

Used to bound enrollment attempts per client IP: enrollment tokens are long
random secrets, so this is about keeping a flood off the database, not about
brute force. Buckets of keys not seen for a while are dropped, so the map
stays as small as the set of recently active clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_ms: int


@dataclass(slots=True)
class RateLimiter:
    per_minute: float
    burst: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, key: str, now_ms: int) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        self._forget_idle(now_ms)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now_ms)
        elapsed = max(0, now_ms - bucket.at_ms)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.per_minute / 60_000)
        bucket.at_ms = now_ms
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def retry_after_s(self, key: str) -> int:
        """Whole seconds until ``key`` may try again."""
        bucket = self._buckets.get(key)
        missing = 1 - (bucket.tokens if bucket else 1)
        return max(1, int(missing * 60 / self.per_minute + 0.999))

    def _forget_idle(self, now_ms: int) -> None:
        # A bucket refills completely within this time; past it, it is as good as new.
        full_ms = self.burst * 60_000 / self.per_minute
        if len(self._buckets) > 1024:
            for key in [k for k, b in self._buckets.items() if now_ms - b.at_ms > full_ms]:
                del self._buckets[key]
