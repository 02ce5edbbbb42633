#!/usr/bin/env bash
# Debian packages and offline Python wheels the build and the tests need. Idempotent: skips
# what is already present, so reruns on a warm machine cost nothing.
set -euo pipefail

need_apt=()
# libgloo-dev: the multi-process CPU communicator (docs/communication.md says why Gloo, not MPI).
# cmake: builds the optional CUDA backend (cuda/CMakeLists.txt) wherever nvcc exists.
for pkg in python3 make g++ cmake libgloo-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
apt_updated=0
apt_install() {
  [ "$apt_updated" -eq 1 ] || { apt-get update -qq && apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
# The build cannot go on without these: a failure here fails CI.
[ "${#need_apt[@]}" -eq 0 ] || apt_install "${need_apt[@]}"
# pip only serves the optional wheels below (a stock Debian python3 comes without it).
if ! python3 -m pip --version >/dev/null 2>&1; then
  apt_install python3-pip || echo "system packages: could not install python3-pip, which the Python wheels below need"
fi

# The wheels are optional: the tests that need NCCL skip without it (test/comm/nccl.test.ts) and
# the CUDA build leaves out the cuBLAS-based GEMMs without its headers (cuda/CMakeLists.txt). So
# a wheel that cannot be installed is one line here, never a CI failure.
#
# They go into python3's own site-packages, the place src/comm/nccl.ts, the tests and
# cuda/CMakeLists.txt ask python3 about. Debian's python3 is "externally managed" (PEP 668): pip
# refuses to install there unless told --break-system-packages (pip >= 23.0.1; older pips do not
# enforce PEP 668). Inside a virtualenv or conda environment the marker does not apply.
pip_flags=(-q)
externally_managed="$(python3 -c '
import os, sys, sysconfig
venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print(int(not venv and os.path.exists(marker)))' 2>/dev/null || echo 0)"
# Read the help text whole first: `pip ... | grep -q` under pipefail fails when grep stops early.
pip_help=$(python3 -m pip install --help 2>/dev/null || true)
if [ "$externally_managed" = 1 ] && [[ "$pip_help" == *--break-system-packages* ]]; then
  pip_flags+=(--break-system-packages)
fi

install_wheel() {  # <distribution> <what it is for>
  if python3 -m pip show -q "$1" >/dev/null 2>&1; then return 0; fi
  if ! python3 -m pip install "${pip_flags[@]}" "$1"; then
    echo "system packages: could not install the Python wheel $1; $2"
  fi
}

# NCCL's library from its Python wheel (installs offline from the machine's package index): the
# NCCL loader tests find it, report its version and make unique ids without a GPU.
install_wheel nvidia-nccl-cu13 "the NCCL loader tests will skip"

# cuBLAS headers for the CUDA backend's GEMM/FFN parts (the toolkit folder has none).
install_wheel nvidia-cublas "the CUDA backend is built without its cuBLAS GEMMs"
