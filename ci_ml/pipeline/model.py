"""Frozen data types of a pipeline: stages, their outputs and params. [pure]

Paths are POSIX, relative to the project root (the directory holding ci-ml.yaml or the top
dvc.yaml), normalised with `posixpath.normpath`, so `./src/x.py` and `src/x.py` are one dep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

OutKind = Literal["outs", "metrics", "plots"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """A param a stage references, with its value as canonical JSON text.

    `key` is a dotted path (`train.lr`); None means the whole file (`params: [file.yaml:]`).
    """

    file: str
    key: str | None
    value: str

    @property
    def label(self) -> str:
        return f"{self.file}:{self.key}" if self.key is not None else self.file


@dataclass(frozen=True, slots=True, kw_only=True)
class Out:
    """A declared output of a stage (`outs`, `metrics` or `plots`).

    `options` holds the plot options (x, y, template, title, ...) as sorted (name, JSON) pairs.
    """

    path: str
    kind: OutKind = "outs"
    cache: bool = True
    persist: bool = False
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSettings:
    """ci-ml's own per-stage settings from ci-ml.yaml (never from dvc.yaml)."""

    gpu: bool = False
    runner: tuple[str, ...] = ()
    timeout: int | None = None
    env: tuple[tuple[str, str], ...] = ()
    pass_env: tuple[str, ...] = ()  # scrubbed variables this stage may see anyway


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """One expanded stage.

    `name` is the address DVC uses: `train`, `train@0`, `build@py3.10-linux`, or
    `sub/dvc.yaml:train` for a stage of a dvc.yaml below the project root.
    `group` is the name before `@` (the foreach/matrix definition), used to look up settings.
    `cmd` is interpolated; `cmd_template` is as written, to tell a cmd edit from a param edit.
    """

    name: str
    group: str
    source: str
    line: int | None = None
    cmd: tuple[str, ...] = ()
    cmd_template: tuple[str, ...] = ()
    wdir: str = "."
    deps: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    outs: tuple[Out, ...] = ()
    frozen: bool = False
    always_changed: bool = False
    # No deps, no `params:` and no outs: DVC's "callback" stage (Stage.is_callback), which is
    # always considered changed.
    callback: bool = False
    desc: str = ""
    settings: StageSettings = field(default_factory=StageSettings)

    @property
    def out_paths(self) -> tuple[str, ...]:
        """The outputs inside the repository: what the graph links and the cache stores."""
        return tuple(out.path for out in self.outs if not out.path.startswith("/"))

    @property
    def external_outs(self) -> tuple[str, ...]:
        """Absolute outs (an export to a shared path): the stage is planned and run as DVC
        does, but ci-ml never caches or restores them, since a cache cannot vouch for them."""
        return tuple(out.path for out in self.outs if out.path.startswith("/"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    """All stages of a project, sorted by name, plus the top-level metrics and plots."""

    stages: tuple[Stage, ...]
    metrics: tuple[str, ...] = ()
    plots: tuple[Out, ...] = ()
    params_files: tuple[str, ...] = ()

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)
