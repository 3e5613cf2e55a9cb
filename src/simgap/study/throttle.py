"""Slowing down password guessing on the admin login without letting strangers lock the admin
out.

The old rule (10 failures per client address per 10 minutes, then 429 for everyone from that
address) had two holes: behind a reverse proxy every request comes from the proxy's address, so
ten wrong guesses by anyone locked the right password out for everybody; and uvicorn believed
`X-Forwarded-For` from localhost, so a guesser behind a local proxy picked a new "address" per
guess. What replaces it:

- **Which address.** `client_address` uses the socket peer, and reads `X-Forwarded-For` only
  when that peer is one of the study's `trusted_proxies` (then the right-most address in the
  header that is not itself a trusted proxy: the one the proxy saw). `simgap study serve` also
  turns uvicorn's own proxy-header handling off, so nothing else rewrites the peer.
- **Per-key backoff.** Each key (an address, or a known browser: below) may make
  `free_failures` wrong guesses back to back; after that it must wait `base_delay_s`, then
  twice that, ... up to `max_delay_s` before each further guess. Attempts during the wait
  are refused without checking the password (and do not lengthen it). A success clears the
  key.
- **A global rate** for requests from browsers the app does not know: a token bucket of
  `global_per_min` password checks per minute (burst `global_burst`), so many addresses
  together cannot guess fast either.
- **Known browsers are never locked out by others.** A successful login leaves a signed
  "device" cookie (90 days). A request carrying it is keyed on that browser, not on its address,
  and skips the global rate: neither a flood of guesses from elsewhere nor from the same address
  (a shared proxy, a NAT) delays it. Only its own wrong guesses do.

So the worst a stranger can do is slow down logins from browsers that never logged in before
(log in once from yours before the study goes public). All state is in memory: a restart
forgets it, which only helps the admin.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simgap.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(entries: Sequence[str]) -> list[Network]:
    """`trusted_proxies` of the config: addresses or CIDR networks (ConfigError otherwise)."""
    out: list[Network] = []
    for e in entries:
        try:
            out.append(ipaddress.ip_network(e.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"field trusted_proxies: {e!r} is not an IP address or network"
            ) from None
    return out


def _in(addr: str, nets: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr.strip())
    except ValueError:
        return False
    return any(ip in n for n in nets)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The address a request comes from (see the module docstring). `peer` is the socket peer,
    `forwarded_for` the `X-Forwarded-For` header (possibly several, comma-joined)."""
    peer = peer or "?"
    if not proxies or not forwarded_for or not _in(peer, proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if _in(hop, proxies):
            continue
        try:
            return str(ipaddress.ip_address(hop))
        except ValueError:
            return peer  # garbage where the proxy's entry should be: trust nothing in it
    return peer


@dataclass
class _Key:
    failures: int = 0
    next_ok: float = 0.0


class LoginThrottle:
    """Per-key backoff plus a global rate for unknown browsers (see the module docstring)."""

    def __init__(
        self,
        *,
        free_failures: int = 5,
        base_delay_s: float = 2.0,
        max_delay_s: float = 300.0,
        global_per_min: float = 10.0,
        global_burst: int = 20,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.rate = global_per_min / 60.0
        self.burst = float(global_burst)
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[str, _Key] = OrderedDict()
        self._tokens = self.burst
        self._refilled = clock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now

    def admit(self, key: str, *, known: bool) -> float:
        """0.0 when `key` may have its password checked now (a global token is taken for an
        unknown browser), else the seconds to wait."""
        now = self.clock()
        k = self._keys.get(key)
        if k is not None and now < k.next_ok:
            return k.next_ok - now
        if known:
            return 0.0
        self._refill(now)
        if self._tokens < 1.0:
            return (1.0 - self._tokens) / self.rate if self.rate > 0 else math.inf
        self._tokens -= 1.0
        return 0.0

    def failed(self, key: str) -> None:
        now = self.clock()
        k = self._keys.pop(key, None) or _Key()
        k.failures += 1
        over = k.failures - self.free_failures
        if over >= 0:
            k.next_ok = now + min(self.max_delay_s, self.base_delay_s * 2 ** min(over, 30))
        self._keys[key] = k  # most recent last
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)
