"""Which stages a change touched, and why: base side vs head side. [pure]

`changed` means a stage's own inputs differ (cmd, param values, deps that no stage produces,
outs, wdir, a new stage, always_changed). `affected` means its key differs from base, which
also covers every stage downstream of a changed one. `will_run` is affected and not frozen.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

from ci_ml.pipeline import Graph, Param, Pipeline, Stage, build_graph
from ci_ml.plan.keys import stage_key


@dataclass(frozen=True, slots=True)
class Reason:
    kind: str  # new, cmd, param, dep, deps, outs, wdir, upstream, always_changed, frozen,
    # unknown (an input nobody can vouch for), external (an out outside the repository)
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Side:
    """One side of the comparison: the pipeline at a commit (or the working tree) and the
    content ids of every dep that no stage produces."""

    ref: str
    sha: str | None
    pipeline: Pipeline
    dep_ids: Mapping[str, str]
    graph: Graph | None = None  # built by the reader already; built here when absent


@dataclass(frozen=True, slots=True, kw_only=True)
class StagePlan:
    stage: Stage
    key: str
    base_key: str | None
    changed: bool
    affected: bool
    will_run: bool
    reasons: tuple[Reason, ...]

    @property
    def name(self) -> str:
        return self.stage.name


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    base_ref: str
    base_sha: str | None
    head_ref: str
    head_sha: str | None
    stages: tuple[StagePlan, ...]  # topological order, ties by name
    removed: tuple[str, ...]
    graph: Graph

    def stage(self, name: str) -> StagePlan:
        for stage_plan in self.stages:
            if stage_plan.name == name:
                return stage_plan
        raise KeyError(name)


def compute_keys(
    pipeline: Pipeline,
    graph: Graph,
    dep_ids: Mapping[str, str],
    nonce: str,
    *,
    frozen_keys: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every stage's key, upstream first: a dep produced by a stage is identified by that
    stage's key (combined with any non-output content), which is what lets the plan be static.

    `frozen_keys` (the base side's keys) pin frozen stages: a frozen stage's outputs stay what
    they were, so its key, and every key downstream, does not follow its inputs (as in DVC,
    where a frozen stage neither runs nor changes what its downstream reads)."""
    keys: dict[str, str] = {}
    stages = {stage.name: stage for stage in pipeline.stages}
    for name in graph.order:
        stage = stages[name]
        if stage.frozen and frozen_keys is not None and name in frozen_keys:
            keys[name] = frozen_keys[name]
            continue
        ids = {dep: _dep_id(dep, graph, keys, dep_ids) for dep in stage.deps}
        keys[name] = stage_key(stage, ids, run_nonce=nonce)
    return keys


def _dep_id(dep: str, graph: Graph, keys: Mapping[str, str], dep_ids: Mapping[str, str]) -> str:
    producers = graph.producers.get(dep, ())
    if not producers:
        return dep_ids[dep]
    parts = [f"stage:{keys[name]}" for name in producers if name in keys]
    if dep in dep_ids:  # a directory holding outputs and other files: both count
        parts.append(dep_ids[dep])
    return "+".join(parts)


