#!/usr/bin/env bash
# The README's first command: set up .venv (scripts/setup.sh), then the main job,
# `workbench run` (the answer with its 95% CIs, then the HTML report). Arguments are
# passed to `workbench run` (e.g. --full). It prints the expected duration first and its own at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(./scripts/setup.sh | tail -n 1)"
exec "$py" -m workbench.cli run "$@"
