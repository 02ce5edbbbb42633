#!/usr/bin/env bash
# Debian packages and offline Python wheels the build and the tests need. Idempotent: skips
# what is already present, so reruns on a warm machine cost nothing.
set -euo pipefail

need_apt=()
# libgloo-dev: the multi-process CPU communicator (docs/communication.md says why Gloo, not MPI).
for pkg in python3 make g++ libgloo-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
