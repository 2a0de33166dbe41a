"""S3Store: a cache in an S3 bucket (or MinIO, R2, Ceph: anything speaking the S3 API).

Layout as in `ci_ml.cache.layout`, under the URL's prefix. The client is made in the background
from the store's opening (a failure is raised at first use); no botocore exception leaves this
module: `ci_ml.cache.s3_errors` turns each into a CacheError a user can act on.
Uploads check the file's sha256 and hash each part, then send one PUT (up to `part_size`) or a
multipart upload, every body with `ChecksumSHA256`, so S3 stores exactly the bytes hashed.
Downloads are one streamed GET per object, hashed while written. docs/cache.md has the reasons.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ci_ml.cache import layout
from ci_ml.cache.layout import Area, CacheHit, Trust
from ci_ml.cache.manifest import Manifest, decode_manifest, encode_manifest
from ci_ml.cache.progress import Progress
from ci_ml.cache.s3_client import (
    PART_WORKERS,
    SMALL_WORKERS,
    WORKERS,
    ClientOptions,
    pending_client,
)
from ci_ml.cache.s3_errors import NOT_FOUND, error_code, s3_errors
from ci_ml.cache.s3_put import DIRECT_MAX, DirectPut
from ci_ml.cache.transfer import (
    CHUNK,
    FileRange,
    Part,
    changed_while_caching,
    file_size,
    hash_parts,
    hashed_digest,
    part_ranges,
    run_parallel,
    sha256_range,
    split_by_size,
    write_verified,
)
from ci_ml.errors import CacheError

log = logging.getLogger("ci_ml")
T = TypeVar("T")

# 16 MiB parts: the size S3 guidance suggests for throughput (8 to 16 MiB), cheap to resend
# when one fails, and measured faster than 64 MiB against moto too (benchmarks/README.md).
PART_SIZE = 16 << 20
MAX_PARTS = 10_000  # S3's limit; bigger files get bigger parts
# Fewer objects than this are checked with a HEAD each (in parallel); more with one LIST.
HEAD_LIMIT = 50
DOWNLOAD_ATTEMPTS = 3  # botocore retries requests, not a stream that breaks mid-body


class S3Store:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        trust: Trust,
        options: ClientOptions | None = None,
        part_size: int = PART_SIZE,
        page_size: int = 1000,  # keys per LIST request (S3's maximum)
        head_limit: int = HEAD_LIMIT,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.trust = trust
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.part_size, self.page_size, self.head_limit = part_size, page_size, head_limit
        self._options = options or ClientOptions()
        self._lock = threading.Lock()
        self._s3: Any = None  # a botocore client (untyped) from _pending, at first use
        self._direct: DirectPut | None = None  # with the client
        self._pending = pending_client(self._options)

    def get_manifest(self, key: str) -> CacheHit | None:
        client = self._client()
        for area in layout.readable_areas(self.trust):
            name = self._name(layout.manifest_name(area, key))
            get = functools.partial(client.get_object, Bucket=self.bucket, Key=name)
            response = self._unless_missing("read manifest", name, get)
            if response is None:
                continue
            body = response["Body"]
            with contextlib.closing(body), self._errors("read manifest", name):
                if int(response["ContentLength"]) > layout.MAX_MANIFEST_BYTES:
                    raise CacheError(f"manifest {key} in {self.url} is too big to read")
                data: bytes = body.read()
            return CacheHit(manifest=decode_manifest(data, key=key), area=area)
        return None

    def put_manifest(self, manifest: Manifest) -> None:
        data = encode_manifest(manifest)
        name = self._name(layout.manifest_name(self._writable(), manifest.key))
        self._put(name, data, hashlib.sha256(data).digest())

    def delete_manifests(self, keys: Collection[str]) -> None:
        area = self._writable()
        self._delete([self._name(layout.manifest_name(area, key)) for key in sorted(keys)])

    def missing_objects(self, digests: Collection[str]) -> set[str]:
        area = self._writable()
        wanted = sorted({layout.check_digest(digest) for digest in digests})
        if not wanted:
            return set()
        if len(wanted) < self.head_limit:
            exists = functools.partial(self._object_exists, area)
            found = run_parallel(exists, wanted, workers=SMALL_WORKERS)
            return {digest for digest, there in zip(wanted, found, strict=True) if not there}
        return self._missing_by_listing(area, wanted)

    def put_objects(self, files: Mapping[str, Path], *, progress: Progress | None = None) -> None:
        area = self._writable()

        def put(item: tuple[str, Path]) -> None:
            digest, source = item
            self._upload(self._object(area, digest), digest, source, progress)

        small, big = split_by_size(files, {d: file_size(p) for d, p in files.items()}, DIRECT_MAX)
        run_parallel(put, small, workers=SMALL_WORKERS)
        run_parallel(put, big, workers=WORKERS)

    def get_objects(
        self,
        wanted: Mapping[str, Path],
        *,
        area: Area,
        progress: Progress | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        layout.check_readable(self.trust, area, self.url)

        def get(item: tuple[str, Path]) -> str | None:
            digest, dest = item
            name = self._object(area, digest)
            found = self._download(name, digest, dest, progress, (sizes or {}).get(digest))
            if found is False and layout.may_write(self.trust, area):
                log.warning("cache %s: object %s is corrupt; deleting it", self.url, digest)
                self._delete([name])
            return None if found else digest

        small, big = split_by_size(wanted, sizes or {}, DIRECT_MAX)
        found = run_parallel(get, small, workers=SMALL_WORKERS)
        found += run_parallel(get, big, workers=WORKERS)
        bad = {digest for digest in found if digest}
        if bad:
            raise layout.corrupt_objects(self.url, area, bad)

    def list_manifest_keys(self) -> Iterator[str]:
        return self._list(layout.manifests_dir(self._writable()), layout.key_of)

    def list_objects(self) -> Iterator[str]:
        return self._list(layout.objects_dir(self._writable()), layout.digest_of)

    def delete_objects(self, digests: Collection[str]) -> None:
        area = self._writable()
        self._delete([self._object(area, digest) for digest in sorted(digests)])

    # Writes

    def _upload(self, name: str, digest: str, source: Path, progress: Progress | None) -> None:
        try:
            size = source.stat().st_size
            part_size = max(self.part_size, -(-size // (MAX_PARTS * CHUNK)) * CHUNK)
            if hashed_digest(source) == digest:
                # Hashed by this run's snapshot and unchanged since: one part's checksum is
                # the digest; several parts are each hashed as they are sent, in parallel.
                parts = part_ranges(size, part_size)
                if len(parts) == 1:
                    parts = [dataclasses.replace(parts[0], sha256=bytes.fromhex(digest))]
            else:
                full, parts = hash_parts(source, part_size)
                if full != digest:
                    raise changed_while_caching(source, digest)
        except OSError as e:
            raise CacheError(f"cannot read {source} to store it in {self.url}: {e}") from e
        if len(parts) > 1:
            self._upload_parts(name, source, parts, progress, digest=digest)
            return
        checksum = parts[0].sha256
        assert checksum is not None  # a single part is hashed above
        if size <= DIRECT_MAX:  # small: in memory, so it can go as a direct PUT
            try:
                data = source.read_bytes()
            except OSError as e:
                raise CacheError(f"cannot read {source} to store it in {self.url}: {e}") from e
            self._put(name, data, checksum)
        else:
            with source.open("rb") as body:
                self._put(name, body, checksum)
        if progress is not None:
            progress.advance(size)

    def _put(self, name: str, body: bytes | BinaryIO, sha256: bytes) -> None:
        """One PUT; S3 stores the body only if its sha256 is `sha256`. A small body in memory
        goes directly once the client has sent one PutObject (see `ci_ml.cache.s3_put`)."""
        client, checksum = self._client(), _b64(sha256)
        send = functools.partial(
            client.put_object, Bucket=self.bucket, Key=name, Body=body, ChecksumSHA256=checksum
        )
        with self._errors("upload", name):
            if isinstance(body, bytes) and self._direct is not None:
                self._direct.put(name, body, checksum, client_put=send)
            else:
                send()

    def _upload_parts(
        self,
        name: str,
        source: Path,
        parts: list[Part],
        progress: Progress | None,
        *,
        digest: str,
    ) -> None:
        client = self._client()
        with self._errors("start a multipart upload of", name):
            upload_id = client.create_multipart_upload(
                Bucket=self.bucket, Key=name, ChecksumAlgorithm="SHA256"
            )["UploadId"]
        ids = {"Bucket": self.bucket, "Key": name, "UploadId": upload_id}

        def send(part: Part) -> dict[str, object]:
            try:
                sha256 = part.sha256 or sha256_range(source, part.offset, part.length)
            except OSError as e:
                raise CacheError(f"cannot read {source} to store it in {self.url}: {e}") from e
            checksum = _b64(sha256)
            body = FileRange(source, part.offset, part.length)
            with self._errors(f"upload part {part.number} of", name), body:
                response = client.upload_part(
                    **ids,
                    PartNumber=part.number,
                    Body=body,
                    ContentLength=part.length,
                    ChecksumSHA256=checksum,
                )
            if progress is not None:
                progress.advance(part.length)
            return {"PartNumber": part.number, "ETag": response["ETag"], "ChecksumSHA256": checksum}

        try:
            done = run_parallel(send, parts, workers=PART_WORKERS)
            if any(part.sha256 is None for part in parts) and hashed_digest(source) != digest:
                # Parts hashed as they went: a write since the snapshot changed the file's stat
                # signature, and what was sent may not be the digest's bytes.
                raise changed_while_caching(source, digest)
            with self._errors("complete the multipart upload of", name):
                client.complete_multipart_upload(**ids, MultipartUpload={"Parts": done})
        except BaseException:
            # Parts of an unfinished upload are billed until aborted (or a lifecycle rule runs).
            with contextlib.suppress(CacheError), self._errors("abort the upload of", name):
                client.abort_multipart_upload(**ids)
            raise

    def _delete(self, names: list[str]) -> None:
        client = self._client()
        for start in range(0, len(names), 1000):  # DeleteObjects takes at most 1000 keys
            batch = names[start : start + 1000]
            with self._errors("delete", batch[0]):
                response = client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": n} for n in batch], "Quiet": True},
                )
            if errors := response.get("Errors"):
                raise CacheError(
                    f"cache {self.url}: could not delete {len(errors)} object(s): {errors[:3]}"
                )

    # Reads

    def _download(
        self, name: str, digest: str, dest: Path, progress: Progress | None, size: int | None
    ) -> bool | None:
        """True when `dest` now holds the object, False if it is corrupt, None if missing."""
        from botocore.exceptions import BotoCoreError

        client = self._client()
        get = functools.partial(client.get_object, Bucket=self.bucket, Key=name)
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            response = self._unless_missing("download", name, get)
            if response is None:
                return None
            body = response["Body"]
            try:
                chunks = body.iter_chunks(CHUNK)
                if write_verified(chunks, dest, digest, progress=progress, max_size=size):
                    return True
                # One bad read proves nothing about the object: a flipped bit in transit looks
                # the same. Only a second read that also disagrees with the key condemns it.
                if attempt >= 2:
                    return False
                log.warning(
                    "cache %s: %s did not match its digest; reading it again", self.url, name
                )
            except BotoCoreError as e:
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise CacheError(f"cache {self.url}: downloading {name} failed: {e}") from e
                log.warning("cache %s: download of %s broke off (%s); retrying", self.url, name, e)
            except OSError as e:
                raise CacheError(f"cannot write {dest} from {self.url}: {e}") from e
            finally:
                body.close()
        raise AssertionError("unreachable")

    def _missing_by_listing(self, area: Area, wanted: list[str]) -> set[str]:
        """Which of `wanted` (sorted digests) are absent, from one paginated LIST of the
        objects' prefix, from just before the first wanted name to the last. In a store so big
        that this range spans more pages than a HEAD per object would cost in round trips
        (len(wanted) / SMALL_WORKERS, as HEADs go that many at a time), stop there and HEAD
        the names not reached."""
        prefix = self._name(layout.objects_dir(area))
        names = {prefix + digest[:2] + "/" + digest[2:]: digest for digest in wanted}
        first, last = min(names), max(names)
        request = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        request["StartAfter"] = first[:-1]  # just before the first wanted name
        present: set[str] = set()
        last_seen, complete = "", False
        with self._errors("list", prefix):
            for _ in range(max(1, len(wanted) // SMALL_WORKERS)):
                response = self._client().list_objects_v2(**request)
                for item in response.get("Contents", []):
                    present.add(item["Key"])
                    last_seen = item["Key"]
                if not response.get("IsTruncated") or last_seen >= last:
                    complete = True
                    break
                request["ContinuationToken"] = response["NextContinuationToken"]
        unreached = [n for n in sorted(names) if not complete and n > last_seen]
        there = run_parallel(self._exists, unreached, workers=SMALL_WORKERS)
        present.update(name for name, found in zip(unreached, there, strict=True) if found)
        return {digest for name, digest in names.items() if name not in present}

    def _object_exists(self, area: Area, digest: str) -> bool:
        return self._exists(self._object(area, digest))

    def _exists(self, name: str) -> bool:
        head = functools.partial(self._client().head_object, Bucket=self.bucket, Key=name)
        return self._unless_missing("check", name, head) is not None

    def _list(self, folder: str, parse: Callable[[str], str | None]) -> Iterator[str]:
        """What `parse` finds in the names under `folder`, in S3's order (sorted)."""
        prefix = self._name(folder)
        paginator = self._client().get_paginator("list_objects_v2")
        with self._errors("list", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found = parse(item["Key"][len(prefix) :])
                    if found is not None:
                        yield found

    # Plumbing

    def _name(self, rel: str) -> str:
        return self.prefix + rel

    def _object(self, area: Area, digest: str) -> str:
        return self.prefix + layout.object_name(area, digest)

    def _writable(self) -> Area:
        return layout.writable_area(self.trust, self.url)

    def _client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                with self._errors("connect to", self.bucket):
                    self._s3 = self._pending.take()
                self._direct = DirectPut(self._s3)
            return self._s3

    def _unless_missing(self, action: str, name: str, call: Callable[[], T]) -> T | None:
        from botocore.exceptions import ClientError

        with self._errors(action, name):
            try:
                return call()
            except ClientError as e:
                if error_code(e) in NOT_FOUND:
                    return None
                raise

    def _errors(self, action: str, name: str) -> contextlib.AbstractContextManager[None]:
        return s3_errors(self.url, self.bucket, action, name)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")
