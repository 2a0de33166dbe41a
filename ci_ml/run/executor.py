"""Restore or run each planned stage, in dependency order.

A stage that will run gets the outputs of the stages it reads restored first (or run, when
the cache lacks them). After a stage succeeds its outputs are hashed, missing objects are
uploaded, and the manifest is written last, so a manifest always names objects that exist.
A failed stage stops its dependents; independent stages carry on and are cached.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ci_ml import __version__
from ci_ml.cache import (
    CacheStore,
    FileEntry,
    Manifest,
    OutputEntry,
    Progress,
    RunFacts,
    Trust,
    plan_upload,
    progress_mode,
    restore,
    save_pending,
    snapshot,
    upload,
)
from ci_ml.errors import CacheError
from ci_ml.github import gha
from ci_ml.plan import Plan, StagePlan
from ci_ml.run.gpu import detect_gpu
from ci_ml.run.proc import run_commands
from ci_ml.run.stage_env import stage_environment
from ci_ml.state import outputs_current, read_last_run

log = logging.getLogger("ci_ml")
PROGRESS_MIN_BYTES = 16 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    jobs: int = 1
    dry_run: bool = False
    push: bool = True
    pull_all: bool = False
    allow_no_gpu: bool = False
    run_on_miss: bool = True
    overrides: tuple[str, ...] = ()
    commit: str | None = None
    ref: str | None = None
    granted_env: tuple[str, ...] = ()  # scrubbed names stage commands may see (opted in)
    # Runner labels each stage is routed to, recorded in its manifest for the cost ledger.
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one stage."""

    name: str
    status: str  # ran, restored, current, failed, skipped, unchanged, frozen
    detail: str = ""
    duration_s: float = 0.0
    gpu: str | None = None
    runner: str | None = None
    log_tail: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass
class _Run:
    plan: Plan
    store: CacheStore
    root: Path
    options: RunOptions
    env: Mapping[str, str]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def execute(
    plan: Plan,
    store: CacheStore,
    root: Path,
    options: RunOptions,
    env: Mapping[str, str],
) -> dict[str, Outcome]:
    """Restore what is needed, run what must run; return an outcome for every stage."""
    run = _Run(plan, store, root, options, env)
    stages = {s.name: s for s in plan.stages}
    to_run = {s.name for s in plan.stages if s.will_run}
    to_run |= _restore_needed(run, stages, to_run)
    if options.dry_run:
        for name in plan.graph.order:
            if name in to_run:
                run.outcomes[name] = Outcome(name, "would run")
        return _fill_untouched(run)
    _run_stages(run, stages, to_run)
    return _fill_untouched(run)


def _needed(plan: Plan, to_run: set[str], pull_all: bool) -> set[str]:
    """Stages whose outputs must be in the workspace: what running stages read, what the
    report reads (metrics and plots), or everything with --pull-all."""
    needed = {up for name in to_run for up in plan.graph.upstream[name]}
    for stage_plan in plan.stages:
        if pull_all or any(out.kind in ("metrics", "plots") for out in stage_plan.stage.outs):
            needed.add(stage_plan.name)
    return needed - to_run


def _restore_needed(run: _Run, stages: Mapping[str, StagePlan], to_run: set[str]) -> set[str]:
    """Restore needed outputs; return the stages that must run because their entry is missing
    or corrupt (which can make their own upstream needed in turn)."""
    last_run = read_last_run(run.root)
    extra: set[str] = set()
    done: set[str] = set()
    while True:
        pending = sorted(_needed(run.plan, to_run | extra, run.options.pull_all) - done)
        if not pending:
            return extra
        for name in pending:
            done.add(name)
            stage_plan = stages[name]
            stage = stage_plan.stage
            if outputs_current(run.root, name, stage_plan.key, stage.out_paths, last_run):
                run.outcomes[name] = Outcome(
                    name, "current", "outputs in the workspace are current"
                )
                continue
            if run.options.dry_run:
                hit = run.store.get_manifest(stage_plan.key)
                missed = None if hit else f"no cache entry for key {stage_plan.key[:12]}"
                if hit:
                    run.outcomes[name] = Outcome(name, "would restore")
            else:
                missed = _restore_one(run, stage_plan)
            if missed:
                if not run.options.run_on_miss:
                    raise CacheError(f"stage {name!r}: {missed} (--no-run-on-miss: not re-running)")
                log.warning("stage %s: %s; it will run instead", name, missed)
                extra.add(name)


