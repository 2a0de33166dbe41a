"""Test servers as separate processes on 127.0.0.1: a free port, and waiting until one answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(
    url: str,
    process: subprocess.Popen[bytes],
    *,
    name: str,
    log: str,
    timeout_s: float,
    any_http_answer: bool = True,
) -> None:
    """Poll `url` until the server answers (any HTTP status when `any_http_answer`, else only
    a success); fail with the log when the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; log: {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            if any_http_answer:
                return
            time.sleep(0.2)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer at {url} in {timeout_s}s; log: {log}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server, killing it if it has not exited 10 s later."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
