"""A lean PUT for small objects: the request botocore would send, without its per-request work.

botocore spends about 0.6 ms of CPU on every call besides the HTTP exchange (resolving the
endpoint ruleset, validating and serializing parameters, a dozen event hooks, parsing the
response); for a push of thousands of small objects that is most of ci-ml's CPU, and on a busy
runner it competes with everything else. `DirectPut` learns, from a PutObject that botocore
itself sent and S3 accepted, the request's URL (so the endpoint, addressing style and region
are botocore's choice), its signer and signing scope, and its headers. It then sends further
small PutObjects of the same client itself: the same URL with another key, the same headers,
signed by botocore's own SigV4 signer (refreshed credentials included) and sent through the
client's own HTTP session (its pool, proxies, TLS settings and timeouts).

Anything unexpected leaves the work to botocore: a client whose PutObject differs from what
this module knows how to reproduce (another signature version, S3 Express, an extra header) is
never learned from, and a direct PUT that fails in any way is sent again by the client, with
its retries and error messages. A status that is not a throttling or server error (a signature
S3 refused, a redirect) turns the direct path off for the rest of the store's life.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

log = logging.getLogger("ci_ml")

# Bodies up to this size are read into memory and sent directly; 32 in flight hold 32 MiB.
DIRECT_MAX = 1 << 20
# Headers of botocore's PutObject that a direct PUT reproduces, lower-cased: copied as they
# were, made anew for each request, or set by the signer. Expect (100-continue) is left out:
# for a body this small, waiting for the go-ahead costs a round trip and saves nothing.
_COPIED = frozenset({"user-agent", "x-amz-sdk-checksum-algorithm"})
_MADE = frozenset(
    {"x-amz-checksum-sha256", "content-length", "amz-sdk-invocation-id", "amz-sdk-request"}
)
_SIGNED = frozenset({"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"})
_DROPPED = frozenset({"expect"})
_KNOWN = _COPIED | _MADE | _SIGNED | _DROPPED
_SCOPE = re.compile(r"AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request,")
_RETRYABLE = {429, 500, 502, 503, 504}


@dataclass(frozen=True, slots=True)
class Seen:
    """What botocore's hooks showed of one PutObject attempt."""

    signer: Any  # botocore's RequestSigner, from the before-sign event
    signature_version: Any
    signing_name: str
    region: str
    extra_signing: bool  # S3 Express and the like: credentials chosen per request
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    """How to send a PutObject directly, learned from one botocore sent."""

    base: str  # the URL up to the key
    signer: Any
    signature_version: str
    signing_name: str
    region: str
    copied: tuple[tuple[str, str], ...]
    attempt_header: str | None  # amz-sdk-request, as for a first attempt


def learn(seen: Seen, key: str) -> Template | None:
    """The template for `seen`, a PutObject of `key` that succeeded; None if this module cannot
    reproduce that request exactly."""
    if seen.signature_version != "s3v4" or seen.extra_signing or not seen.url:
        return None
    suffix = "/" + quote(key, safe="/~")  # how botocore encodes the Key label
    parts = urlsplit(seen.url)
    if parts.query or parts.fragment or not seen.url.endswith(suffix):
        return None
    headers = {name.lower(): value for name, value in seen.headers}
    if not set(headers) <= _KNOWN:
        return None
    scope = _SCOPE.match(headers.get("authorization", ""))
    if scope is None or scope.groups() != (seen.region, seen.signing_name):
        return None
    attempt = headers.get("amz-sdk-request")
    return Template(
        base=seen.url[: -len(suffix)],
        signer=seen.signer,
        signature_version=seen.signature_version,
        signing_name=seen.signing_name,
        region=seen.region,
        copied=tuple((name, value) for name, value in headers.items() if name in _COPIED),
        attempt_header=re.sub(r"attempt=\d+", "attempt=1", attempt) if attempt else None,
    )


class DirectPut:
    """Direct PUTs for one botocore S3 client (see the module docstring)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        # Private, and guarded: the client's HTTP session, so direct PUTs share its pool and
        # settings. A botocore without it gets no direct path.
        self._http: Any = getattr(getattr(client, "_endpoint", None), "http_session", None)
        self._config = client.meta.config
        self._template: Template | None = None
        self._off = not callable(getattr(self._http, "send", None))
        self._local = threading.local()
        if not self._off:
            events = client.meta.events
            events.register("before-sign.s3.PutObject", self._on_sign)
            events.register("before-send.s3.PutObject", self._on_send)
        self.sent = 0  # objects sent directly (tests read it)
        self._count = threading.Lock()  # puts run on many threads at once

    def put(self, key: str, data: bytes, checksum: str, *, client_put: Any) -> None:
        """PUT `data` under `key` with its base64 sha256 `checksum`: directly when a template
        is known, else (or when that fails) by `client_put()`, a botocore call that teaches
        the template when it succeeds."""
        template = self._template
        if template is not None and not self._off and self._send(template, key, data, checksum):
            with self._count:
                self.sent += 1
            return
        self._local.seen = None
        client_put()
        seen: Seen | None = self._local.seen
        if seen is not None and self._template is None and not self._off:
            self._template = learn(seen, key)
            if self._template is not None:
                log.debug("cache: direct PUTs to %s", self._template.base)

    def _send(self, template: Template, key: str, data: bytes, checksum: str) -> bool:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError

        headers = dict(template.copied)
        headers["x-amz-checksum-sha256"] = checksum
        headers["Content-Length"] = str(len(data))
        headers["amz-sdk-invocation-id"] = str(uuid.uuid4())
        if template.attempt_header:
            headers["amz-sdk-request"] = template.attempt_header
        url = template.base + "/" + quote(key, safe="/~")
        request = AWSRequest(method="PUT", url=url, data=data, headers=headers)
        request.context["client_config"] = self._config  # decides payload signing, as botocore
        try:
            auth = template.signer.get_auth_instance(
                signing_name=template.signing_name,
                region_name=template.region,
                signature_version=template.signature_version,
            )
            if type(auth) is not S3SigV4Auth:
                self._off = True
                return False
            auth.add_auth(request)
            response = self._http.send(request.prepare())
        except BotoCoreError as e:  # the client sends it again, with its retries
            log.debug("cache: direct PUT of %s failed (%s); sending it through botocore", key, e)
            return False
        if response.status_code == 200:
            return True
        if response.status_code not in _RETRYABLE:
            log.debug("cache: direct PUT of %s got %s; direct PUTs off", key, response.status_code)
            self._off = True
        return False

    def _on_sign(self, request: Any, signing_name: str, region_name: str, **kwargs: Any) -> None:
        signing = request.context.get("signing", {})
        self._local.seen = Seen(
            signer=kwargs.get("request_signer"),
            signature_version=kwargs.get("signature_version"),
            signing_name=signing.get("signing_name") or signing_name,
            region=signing.get("region") or region_name,
            extra_signing=bool(
                signing.get("request_credentials") or signing.get("identity_cache") is not None
            ),
        )

    def _on_send(self, request: Any, **kwargs: Any) -> None:
        seen: Seen | None = getattr(self._local, "seen", None)
        if seen is not None:
            headers = tuple((str(k), _text(v)) for k, v in request.headers.items())
            self._local.seen = dataclasses.replace(seen, url=str(request.url), headers=headers)


def _text(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)
