"""The botocore S3 client ci-ml uses: how to reach the service, with its retries, pool size
and checksum settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ci_ml")

WORKERS = 8  # objects in flight
PART_WORKERS = 4  # parts in flight per multipart object


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """How to reach the service; None leaves the choice to boto3 (env vars, ~/.aws/config)."""

    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None  # "path" for most MinIO/Ceph setups, or "virtual"


def make_client(options: ClientOptions) -> Any:
    # botocore directly: boto3's import pulls in s3transfer, which ci-ml never uses, and
    # costs a fifth of a second that a no-change push would otherwise spend waiting.
    import botocore.session
    from botocore.config import Config

    settings: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 10},
        "max_pool_connections": WORKERS * PART_WORKERS,
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
