"""Where budget counters live: in this process (``MemoryStore``) or shared by replicas (``RedisStore``).

Both keep, per budget instance and window (a *slot*): the settled spend (in buckets, so a rolling
window can drop what left it), the sum of outstanding reservations, and each reservation with an
expiry, so a process that dies with calls in flight frees them after ``ttl``. Reserve is one atomic
step over all the slots of a call (all or nothing); settle is one atomic, idempotent step (a second
settle of the same reservation id changes nothing). Amounts are whole nano-USD.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class StoreError(Exception):
    """The store could not be reached or answered in time; the guard applies its failure policy."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One budget instance in one window, as a store sees it."""

    key: str
    limit: int | None  # nano-USD; None: counted but never blocks (a ``warn`` budget)
    bucket: int
    buckets: int
    ttl_s: int


@dataclass(frozen=True, slots=True)
class Level:
    """A slot's state: settled spend in the window, outstanding reservations (nano-USD), how many."""

    spent: int
    reserved: int
    reservations: int = 0


class Store(Protocol):
    """What the guard needs of a store."""

    def reserve(
        self, rid: str, slots: Sequence[Slot], amount: int, ttl_ms: int
    ) -> tuple[int | None, list[Level]]:
        """Reserve ``amount`` on every slot, or on none: (index of the slot that refused or None, levels)."""
        ...

    def settle(self, rid: str, slots: Sequence[Slot], actual: int, done_ttl_ms: int) -> list[Level]:
        """Drop reservation ``rid`` and add ``actual`` to the spend; idempotent per ``rid``."""
        ...

    def status(self, slots: Sequence[Slot]) -> list[Level]:
        """Each slot's level, after dropping expired reservations."""
        ...

    def scan(self, prefix: str) -> list[str]:
        """Keys of the slots whose key starts with ``prefix``."""
        ...


def _blocks(limit: int | None, spent: int, reserved: int, amount: int) -> bool:
    if limit is None:
        return False
    # A call whose worst case could not be priced (amount 0) still stops at an exhausted budget.
    return spent + reserved + amount > limit if amount > 0 else spent + reserved >= limit


# --- in this process ----------------------------------------------------------------------------
@dataclass(slots=True)
class _Slot:
    buckets: dict[int, int] = field(default_factory=dict)
    reserved: int = 0
    reservations: dict[str, tuple[int, float]] = field(default_factory=dict)  # rid -> (amount, expiry)
    done: dict[str, float] = field(default_factory=dict)  # rid -> expiry of the settled marker
    # (expiry, rid, is a reservation): a heap, so dropping what expired costs only what expired.
    expiries: list[tuple[float, str, bool]] = field(default_factory=list)
    expires: float = 0.0


