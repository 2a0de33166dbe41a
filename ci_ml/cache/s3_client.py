"""The botocore S3 client ci-ml uses: how to reach the service, with its retries, pool size
and checksum settings."""

from __future__ import annotations

import atexit
import functools
import gc
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ci_ml")

WORKERS = 8  # objects in flight
PART_WORKERS = 4  # parts in flight per multipart object
# Small objects in flight: round trips, not bytes, set their pace over a real network, and 32
# bodies of at most 1 MiB stay within the connection pool the big ones use anyway.
SMALL_WORKERS = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """How to reach the service; None leaves the choice to boto3 (env vars, ~/.aws/config)."""

    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None  # "path" for most MinIO/Ceph setups, or "virtual"


def make_client(options: ClientOptions) -> Any:
    # Importing botocore and loading its S3 model and endpoint data makes some 70,000 dicts
    # and lists, none of them garbage, that the cyclic GC would walk again and again while
    # they pile up (a tenth of the client's making); they live as long as the process.
    paused = gc.isenabled()
    gc.disable()
    try:
        client = _make_client(options)
    finally:
        if paused:
            gc.enable()
    _freeze_at_exit()
    return client


@functools.cache
def _freeze_at_exit() -> None:
    """At exit, before the interpreter's last collections, move every object into the GC's
    permanent generation: those collections would walk botocore's models and free next to
    nothing (50 ms of every ci-ml process that made a client). Reference counting still frees
    what it frees; what only a collection would free goes back to the OS with the process."""
    atexit.register(gc.freeze)


def _make_client(options: ClientOptions) -> Any:
    # botocore directly: boto3's import pulls in s3transfer, which ci-ml never uses, and
    # costs a fifth of a second that a no-change push would otherwise spend waiting.
    import botocore.session
    from botocore.config import Config

    settings: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 10},
        "max_pool_connections": max(WORKERS * PART_WORKERS, SMALL_WORKERS),
        "connect_timeout": 10,
        "read_timeout": 120,
    }
    # Every body carries x-amz-checksum-sha256, which S3 verifies; signing the payload too
    # would make botocore read and hash each file once more.
    settings["s3"] = {"payload_signing_enabled": False}
    if options.addressing_style:
        settings["s3"]["addressing_style"] = options.addressing_style
    if "response_checksum_validation" in Config.OPTION_DEFAULTS:
        # Bodies uploaded with a sha256 checksum come back with it: botocore checks it while
        # streaming, so a byte damaged in transit is a retryable read error, not a bad object.
        settings["response_checksum_validation"] = "when_supported"
    # endpoint_url None lets boto3 read AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL itself.
    log.debug("cache: S3 client, endpoint %s", options.endpoint_url or "from the environment")
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=options.endpoint_url,
        region_name=options.region,
        config=Config(**settings),
    )


class PendingClient:
    """A client being made in a daemon thread: creating one takes 0.2 to 0.4 s (importing
    botocore, loading the S3 model, finding credentials), which this overlaps with whatever
    comes before the first request."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self._made: list[Any] = []  # [client] or [None, exception]
        self._thread: threading.Thread | None = threading.Thread(
            target=self._make, name="ci-ml-s3-client", daemon=True
        )
        try:
            self._thread.start()
        except RuntimeError:  # no thread to be had: take() makes it
            self._thread = None

    def _make(self) -> None:
        try:
            self._made[:] = [make_client(self.options)]
        except Exception as e:  # noqa: BLE001  # kept for take(), which raises it
            self._made[:] = [None, e]

    def take(self) -> Any:
        """The client (waiting for it). An error met in the background is raised here, once,
        as `make_client` would have raised it; after that each call makes a new client."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        made, self._made = self._made, []
        if len(made) == 2:
            raise made[1]
        return made[0] if made else make_client(self.options)


# Started by a command as soon as it knows its cache, adopted by the store opened with the
# same options; AWS_* variables are part of the key, as the client reads them when made.
_started: dict[tuple[ClientOptions, tuple[tuple[str, str], ...]], PendingClient] = {}
_started_lock = threading.Lock()


def _aws_env() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))


def start_client(options: ClientOptions) -> None:
    """Start making a client for `options` for the next `pending_client(options)`."""
    key = (options, _aws_env())
    with _started_lock:
        if key not in _started:
            _started[key] = PendingClient(options)


def pending_client(options: ClientOptions) -> PendingClient:
    """The client `start_client` started for `options` (in this environment), or a new one."""
    with _started_lock:
        started = _started.pop((options, _aws_env()), None)
    return started or PendingClient(options)
