"""Publish plot images to an S3 bucket and link them: presigned URLs, or a public base URL.

The default, an orphan branch of the repository (`ci_ml.github.client`), keeps private repositories
private and never expires. S3 is the option for teams that keep artifacts in a bucket:
presigned links expire (S3 caps them at 7 days), a public base URL (a CDN or a public bucket)
does not but is readable by anyone with the link.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from ci_ml.cache import ClientOptions, make_client
from ci_ml.errors import CacheConfigError, CiMlError

log = logging.getLogger("ci_ml")
MAX_PRESIGN_S = 7 * 24 * 3600


def publish_to_s3(
    files: Mapping[str, bytes],
    *,
    url: str,
    options: ClientOptions,
    public_base_url: str | None = None,
    expires_s: int = MAX_PRESIGN_S,
) -> dict[str, str]:
    """Upload `files` under `s3://bucket/prefix/<path>`; return a link per path."""
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise CacheConfigError(f"image store {url!r} must be s3://bucket/prefix.")
    bucket, prefix = parts.netloc, parts.path.strip("/")
    client = make_client(options)
    links = {}
    try:
        for path, data in sorted(files.items()):
            key = f"{prefix}/{path}" if prefix else path
            client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png")
            if public_base_url:
                links[path] = f"{public_base_url.rstrip('/')}/{key}"
            else:
                links[path] = client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": bucket, "Key": key},
                    ExpiresIn=min(expires_s, MAX_PRESIGN_S),
                )
    except (BotoCoreError, ClientError) as e:
        raise CiMlError(f"uploading plot images to {url}: {e}") from e
    if not public_base_url:
        days = min(expires_s, MAX_PRESIGN_S) // 86400
        log.warning("plot links are presigned: they expire in %d days", days)
    return links