class MemoryStore:
    """Counters in this process: exact, fast, and private to it (replicas need ``RedisStore``)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._next_sweep = 0.0

    def _get(self, slot: Slot, now: float) -> tuple[_Slot, int]:
        s = self._slots.get(slot.key)
        if s is None or s.expires < now:
            s = self._slots[slot.key] = _Slot()
        s.expires = now + slot.ttl_s
        while s.expiries and s.expiries[0][0] <= now:
            expiry, rid, reservation = heapq.heappop(s.expiries)
            if reservation:
                held = s.reservations.get(rid)
                if held is not None and held[1] == expiry:
                    del s.reservations[rid]
                    s.reserved -= held[0]
            elif s.done.get(rid) == expiry:
                del s.done[rid]
        oldest = slot.bucket - slot.buckets
        for b in [b for b in s.buckets if b <= oldest]:
            del s.buckets[b]
        return s, sum(s.buckets.values())

    def _sweep(self, now: float) -> None:
        # Slots of past windows are dropped once in a while, so memory stays bounded.
        if now >= self._next_sweep:
            self._next_sweep = now + 60
            for key in [k for k, s in self._slots.items() if s.expires < now]:
                del self._slots[key]

    def reserve(
        self, rid: str, slots: Sequence[Slot], amount: int, ttl_ms: int
    ) -> tuple[int | None, list[Level]]:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            states = [self._get(slot, now) for slot in slots]
            levels = [Level(spent, s.reserved, len(s.reservations)) for s, spent in states]
            for i, (slot, (s, spent)) in enumerate(zip(slots, states, strict=True)):
                if _blocks(slot.limit, spent, s.reserved, amount):
                    return i, levels
            if amount > 0:
                expiry = now + ttl_ms / 1000
                for s, _ in states:
                    s.reserved += amount
                    s.reservations[rid] = (amount, expiry)
                    heapq.heappush(s.expiries, (expiry, rid, True))
            return None, [Level(lv.spent, lv.reserved + amount, lv.reservations + 1) for lv in levels]

    def settle(self, rid: str, slots: Sequence[Slot], actual: int, done_ttl_ms: int) -> list[Level]:
        with self._lock:
            now = self._clock()
            levels = []
            for slot in slots:
                s, spent = self._get(slot, now)
                held = s.reservations.pop(rid, None)
                if held is not None:
                    s.reserved -= held[0]
                if held is not None or rid not in s.done:
                    if actual:
                        s.buckets[slot.bucket] = s.buckets.get(slot.bucket, 0) + actual
                        spent += actual
                    s.done[rid] = expiry = now + done_ttl_ms / 1000
                    heapq.heappush(s.expiries, (expiry, rid, False))
                levels.append(Level(spent, s.reserved, len(s.reservations)))
            return levels

    def status(self, slots: Sequence[Slot]) -> list[Level]:
        with self._lock:
            now = self._clock()
            out = []
            for slot in slots:
                s, spent = self._get(slot, now)
                out.append(Level(spent, s.reserved, len(s.reservations)))
            return out

    def scan(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self._slots if k.startswith(prefix))


# --- Redis ----------------------------------------------------------------------------------------
# Layout per slot key K: hash K (field "r": reserved total, "r:<rid>": one reservation), hash K:b
# (spend per bucket), sorted set K:z (members "r:<rid>" and "d:<rid>", scored by expiry in ms of the
# server's clock, so replicas' clocks never matter for expiry). Every key of a store shares the hash
# tag in its prefix, so a Redis Cluster would keep all of them in one slot (tested: one server only).
_LUA_COMMON = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local function purge(k)
  local z = k .. ':z'
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, m in ipairs(gone) do
    if string.sub(m, 1, 2) == 'r:' then
      local amt = redis.call('HGET', k, m)
      if amt then
        redis.call('HINCRBY', k, 'r', -tonumber(amt))
        redis.call('HDEL', k, m)
      end
    end
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
end
local function spent(k, bucket, buckets)
  local total = 0
  local all = redis.call('HGETALL', k .. ':b')
  for i = 1, #all, 2 do
    local b = tonumber(all[i])
    if b <= bucket - buckets then
      redis.call('HDEL', k .. ':b', all[i])
    else
      total = total + tonumber(all[i + 1])
    end
  end
  return total
end
-- The level of a slot that was just purged.
local function level(k, bucket, buckets)
  local s = spent(k, bucket, buckets)
  local r = redis.call('HGET', k, 'r')
  local n = redis.call('HLEN', k)
  if r then n = n - 1 end
  return s, tonumber(r or '0'), n
end
local function touch(k, ttl)
  redis.call('EXPIRE', k, ttl)
  redis.call('EXPIRE', k .. ':b', ttl)
  redis.call('EXPIRE', k .. ':z', ttl)
end
"""

# ARGV: rid, amount, ttl_ms, then per key: limit (-1: none), bucket, buckets, key ttl (s).
_RESERVE = (
    _LUA_COMMON
    + """
local rid, amount, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {-1}
for i, k in ipairs(KEYS) do
  local a = 3 + (i - 1) * 4
  local limit, bucket, buckets = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  purge(k)
  local s, r, n = level(k, bucket, buckets)
  out[#out + 1] = s
  out[#out + 1] = r
  out[#out + 1] = n
  if out[1] == -1 and limit >= 0 then
    if (amount > 0 and s + r + amount > limit) or (amount == 0 and s + r >= limit) then out[1] = i - 1 end
  end
end
if out[1] ~= -1 then return out end
for i, k in ipairs(KEYS) do
  if amount > 0 then
    redis.call('HINCRBY', k, 'r', ARGV[2])
    redis.call('HSET', k, 'r:' .. rid, ARGV[2])
    redis.call('ZADD', k .. ':z', now + ttl, 'r:' .. rid)
    out[3 + (i - 1) * 3] = out[3 + (i - 1) * 3] + amount
    out[4 + (i - 1) * 3] = out[4 + (i - 1) * 3] + 1
  end
  touch(k, tonumber(ARGV[3 + (i - 1) * 4 + 4]))
end
return out
"""
)