def _restore_one(run: _Run, stage_plan: StagePlan) -> str | None:
    """Restore a stage's outputs; a reason string when the cache cannot provide them."""
    hit = run.store.get_manifest(stage_plan.key)
    if hit is None:
        return f"no cache entry for key {stage_plan.key[:12]}"
    try:
        total = sum(f.size for out in hit.manifest.outputs for f in _files_of(out))
        with transfer_progress(f"pull {stage_plan.name}", total, run.env) as progress:
            restore(hit, run.store, run.root, stage_plan.stage.out_paths, progress=progress)
    except CacheError as e:
        return str(e)
    manifest = hit.manifest
    commit = manifest.run.commit[:7]
    run.outcomes[stage_plan.name] = Outcome(
        stage_plan.name,
        "restored",
        f"restored from cache (computed at {commit})" if commit else "restored from cache",
        duration_s=manifest.run.duration_s,
        gpu=manifest.run.gpu,
        runner=manifest.run.runner,
        labels=manifest.run.labels,
    )
    return None


def _run_stages(run: _Run, stages: Mapping[str, StagePlan], to_run: set[str]) -> None:
    order = [name for name in run.plan.graph.order if name in to_run]
    parallel = run.options.jobs > 1
    with ThreadPoolExecutor(max(1, run.options.jobs)) as pool:
        running: dict[Future[Outcome], str] = {}
        while order or running:
            for name in list(order):
                if len(running) >= run.options.jobs:
                    break
                state, failed_upstream = _readiness(run, name, to_run)
                if state == "wait":
                    continue
                order.remove(name)
                if state == "ready":
                    running[pool.submit(_run_one, run, stages[name], parallel)] = name
                else:
                    detail = f"upstream {failed_upstream!r} failed"
                    run.outcomes[name] = Outcome(name, "skipped", detail)
            if not running:
                if order:  # cannot happen in topological order; never spin
                    raise RuntimeError(f"stages stuck waiting: {order}")
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                run.outcomes[running.pop(future)] = future.result()


def _readiness(run: _Run, name: str, to_run: set[str]) -> tuple[str, str | None]:
    """('ready', None), ('wait', None) while an upstream stage runs, or ('blocked', name of
    the upstream stage that failed or was skipped)."""
    blockers = [up for up in run.plan.graph.upstream[name] if up in to_run]
    for up in blockers:
        outcome = run.outcomes.get(up)
        if outcome is not None and outcome.status in ("failed", "skipped"):
            return "blocked", up
    return ("ready" if all(up in run.outcomes for up in blockers) else "wait"), None


def _run_one(run: _Run, stage_plan: StagePlan, parallel: bool) -> Outcome:
    stage = stage_plan.stage
    name = stage.name
    gpu = detect_gpu() if stage.settings.gpu else None
    if stage.settings.gpu and gpu is None:
        message = f"stage {name!r} needs a GPU (gpu: true in ci-ml.yaml) and nvidia-smi finds none"
        if run.env.get("CI") == "true" and not run.options.allow_no_gpu:
            return Outcome(
                name, "failed", f"{message}: route it to a GPU runner or pass --allow-no-gpu"
            )
        log.warning("%s; running on the CPU", message)
    _clear_outputs(run.root, stage_plan)
    emit = _emitter(name, parallel)
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    with gha.group(f"ci-ml: run {name}", run.env) if not parallel else contextlib.nullcontext():
        result = run_commands(
            stage.cmd,
            cwd=run.root / stage.wdir,
            env=_stage_env(run.env, stage_plan, run.options.granted_env),
            timeout=stage.settings.timeout,
            emit=emit,
        )
    duration = time.monotonic() - clock
    if result.timed_out:
        return Outcome(
            name,
            "failed",
            f"timed out after {stage.settings.timeout} s",
            duration,
            gpu,
            log_tail=result.tail,
        )
    if result.returncode != 0:
        return Outcome(
            name, "failed", f"exit code {result.returncode}", duration, gpu, log_tail=result.tail
        )
    try:
        _save(run, stage_plan, started, duration, gpu)
    except CacheError as e:
        return Outcome(name, "failed", str(e), duration, gpu, log_tail=result.tail)
    labels = run.options.labels.get(name, ())
    return Outcome(name, "ran", "", duration, gpu, _runner_name(run.env), result.tail, labels)


