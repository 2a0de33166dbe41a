"""botocore's exceptions, turned into CacheErrors a user can act on: each names the cache URL,
the object and, where we can tell, the fix. No botocore exception leaves `ci_ml.cache`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ci_ml.errors import CacheError

NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_DENIED = {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


@contextlib.contextmanager
def s3_errors(url: str, bucket: str, action: str, name: str) -> Iterator[None]:
    """Raise a CacheError for the botocore exception raised while `action`ing `name`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except ClientError as e:
        raise CacheError(_describe(url, bucket, action, name, e)) from e
    except NoCredentialsError as e:
        raise CacheError(
            f"no AWS credentials for cache {url}. On GitHub Actions, assume a role with"
            " aws-actions/configure-aws-credentials (OIDC); elsewhere set AWS_PROFILE or"
            " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. See docs/cache.md."
        ) from e
    except BotoCoreError as e:
        raise CacheError(f"cache {url}: cannot {action} {name}: {e}") from e


def error_code(error: Any) -> str:
    """The S3 error code of a botocore ClientError ("NoSuchKey", "403", ...)."""
    return str(error.response.get("Error", {}).get("Code", "?"))


def _describe(url: str, bucket: str, action: str, name: str, error: Any) -> str:
    code = error_code(error)
    text = f"cache {url}: cannot {action} s3://{bucket}/{name}: {code}"
    hint = error.response.get("Error", {}).get("Message", "")
    if code in _DENIED:
        hint = "the credentials in use lack this permission (see docs/cache.md for the roles)"
    elif code == "NoSuchBucket":
        hint = f"create bucket {bucket!r} or fix the cache URL"
    return f"{text}: {hint}."
