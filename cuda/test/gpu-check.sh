#!/usr/bin/env bash
# GPU verification of the CUDA backend, for a machine with a CUDA device and no Node.
#
#   bash cuda/test/gpu-check.sh            # from the repository root (any cwd works)
#
# Steps (each with its own time limit, so one stuck step cannot eat the lease):
#   1. facts: GPU, driver, nvcc, cmake;
#   2. build with plain CMake (one architecture: the device's own, default 90) into
#      build/cuda-check: libprophet_cuda.so and prophet_cuda_test, nothing from node_modules;
#   3. prophet_cuda_test --require-device: every entry of the CUDA kernel table (gating, permute,
#      gemm, ffn, optim) against the CPU backend's, the FFN and optimizers on bf16/f16 storage
#      against double references, the kernel table and argument checks, the runtime;
#   3b. when Node and the compiled package are present (PROPHET_NODE, dist/, build/Release/
#      prophet.node): cuda/test/addon-gpu-check.mjs, the addon from JavaScript (CUDA tensors and
#      kernels through N-API, the NCCL communicator at world size 1 and its watchdog);
#   4. the micro-benchmark (--bench): gating/permute/optimizer GB/s against a copy and the
#      datasheet HBM bandwidth for known GPUs, grouped GEMM TFLOP/s against one dense cuBLAS GEMM,
#      expert FFN vs its GEMMs;
#   5. a draft of docs/gpu-results.md rows on stdout (and in $OUT/gpu-results-draft.md);
#   6. the tests again under compute-sanitizer memcheck (out-of-bounds and misaligned accesses)
#      and racecheck on the gating kernels (shared-memory tiles), when compute-sanitizer exists
#      (last, being the slowest; PROPHET_GPU_CHECK_SANITIZE=0 skips them).
# Expected time on an H200: build ~1-2 min, tests + bench ~1-2 min, sanitizers ~2-4 min; the whole
# run stops itself at PROPHET_GPU_CHECK_SECONDS (default 540). Run it with the device tool's
# longest timeout (600); logs of finished steps come back in $OUT either way.
# Logs go to $OUT when set (the device tool brings that folder back), else build/cuda-check/.
# Exit status: 0 when every step passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=build/cuda-check
logs=${OUT:-$build}
mkdir -p "$build" "$logs"
archs=${PROPHET_CUDA_ARCHS:-90}
status=0
# One deadline for the whole run (default 540 s), below the device tool's 600 s per command, so the
# script ends on its own with every finished step's log instead of being killed; each step gets
# min(its own cap, the time left).
deadline=$(( $(date +%s) + ${PROPHET_GPU_CHECK_SECONDS:-540} ))
cap() { local left=$(( deadline - $(date +%s) )); [ "$left" -lt "$1" ] && echo $(( left > 1 ? left : 1 )) || echo "$1"; }
step() { printf '\n== %s ==\n' "$*"; }
note_failure() { echo "FAILED: $1"; status=1; }

step "facts"
date -u '+%Y-%m-%d %H:%M UTC'
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.memory --format=csv || true
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
"$nvcc_bin" --version | tail -n 2
cmake --version | head -n 1
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)

step "build (CUDA architectures $archs)"
start=$(date +%s)
if timeout "$(cap 120)" cmake -S cuda -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$archs" -DCMAKE_CUDA_COMPILER="$nvcc_bin" \
     -DPROPHET_CUDA_TESTS=ON -DPROPHET_OUTPUT_DIR="$PWD/$build/lib" >"$logs/build.log" 2>&1 &&
   timeout "$(cap 300)" cmake --build "$build" --parallel "$(nproc)" >>"$logs/build.log" 2>&1; then
  echo "built in $(( $(date +%s) - start )) s"
  grep -E 'cuBLAS headers' "$logs/build.log" || true
else
  tail -n 60 "$logs/build.log"
  note_failure "build"
  exit 1
fi
test_bin="$build/prophet_cuda_test"

step "tests"
timeout "$(cap 150)" "$test_bin" --require-device 2>&1 | tee "$logs/tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || note_failure "tests"

# The addon from JavaScript (CUDA backend through N-API, NCCL communicator): needs Node and the
# compiled package (dist/, build/Release/prophet.node), which a session can carry to the machine.
node_bin=${PROPHET_NODE:-$(command -v node || true)}
if [ -n "$node_bin" ] && [ -x "$node_bin" ] && [ -f dist/src/index.js ] && [ -f build/Release/prophet.node ]; then
  step "addon checks from Node ($("$node_bin" --version))"
  PROPHET_CUDA_LIBRARY="$PWD/$build/lib/libprophet_cuda.so" timeout "$(cap 120)" "$node_bin" cuda/test/addon-gpu-check.mjs 2>&1 |
    tee "$logs/addon.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || note_failure "addon checks"
