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
# Installing must never rewrite js/package-lock.json (a demo or a test run would leave the checkout
# dirty): `npm install` rewrites it whenever this npm formats a lock differently from the one that
# wrote it (npm 10 drops the `libc` fields npm 11 writes; a registry setting adds `resolved` URLs).
# `npm ci` installs exactly the lock and never writes it. Should an npm reject the lock (npm 11
# has been seen to, over rollup's per-platform optional packages), `npm install --no-save`
# still follows the lock's versions and leaves the file alone. Skipped when node_modules was
# installed from this very lock already (npm's own record of it is newer than the lock).
installed=js/node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ js/package-lock.json -nt "$installed" ] || [ js/package.json -nt "$installed" ]; then
  (cd js && { npm ci --no-audit --no-fund --silent || {
    echo "==> npm ci refused the lock file; installing its versions without rewriting it" >&2
    npm install --no-save --no-audit --no-fund --silent
  }; })
fi
(cd js && npm run --silent build)

echo "==> installing foxkling-widgets[${FOXKLING_EXTRAS}] into .venv"
"$VENV_PY" -m pip install --quiet --disable-pip-version-check -e ".[${FOXKLING_EXTRAS}]"
