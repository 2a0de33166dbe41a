#!/usr/bin/env bash
# The main job, end to end on a fresh machine: set up a virtual environment, copy the
# get-started pipeline into a new git repository, and take it through a simulated pull
# request that changes one param: ci-ml plans what the change touched.
# Usage: examples/demo.sh [WORKDIR]   (default: a new temporary directory)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${CI_ML_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[example]"
export PATH="$VENV/bin:$PATH"

WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
REPO="$WORK/get-started"
rm -rf "$REPO"
cp -r "$ROOT/examples/get-started" "$REPO"
cd "$REPO"
git init -q -b main
git add -A
git -c user.name=ci-ml -c user.email=ci-ml@example.com commit -qm "get-started pipeline"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "pull request: train.hidden_size 64 -> 128"
git checkout -q -b bigger-model
sed -i 's/hidden_size: 64 /hidden_size: 128/' params.yaml
git -c user.name=ci-ml -c user.email=ci-ml@example.com commit -qam "Bigger hidden layer"

step "ci-ml plan (base: main)"
ci-ml plan

step "ci-ml dag"
ci-ml dag
