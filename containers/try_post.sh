#!/usr/bin/env bash
# containers/try_post.sh - exercise neuralogcm_hpc.def without Apptainer.
#
# Usage (as root, from anywhere): containers/try_post.sh [--keep] [--reuse]
#
# 1. debootstrap a fresh Debian chroot of the release of the definition's base
#    image (python:3.11-slim-bookworm -> bookworm; SUITE overrides);
# 2. copy what the definition's %files section lists into the chroot, at the
#    destinations it gives;
# 3. run the definition's %post section inside the chroot, taken from the .def
#    file itself ({{ VARIANT }} -> cpu, {{ BASE }} -> the default), so this check
#    cannot drift from the recipe;
# 4. run %test, then an MPI smoke under the image's own launcher, with the
#    definition's %environment:
#      mpirun -n 2 python3 -m mpi4py -m neuralogcm_hpc.run --case beta_plane_small
#          --steps 5 --set grid.nx=32 --set grid.ny=16
#    and check that both ranks' run printed a SUMMARY line.
# Each phase's wall time is printed as `try_post.sh: PHASE took N s`.
#
# What differs from `apptainer build`: the chroot is plain Debian bookworm, whose
# python3 (3.11.2, from apt as %post asks) replaces the docker image's
# /usr/local/bin/python3; the %post shell is `sh -c` with the same environment
# Apptainer gives (PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin).
#
# Environment:
#   CHROOT   where the chroot goes (default /var/tmp/neuralogcm_chroot); removed
#            first unless --reuse (keep an existing debootstrap, redo %post);
#            kept afterwards only with --keep
#   MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   SUITE    Debian release (default: from the def's BASE argument)
#   DEF      definition file (default containers/neuralogcm_hpc.def)
#   PIP_CERT (or SSL_CERT_FILE) a CA bundle file the chroot's pip should trust
#            (copied in; for hosts behind a TLS-intercepting proxy)
# Needs: root, debootstrap (apt-get install debootstrap), network to the Debian
# mirror and PyPI. Takes 10-30 minutes (downloads).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
def=${DEF:-$here/neuralogcm_hpc.def}
chroot_dir=${CHROOT:-/var/tmp/neuralogcm_chroot}
mirror=${MIRROR:-http://deb.debian.org/debian}
keep=0 reuse=0
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    --reuse) reuse=1; keep=1 ;;
    *) echo "try_post.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done
