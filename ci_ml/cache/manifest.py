"""Manifests: what a stage produced, as object digests, plus facts about the run. [pure]

A manifest is stored under its stage key and read back by runs that may not trust its writer,
so `decode_manifest` checks everything before anything is built from it: paths are relative
POSIX paths with no `..`, no backslashes and no `.git`; digests are sha256 hex; a symlink's
target stays inside its output directory. `encode_manifest` applies the same checks, so a
manifest that could not be read back is never written. Both raise CacheError naming the key.

JSON shape (version 1), sorted keys, no spaces:
    {"version": 1, "key": "<64 hex>", "stage": "train",
     "outputs": [{"path": "model.pkl", "type": "file", "digest": "<64 hex>", "size": 10,
                  "executable": false},
                 {"path": "data", "type": "dir", "size": 30,
                  "files": [{"path": "a/b.csv", "digest": "...", "size": 30, "executable": false}],
                  "links": [{"path": "latest.csv", "target": "a/b.csv"}]}],
     "metrics": {"metrics.json": {"acc": 0.9}},
     "run": {"commit": "...", "ref": "...", "started_at": "...", "finished_at": "...",
             "duration_s": 1.5, "runner": "...", "gpu": null, "ci_ml_version": "0.1.0",
             "param_overrides": [], "labels": ["self-hosted", "gpu"]}}
`labels` (the runner labels the stage was routed to, for the cost ledger) is optional on read:
manifests written before it was recorded have none.

Version 2 adds packs (`ci_ml.cache.packs`): a directory's file entry may carry
`"pack": "<64 hex>", "offset": n`, saying its bytes are the `size` bytes at `offset` of that
pack object rather than an object of their own. A manifest without packed entries is still
written as version 1, so releases that predate packs keep reading it.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

from ci_ml.cache.safe_paths import Invalid as _Invalid
from ci_ml.cache.safe_paths import check_link_target, check_path
from ci_ml.errors import CacheError

MANIFEST_VERSION = 2
_PACKLESS_VERSION = 1  # what a manifest without packed entries is written as
OutputType = Literal["file", "dir"]
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEntry:
    """A regular file inside a directory output; `path` is relative to that directory."""

    path: str
    digest: str
    size: int
    executable: bool = False
    pack: str | None = None  # the pack object holding the bytes, at `offset` (packs.py)
    offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkEntry:
    """A symlink inside a directory output; `target` is relative to the link's directory."""

    path: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputEntry:
    """One declared output. `path` is relative to the project root.

    A file has `digest`; a directory has `files` and `links` and its `size` is their total.
    Empty subdirectories are not recorded (as in git).
    """

    path: str
    type: OutputType
    size: int
    digest: str | None = None
    executable: bool = False
    files: tuple[FileEntry, ...] = ()
    links: tuple[LinkEntry, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFacts:
    """Where and when the outputs were made. Times are ISO 8601 strings given by the caller."""

    commit: str
    ref: str
    started_at: str
    finished_at: str
    duration_s: float
    runner: str
    ci_ml_version: str
    gpu: str | None = None
    param_overrides: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # runner labels the stage was routed to


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """A stage's outputs under its key. `metrics` maps a metrics file to its parsed JSON."""

    key: str
    stage: str
    outputs: tuple[OutputEntry, ...]
    run: RunFacts
    metrics: Mapping[str, object] = field(default_factory=dict)
    signature: str = ""  # Ed25519 over `signing_payload` by a trusted writer (signing.py)

    def digests(self) -> tuple[str, ...]:
        """Every object the manifest names, sorted, each once (what gc must keep): loose
        objects and packs, not the files inside packs."""
        found = {out.digest for out in self.outputs if out.digest is not None}
        found.update(f.pack or f.digest for out in self.outputs for f in out.files)
        return tuple(sorted(found))

    def is_packed(self) -> bool:
        return any(f.pack is not None for out in self.outputs for f in out.files)


def encode_manifest(manifest: Manifest) -> bytes:
    try:
        _check_manifest(manifest)
    except _Invalid as e:
        raise CacheError(f"refusing to write manifest {manifest.key}: {e}") from e
    doc = {
        "version": MANIFEST_VERSION if manifest.is_packed() else _PACKLESS_VERSION,
        "key": manifest.key,
        "stage": manifest.stage,
        "outputs": [_encode_output(out) for out in manifest.outputs],
        "metrics": dict(manifest.metrics),
        "run": _encode_run(manifest.run),
    }
    if manifest.signature:
        doc["signature"] = manifest.signature
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def signing_payload(manifest: Manifest) -> bytes:
    """The bytes a signature covers: the canonical encoding, without the signature."""
    return encode_manifest(replace(manifest, signature=""))


def decode_manifest(data: bytes, *, key: str) -> Manifest:
    """Parse and check a manifest read from under `key`."""
    try:
        doc = json.loads(data.decode("utf-8"))
        manifest = _decode(doc)
        _check_manifest(manifest)
        if manifest.key != key:
            raise _Invalid(f"it names key {manifest.key}, not the key it is stored under")
    except (ValueError, RecursionError) as e:  # _Invalid, JSONDecodeError, UnicodeDecodeError
        raise CacheError(
            f"manifest {key} in the cache is invalid: {e}. It was written by another tool or"
            " tampered with; ci-ml will not restore it. Delete it from the cache so the stage"
            " runs and pushes a good one."
        ) from e
    return manifest


def check_manifest(manifest: Manifest) -> None:
    """Raise CacheError naming the key if `manifest` is unsafe to restore."""
    try:
        _check_manifest(manifest)
    except _Invalid as e:
        raise CacheError(f"manifest {manifest.key} is invalid: {e}; refusing to restore it") from e


def _check_manifest(manifest: Manifest) -> None:
    if not _HEX64.fullmatch(manifest.key):
        raise _Invalid(f"key {manifest.key!r} is not 64 hex characters")
    if not manifest.stage:
        raise _Invalid("the stage name is empty")
    paths = [out.path for out in manifest.outputs]
    for out in manifest.outputs:
        _check_output(out)
    _check_no_overlap(paths, "the outputs")
    for path in manifest.metrics:
        check_path(path, "metrics file")


def _check_output(out: OutputEntry) -> None:
    check_path(out.path, "output")
    _check_size(out.size, out.path)
    if out.type == "file":
        if out.digest is None or out.files or out.links:
            raise _Invalid(f"file output {out.path!r} needs a digest and no entries")
        _check_digest(out.digest, out.path)
        return
    if out.type != "dir":
        raise _Invalid(f"output {out.path!r} has unknown type {out.type!r}")
    if out.digest is not None or out.executable:
        raise _Invalid(f"directory output {out.path!r} cannot have a digest or exec bit")
    for entry in out.files:
        check_path(entry.path, f"{out.path!r} entry")
        _check_digest(entry.digest, f"{out.path}/{entry.path}")
        _check_size(entry.size, f"{out.path}/{entry.path}")
        if entry.pack is not None:
            _check_digest(entry.pack, f"{out.path}/{entry.path} pack")
            _check_size(entry.offset, f"{out.path}/{entry.path} offset")
        elif entry.offset:
            raise _Invalid(f"{out.path}/{entry.path!r} has an offset but no pack")
    for link in out.links:
        check_path(link.path, f"{out.path!r} symlink")
        check_link_target(link.path, link.target)
    entries = [e.path for e in out.files] + [k.path for k in out.links]
    _check_no_overlap(entries, f"directory output {out.path!r}")
    if out.size != sum(entry.size for entry in out.files):
        raise _Invalid(f"directory output {out.path!r} has a size unequal to its files' total")


def _check_no_overlap(paths: list[str], where: str) -> None:
    """No duplicates, and no path inside another: a file cannot also be a directory."""
    seen: set[str] = set()
    for path in sorted(paths):
        if path in seen:
            raise _Invalid(f"path {path!r} appears twice in {where}")
        seen.add(path)
    for path in sorted(paths):
        parent = posixpath.dirname(path)
        while parent:
            if parent in seen:
                raise _Invalid(f"paths {parent!r} and {path!r} in {where} overlap")
            parent = posixpath.dirname(parent)


def _check_digest(digest: object, where: str) -> None:
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise _Invalid(f"{where!r} has a bad digest {digest!r} (want 64 lowercase hex)")


def _check_size(size: object, where: str) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _Invalid(f"{where!r} has a bad size {size!r}")


def _encode_output(out: OutputEntry) -> dict[str, object]:
    doc: dict[str, object] = {"path": out.path, "type": out.type, "size": out.size}
    if out.type == "file":
        doc.update(digest=out.digest, executable=out.executable)
    else:
        doc["files"] = [_encode_file(f) for f in out.files]
        doc["links"] = [{"path": k.path, "target": k.target} for k in out.links]
    return doc


def _encode_file(entry: FileEntry) -> dict[str, object]:
    doc: dict[str, object] = {
        "path": entry.path,
        "digest": entry.digest,
        "size": entry.size,
        "executable": entry.executable,
    }
    if entry.pack is not None:
        doc.update(pack=entry.pack, offset=entry.offset)
    return doc


def _encode_run(run: RunFacts) -> dict[str, object]:
    return {
        "commit": run.commit,
        "ref": run.ref,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_s": run.duration_s,
        "runner": run.runner,
        "gpu": run.gpu,
        "ci_ml_version": run.ci_ml_version,
        "param_overrides": list(run.param_overrides),
        "labels": list(run.labels),
    }


# Decoding: check types field by field, refusing unknown and missing fields.

T = TypeVar("T")


def _fields(
    doc: object, what: str, required: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> dict[str, object]:
    if not isinstance(doc, dict):
        raise _Invalid(f"{what} is not a JSON object")
    missing, unknown = required - doc.keys(), doc.keys() - required - optional
    if missing or unknown:
        raise _Invalid(f"{what} has missing fields {sorted(missing)} or unknown {sorted(unknown)}")
    return doc


def _typed(value: object, kind: type[T], what: str) -> T:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _Invalid(f"{what} is not a {kind.__name__}: {value!r}")
    return value


def _list(value: object, what: str, item: Callable[[object], T]) -> tuple[T, ...]:
    return tuple(item(v) for v in _typed(value, list, what))


def _decode(doc: object) -> Manifest:
    top = _fields(
        doc, "manifest", {"version", "key", "stage", "outputs", "metrics", "run"}, {"signature"}
    )
    version = top["version"]
    if version not in (_PACKLESS_VERSION, MANIFEST_VERSION) or isinstance(version, bool):
        raise _Invalid(
            f"version {version!r} is not one this ci-ml reads ({_PACKLESS_VERSION} or"
            f" {MANIFEST_VERSION}); a newer ci-ml wrote it"
        )
    metrics = _typed(top["metrics"], dict, "metrics")
    manifest = Manifest(
        key=_typed(top["key"], str, "key"),
        stage=_typed(top["stage"], str, "stage"),
        outputs=_list(top["outputs"], "outputs", _decode_output),
        metrics={_typed(k, str, "metrics path"): v for k, v in metrics.items()},
        run=_decode_run(top["run"]),
        signature=_typed(top.get("signature", ""), str, "signature"),
    )
    if manifest.is_packed() != (version == MANIFEST_VERSION):
        raise _Invalid(f"version {version} does not match whether its files are packed")
    return manifest


def _decode_output(doc: object) -> OutputEntry:
    optional = {"digest", "executable", "files", "links"}
    out = _fields(doc, "output", {"path", "type", "size"}, optional)
    path = _typed(out["path"], str, "output path")
    kind = out["type"]
    if kind == "file":
        _fields(out, f"file output {path!r}", {"path", "type", "size", "digest", "executable"})
        return OutputEntry(
            path=path,
            type="file",
            size=_typed(out["size"], int, f"size of {path!r}"),
            digest=_typed(out["digest"], str, f"digest of {path!r}"),
            executable=_typed(out["executable"], bool, f"executable of {path!r}"),
        )
    if kind != "dir":
        raise _Invalid(f"output {path!r} has unknown type {kind!r}")
    _fields(out, f"directory output {path!r}", {"path", "type", "size", "files", "links"})
    return OutputEntry(
        path=path,
        type="dir",
        size=_typed(out["size"], int, f"size of {path!r}"),
        files=_list(out["files"], f"files of {path!r}", _decode_file),
        links=_list(out["links"], f"links of {path!r}", _decode_link),
    )


def _decode_file(doc: object) -> FileEntry:
    entry = _fields(doc, "file entry", {"path", "digest", "size", "executable"}, {"pack", "offset"})
    if ("pack" in entry) != ("offset" in entry):
        raise _Invalid(f"file entry {entry['path']!r} needs both pack and offset, or neither")
    pack = _typed(entry["pack"], str, "file pack") if "pack" in entry else None
    return FileEntry(
        path=_typed(entry["path"], str, "file path"),
        digest=_typed(entry["digest"], str, "file digest"),
        size=_typed(entry["size"], int, "file size"),
        executable=_typed(entry["executable"], bool, "file executable"),
        pack=pack,
        offset=_typed(entry.get("offset", 0), int, "file offset"),
    )


def _decode_link(doc: object) -> LinkEntry:
    entry = _fields(doc, "symlink entry", {"path", "target"})
    return LinkEntry(
        path=_typed(entry["path"], str, "symlink path"),
        target=_typed(entry["target"], str, "symlink target"),
    )


def _decode_run(doc: object) -> RunFacts:
    names = {"commit", "ref", "started_at", "finished_at", "duration_s", "runner", "gpu"}
    run = _fields(doc, "run", names | {"ci_ml_version", "param_overrides"}, {"labels"})
    duration = run["duration_s"]
    if not isinstance(duration, (int, float)) or isinstance(duration, bool):
        raise _Invalid(f"run duration_s is not a number: {duration!r}")
    gpu = run["gpu"]
    return RunFacts(
        commit=_typed(run["commit"], str, "run commit"),
        ref=_typed(run["ref"], str, "run ref"),
        started_at=_typed(run["started_at"], str, "run started_at"),
        finished_at=_typed(run["finished_at"], str, "run finished_at"),
        duration_s=float(duration),
        runner=_typed(run["runner"], str, "run runner"),
        ci_ml_version=_typed(run["ci_ml_version"], str, "run ci_ml_version"),
        gpu=None if gpu is None else _typed(gpu, str, "run gpu"),
        param_overrides=_list(
            run["param_overrides"], "param_overrides", lambda v: _typed(v, str, "param override")
        ),
        labels=_list(run.get("labels", []), "labels", lambda v: _typed(v, str, "runner label")),
    )