def _save(
    run: _Run, stage_plan: StagePlan, started: datetime, duration: float, gpu: str | None
) -> None:
    # Imported once a stage ran: a run that only restores skips the report package (26 ms).
    from ci_ml.report import read_metrics_files

    stage = stage_plan.stage
    entries, files = snapshot(run.root, stage.out_paths)
    metrics = read_metrics_files(run.root, [o.path for o in stage.outs if o.kind == "metrics"])
    manifest = Manifest(
        key=stage_plan.key,
        stage=stage.name,
        outputs=tuple(entries),
        metrics=metrics,
        run=RunFacts(
            commit=run.options.commit or "",
            ref=run.options.ref or "",
            started_at=started.isoformat(timespec="seconds"),
            finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            duration_s=round(duration, 3),
            runner=_runner_name(run.env),
            ci_ml_version=__version__,
            gpu=gpu,
            param_overrides=run.options.overrides,
            labels=run.options.labels.get(stage.name, ()),
        ),
    )
    if not run.options.push or run.store.trust is Trust.READ_ONLY:
        save_pending(run.root, manifest)  # `ci-ml push` uploads it later
        return
    push_manifest(run.store, manifest, files, run.env)


def push_manifest(
    store: CacheStore, manifest: Manifest, files: Mapping[str, Path], env: Mapping[str, str]
) -> None:
    """Upload the objects the store lacks, then the manifest: never the other way round.
    Many small files go in packs (`ci_ml.cache.packs`), and the manifest says where."""
    plan = plan_upload(store, manifest, files)
    with transfer_progress(f"push {manifest.stage}", plan.size, env) as progress:
        upload(store, manifest, files, plan, progress=progress)


@contextlib.contextmanager
def transfer_progress(title: str, total: int, env: Mapping[str, str]) -> Iterator[Progress | None]:
    """Progress for transfers big enough to watch; small ones stay quiet."""
    if total < PROGRESS_MIN_BYTES:
        yield None
        return
    with Progress(title, total, mode=progress_mode(env, sys.stderr)) as progress:
        yield progress


def _files_of(out: OutputEntry) -> tuple[FileEntry, ...] | tuple[OutputEntry]:
    return out.files if out.type == "dir" else (out,)


def _clear_outputs(root: Path, stage_plan: StagePlan) -> None:
    """Remove stale outputs first (as DVC does), so a stage that forgets to write one fails
    the output check instead of caching yesterday's file. `persist: true` outputs stay, and
    so does anything outside the repository (an absolute out): ci-ml deletes only its own."""
    for out in stage_plan.stage.outs:
        path = root / out.path
        if out.persist or out.path.startswith("/") or not (path.exists() or path.is_symlink()):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _stage_env(
    env: Mapping[str, str],
    stage_plan: StagePlan,
    granted: tuple[str, ...] = (),
) -> dict[str, str]:
    stage = stage_plan.stage
    return stage_environment(
        env,
        pass_env=(*stage.settings.pass_env, *granted),
        stage_env=dict(stage.settings.env),
        extra={"CI_ML_STAGE": stage.name, "CI_ML_STAGE_KEY": stage_plan.key},
    )


def _emitter(name: str, parallel: bool) -> Callable[[str], None]:
    lock = threading.Lock()

    def emit(line: str) -> None:
        with lock:
            print(f"[{name}] {line}" if parallel else line, file=sys.stderr, flush=True)

    return emit


def _runner_name(env: Mapping[str, str]) -> str:
    return env.get("RUNNER_NAME") or os.uname().nodename


def _fill_untouched(run: _Run) -> dict[str, Outcome]:
    for stage_plan in run.plan.stages:
        name = stage_plan.name
        if name in run.outcomes:
            continue
        if stage_plan.affected and stage_plan.stage.frozen:
            run.outcomes[name] = Outcome(name, "frozen", "frozen: not run")
        elif stage_plan.affected:
            run.outcomes[name] = Outcome(name, "cached", "in the cache; not needed here")
        else:
            run.outcomes[name] = Outcome(name, "unchanged", "")
    return {name: run.outcomes[name] for name in run.plan.graph.order}