die() { echo "try_post.sh: $*" >&2; exit 2; }
(( $(id -u) == 0 )) || die "needs root (debootstrap, chroot, mounts)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
[[ -f $def ]] || die "no definition file $def"
[[ $chroot_dir == /*/* ]] || die "CHROOT must be an absolute path below /, got '$chroot_dir'"

# --- read the definition -------------------------------------------------------
section() {  # print the body of section %NAME (up to the next %section line)
  awk -v want="%$1" '
    /^%[a-z]+/ { on = ($1 == want); next }
    on { print }' "$def"
}
argument() {  # default of NAME in %arguments
  section arguments | sed -n "s/^[[:space:]]*$1=//p" | head -n1
}
variant=cpu
base=$(argument BASE)
[[ -n $base ]] || die "no BASE in the %arguments of $def"
case ${SUITE:-$base} in
  *bookworm*) suite=bookworm ;;
  *bullseye*) suite=bullseye ;;
  *trixie*) suite=trixie ;;
  *) die "cannot tell the Debian release of BASE=$base; set SUITE" ;;
esac
substitute() { sed -e "s/{{ *VARIANT *}}/$variant/g" -e "s|{{ *BASE *}}|$base|g"; }
post=$(section post | substitute)
test_body=$(section test | substitute)
environment=$(section environment | substitute)
[[ -n $post ]] || die "no %post section in $def"
echo "try_post.sh: $def: BASE=$base -> Debian $suite, VARIANT=$variant"

# --- chroot with the mounts %post and MPI need ------------------------------------
mounted=()
cleanup() {
  local i
  for (( i = ${#mounted[@]} - 1; i >= 0; i-- )); do
    umount -l "${mounted[i]}" 2>/dev/null || true
  done
  if (( ! keep )) && [[ -d $chroot_dir ]]; then rm -rf --one-file-system "$chroot_dir"; fi
}
trap cleanup EXIT
mount_in() {  # mount_in TYPE SOURCE TARGET (TYPE bind: a bind mount of SOURCE)
  mkdir -p "$chroot_dir$3"
  if [[ $1 == bind ]]; then mount --bind "$2" "$chroot_dir$3"
  else mount -t "$1" "$2" "$chroot_dir$3"; fi
  mounted+=("$chroot_dir$3")
}
timed() {  # timed PHASE command...: run, print the wall time
  local t0=$SECONDS
  "${@:2}"
  echo "try_post.sh: $1 took $(( SECONDS - t0 )) s"
}

if (( reuse )) && [[ -x $chroot_dir/bin/sh ]]; then
  echo "try_post.sh: reusing the debootstrap in $chroot_dir"
  rm -rf "$chroot_dir/opt/venv" "$chroot_dir/opt/neuralogcm_hpc"
else
  [[ -e $chroot_dir ]] && rm -rf --one-file-system "$chroot_dir"
  timed debootstrap debootstrap --variant=minbase "$suite" "$chroot_dir" "$mirror"
fi
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
mount_in proc proc /proc
mount_in sysfs sys /sys
mount_in bind /dev /dev
mount_in bind /dev/pts /dev/pts
mount_in tmpfs tmpfs /dev/shm
mount_in tmpfs tmpfs /tmp

# --- %files -----------------------------------------------------------------------
copy_files() {
  local src dst
  while read -r src dst; do
    [[ -z $src || $src == \#* ]] && continue
    mkdir -p "$chroot_dir$(dirname "$dst")"
    cp -a "$root/$src" "$chroot_dir$dst"
  done < <(section files)
  find "$chroot_dir/opt" -name __pycache__ -prune -exec rm -rf {} +
}
timed files copy_files

# --- %post, %test, smoke ------------------------------------------------------------
# A host whose HTTPS goes through an intercepting proxy trusts its CA through
# PIP_CERT / SSL_CERT_FILE; pip in the chroot needs the same bundle (so would
# `apptainer build` on such a host, e.g. with --bind and APPTAINERENV_PIP_CERT).
ca_env=()
host_ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [[ -n $host_ca && -f $host_ca ]]; then
  mkdir -p "$chroot_dir/etc/ssl/certs"
  cp "$host_ca" "$chroot_dir/etc/ssl/certs/host-ca-bundle.crt"
  ca_env=(PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt
          SSL_CERT_FILE=/etc/ssl/certs/host-ca-bundle.crt)
  echo "try_post.sh: pip in the chroot trusts the host's CA bundle $host_ca"
fi
in_chroot() {  # a clean environment, as in an Apptainer build
  chroot "$chroot_dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${ca_env[@]}" "$@"
}
timed post in_chroot /bin/sh -c "$post"
timed test in_chroot /bin/sh -c "$environment
$test_body"
smoke=/tmp/smoke.log
run_smoke() {
  in_chroot /bin/sh -c "$environment
cd /tmp && mpirun --allow-run-as-root --oversubscribe -n 2 \
  python3 -m mpi4py -m neuralogcm_hpc.run --case beta_plane_small --steps 5 \
  --set grid.nx=32 --set grid.ny=16" 2>&1 | tee "$chroot_dir$smoke"
}
timed smoke run_smoke
grep -q '^SUMMARY ' "$chroot_dir$smoke" || die "the MPI smoke printed no SUMMARY line"
grep -q '"ranks": 2' "$chroot_dir$smoke" || die "the MPI smoke did not run on 2 ranks"
# The same command on the host gives the same digest when the versions agree.
sha=$(sed -n 's/^SUMMARY .*"state_sha256": "\([0-9a-f]*\)".*/\1/p' "$chroot_dir$smoke")
echo "try_post.sh: smoke state_sha256 $sha"
echo "try_post.sh: OK: %post, %test and a 2-rank MPI smoke ran in a fresh Debian $suite chroot"
