# Shared set-up for scripts/demo and scripts/test (sourced, not run).
# Creates ./.venv, builds the front end with npm, and installs the package in editable mode
# with the extras named in $FOXKLING_EXTRAS. Idempotent: a second run only re-checks.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "foxkling-widgets needs Python 3.10 or newer (found: $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "Node.js and npm are needed to build the widget's front end (install Node 18 or newer)." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
VENV_PY="$ROOT/.venv/bin/python"
"$VENV_PY" -m pip install --quiet --disable-pip-version-check --upgrade pip

echo "==> building the front end (js/ -> foxkling_widgets/static/)"
# `npm install`, not `npm ci`: npm 11 has been seen to reject its own lock files over rollup's
# per-platform optional packages; install still follows the lock's versions.
(cd js && npm install --no-audit --no-fund --silent && npm run --silent build)

echo "==> installing foxkling-widgets[${FOXKLING_EXTRAS}] into .venv"
"$VENV_PY" -m pip install --quiet --disable-pip-version-check -e ".[${FOXKLING_EXTRAS}]"