def plan(base: Side, head: Side) -> Plan:
    """Compare head with base, stage by stage."""
    base_graph = base.graph or build_graph(base.pipeline)
    head_graph = head.graph or build_graph(head.pipeline)
    base_keys = compute_keys(base.pipeline, base_graph, base.dep_ids, base.sha or "")
    head_nonce = head.sha or "worktree"
    head_keys = compute_keys(
        head.pipeline, head_graph, head.dep_ids, head_nonce, frozen_keys=base_keys
    )
    # A frozen stage is reported as affected when its own inputs changed, though it keeps
    # its base key (above) and so changes nothing downstream.
    own_keys = head_keys
    if any(stage.frozen for stage in head.pipeline.stages):
        own_keys = compute_keys(head.pipeline, head_graph, head.dep_ids, head_nonce)
    base_stages = {stage.name: stage for stage in base.pipeline.stages}
    head_stages = {stage.name: stage for stage in head.pipeline.stages}

    plans: dict[str, StagePlan] = {}
    for name in head_graph.order:
        stage = head_stages[name]
        base_key = base_keys.get(name)
        # Same key, same work: an edit that does not reach the key (a reworded `${}`
        # template that interpolates to the same cmd) changes nothing.
        affected = base_key != (own_keys if stage.frozen else head_keys)[name]
        reasons: list[Reason] = []
        if affected:
            old = base_stages.get(name)
            reasons = own_changes(old, stage, base.dep_ids, head.dep_ids, head_graph)
            upstream = [
                p
                for p in head_graph.upstream[name]
                if plans[p].affected and not plans[p].stage.frozen
            ]
            reasons += [Reason("upstream", f"upstream {p!r} changed") for p in upstream]
        reasons += _unknown_inputs(stage, head.dep_ids)
        reasons += [
            Reason("external", f"out {path} lies outside the repository: not cached")
            for path in stage.external_outs
        ]
        changed = any(r.kind not in ("upstream", "unknown", "external") for r in reasons)
        if affected and stage.frozen:
            reasons.append(Reason("frozen", "frozen: not run (unfreeze it to run)"))
        plans[name] = StagePlan(
            stage=stage,
            key=head_keys[name],
            base_key=base_key,
            changed=changed,
            affected=affected,
            will_run=affected and not stage.frozen,
            reasons=tuple(reasons),
        )
    return Plan(
        base_ref=base.ref,
        base_sha=base.sha,
        head_ref=head.ref,
        head_sha=head.sha,
        stages=tuple(plans[name] for name in head_graph.order),
        removed=tuple(sorted(set(base_stages) - set(head_stages))),
        graph=head_graph,
    )


def _unknown_inputs(stage: Stage, dep_ids: Mapping[str, str]) -> list[Reason]:
    """Deps nobody can vouch for: not in git, produced by no stage, and with no hash in a
    .dvc file or dvc.lock. Said on every stage that reads one, whether or not it runs."""
    return [
        Reason(
            "unknown",
            f"unknown input: {dep} is not in git, no stage produces it, and no .dvc file or "
            "dvc.lock records its hash",
        )
        for dep in stage.deps
        if dep_ids.get(dep) == "missing"
    ]


def own_changes(
    old: Stage | None,
    new: Stage,
    old_ids: Mapping[str, str],
    new_ids: Mapping[str, str],
    graph: Graph,
) -> list[Reason]:
    """Why `new` differs from `old` by its own inputs, not counting upstream stages."""
    if old is None:
        return [Reason("new", "new stage")]
    reasons: list[Reason] = []
    if old.always_changed or new.always_changed:
        reasons.append(Reason("always_changed", "always_changed: runs on every commit"))
    elif new.callback:
        reasons.append(Reason("always_changed", "no dependencies: always runs"))
    changed_params = _param_reasons(old.params, new.params)
    if old.cmd_template != new.cmd_template or (old.cmd != new.cmd and not changed_params):
        reasons.append(Reason("cmd", "cmd changed"))
    if old.wdir != new.wdir:
        reasons.append(Reason("wdir", f"wdir changed: {old.wdir} -> {new.wdir}"))
    reasons += changed_params
    reasons += _dep_reasons(old, new, old_ids, new_ids, graph)
    old_outs, new_outs = tuple(o.path for o in old.outs), tuple(o.path for o in new.outs)
    if sorted(old_outs) != sorted(new_outs):
        reasons.append(Reason("outs", _list_change("outs", old_outs, new_outs)))
    return reasons


def _param_reasons(old: tuple[Param, ...], new: tuple[Param, ...]) -> list[Reason]:
    before = {(p.file, p.key): p for p in old}
    after = {(p.file, p.key): p for p in new}
    reasons: list[Reason] = []
    for ref in sorted(before.keys() | after.keys(), key=lambda r: (r[0], r[1] or "")):
        a, b = before.get(ref), after.get(ref)
        label = _param_label(b or a)
        if a is None and b is not None:
            reasons.append(Reason("param", f"param {label} added: {_show(b.value)}"))
        elif b is None and a is not None:
            reasons.append(Reason("param", f"param {label} removed (was {_show(a.value)})"))
        elif a is not None and b is not None and a.value != b.value:
            text = f"param {label} changed: {_show(a.value)} -> {_show(b.value)}"
            if b.key is None:
                text = f"params file {label} changed"
            reasons.append(Reason("param", text))
    return reasons


