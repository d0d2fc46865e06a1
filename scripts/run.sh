#!/usr/bin/env bash
# The README's first command: set up .venv (scripts/setup.sh), then the main job,
# `workbench run` (simulated installs, the benchmark sweep, the HTML report). Arguments are
# passed to `workbench run` (e.g. --short). It prints its own duration at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(./scripts/setup.sh | tail -n 1)"
exec "$py" -m workbench.cli run "$@"