# ARGV: rid, actual, done_ttl_ms, then per key: bucket, buckets, key ttl (s).
_SETTLE = (
    _LUA_COMMON
    + """
local rid, actual, done_ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i, k in ipairs(KEYS) do
  local a = 3 + (i - 1) * 3
  local bucket, buckets, ttl = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  purge(k)
  local held = redis.call('HGET', k, 'r:' .. rid)
  if held then
    redis.call('HINCRBY', k, 'r', -tonumber(held))
    redis.call('HDEL', k, 'r:' .. rid)
    redis.call('ZREM', k .. ':z', 'r:' .. rid)
  end
  if held or not redis.call('ZSCORE', k .. ':z', 'd:' .. rid) then
    if tonumber(actual) > 0 then redis.call('HINCRBY', k .. ':b', bucket, actual) end
    redis.call('ZADD', k .. ':z', now + done_ttl, 'd:' .. rid)
  end
  touch(k, ttl)
  local s, r, n = level(k, bucket, buckets)
  out[#out + 1] = s
  out[#out + 1] = r
  out[#out + 1] = n
end
return out
"""
)

# ARGV: per key: bucket, buckets.
_STATUS = (
    _LUA_COMMON
    + """
local out = {}
for i, k in ipairs(KEYS) do
  purge(k)
  local s, r, n = level(k, tonumber(ARGV[(i - 1) * 2 + 1]), tonumber(ARGV[(i - 1) * 2 + 2]))
  out[#out + 1] = s
  out[#out + 1] = r
  out[#out + 1] = n
end
return out
"""
)


def _levels(flat: Sequence[Any]) -> list[Level]:
    return [Level(int(flat[i]), int(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)]


class RedisStore:
    """Counters in Redis, shared by every replica; every command bounded by ``timeout_s``."""

    def __init__(self, url: str, timeout_s: float) -> None:
        try:  # the `redis` extra; imported only when a Redis store is configured
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise ImportError(
                f"budget_store={url!r} needs the redis client: pip install 'otel-openai-billing[redis]'"
            ) from exc

        # No client-side retries: a retry multiplies the time a call can wait, and the guard's policy
        # (fail open or closed) is the answer to an unreachable store.
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._reserve = self._redis.register_script(_RESERVE)
        self._settle = self._redis.register_script(_SETTLE)
        self._status = self._redis.register_script(_STATUS)

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except self._errors as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    def reserve(
        self, rid: str, slots: Sequence[Slot], amount: int, ttl_ms: int
    ) -> tuple[int | None, list[Level]]:
        args: list[Any] = [rid, amount, ttl_ms]
        for slot in slots:
            args += [-1 if slot.limit is None else slot.limit, slot.bucket, slot.buckets, slot.ttl_s]
        out = self._run(self._reserve, [s.key for s in slots], args)
        refused = int(out[0])
        return (None if refused < 0 else refused), _levels(out[1:])

    def settle(self, rid: str, slots: Sequence[Slot], actual: int, done_ttl_ms: int) -> list[Level]:
        args: list[Any] = [rid, actual, done_ttl_ms]
        for slot in slots:
            args += [slot.bucket, slot.buckets, slot.ttl_s]
        return _levels(self._run(self._settle, [s.key for s in slots], args))

    def status(self, slots: Sequence[Slot]) -> list[Level]:
        args: list[Any] = []
        for slot in slots:
            args += [slot.bucket, slot.buckets]
        return _levels(self._run(self._status, [s.key for s in slots], args))

    def scan(self, prefix: str) -> list[str]:
        try:
            keys = {
                k.decode() if isinstance(k, bytes) else k for k in self._redis.scan_iter(match=prefix + "*")
            }
        except self._errors as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc
        # A slot is its hash K and its companions K:b and K:z; any of them names it.
        return sorted({k[:-2] if k.endswith((":b", ":z")) else k for k in keys})
