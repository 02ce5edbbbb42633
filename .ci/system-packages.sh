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
if [ "${#need_apt[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# NCCL's library from its Python wheel (installs offline from the machine's package index): the
# NCCL loader tests find it, report its version and make unique ids without a GPU.
python3 -m pip show -q nvidia-nccl-cu13 >/dev/null 2>&1 || python3 -m pip install -q nvidia-nccl-cu13

# cuBLAS headers for the CUDA backend's GEMM/FFN parts (the toolkit folder has none).
python3 -m pip show -q nvidia-cublas >/dev/null 2>&1 || python3 -m pip install -q nvidia-cublas