else
  echo "addon checks skipped: no Node (PROPHET_NODE) or no compiled package (dist/, build/Release/prophet.node)"
fi

step "benchmark"
case "$gpu_name" in
  *H200*) peak=4800 ;;           # datasheet HBM3e bandwidth, GB/s
  *H100*HBM3* | *H100\ SXM*) peak=3350 ;;
  *A100*80GB*) peak=2039 ;;
  *) peak=0 ;;
esac
timeout "$(cap 120)" "$test_bin" --require-device --only none --bench --peak-gbs "$peak" 2>&1 | tee "$logs/bench.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || note_failure "benchmark"

step "draft rows for docs/gpu-results.md"
{
  echo "## $(date -u '+%Y-%m-%d') — ${gpu_name:-unknown GPU}, CUDA architectures $archs"
  echo
  echo "Correctness: \`$(grep '^prophet_cuda_test:' "$logs/tests.log" | tail -n 1)\`"
  echo
  if [ -f "$logs/addon.log" ]; then
    echo "Addon from Node: \`$(grep '^addon-gpu-check:' "$logs/addon.log" | tail -n 1)\`"
    echo
    grep -E '^(PASS|FAIL|SKIP)' "$logs/addon.log" | sed 's/^/    /'
    echo
  fi
  if grep -q '^FAIL' "$logs/tests.log"; then
    echo "Failures (first 20):"
    echo
    grep '^FAIL' "$logs/tests.log" | head -n 20 | sed 's/^/    /'
    echo
  fi
  echo "GB/s from the bytes each op must move; 'of copy' against a device-to-device copy measured"
  echo "in the same run; 'of peak' against the datasheet HBM bandwidth ($peak GB/s). Target >= 0.5."
  echo
  echo "| op | shape | ms | GB/s | of copy | of peak |"
  echo "|---|---|---|---|---|---|"
  grep -E '^\| (gating|dispatch|combine|adamw|sgd|sum_squares|clip)' "$logs/bench.log"
  echo
  echo "Grouped expert GEMMs (one cuBLAS GEMM per expert, fp32 accumulation) against one dense cuBLAS"
  echo "GEMM of the same total size and dtype; 'of dense' = dense time / grouped time (target >= 0.8)."
  echo
  echo "| op | shape | ms | TFLOP/s | dense TFLOP/s | of dense |"
  echo "|---|---|---|---|---|---|"
  grep -E '^\| grouped GEMM' "$logs/bench.log"
  echo
  echo "Expert FFN forward+backward (GEMMs + bias/activation epilogues) against the sum of its six"
  echo "grouped GEMMs timed alone (target <= 1.25)."
  echo
  echo "| op | shape | ms | GEMMs ms | ratio | TFLOP/s |"
  echo "|---|---|---|---|---|---|"
  grep -E '^\| expert FFN' "$logs/bench.log"
  echo
  echo "Not measured: a whole MoE layer (gating + dispatch + FFN + combine): permute and gating are f32"
  echo "only, the FFN runs in bf16, and no cast kernels exist yet."
} | tee "$logs/gpu-results-draft.md"

if [ "${PROPHET_GPU_CHECK_SANITIZE:-1}" = 0 ]; then
  echo "sanitizers skipped (PROPHET_GPU_CHECK_SANITIZE=0)"
elif sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null); then
  step "compute-sanitizer memcheck"
  timeout "$(cap 200)" "$sanitizer" --tool memcheck --report-api-errors no --error-exitcode 3 "$test_bin" --require-device \
    >"$logs/memcheck.log" 2>&1
  rc=$?
  tail -n 5 "$logs/memcheck.log"
  [ "$rc" -eq 0 ] || note_failure "memcheck (exit $rc; 124 = timed out)"
  step "compute-sanitizer racecheck (gating)"
  timeout "$(cap 120)" "$sanitizer" --tool racecheck --report-api-errors no --error-exitcode 3 "$test_bin" --require-device \
    --only gating >"$logs/racecheck.log" 2>&1
  rc=$?
  tail -n 5 "$logs/racecheck.log"
  [ "$rc" -eq 0 ] || note_failure "racecheck (exit $rc; 124 = timed out)"
else
  echo "compute-sanitizer not found: memcheck/racecheck not run"
fi

echo
[ "$status" -eq 0 ] && echo "gpu-check: all steps passed" || echo "gpu-check: some steps FAILED (see above)"
exit "$status"
