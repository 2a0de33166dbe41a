"""The action's install step: which sets a command gets, where the venv lives, and how uv's
pinned wheel is found and checked (against a loopback index)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import platform
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_ml.github.install import (
    FetchError,
    fetch_uv,
    index_links,
    lock_sets,
    pick_wheel,
    pinned_uv,
    venv_dir,
)

ROOT = Path(__file__).resolve().parents[2]
# uv 0.13.9's wheels, as its index lists them.
UV_WHEELS = [
    f"uv-0.13.9-py3-none-{platform}.whl"
    for platform in (
        "linux_armv6l",
        "macosx_10_12_x86_64",
        "macosx_11_0_arm64",
        "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        "manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l",
        "manylinux_2_17_armv7l.manylinux2014_armv7l",
        "manylinux_2_17_i686.manylinux2014_i686",
        "manylinux_2_17_ppc64le.manylinux2014_ppc64le",
        "manylinux_2_17_s390x.manylinux2014_s390x",
        "manylinux_2_17_x86_64.manylinux2014_x86_64",
        "manylinux_2_28_aarch64",
        "manylinux_2_31_riscv64.musllinux_1_1_riscv64",
        "manylinux_2_31_riscv64",
        "musllinux_1_1_i686",
        "musllinux_1_1_x86_64",
        "win32",
        "win_amd64",
        "win_arm64",
    )
]


@pytest.mark.parametrize(
    ("command", "sets"),
    [
        ("plan", ("core",)),
        ("run", ("core",)),
        ("pull", ("core",)),
        ("gc", ("core",)),
        ("report", ("core", "report")),
        ("comment", ("core", "report")),
        ("", ("core",)),
    ],
)
def test_only_report_and_comment_get_the_report_set(command: str, sets: tuple[str, ...]) -> None:
    assert lock_sets(command) == sets


@pytest.mark.parametrize(
    ("system", "machine", "runtime", "platform"),
    [
        ("Linux", "x86_64", ("glibc", "2.35"), "manylinux_2_17_x86_64.manylinux2014_x86_64"),
        ("Linux", "x86_64", ("", ""), "musllinux_1_1_x86_64"),
        (
            "Linux",
            "aarch64",
            ("glibc", "2.27"),
            "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        ),
        ("Linux", "riscv64", ("glibc", "2.39"), "manylinux_2_31_riscv64.musllinux_1_1_riscv64"),
        ("Darwin", "arm64", ("macos", "14.2"), "macosx_11_0_arm64"),
        ("Darwin", "x86_64", ("macos", "10.15.7"), "macosx_10_12_x86_64"),
        ("Linux", "x86_64", ("glibc", "2.12"), None),  # older than any wheel's glibc
        ("Darwin", "arm64", ("macos", "10.15"), None),
        ("Windows", "AMD64", ("", ""), None),  # the action's step is POSIX-only
    ],
)
def test_picks_the_wheel_for_the_machine(
    system: str, machine: str, runtime: tuple[str, str], platform: str | None
) -> None:
    picked = pick_wheel(
        UV_WHEELS, version="0.13.9", system=system, machine=machine, runtime=runtime
    )
    assert picked == (f"uv-0.13.9-py3-none-{platform}.whl" if platform else None)


def test_another_version_is_never_picked() -> None:
    wheels = ["uv-0.14.0-py3-none-manylinux_2_17_x86_64.whl"]
    assert (
        pick_wheel(
            wheels, version="0.13.9", system="Linux", machine="x86_64", runtime=("glibc", "2.35")
        )
        is None
    )


def test_the_pinned_uv_is_read_from_action_uv_txt() -> None:
    version, digests = pinned_uv((ROOT / "ci_ml" / "action-uv.txt").read_text())
    assert version == "0.13.9"
    assert len(digests) == len(UV_WHEELS) + 1  # and the sdist


def test_an_unpinned_uv_is_refused() -> None:
    with pytest.raises(FetchError, match="pins no uv version with hashes"):
        pinned_uv("uv==0.13.9\n")


def test_index_links_from_json_and_html_pages() -> None:
    page = "https://mirror.example/simple/uv/"
    as_json = json.dumps(
        {"files": [{"filename": "uv-1-py3-none-any.whl", "url": "../../f/uv.whl"}]}
    )
    as_html = '<a href="../../f/uv.whl#sha256=00" data-requires-python="&gt;=3.8">uv-1-py3-none-any.whl</a>'
    expected = {"uv-1-py3-none-any.whl": "https://mirror.example/f/uv.whl"}
    assert index_links(as_json.encode(), "application/vnd.pypi.simple.v1+json", page) == expected
    assert index_links(as_html.encode(), "text/html", page) == {
        "uv-1-py3-none-any.whl": "https://mirror.example/f/uv.whl#sha256=00"
    }


@pytest.mark.parametrize(
    ("reuse", "expected"),
    [("false", "temp/ci-ml/venv"), ("", "temp/ci-ml/venv"), ("true", "tools/ci-ml/")],
)
def test_the_venv_lives_in_runner_temp_unless_reused(reuse: str, expected: str) -> None:
    env = {"RUNNER_TEMP": "temp", "RUNNER_TOOL_CACHE": "tools", "INPUT_REUSE_VENV": reuse}
    assert venv_dir(env, ROOT).as_posix().startswith(expected)


# -- fetching uv from a loopback index -----------------------------------------------------------


def _wheel(version: str, binary: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"uv-{version}.data/scripts/uv", binary)
    return buffer.getvalue()


@pytest.fixture
def index() -> Iterator[dict[str, bytes]]:
    """A simple index on 127.0.0.1: path -> body; its URL is under the key "url"."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    files["url"] = f"http://127.0.0.1:{server.server_address[1]}/simple".encode()
    yield files
    server.shutdown()
    server.server_close()


def _serve_uv(index: dict[str, bytes], wheel: bytes) -> str:
    machine = platform.machine()
    here = (
        f"macosx_10_12_{machine}"
        if platform.system() == "Darwin"
        else f"manylinux_2_17_{machine}.musllinux_1_1_{machine}"
    )
    name = f"uv-9.9.9-py3-none-{here}.whl"
    index["/simple/uv/"] = json.dumps({"files": [{"filename": name, "url": f"/f/{name}"}]}).encode()
    index[f"/f/{name}"] = wheel
    return index["url"].decode()


def test_fetches_and_unpacks_the_pinned_wheel(index: dict[str, bytes], tmp_path: Path) -> None:
    wheel = _wheel("9.9.9", b"#!/bin/sh\necho uv\n")
    url = _serve_uv(index, wheel)
    pins = f"uv==9.9.9 \\\n    --hash=sha256:{hashlib.sha256(wheel).hexdigest()}\n"
    binary = fetch_uv(tmp_path / "uv", requirements=pins, index=url)
    assert binary.read_bytes() == b"#!/bin/sh\necho uv\n"
    assert binary.stat().st_mode & 0o111


def test_a_wheel_that_does_not_match_the_pins_is_refused(
    index: dict[str, bytes], tmp_path: Path
) -> None:
    url = _serve_uv(index, _wheel("9.9.9", b"not the pinned uv"))
    pins = f"uv==9.9.9 \\\n    --hash=sha256:{'0' * 64}\n"
    with pytest.raises(FetchError, match=r"does not match the hashes pinned in action-uv\.txt"):
        fetch_uv(tmp_path / "uv", requirements=pins, index=url)
    assert not (tmp_path / "uv").exists()
