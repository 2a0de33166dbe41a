"""Generate DVC 3 pipelines in git repositories for the planning benchmark.

A generated repository holds `files` small tracked data files in a fan-out of directories,
one `src/stage_N.py` per stage, a shared `params.yaml`, a `dvc.yaml` whose stages form a
binary tree (stage N reads the out of stage (N-1)//2, and every tenth stage also the out of
stage N-1), the outs themselves, and a `dvc.lock` with the DVC cache that matches them, so
`dvc status` reports "up to date" at the base commit. A second commit changes one param.

The lock is written here rather than by `dvc commit -f`: that takes minutes at 1,000 stages,
while the hashes are cheap to compute from the bytes we write. `build_repo` checks the base
commit with `dvc status` when the pipeline is small enough for that to be quick.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

DATA_DEPS_PER_STAGE = 3
BIG_DATA = "data/big.bin"
CHUNK = 8 << 20
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_AUTHOR_DATE": "2025-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2025-01-01T00:00:00Z",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoSpec:
    stages: int
    files: int
    data_bytes: int = 0  # > 0: stage 0 also reads an untracked, gitignored file this big
    dir_deps: bool = False  # three stages in four read a whole data directory instead of files

    @property
    def changed_stage(self) -> int:
        """The stage whose param the head commit changes."""
        return min(3, self.stages - 1)

    @property
    def changed_param(self) -> str:
        return f"s.n{self.changed_stage}.lr"


def upstream(n: int) -> tuple[int, ...]:
    """Stages whose outs stage `n` reads: a binary tree, plus a chain link every tenth stage."""
    if n == 0:
        return ()
    parents = [(n - 1) // 2]
    if n % 10 == 9 and n - 1 not in parents:
        parents.append(n - 1)
    return tuple(parents)


def downstream_closure(spec: RepoSpec, start: int) -> set[int]:
    """`start` and every stage that reads, directly or not, one of its outs."""
    children: dict[int, list[int]] = {}
    for n in range(spec.stages):
        for parent in upstream(n):
            children.setdefault(parent, []).append(n)
    seen, todo = {start}, [start]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def stage_name(n: int) -> str:
    return f"stage_{n}"


def data_path(i: int) -> str:
    return f"data/{i // 1000:03d}/{(i // 100) % 10}/f{i:06d}.csv"


def data_content(i: int) -> bytes:
    return "".join(f"{i},{(i * 7 + k) % 1000},{k}\n" for k in range(4)).encode()


def data_deps(spec: RepoSpec, n: int) -> list[int]:
    """A few distinct data files per stage, spread over the whole tree."""
    picks: list[int] = []
    k = 0
    while len(picks) < min(DATA_DEPS_PER_STAGE, spec.files):
        i = (n * 7919 + k * 104_729) % spec.files
        if i not in picks:
            picks.append(i)
        k += 1
    return picks


def src_path(n: int) -> str:
    return f"src/stage_{n}.py"


def src_content(n: int) -> bytes:
    return (
        f'"""Stage {n} of the generated benchmark pipeline."""\n'
        "import sys\n\n"
        f"OUT = 'out/stage_{n}.bin'\n\n"
        "def main() -> int:\n"
        "    with open(OUT, 'w') as f:\n"
        f"        f.write('stage {n}\\n')\n"
        "    return 0\n\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(main())\n"
    ).encode()


def out_path(n: int) -> str:
    return f"out/stage_{n}.bin"


def out_content(n: int) -> bytes:
    return f"stage {n}\n".encode()


def stage_params(n: int, *, changed: int | None = None) -> dict[str, float | int]:
    """Param values of stage `n`: `lr` always, `epochs` for even stages."""
    values: dict[str, float | int] = {"lr": round(0.001 * (n % 10 + 1), 6)}
    if n == changed:
        values["lr"] = round(float(values["lr"]) * 10, 6)
    if n % 2 == 0:
        values["epochs"] = 5 + n % 7
    return values


def data_dir(spec: RepoSpec, n: int) -> str | None:
    """The directory of 1,000 data files stage `n` reads whole, when it reads one."""
    dirs = max(1, spec.files // 1000)
    return f"data/{n % dirs:03d}" if spec.dir_deps and n % 4 != 3 else None


def stage_deps(spec: RepoSpec, n: int) -> list[str]:
    whole = data_dir(spec, n)
    deps = [src_path(n), *([whole] if whole else (data_path(i) for i in data_deps(spec, n)))]
    deps += [out_path(p) for p in upstream(n)]
    if n == 0 and spec.data_bytes:
        deps.append(BIG_DATA)
    return deps


def render_dvc_yaml(spec: RepoSpec) -> str:
    lines = ["stages:"]
    for n in range(spec.stages):
        lines += [f"  {stage_name(n)}:", f"    cmd: python {src_path(n)}", "    deps:"]
        lines += [f"      - {dep}" for dep in stage_deps(spec, n)]
        lines += ["    params:"]
        lines += [f"      - s.n{n}.{key}" for key in stage_params(n)]
        lines += ["    outs:", f"      - {out_path(n)}"]
    return "\n".join(lines) + "\n"


def render_params(spec: RepoSpec, *, head: bool) -> str:
    changed = spec.changed_stage if head else None
    lines = ["s:"]
    for n in range(spec.stages):
        lines.append(f"  n{n}:")
        lines += [f"    {k}: {v!r}" for k, v in stage_params(n, changed=changed).items()]
    return "\n".join(lines) + "\n"


def _lock_entry(path: str, md5: str, size: int) -> list[str]:
    return [f"    - path: {path}", "      hash: md5", f"      md5: {md5}", f"      size: {size}"]


def _dir_entry(path: str, hashes: Mapping[str, tuple[str, int]]) -> list[str]:
    """A directory dep as DVC 3 locks it: the md5 of its sorted JSON listing, plus `.dir`."""
    prefix = path + "/"
    files = sorted((k[len(prefix) :], v) for k, v in hashes.items() if k.startswith(prefix))
    listing = json.dumps([{"md5": md5, "relpath": rel} for rel, (md5, _) in files], sort_keys=True)
    digest = hashlib.md5(listing.encode()).hexdigest() + ".dir"
    size = sum(size for _, (_, size) in files)
    return [*_lock_entry(path, digest, size), f"      nfiles: {len(files)}"]


def render_lock(spec: RepoSpec, hashes: Mapping[str, tuple[str, int]]) -> str:
    """dvc.lock (schema 2.0) for the base commit; `hashes` maps each path to (md5, size)."""
    lines = ["schema: '2.0'", "stages:"]
    for n in range(spec.stages):
        lines += [f"  {stage_name(n)}:", f"    cmd: python {src_path(n)}", "    deps:"]
        for dep in sorted(stage_deps(spec, n)):
            lines += _lock_entry(dep, *hashes[dep]) if dep in hashes else _dir_entry(dep, hashes)
        lines += ["    params:", "      params.yaml:"]
        lines += [f"        s.n{n}.{k}: {v!r}" for k, v in sorted(stage_params(n).items())]
        lines += ["    outs:", *_lock_entry(out_path(n), *hashes[out_path(n)])]
    return "\n".join(lines) + "\n"


def _write(root: Path, rel: str, content: bytes, hashes: dict[str, tuple[str, int]]) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    hashes[rel] = (hashlib.md5(content).hexdigest(), len(content))  # DVC 3 hashes with md5


def write_big_file(path: Path, size: int) -> tuple[str, int]:
    """`size` random bytes in chunks (memory stays flat); returns DVC's (md5, size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    md5 = hashlib.md5()  # DVC 3 hashes with md5
    with path.open("wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            md5.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return md5.hexdigest(), size


def _write_tree(root: Path, spec: RepoSpec) -> dict[str, tuple[str, int]]:
    """Every file of the base commit plus the outs; the md5 and size of each."""
    hashes: dict[str, tuple[str, int]] = {}
    for i in range(spec.files):
        _write(root, data_path(i), data_content(i), hashes)
    for n in range(spec.stages):
        _write(root, src_path(n), src_content(n), hashes)
        _write(root, out_path(n), out_content(n), hashes)
    outs = "".join(f"/{Path(out_path(n)).name}\n" for n in range(spec.stages))
    (root / "out" / ".gitignore").write_text(outs, encoding="utf-8")
    (root / "dvc.yaml").write_text(render_dvc_yaml(spec), encoding="utf-8")
    (root / "params.yaml").write_text(render_params(spec, head=False), encoding="utf-8")
    if spec.data_bytes:
        (root / ".gitignore").write_text(f"/{BIG_DATA}\n", encoding="utf-8")
        hashes[BIG_DATA] = write_big_file(root / BIG_DATA, spec.data_bytes)
    return hashes


def _fill_dvc_cache(root: Path, spec: RepoSpec, hashes: Mapping[str, tuple[str, int]]) -> None:
    """Put each out in the DVC 3 cache (files/md5/xx/rest), as `dvc commit` would."""
    for n in range(spec.stages):
        md5, _size = hashes[out_path(n)]
        obj = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
        obj.parent.mkdir(parents=True, exist_ok=True)
        if not obj.exists():
            obj.write_bytes(out_content(n))
            obj.chmod(0o444)


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env={**os.environ, **GIT_ENV, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed in {cwd} ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def dvc_env(site_cache: Path) -> dict[str, str]:
    """The environment DVC runs with: no analytics, a site cache the benchmark owns."""
    return {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(site_cache)}


def site_cache_for(root: Path) -> Path:
    """DVC's per-repo state (hash db, index) lives here instead of /var/tmp/dvc."""
    return root.parent / f"{root.name}.dvc-site"


def build_repo(root: Path, spec: RepoSpec, *, dvc: Path, check_limit: int = 100) -> None:
    """Create the repository at `root`: a base commit with a matching dvc.lock, then a head
    commit that changes one param. Skips the work when `root` already holds `spec`."""
    if is_built(root, spec):
        return
    _marker(root).unlink(missing_ok=True)
    for path in (root, site_cache_for(root)):
        if path.exists():
            shutil.rmtree(path)
    root.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], root)
    run(["git", "config", "gc.auto", "0"], root)
    denv = dvc_env(site_cache_for(root))
    run([str(dvc), "init", "-q"], root, denv)
    run([str(dvc), "config", "core.analytics", "false"], root, denv)
    hashes = _write_tree(root, spec)
    (root / "dvc.lock").write_text(render_lock(spec, hashes), encoding="utf-8")
    _fill_dvc_cache(root, spec, hashes)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "base: pipeline, data, dvc.lock"], root)
    if spec.stages <= check_limit:
        _check_dvc_up_to_date(root, dvc, denv)
        clear_dvc_state(root)
    (root / "params.yaml").write_text(render_params(spec, head=True), encoding="utf-8")
    run(["git", "commit", "-q", "-am", f"change {spec.changed_param}"], root)
    # Pack like a fresh clone would be, so no run pays for loose objects.
    run(["git", "gc", "-q"], root)
    _marker(root).write_text(json.dumps(asdict(spec)), encoding="utf-8")


def _marker(root: Path) -> Path:
    """Written last, beside the repository: a repository without it is rebuilt."""
    return root.parent / f"{root.name}.spec.json"


def is_built(root: Path, spec: RepoSpec) -> bool:
    marker = _marker(root)
    if not marker.is_file():
        return False
    return bool(json.loads(marker.read_text(encoding="utf-8")) == asdict(spec))


def _check_dvc_up_to_date(root: Path, dvc: Path, env: Mapping[str, str]) -> None:
    out = run([str(dvc), "status"], root, env)
    if "up to date" not in out:
        raise RuntimeError(f"{root}: the generated dvc.lock does not match:\n{out}")


def clear_dvc_state(root: Path) -> None:
    """Forget what DVC learnt about this checkout: `.dvc/tmp` and the site cache, which
    holds DVC 3's hash database (state) and its index."""
    for path in (root / ".dvc" / "tmp", site_cache_for(root)):
        if path.exists():
            shutil.rmtree(path)


def iter_sizes(text: str) -> Iterator[int]:
    for part in text.split(","):
        if part.strip():
            yield int(part.replace("_", "").strip())
