"""The CacheStore protocol and `open_store(url, ...)`: which backend a cache URL names."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from ci_ml.cache.layout import Area, CacheHit, Trust
from ci_ml.cache.local import LocalStore
from ci_ml.cache.manifest import Manifest
from ci_ml.cache.progress import Progress
from ci_ml.cache.s3 import S3Store
from ci_ml.cache.s3_client import ClientOptions, start_client
from ci_ml.errors import CacheConfigError
from ci_ml.state import STATE_DIR, state_dir


class CacheStore(Protocol):
    """What the executor needs from a store. Writes go to the one writable area."""

    @property
    def url(self) -> str: ...
    @property
    def trust(self) -> Trust: ...

    def get_manifest(self, key: str) -> CacheHit | None:
        """The manifest under `key` from the first readable area that has one."""

    def put_manifest(self, manifest: Manifest) -> None:
        """Write atomically; call only after every object it names is stored."""

    def delete_manifests(self, keys: Collection[str]) -> None: ...

    def missing_objects(self, digests: Collection[str]) -> set[str]:
        """The digests not yet in the writable area (cheap: about one request per fan-out)."""

    def put_objects(self, files: Mapping[str, Path], *, progress: Progress | None = None) -> None:
        """Store each file under its digest (checked again while reading the file)."""

    def get_objects(
        self,
        wanted: Mapping[str, Path],
        *,
        area: Area,
        progress: Progress | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        """Write each object to its path (temp file + rename), verifying its digest on the way;
        an object longer than its size in `sizes` (the manifest's) is corrupt.

        Raises CorruptObjectError listing the missing or corrupt ones after fetching the rest.
        """

    def list_manifest_keys(self) -> Iterator[str]:
        """Keys with a manifest in the writable area (for gc)."""

    def list_objects(self) -> Iterator[str]:
        """Digests stored in the writable area (for gc)."""

    def delete_objects(self, digests: Collection[str]) -> None: ...


_Opener = Callable[[str, Trust, Path, ClientOptions], CacheStore]
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: not a drive letter
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")
_STYLES = (None, "auto", "path", "virtual")


def is_local_url(url: str) -> bool:
    """A path or a file:// URL: a directory on this machine, not a bucket."""
    match = _SCHEME.match(url)
    return match is None or match.group(1).lower() == "file"


def open_store(
    url: str | None,
    *,
    trust: Trust,
    root: Path,
    endpoint_url: str | None = None,
    region: str | None = None,
    addressing_style: str | None = None,
) -> CacheStore:
    """The store at `url`: None or '' is `<root>/.ci-ml/cache`; a relative path is under root.

    `endpoint_url`, `region` and `addressing_style` apply to s3:// only; left None, boto3 finds
    them itself (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION, ~/.aws/config).
    """
    if not url:
        return LocalStore(state_dir(root) / "cache", trust)
    options = _client_options(endpoint_url, region, addressing_style)
    match = _SCHEME.match(url)
    if match is None:
        path = root / Path(url).expanduser()
        if path.is_relative_to(root / STATE_DIR):
            state_dir(root)  # creates .ci-ml/ with the .gitignore that hides it from git
        return LocalStore(path, trust)
    opener = _OPENERS.get(match.group(1).lower())
    if opener is None:
        raise _bad_url(url, f"the scheme {match.group(1)!r} is not supported")
    return opener(url, trust, root, options)


def start_s3_client(
    url: str | None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    addressing_style: str | None = None,
) -> None:
    """Start making the S3 client for the cache at `url` (if it is one) in the background, so
    it is ready, or nearly, when `open_store` with the same options makes its first request.
    Invalid options start nothing: `open_store` reports them."""
    if not url or not url.lower().startswith("s3://"):
        return
    try:
        options = _client_options(endpoint_url, region, addressing_style)
    except CacheConfigError:
        return
    start_client(options)


def _client_options(
    endpoint_url: str | None, region: str | None, addressing_style: str | None
) -> ClientOptions:
    if addressing_style not in _STYLES:
        raise CacheConfigError(
            f"S3 addressing style {addressing_style!r} is not one of: path, virtual, auto"
        )
    if endpoint_url is not None and not endpoint_url.startswith(("http://", "https://")):
        raise CacheConfigError(f"S3 endpoint {endpoint_url!r} must start with http:// or https://")
    return ClientOptions(
        endpoint_url=endpoint_url, region=region, addressing_style=addressing_style
    )


def _open_local(url: str, trust: Trust, root: Path, options: ClientOptions) -> CacheStore:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise _bad_url(url, "a file URL needs an absolute path: file:///absolute/path")
    if parts.query or parts.fragment:
        raise _bad_url(url, "a file URL cannot have a query or fragment")
    return LocalStore(Path(unquote(parts.path)), trust)


def _open_s3(url: str, trust: Trust, root: Path, options: ClientOptions) -> CacheStore:
    parts = urlsplit(url)
    if not url.lower().startswith("s3://") or not _BUCKET.fullmatch(parts.netloc):
        raise _bad_url(url, "an S3 URL needs a bucket name: s3://bucket/prefix")
    if parts.query or parts.fragment:
        raise _bad_url(url, "an S3 URL cannot have a query or fragment; use the cache options")
    prefix = parts.path.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise _bad_url(url, "the prefix has an empty, '.' or '..' part")
    return S3Store(bucket=parts.netloc, prefix=prefix, trust=trust, options=options)


def _bad_url(url: str, why: str) -> CacheConfigError:
    return CacheConfigError(
        f"cache URL {url!r} cannot be used: {why}. Accepted forms: a directory path (relative"
        " to the project root; write ./name for a name with a colon), file:///absolute/path,"
        " s3://bucket/prefix, or nothing for the default .ci-ml/cache."
    )


_OPENERS: dict[str, _Opener] = {"file": _open_local, "s3": _open_s3}
