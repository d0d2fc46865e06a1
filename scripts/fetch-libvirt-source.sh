#!/usr/bin/env bash
# Fetch libvirt 9.0's source as Debian 12 ships it (the source package libvirt, 9.0.0-4+deb12u*)
# into a directory outside the checkout, once; print the unpacked source tree on the last line.
#
#   scripts/fetch-libvirt-source.sh [--build-deps]
#
#   LIBVIRT_SRC_CACHE   where it goes (default: ${XDG_CACHE_HOME:-$HOME/.cache}/virtcaps-workbench)
#   --build-deps        also `apt-get build-dep libvirt` (what scripts/build-libvirt.sh needs)
#
# Source packages need `deb-src` in the Types: line of /etc/apt/sources.list.d/debian.sources
# (Debian 12's deb822 format); it is added there when missing (as root) and apt's lists updated.
# Used by scripts/build-libvirt.sh (the patched build) and by `workbench validate --libvirt-tests`
# (the test data under tests/). Exit 1 with the reason when the source cannot be had.
set -euo pipefail
say() { echo "fetch-libvirt-source: $*" >&2; }
build_deps=0
for arg in "$@"; do
  case "$arg" in
    --build-deps) build_deps=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown argument '$arg' (expected --build-deps)"; exit 2 ;;
  esac
done
CACHE="${LIBVIRT_SRC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtcaps-workbench}"
mkdir -p "$CACHE"

existing() { find "$CACHE" -maxdepth 1 -type d -name 'libvirt-9.0.0' | head -1; }
need_apt_source() { [ -z "$(existing)" ]; }

if need_apt_source || [ "$build_deps" = 1 ]; then
  command -v apt-get >/dev/null || { say "no apt-get: not a Debian system, cannot fetch libvirt's source package"; exit 1; }
  SOURCES=/etc/apt/sources.list.d/debian.sources
  if [ -f "$SOURCES" ] && ! grep -qE '^Types:.*deb-src' "$SOURCES"; then
    [ "$(id -u)" = 0 ] || { say "deb-src is not enabled in $SOURCES and we are not root: add 'deb-src' to its Types: lines"; exit 1; }
    say "enabling deb-src in $SOURCES"
    sed -i -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb deb-src/' "$SOURCES"
    apt-get update -qq
  elif ! apt-cache showsrc libvirt >/dev/null 2>&1 || [ -z "$(apt-cache showsrc libvirt 2>/dev/null)" ]; then
    [ "$(id -u)" = 0 ] && apt-get update -qq
  fi
  command -v dpkg-source >/dev/null || {
    [ "$(id -u)" = 0 ] || { say "dpkg-source (package dpkg-dev) is missing"; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null; }
fi

if need_apt_source; then
  say "apt-get source libvirt into $CACHE"
  (cd "$CACHE" && apt-get source -qq libvirt >/dev/null) || { say "apt-get source libvirt failed (no network to Debian's mirror, or no deb-src)"; exit 1; }
fi
if [ "$build_deps" = 1 ]; then
  [ "$(id -u)" = 0 ] || { say "apt-get build-dep needs root"; exit 1; }
  say "apt-get build-dep libvirt"
  DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq libvirt >/dev/null
fi
src="$(existing)"
[ -n "$src" ] && [ -d "$src/tests/qemucapabilitiesdata" ] || { say "no libvirt-9.0.0 source tree under $CACHE"; exit 1; }
echo "$src"
