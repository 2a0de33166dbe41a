"""Where things live in a cache store: trust areas and the names of objects and manifests. [pure]

Every store, local or S3, has the same layout under its root or prefix:

    trusted/objects/ab/cdef...        object: file content under its sha256 (fan-out: 2 hex chars)
    trusted/manifests/<key>.json      manifest: a stage key -> the objects of its outputs
    untrusted/objects/...             the same, written by pull requests
    untrusted/manifests/...

The trust level chosen when a store is opened decides which areas it reads and which one it
writes; nothing below the store decides it again.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection
from dataclasses import dataclass

from ci_ml.cache.manifest import Manifest
from ci_ml.errors import CacheError, CorruptObjectError

HEX64 = re.compile(r"[0-9a-f]{64}")


class Trust(enum.Enum):
    """Who is using the store, chosen by the workflow (never by the stage being run).

    TRUSTED: pushes to protected branches. Reads and writes the trusted area only.
    UNTRUSTED: pull requests. Reads trusted then untrusted; writes untrusted only.
    READ_ONLY: reads like UNTRUSTED and writes nothing (every write raises CacheError).
    """

    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"
    READ_ONLY = "read-only"


class Area(enum.Enum):
    """A top-level directory (or prefix) of a store."""

    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheHit:
    """A manifest and the area it was read from; its objects are read from the same area."""

    manifest: Manifest
    area: Area


# Trusted first: where both areas hold a key, the trusted result wins.
_READABLE = {
    Trust.TRUSTED: (Area.TRUSTED,),
    Trust.UNTRUSTED: (Area.TRUSTED, Area.UNTRUSTED),
    Trust.READ_ONLY: (Area.TRUSTED, Area.UNTRUSTED),
}
_WRITABLE = {Trust.TRUSTED: Area.TRUSTED, Trust.UNTRUSTED: Area.UNTRUSTED, Trust.READ_ONLY: None}

# A manifest is small (one line per output file); anything bigger is hostile or broken.
MAX_MANIFEST_BYTES = 64 << 20


def readable_areas(trust: Trust) -> tuple[Area, ...]:
    return _READABLE[trust]


def writable_area(trust: Trust, url: str) -> Area:
    """The one area a store may write, or CacheError for a read-only store."""
    area = _WRITABLE[trust]
    if area is None:
        raise CacheError(
            f"cache {url} is open read-only, so nothing can be written to it. Open it as"
            " trusted (protected branches) or untrusted (pull requests) to push results."
        )
    return area


def may_write(trust: Trust, area: Area) -> bool:
    return _WRITABLE[trust] is area


def check_readable(trust: Trust, area: Area, url: str) -> None:
    if area not in _READABLE[trust]:
        raise CacheError(
            f"cache {url} is open as {trust.value} and may not read the {area.value} area:"
            " a trusted run never uses results that a pull request could have written."
        )


def corrupt_objects(url: str, area: Area, digests: Collection[str]) -> CorruptObjectError:
    return CorruptObjectError(
        f"cache {url}: {len(digests)} object(s) missing or corrupt in the {area.value} area:"
        f" {', '.join(sorted(digests))}",
        digests=digests,
    )


def check_digest(digest: str) -> str:
    if not HEX64.fullmatch(digest):
        raise CacheError(f"{digest!r} is not a sha256 digest (64 lowercase hex characters)")
    return digest


def check_key(key: str) -> str:
    if not HEX64.fullmatch(key):
        raise CacheError(f"{key!r} is not a stage key (64 lowercase hex characters)")
    return key


def object_name(area: Area, digest: str) -> str:
    """`trusted/objects/ab/cdef...`: the fan-out keeps directories and S3 listings small."""
    check_digest(digest)
    return f"{area.value}/objects/{digest[:2]}/{digest[2:]}"


def manifest_name(area: Area, key: str) -> str:
    return f"{area.value}/manifests/{check_key(key)}.json"


def objects_dir(area: Area) -> str:
    return f"{area.value}/objects/"


def manifests_dir(area: Area) -> str:
    return f"{area.value}/manifests/"


def digest_of(name: str) -> str | None:
    """The digest named by `ab/cdef...` (relative to an objects dir), or None for other names."""
    fanout, _, rest = name.partition("/")
    digest = fanout + rest
    return digest if len(fanout) == 2 and HEX64.fullmatch(digest) else None


def key_of(name: str) -> str | None:
    """The stage key named by `<key>.json` (relative to a manifests dir), or None."""
    key = name.removesuffix(".json")
    return key if name.endswith(".json") and HEX64.fullmatch(key) else None
