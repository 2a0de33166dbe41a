"""YAML benchmark: ci-ml's block reader (yaml_load.py) against PyYAML's libyaml loader.

Usage: .venv/bin/python benchmarks/yaml_reader.py [--runs 5] [FILE ...]

Both read each file into the same data: the hand-written reader, and `yaml.load` with
CSafeLoader under the same YAML 1.2 core-schema resolver and line-keeping mappings
(`yaml_schema.core_schema_loader()`). Without FILE arguments it reads the pipelines in
tests/fixtures and examples/, and the generated benchmark repositories under .bench/ where
they exist (dvc.yaml, params.yaml and dvc.lock at 100 and 1,000 stages). Prints one row per
file and the ratio; the reader is kept only while it wins by more than 2x.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from ci_ml.yaml_load import _BlockReader  # noqa: E402 - the reader on its own, no fallback
from ci_ml.yaml_schema import core_schema_loader  # noqa: E402

NAMES = ("dvc.yaml", "params.yaml", "dvc.lock")


def default_files() -> list[Path]:
    found = [p for name in NAMES for p in (ROOT / "tests" / "fixtures").rglob(name)]
    found += [p for name in NAMES for p in (ROOT / "examples").rglob(name)]
    for repo in ("stages-100", "stages-1000", "dirs-100"):
        found += [ROOT / ".bench" / repo / name for name in NAMES]
    return sorted(p for p in found if p.is_file())


def best(fn: object, text: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(text)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def _process_s(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    loader = core_schema_loader()
    print(f"PyYAML {yaml.__version__}, libyaml: {hasattr(yaml, 'CSafeLoader')}")
    print("| file | lines | block reader | CSafeLoader (core schema) | ratio |")
    print("|---|---:|---:|---:|---:|")
    total_ours = total_lib = 0.0
    for path in args.files or default_files():
        text = path.read_text(encoding="utf-8")
        try:
            ours_data = _BlockReader(text).document()
        except Exception:  # noqa: BLE001 - beyond the reader's subset: PyYAML reads it anyway
            print(f"| {path.relative_to(ROOT)} | - | falls back to PyYAML | - | - |")
            continue
        if ours_data != yaml.load(text, Loader=loader):
            raise SystemExit(f"{path}: the two readers disagree")
        ours = best(lambda t: _BlockReader(t).document(), text, args.runs)
        lib = best(lambda t: yaml.load(t, Loader=loader), text, args.runs)
        total_ours, total_lib = total_ours + ours, total_lib + lib
        rel = path.relative_to(ROOT)
        lines = text.count("\n")
        print(
            f"| {rel} | {lines:,} | {ours * 1e3:.2f} ms | {lib * 1e3:.2f} ms | {lib / ours:.1f}x |"
        )
    if total_ours:
        print(
            f"| all | | {total_ours * 1e3:.1f} ms | {total_lib * 1e3:.1f} ms "
            f"| {total_lib / total_ours:.1f}x |"
        )
    # What a process that reads only plain block YAML saves besides: never importing PyYAML.
    bare = _process_s("pass", args.runs)
    with_yaml = _process_s("import yaml; yaml.CSafeLoader", args.runs)
    print(f"\nimport yaml (with libyaml): {(with_yaml - bare) * 1e3:.1f} ms per process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
