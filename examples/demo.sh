#!/usr/bin/env bash
# The main job, end to end on a fresh machine: set up a virtual environment, copy the
# get-started pipeline into a new git repository, and take it through a simulated pull
# request that changes one param: ci-ml plans what the change touched.
# Usage: examples/demo.sh [--mlflow URL] [WORKDIR]   (default: a new temporary directory)
# With --mlflow, every `ci-ml run` also logs to that MLflow tracking server (docs/mlflow.md),
# e.g. one started with `mlflow server --host 127.0.0.1 --port 5000`.
set -euo pipefail
if [ "${1:-}" = "--mlflow" ]; then
  export MLFLOW_TRACKING_URI="$2" MLFLOW_EXPERIMENT_NAME="${MLFLOW_EXPERIMENT_NAME:-ci-ml-demo}"
  shift 2
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${CI_ML_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[example]"
export PATH="$VENV/bin:$PATH"

WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
ORIGIN="$WORK/origin"
rm -rf "$ORIGIN" "$WORK/main-runner" "$WORK/pr-runner" "$WORK/cache"
cp -r "$ROOT/examples/get-started" "$ORIGIN"
cd "$ORIGIN"
git init -q -b main
git add -A
git -c user.name=ci-ml -c user.email=ci-ml@example.com commit -qm "get-started pipeline"
# One cache shared by every "runner" below, as an S3 bucket would be.
export CI_ML_CACHE="$WORK/cache"

# Bold headings on a terminal only: piped or logged, the output carries no escape codes.
if [ -t 1 ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  step() { printf '\n== %s\n' "$*"; }
fi

step "push to main: a fresh runner runs every stage and fills the trusted cache area"
git clone -q "$ORIGIN" "$WORK/main-runner"
(cd "$WORK/main-runner" && ci-ml run --all --trust trusted)

step "pull request: train.hidden_size 64 -> 128"
git checkout -q -b bigger-model
sed -i 's/hidden_size: 64 /hidden_size: 128/' params.yaml
git -c user.name=ci-ml -c user.email=ci-ml@example.com commit -qam "Bigger hidden layer"
git clone -q --branch bigger-model "$ORIGIN" "$WORK/pr-runner"
cd "$WORK/pr-runner"

step "ci-ml plan (base: main): what the PR changed, and why"
ci-ml plan --base origin/main

step "ci-ml run: restore what train needs, run only the affected stages"
ci-ml run --base origin/main

step "ci-ml report: metric and param diff against main, with plots"
REPORT_MD="$(ci-ml report --base origin/main --no-fail --out "$WORK/report")"
# The same diff rendered for a terminal; report.md is the markdown the PR comment gets.
ci-ml diff --base origin/main
printf '\nPR comment (markdown): %s\nplots: %s\n' "$REPORT_MD" "$WORK/report/plots"
