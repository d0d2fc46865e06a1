#!/usr/bin/env bash
# The README's second command: set up .venv with the test extras (scripts/setup.sh --test),
# then run the tests in it. Arguments are passed to pytest (e.g. tests/test_report.py -x).
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(./scripts/setup.sh --test | tail -n 1)"
exec "$py" -m pytest -q "$@"