def _param_label(param: Param | None) -> str:
    assert param is not None
    return param_label(param.file, param.key)


def param_label(file: str, key: str | None) -> str:
    """`train.lr` for the default params.yaml, `conf/x.yaml:lr` otherwise, the file alone
    for a whole-file reference."""
    if key is None:
        return file
    return key if file.rsplit("/", 1)[-1] == "params.yaml" else f"{file}:{key}"


def _show(value_json: str, limit: int = 60) -> str:
    value = json.loads(value_json)
    text = value if isinstance(value, str) else value_json
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dep_reasons(
    old: Stage, new: Stage, old_ids: Mapping[str, str], new_ids: Mapping[str, str], graph: Graph
) -> list[Reason]:
    reasons: list[Reason] = []
    old_deps, new_deps = set(old.deps), set(new.deps)
    for dep in sorted(new_deps - old_deps):
        reasons.append(Reason("deps", f"dep {dep} added to deps"))
    for dep in sorted(old_deps - new_deps):
        reasons.append(Reason("deps", f"dep {dep} removed from deps"))
    for dep in sorted(old_deps & new_deps):
        if dep in graph.producers and dep not in new_ids:
            continue  # produced by a stage: its change shows up as an upstream reason
        before, after = old_ids.get(dep, "missing"), new_ids.get(dep, "missing")
        if before == after:
            continue
        if before == "missing":
            reasons.append(Reason("dep", f"dep {dep} created"))
        elif after == "missing":
            reasons.append(Reason("dep", f"dep {dep} deleted"))
        else:
            reasons.append(Reason("dep", f"dep {dep} modified"))
    return reasons


def _list_change(what: str, old: tuple[str, ...], new: tuple[str, ...]) -> str:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    parts = [f"+{p}" for p in added] + [f"-{p}" for p in removed]
    return f"{what} changed: {', '.join(parts)}"


@dataclass(frozen=True, slots=True)
class Available:
    """Outputs of a stage key that need no run: in the cache, or already in the workspace."""

    where: str  # "cache" or "workspace"
    commit: str | None = None  # the commit that computed the cache entry


def apply_availability(result: Plan, available: Mapping[str, Available]) -> Plan:
    """Settle `will_run` against what exists: an affected stage whose key is available is
    restored rather than run; a stage that is not affected but whose outputs a running stage
    needs must run when its key is available nowhere. `available` is keyed by stage key."""
    by_name = {s.name: s for s in result.stages}
    runs = {s.name for s in result.stages if s.will_run and s.key not in available}
    extra: dict[str, list[str]] = {}
    for stage_plan in reversed(result.stages):  # downstream first, so needs propagate upward
        name = stage_plan.name
        if name not in runs:
            continue
        for up in result.graph.upstream[name]:
            up_plan = by_name[up]
            if up not in runs and up_plan.key not in available and not up_plan.stage.frozen:
                runs.add(up)
                extra.setdefault(up, []).append(name)
    stages = []
    for stage_plan in result.stages:
        stages.append(_settle(stage_plan, runs, extra, available))
    return dataclasses.replace(result, stages=tuple(stages))


def _settle(
    stage_plan: StagePlan,
    runs: set[str],
    extra: Mapping[str, list[str]],
    available: Mapping[str, Available],
) -> StagePlan:
    name = stage_plan.name
    reasons = list(stage_plan.reasons)
    if name in extra:
        needed_by = ", ".join(repr(n) for n in sorted(extra[name]))
        reasons.append(Reason("needed", f"needed by {needed_by} and not in the cache"))
    elif stage_plan.will_run and name not in runs:
        found = available[stage_plan.key]
        text = (
            f"restored from cache (computed at {found.commit[:7]})"
            if found.where == "cache" and found.commit
            else "restored from cache"
            if found.where == "cache"
            else "outputs in the workspace are current"
        )
        reasons.append(Reason("cached", text))
    return dataclasses.replace(stage_plan, will_run=name in runs, reasons=tuple(reasons))
