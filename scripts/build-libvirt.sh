#!/usr/bin/env bash
# Build libvirt 9.0 from Debian 12's source package with the repository's patch series applied,
# into a prefix outside the checkout; print the prefix on the last line.
#
#   scripts/build-libvirt.sh [--stock] [--series NAME]... [--prefix DIR] [--jobs N]
#                            [--no-build-deps] [--rebuild]
#
#   --series NAME     apply patches/libvirt-9.0/NAME/*.patch (patch -p1, in name order); repeatable.
#                     Default: every series under patches/libvirt-9.0/ (today: pidfd-teardown)
#   --stock           apply no patches (Debian's libvirt 9.0 as shipped, built the same way)
#   --prefix DIR      install here (default: $LIBVIRT_BUILD_CACHE/libvirt-9.0-<series|stock>,
#                     LIBVIRT_BUILD_CACHE defaulting to ${XDG_CACHE_HOME:-$HOME/.cache}/virtcaps-workbench)
#   --jobs N          ninja's parallel jobs (default: the number of CPUs); the build runs under nice
#   --no-build-deps   do not run `apt-get build-dep libvirt` (it runs by default when root)
#   --rebuild         build even when the prefix already holds this build
#
# Configured for what the embedded QEMU driver (qemu:///embed) needs: the QEMU driver and what
# meson makes it depend on (libvirtd, the remote driver); no docs, tests, translations, other
# hypervisor, network, storage or secret drivers, security drivers or host tools.
# The prefix gets virtcaps-build.json: its label for the `system` column ("libvirt 9.0" stock,
# "libvirt 9.0 + SERIES" patched), the patches with their sha256, the meson options and the
# build's duration; a prefix whose record matches the requested build is reused (idempotent).
# Builds only the client libraries and the QEMU driver module (no daemons, virsh or other modules);
# it took 19 min here on 2 shared, busy cores: start it in the background:
#   nohup scripts/build-libvirt.sh > /tmp/build-libvirt.log 2>&1 &
set -euo pipefail
say() { echo "build-libvirt: $*" >&2; }
die() { say "$1"; exit "${2:-1}"; }
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PATCH_ROOT="$HERE/patches/libvirt-9.0"

stock=0; series=(); prefix=""; jobs="$(nproc)"; build_deps=1; rebuild=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stock) stock=1 ;;
    --series) [ $# -ge 2 ] || die "--series needs a NAME (a directory under $PATCH_ROOT)" 2
              series+=("$2"); shift ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a DIR" 2; prefix="$2"; shift ;;
    --jobs) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number" 2
            jobs="$2"; shift ;;
    --no-build-deps) build_deps=0 ;;
    --rebuild) rebuild=1 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" 2 ;;
  esac
  shift
