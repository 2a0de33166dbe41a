"""Signed manifests: the trusted cache stays trustworthy even when a bucket policy is wrong.

Trusted writers (main's run job) sign each manifest with an Ed25519 key from a secret
(CI_ML_SIGNING_KEY). Readers that know the public keys (`trusted-public-keys` in ci-ml.yaml,
or CI_ML_TRUSTED_PUBLIC_KEYS) treat a trusted-area manifest that is unsigned or badly signed
as a cache miss, with a warning: whoever could write the bucket without the key can make ci-ml
recompute, never restore what they planted. `cryptography` is imported only when keys are set.

Keys are base64 of the raw 32 bytes (`ci-ml keygen` prints a pair).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_ml.cache.layout import Area, CacheHit, Trust
from ci_ml.cache.manifest import Manifest, signing_payload
from ci_ml.cache.progress import Progress
from ci_ml.cache.store import CacheStore
from ci_ml.errors import CacheConfigError

log = logging.getLogger("ci_ml")


def generate_key_pair() -> tuple[str, str]:
    """(private, public), each base64 of the raw 32 bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    return _b64(key.private_bytes_raw()), _b64(key.public_key().public_bytes_raw())


def signing_store(
    store: CacheStore, *, private_key: str | None, public_keys: Sequence[str]
) -> CacheStore:
    """`store` itself when no key is set, else one that signs and/or verifies manifests."""
    if not private_key and not public_keys:
        return store
    signer = _private(private_key) if private_key else None
    verifiers = [_public(key) for key in public_keys]
    return SigningStore(store, signer=signer, verifiers=verifiers)


class SigningStore:
    """A CacheStore that signs the manifests it writes to the trusted area and checks the
    signature of every manifest it reads from there."""

    def __init__(self, inner: CacheStore, *, signer: Any, verifiers: Sequence[Any]) -> None:
        self._inner = inner
        self._signer = signer
        self._verifiers = list(verifiers)

    @property
    def url(self) -> str:
        return self._inner.url

    @property
    def trust(self) -> Trust:
        return self._inner.trust

    def get_manifest(self, key: str) -> CacheHit | None:
        hit = self._inner.get_manifest(key)
        if hit is None or hit.area is not Area.TRUSTED or not self._verifiers:
            return hit
        if self._is_signed(hit.manifest):
            return hit
        log.warning(
            "cache %s: the trusted manifest of stage %r (key %s) is %s by a trusted key; "
            "treating it as a miss",
            self.url,
            hit.manifest.stage,
            key[:12],
            "not signed" if not hit.manifest.signature else "not signed correctly",
        )
        return None

    def put_manifest(self, manifest: Manifest) -> None:
        if self._signer is not None and self._inner.trust is Trust.TRUSTED:
            signature = _b64(self._signer.sign(signing_payload(manifest)))
            manifest = dataclasses.replace(manifest, signature=signature)
        self._inner.put_manifest(manifest)

    def delete_manifests(self, keys: Collection[str]) -> None:
        self._inner.delete_manifests(keys)

    def missing_objects(self, digests: Collection[str]) -> set[str]:
        return self._inner.missing_objects(digests)

    def put_objects(self, files: Mapping[str, Path], *, progress: Progress | None = None) -> None:
        self._inner.put_objects(files, progress=progress)

    def get_objects(
        self,
        wanted: Mapping[str, Path],
        *,
        area: Area,
        progress: Progress | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        self._inner.get_objects(wanted, area=area, progress=progress, sizes=sizes)

    def list_manifest_keys(self) -> Iterator[str]:
        return self._inner.list_manifest_keys()

    def list_objects(self) -> Iterator[str]:
        return self._inner.list_objects()

    def delete_objects(self, digests: Collection[str]) -> None:
        self._inner.delete_objects(digests)

    def _is_signed(self, manifest: Manifest) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            signature = base64.b64decode(manifest.signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        payload = signing_payload(manifest)
        for verifier in self._verifiers:
            try:
                verifier.verify(signature, payload)
            except InvalidSignature:
                continue
            return True
        return False


def _private(text: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        return Ed25519PrivateKey.from_private_bytes(_raw(text))
    except ValueError as e:
        raise CacheConfigError(
            "CI_ML_SIGNING_KEY is not an Ed25519 private key (base64 of 32 bytes); make one "
            "with `ci-ml keygen`."
        ) from e


def _public(text: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        return Ed25519PublicKey.from_public_bytes(_raw(text))
    except ValueError as e:
        raise CacheConfigError(
            f"trusted public key {text[:16]!r}... is not an Ed25519 public key (base64 of 32 "
            "bytes); copy it from `ci-ml keygen`'s output."
        ) from e


def _raw(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("not base64") from e
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return raw


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
