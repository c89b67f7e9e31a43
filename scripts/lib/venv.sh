# Sourced by scripts/run, scripts/test and scripts/bench: make sure .venv exists and matches the pinned
# requirements. Reinstalls only when requirements*.txt changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"

stamp() { cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PYTHON_BIN" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.requirements-stamp" 2>/dev/null || true)" != "$(stamp)" ]; then
  echo "installing requirements into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt" >&2
  stamp > "$VENV/.requirements-stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