done
[ "$stock" = 1 ] && [ ${#series[@]} -gt 0 ] && die "--stock and --series exclude each other" 2
if [ "$stock" = 0 ] && [ ${#series[@]} = 0 ]; then
  for d in "$PATCH_ROOT"/*/; do [ -d "$d" ] && series+=("$(basename "$d")"); done
  [ ${#series[@]} -gt 0 ] || die "no patch series under $PATCH_ROOT (use --stock for none)"
fi
patches=()
for s in "${series[@]}"; do
  [ -d "$PATCH_ROOT/$s" ] || die "no patch series '$s': $PATCH_ROOT/$s is not a directory" 2
  found=0
  for p in "$PATCH_ROOT/$s"/*.patch; do [ -f "$p" ] && { patches+=("$p"); found=1; }; done
  [ "$found" = 1 ] || die "patch series '$s' holds no *.patch file ($PATCH_ROOT/$s)"
done

if [ "$stock" = 1 ]; then name="stock"; label="libvirt 9.0"
else name="$(IFS=+; echo "${series[*]}")"; label="libvirt 9.0 + $(printf '%s' "$name" | sed 's/+/ + /g')"; fi
CACHE="${LIBVIRT_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtcaps-workbench}"
[ -n "$prefix" ] || prefix="$CACHE/libvirt-9.0-$name"
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
case "$prefix/" in "$HERE"/*) die "the prefix $prefix is inside the checkout; choose one outside it" 2 ;; esac
RECORD="$prefix/virtcaps-build.json"
MULTIARCH="$(gcc -print-multiarch 2>/dev/null || true)"
[ -n "$MULTIARCH" ] || MULTIARCH="$(uname -m)-linux-gnu"

MESON_OPTS=(
  # libvirt's debug log then names the build: "libvirt version: 9.0.0, package: NAME (virtcaps-workbench)"
  -Dpackager=virtcaps-workbench -Dpackager_version="$name"
  # QEMU's own directories as Debian's libvirt has them (firmware descriptors; the module
  # directory whose mtime is part of each cached capability's validity)
  -Dqemu_datadir=/usr/share/qemu -Dqemu_moddir="/usr/lib/$MULTIARCH/qemu"
  --libdir=lib -Ddebug=false -Doptimization=2 -Dno_git=true -Dsystem=false
  -Ddocs=disabled -Dtests=disabled -Dnls=disabled -Dbash_completion=disabled
  -Dwireshark_dissector=disabled -Dinit_script=none -Dhost_validate=disabled
  -Dlogin_shell=disabled -Dnss=disabled -Dsysctl_config=disabled -Dpm_utils=disabled
  -Ddriver_qemu=enabled -Ddriver_libvirtd=enabled -Ddriver_remote=enabled
  -Ddriver_bhyve=disabled -Ddriver_esx=disabled -Ddriver_hyperv=disabled
  -Ddriver_interface=disabled -Ddriver_libxl=disabled -Ddriver_lxc=disabled -Ddriver_ch=disabled
  -Ddriver_network=disabled -Ddriver_openvz=disabled -Ddriver_secrets=disabled
  -Ddriver_test=disabled -Ddriver_vbox=disabled -Ddriver_vmware=disabled -Ddriver_vz=disabled
  -Dstorage_dir=disabled -Dstorage_disk=disabled -Dstorage_fs=disabled -Dstorage_gluster=disabled
  -Dstorage_iscsi=disabled -Dstorage_iscsi_direct=disabled -Dstorage_lvm=disabled
  -Dstorage_mpath=disabled -Dstorage_rbd=disabled -Dstorage_scsi=disabled
  -Dstorage_vstorage=disabled -Dstorage_zfs=disabled
  -Dsecdriver_apparmor=disabled -Dsecdriver_selinux=disabled -Dapparmor=disabled
  -Dapparmor_profiles=disabled -Dselinux=disabled -Dglusterfs=disabled -Dlibiscsi=disabled
  -Dlibssh=disabled -Dlibssh2=disabled -Dsanlock=disabled -Dopenwsman=disabled -Dcurl=disabled
  -Dfuse=disabled -Ddtrace=disabled -Dfirewalld=disabled -Dfirewalld_zone=disabled
  -Dpolkit=disabled -Dnumad=disabled -Dsasl=disabled
)
# What identifies a build: the recipe (these options), the source's Debian version and the patches.
RECIPE=1
src_version() { sed -n '1s/^libvirt (\([^)]*\)).*/\1/p' "$1/debian/changelog"; }
build_id() {
  { echo "recipe $RECIPE"; echo "source $1"; printf '%s\n' "${MESON_OPTS[@]}"
    for p in ${patches[@]+"${patches[@]}"}; do basename "$p"; sha256sum < "$p"; done
  } | sha256sum | cut -d' ' -f1
}
recorded_id() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("build_id",""))' "$1" 2>/dev/null || true; }

fetch_args=()
[ "$build_deps" = 1 ] && [ "$(id -u)" = 0 ] && fetch_args+=(--build-deps)
# The source first (cheap when cached): its version is part of the build's identity.
src="$("$HERE/scripts/fetch-libvirt-source.sh" ${fetch_args[@]+"${fetch_args[@]}"} | tail -1)" \
  || die "could not fetch libvirt's source (see above)"
version="$(src_version "$src")"
[ -n "$version" ] || die "cannot read the source's version from $src/debian/changelog"
id="$(build_id "$version")"
if [ "$rebuild" = 0 ] && [ -f "$RECORD" ] && [ "$(recorded_id "$RECORD")" = "$id" ]; then
  say "$prefix already holds this build ($label, source $version); --rebuild to build again"
  echo "$prefix"; exit 0
fi
if [ -e "$prefix" ] && [ ! -f "$RECORD" ] && [ -n "$(ls -A "$prefix" 2>/dev/null)" ]; then
  die "$prefix exists, is not empty and holds no virtcaps-build.json: not replacing it" 2
fi
for tool in meson ninja patch cc pkg-config; do
  command -v "$tool" >/dev/null || die "$tool is missing: run as root (apt-get build-dep libvirt) or install it"
done

# Built beside the prefix, never in the source cache (it stays pristine for the next build).
mkdir -p "$(dirname "$prefix")"
work="$(mktemp -d "${prefix%/}.build.XXXXXX")"
# A failure after the compile keeps the tree for inspection (the compile is the long part);
# success, or a failure before the compile ends, removes it.
keep_work=0
trap '[ "$keep_work" = 1 ] && say "kept the build tree $work" || rm -rf "$work"' EXIT
started=$(date +%s)
say "copying $src to $work/src"
cp -a "$src" "$work/src"
for p in ${patches[@]+"${patches[@]}"}; do
  say "applying $(basename "$p")"
  patch -p1 --forward --quiet -d "$work/src" < "$p" || die "$p does not apply to libvirt $version"
done
say "meson setup (prefix $prefix)"
meson setup "$work/build" "$work/src" --prefix="$prefix" "${MESON_OPTS[@]}" > "$work/meson.log" 2>&1 \
  || { tail -30 "$work/meson.log" >&2; die "meson setup failed"; }
# Only what a process using the embedded QEMU driver loads: the client libraries the Python
# binding links, the QEMU driver module, and the data they read (CPU map, schemas). The daemons,
# virsh, the other modules and the examples (about 40% of the full build) are left out.
TARGETS=(src/libvirt.so.0.9000.0 src/libvirt-qemu.so.0.9000.0 src/libvirt-lxc.so.0.9000.0
         src/libvirt_driver_qemu.so)
say "ninja -j$jobs (nice) ${TARGETS[*]}, $(date -u +%H:%M:%S) UTC"
nice -n 10 ninja -C "$work/build" -j "$jobs" "${TARGETS[@]}" || die "the build failed"
keep_work=1
say "installing into $prefix (staged)"
# meson's own install map (build file -> installed path), restricted to what was built above
(cd "$work/build" && meson introspect --installed .) > "$work/installed.json"
python3 - "$work/installed.json" "$prefix" "$work/stage" <<'PY' || die "installing failed"
import json, os, re, shutil, sys
installed, prefix, stage = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
wanted = re.compile(r"^(lib/libvirt(-qemu|-lxc)?\.so[.0-9]*|lib/libvirt/connection-driver/libvirt_driver_qemu\.so"
                    r"|share/libvirt/(cpu_map|schemas)/[^/]+)$")
count = 0
for src, dest in installed.items():
    rel = os.path.relpath(dest, prefix)
    if not wanted.match(rel):
        continue
    out = stage + dest
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if os.path.isabs(src):
        shutil.copy2(src, out)
    else:  # a symlink (libvirt.so.0): meson lists its own name; it points at the versioned file
        real = sorted((d for s2, d in installed.items() if os.path.isabs(s2)
                       and os.path.dirname(d) == os.path.dirname(dest)
                       and os.path.basename(d).startswith(os.path.basename(dest) + ".")), key=len)
        if not real:
            sys.exit(f"build-libvirt: no installed file for the link {dest}")
        os.symlink(os.path.basename(real[-1]), out)
    count += 1
need = ["lib/libvirt.so.0", "lib/libvirt-qemu.so.0", "lib/libvirt-lxc.so.0",
        "lib/libvirt/connection-driver/libvirt_driver_qemu.so", "share/libvirt/cpu_map/index.xml"]
missing = [n for n in need if not os.path.exists(os.path.join(stage + prefix, n))]
if missing:
    sys.exit(f"build-libvirt: the install lacks {', '.join(missing)}")
print(f"build-libvirt: installed {count} files", file=sys.stderr)
PY
staged="$work/stage$prefix"
seconds=$(( $(date +%s) - started ))

patch_json() {
  local first=1
  for p in ${patches[@]+"${patches[@]}"}; do
    [ $first = 1 ] || printf ','
    first=0
    printf '{"series": "%s", "file": "%s", "sha256": "%s", "subject": %s}' \
      "$(basename "$(dirname "$p")")" "$(basename "$p")" "$(sha256sum < "$p" | cut -d' ' -f1)" \
      "$(sed -n 's/^Subject: \(\[PATCH[^]]*\] \)\{0,1\}//p' "$p" | head -1 | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')"
  done
}
python3 - "$staged/virtcaps-build.json" <<EOF
import json, sys
record = {
    "format": 1,
    "label": "$label",
    "series": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' ${series[@]+"${series[@]}"}),
    "patches": [$(patch_json)],
    "source": "libvirt $version (Debian source package)",
    "build_id": "$id",
    "prefix": "$prefix",
    "libdir": "lib",
    "driver_dir": "lib/libvirt/connection-driver",
    "meson_options": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${MESON_OPTS[@]}"),
    "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    "build_seconds": $seconds,
    "jobs": $jobs,
}
json.dump(record, open(sys.argv[1], "w"), indent=1)
EOF
# Replace the prefix in one step: the record lands with the build, never before it.
rm -rf "$prefix.old"
[ -e "$prefix" ] && mv "$prefix" "$prefix.old"
mkdir -p "$(dirname "$prefix")"
mv "$staged" "$prefix"
rm -rf "$prefix.old"
keep_work=0
say "built $label in ${seconds}s"
echo "$prefix"
