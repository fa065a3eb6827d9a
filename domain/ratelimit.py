"""Token buckets: a steady rate with a small burst, per key, in memory.

Per node: a user with sockets on two nodes gets each node's allowance,
which bounds a flood without a Redis round trip on every bid."""
import ipaddress
import time


def address_key(address: str) -> str:
    """What a per-address limit counts: an IPv4 address as is, an IPv6 one
    by its /64 (the block one subscriber is given, every address of which
    it can use)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Limiter:
    """One bucket per key; idle full buckets are dropped so memory stays bounded."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000):
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> bool:
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self._prune()
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take()

    def _prune(self) -> None:
        now = time.monotonic()
        full = [k for k, b in self.buckets.items() if b.tokens + (now - b.at) * self.rate >= b.burst]
        for key in full:
            del self.buckets[key]
