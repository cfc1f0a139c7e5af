"""Desired state with versions, kept in Redis: what members and events share.

Each entity is one hash: `desired` (JSON), `version`, `removed`. A change is
stored only when its version is newer than the stored one (a change without a
version is the next version, unless it changes nothing), and the entity is
marked dirty in the same Lua step, so a stored change is never forgotten: it
stays dirty until a job has made the forum match that version.

Versions are integers 0 ≤ v ≤ 2^53−1 (`Version`, the API's rule): every JSON
parser reads them exactly. In Lua, numbers are doubles, so the script compares
and increments them as decimal strings and never as numbers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import redis
from pydantic import BeforeValidator, Field, StrictInt

T = TypeVar("T")

MAX_VERSION = 2**53 - 1  # the largest integer every JSON parser reads exactly


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 1.0 as an integer, so the API does too; 1.5 stays refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Version = Annotated[StrictInt, BeforeValidator(_whole_number), Field(ge=0, le=MAX_VERSION)]


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null (leave the field out instead)")
    return value


#: On an optional field (`X | None = None`): it may be left out, but an explicit
#: `null` is refused, as PRODUCT.md allows null only where a field is documented nullable.
NotNull = BeforeValidator(_not_null)

_ACCEPT = """
-- Versions travel as decimal strings without leading zeros: compared by length,
-- then 15 digits at a time (exact as doubles), and incremented digit by digit.
local function stored_version(text)
  if not text then return nil end
  if not string.match(text, '^[0-9]+$') then return '0' end  -- a legacy float: unusable
  return string.match(text, '^0*([0-9]-[0-9])$')
end
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  for i = 1, #a, 15 do
    local x, y = tonumber(string.sub(a, i, i + 14)), tonumber(string.sub(b, i, i + 14))
    if x ~= y then return x > y end
  end
  return false
end
local function next_version(text)
  local i = #text
  while i > 0 and string.sub(text, i, i) == '9' do i = i - 1 end
  if i == 0 then return '1' .. string.rep('0', #text) end
  return string.sub(text, 1, i - 1) .. string.char(string.byte(text, i) + 1)
         .. string.rep('0', #text - i)
end

local current = stored_version(redis.call('HGET', KEYS[1], 'version'))
local version = ARGV[2]
if current and version == '' and redis.call('HGET', KEYS[1], 'desired') == ARGV[1]
   and redis.call('HGET', KEYS[1], 'removed') == ARGV[4] then
  return {0, current}  -- no version given and nothing changed
end
if version == '' then
  version = current and next_version(current) or '0'
elseif current and not newer(version, current) then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'desired', ARGV[1], 'version', version, 'accepted_at', ARGV[3],
           'removed', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[5])
return {1, version}
"""


_SETTLE = """
for i = 2, #ARGV, 2 do
  local key = ARGV[1] .. ARGV[i]
  if redis.call('HGET', key, 'version') == ARGV[i + 1] then
    redis.call('SREM', KEYS[1], ARGV[i])
  end
  redis.call('HDEL', key, 'last_error')
end
"""


def stored_version(text: str | None) -> int:
    """A version as kept in Redis; an unusable one (a float stored by an old bridge) is 0.

    The compare-and-set script reads it the same way, so the next real version
    replaces it instead of every read of the entity failing.
    """
    if text and text.isascii() and text.isdigit():
        return int(text)
    return 0


@dataclass(frozen=True)
class Accepted:
    stored: bool  # False: an older or equal version, acknowledged and ignored
    version: int


class VersionedStore(Generic[T]):
    """Subclasses name their keys and turn a hash into their entity (`_load`)."""

    prefix: str  # "<prefix><external_id>" is the entity's hash
    all_key: str  # a set of every external id
    dirty_key: str  # a set of the external ids whose forum side lags behind

    def __init__(self, connection: redis.Redis):
        self.r = connection
        self._accept = connection.register_script(_ACCEPT)

    def _load(self, external_id: str, data: Mapping[str, str]) -> T:
        raise NotImplementedError

    def accept(
        self, external_id: str, desired: Mapping[str, Any], *, version: int | None,
        removed: bool = False,
    ) -> Accepted:
        return self.accept_many([(external_id, desired, version, removed)])[0]

    def accept_many(
        self, changes: Iterable[tuple[str, Mapping[str, Any], int | None, bool]], *,
        chunk: int = 1000,
    ) -> list[Accepted]:
        """`accept` for many (external id, desired, version, removed): a pipeline a thousand.

        Each is its own compare-and-set, so each is stored or ignored on its own.
        """
        changes = list(changes)
        for _, _, version, _ in changes:  # all checked before any is stored
            if version is not None and not 0 <= version <= MAX_VERSION:
                raise ValueError(f"version {version} is outside 0..{MAX_VERSION}")
        results: list[Accepted] = []
        for start in range(0, len(changes), chunk):
            pipe = self.r.pipeline(transaction=False)
            for external_id, desired, version, removed in changes[start : start + chunk]:
                body = {k: v for k, v in desired.items() if k != "version"}
                self._accept(
                    keys=[self.prefix + external_id, self.all_key, self.dirty_key],
                    args=[
                        json.dumps(body, ensure_ascii=False, sort_keys=True),
                        "" if version is None else str(version),
                        f"{time.time():.3f}",
                        "1" if removed else "0",
                        external_id,
                    ],
                    client=pipe,
                )
            results += [Accepted(stored=bool(taken), version=int(version))
                        for taken, version in pipe.execute()]
        return results

    def get(self, external_id: str) -> T | None:
        data = self.r.hgetall(self.prefix + external_id)
        return self._load(external_id, _readable(data)) if data else None

    def many(self, external_ids: Iterable[str]) -> Iterator[T]:
        ids = list(external_ids)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            pipe = self.r.pipeline(transaction=False)
            for external_id in chunk:
                pipe.hgetall(self.prefix + external_id)
            for external_id, data in zip(chunk, pipe.execute(), strict=True):
                if data:
                    yield self._load(external_id, _readable(data))

    def all_ids(self) -> list[str]:
        return sorted(self.r.smembers(self.all_key))

    def all(self) -> Iterator[T]:
        return self.many(self.all_ids())

    def dirty_ids(self) -> list[str]:
        return sorted(self.r.smembers(self.dirty_key))

    def mark_clean(self, external_id: str, version: int) -> bool:
        """Clear the dirty mark, unless a newer version arrived meanwhile."""
        current = self.r.hget(self.prefix + external_id, "version")
        if current is not None and stored_version(current) <= version:
            self.r.srem(self.dirty_key, external_id)
            return True
        return False

    def record_error(self, external_id: str, text: str | None) -> None:
        if text is None:
            self.r.hdel(self.prefix + external_id, "last_error")
        else:
            self.r.hset(self.prefix + external_id, "last_error", text[:500])

    def settle_many(self, versions: Mapping[str, int], *, chunk: int = 1000) -> None:
        """`mark_clean` and a cleared error for many at once, a Lua step per thousand.

        A version is compared as stored (a decimal string): versions only grow,
        so the one a job converged is still the stored one unless a newer came.
        """
        items = list(versions.items())
        for start in range(0, len(items), chunk):
            args: list[str] = [self.prefix]
            for external_id, version in items[start : start + chunk]:
                args += [external_id, str(version)]
            self.r.eval(_SETTLE, 1, self.dirty_key, *args)


def _readable(data: Mapping[str, str]) -> Mapping[str, str]:
    """The hash with its version as `_load` can read it (see `stored_version`)."""
    if "version" not in data:
        return data
    return {**data, "version": str(stored_version(data["version"]))}
