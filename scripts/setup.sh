#!/usr/bin/env bash
# Set up the project's virtual environment and install the workbench into it (editable).
#
#   scripts/setup.sh [--test]      --test: also the test extras (pytest)
#
# Uses the first python3 on PATH (or $PYTHON) to create .venv (or $WORKBENCH_VENV). A virtual
# environment, not `pip install` into the system, because Debian 12's python3 is "externally
# managed" (PEP 668) and refuses that. Debian ships venv's pip bootstrap (ensurepip) in the
# separate package python3-venv: installed here with apt-get when we are root, else we say
# exactly what to run. Reinstalls only when pyproject.toml or the extras change. Prints the
# venv's python on the last line of stdout, for the scripts that call this one.
set -euo pipefail
cd "$(dirname "$0")/.."

want_extras=()
for arg in "$@"; do
  case "$arg" in
    --test) want_extras+=(test) ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --test)" >&2; exit 2 ;;
  esac
done
# The real-libvirt measurements need the binding (libvirt-python builds against libvirt-dev):
# installed whenever pkg-config finds libvirt, for the main job as for the tests, so that
# `./scripts/run.sh` measures libvirt's rows with no manual step; elsewhere those rows are
# skipped (the run says why) and those tests skip.
if command -v pkg-config >/dev/null && pkg-config --exists libvirt; then
  want_extras+=(libvirt)
fi
extras=""
if [ "${#want_extras[@]}" -gt 0 ]; then
  extras="[$(IFS=,; echo "${want_extras[*]}")]"
fi

PY="${PYTHON:-python3}"
VENV="${WORKBENCH_VENV:-.venv}"
say() { echo "setup: $*" >&2; }

if ! command -v "$PY" >/dev/null; then
  say "no $PY on PATH: install Python >= 3.11 (Debian 12: apt-get install python3 python3-venv)"
  exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "$("$PY" --version 2>&1) at $(command -v "$PY") is too old: Python >= 3.11 is needed"
  exit 1
fi

make_venv() { "$PY" -m venv "$VENV" >/dev/null 2>"$VENV.err"; }

# A venv whose interpreter no longer runs (its base Python was removed) is made again.
if [ -d "$VENV" ] && ! "$VENV/bin/python" -c 'import pip' 2>/dev/null; then
  say "$VENV is broken (its python or pip does not run): making it again"
  rm -rf "$VENV"
fi

if [ ! -d "$VENV" ]; then
  say "creating $VENV with $(command -v "$PY") ($("$PY" --version 2>&1))"
  if ! make_venv; then
    rm -rf "$VENV"
    ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "python -m venv failed (Debian: ensurepip is in python3-venv); installing it with apt-get"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-venv "python$ver-venv" >/dev/null
      make_venv || { cat "$VENV.err" >&2; rm -f "$VENV.err"; exit 1; }
    else
      cat "$VENV.err" >&2
      rm -f "$VENV.err"
      say "$PY -m venv failed. On Debian or Ubuntu install the venv module, then run this again:"
      say "    sudo apt-get install python3-venv python$ver-venv"
      exit 1
    fi
  fi
  rm -f "$VENV.err"
fi

# Install (again) only when pyproject.toml changed or an extra is asked for that is not there
# (an install with [test,libvirt] serves a plain one and a [libvirt] one too).
stamp="$VENV/.workbench-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
read -r have_hash have_extras 2>/dev/null < "$stamp" || true
missing=""
for e in "${want_extras[@]}"; do
  case ",${have_extras:-}," in
    *"[$e,"*|*",$e,"*|*",$e]"*|*"[$e]"*) ;;
    *) missing="$missing $e" ;;
  esac
done
if [ "${have_hash:-}" != "$want" ] || [ -n "$missing" ]; then
  say "installing the workbench (editable) and its dependencies into $VENV${extras:+ with $extras}"
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".$extras" >&2; then
    # The binding compiles C (gcc, libvirt-dev): where that fails the workbench still runs, and
    # its libvirt rows are skipped with the reason.
    case "$extras" in *libvirt*) ;; *) exit 1 ;; esac
    extras="$(echo "$extras" | sed -e 's/,\?libvirt//' -e 's/\[,/[/' -e 's/^\[\]$//')"
    say "the libvirt binding (libvirt-python) did not build (it needs gcc and libvirt-dev);"
    say "installing without it: real libvirt 9.0 is then not measured"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".$extras" >&2
  fi
  echo "$want $extras" > "$stamp"
fi
echo "$VENV/bin/python"
