// A small test harness for prophet_cuda_test: both backends (the CPU one compiled in as the
// reference, the CUDA one through its exported entries, exactly as the addon loads it), buffers
// that free themselves, uploads/downloads, and comparisons that count failures and say where.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../../native/core/backend.h"
#include "../../native/core/kernels.h"
#include "../../native/core/kernels_ffn.h"
#include "../../native/core/kernels_gating.h"
#include "../../native/core/kernels_gemm.h"
#include "../../native/core/kernels_optim.h"
#include "../../native/core/kernels_permute.h"

namespace prophet::test {

// Counters of the whole run; every check adds to one of them.
struct Tally {
  int passed = 0;
  int failed = 0;
};
Tally &tally();

// Records one check; prints the message of a failure (with `where`).
bool expect(bool condition, const std::string &where, const std::string &what);

// One backend and a stream on it.
struct Side {
  const prophet_backend_i *backend = nullptr;
  prophet_stream_t stream = nullptr;
  const char *name = "";
};

struct Env {
  Side cpu, gpu;
};

// A buffer that frees itself.
class Buf {
 public:
  Buf() = default;
  Buf(const prophet_backend_i *backend, prophet_buffer_t buffer) : backend_(backend), buffer_(buffer) {}
  Buf(Buf &&other) noexcept { *this = std::move(other); }
  Buf &operator=(Buf &&other) noexcept {
    std::swap(backend_, other.backend_);
    std::swap(buffer_, other.buffer_);
    return *this;
  }
  Buf(const Buf &) = delete;
  Buf &operator=(const Buf &) = delete;
  ~Buf() {
    if (buffer_ != nullptr) backend_->buffer->free(buffer_);
  }
  prophet_buffer_t get() const { return buffer_; }

 private:
  const prophet_backend_i *backend_ = nullptr;
  prophet_buffer_t buffer_ = nullptr;
};

// Status check for setup steps: a failure is counted and printed with the backend's message.
bool ok(const Side &side, prophet_status_t status, const std::string &what);

// Allocates `bytes` (at least 4) on a side; filled with `fill_byte`.
Buf alloc(const Side &side, size_t bytes, int fill_byte = 0);

template <typename T>
Buf upload(const Side &side, const std::vector<T> &values) {
  Buf buffer = alloc(side, values.size() * sizeof(T));
  if (buffer.get() != nullptr && !values.empty()) {
    ok(side, side.backend->memory->copy_h2d_async(buffer.get(), 0, values.data(),
                                                  values.size() * sizeof(T), side.stream),
       "upload");
    ok(side, side.backend->stream->synchronize(side.stream), "upload sync");
  }
  return buffer;
}

template <typename T>
std::vector<T> download(const Side &side, const Buf &buffer, size_t count) {
  std::vector<T> values(count);
  if (count != 0 && buffer.get() != nullptr) {
    ok(side, side.backend->memory->copy_d2h_async(values.data(), buffer.get(), 0,
                                                  count * sizeof(T), side.stream),
       "download");
    ok(side, side.backend->stream->synchronize(side.stream), "download sync");
  }
  return values;
}

// The device pointer of a buffer, as the pointer-based kernel entries (gemm, ffn, optim) take.
inline float *dptr(const Side &side, const Buf &buffer) {
  return buffer.get() == nullptr ? nullptr
                                 : static_cast<float *>(side.backend->buffer->device_ptr(buffer.get()));
}

// The same values on both backends.
struct Pair {
  Buf cpu, gpu;
  const Buf &on(bool gpu_side) const { return gpu_side ? gpu : cpu; }
};

template <typename T>
Pair upload_both(const Env &env, const std::vector<T> &values) {
  return Pair{upload(env.cpu, values), upload(env.gpu, values)};
}

// A zero-filled (or fill_byte-filled) pair of `count` 4-byte elements.
Pair alloc_both(const Env &env, size_t count, int fill_byte = 0);

// Exact equality of two integer (or bitwise float) arrays; reports the first difference.
bool expect_equal(const std::vector<int32_t> &cpu, const std::vector<int32_t> &gpu,
                  const std::string &where);
bool expect_bitwise(const std::vector<float> &cpu, const std::vector<float> &gpu,
                    const std::string &where);
// |gpu - cpu| <= atol + rtol * |cpu| for every element (NaN only where the CPU has NaN); also
// reports how many differ at all.
bool expect_close(const std::vector<float> &cpu, const std::vector<float> &gpu, double rtol,
                  double atol, const std::string &where);

// Deterministic pseudo-random numbers (xorshift), so failures reproduce.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull + 1) {}
  uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() >> 40) / float(1 << 24); }
  float normal() {  // sum of uniforms: mean 0, variance 1, bounded
    float s = 0.0f;
    for (int i = 0; i < 12; ++i) s += uniform(0.0f, 1.0f);
    return s - 6.0f;
  }
  std::vector<float> normals(size_t n, float scale = 1.0f) {
    std::vector<float> v(n);
    for (float &x : v) x = normal() * scale;
    return v;
  }

 private:
  uint64_t state_;
};

// Test groups (one file each).
void test_runtime(const Env &env);
// The CPU backend's v2 stream slots (no device needed).
void test_cpu_stream_slots(const Side &cpu);
void test_gating(const Env &env);
void test_permute(const Env &env);
void test_gemm(const Env &env);
void test_ffn(const Env &env);
void test_optim(const Env &env);
// The ABI's gemm, ffn and optim entries against the CPU backend's on the same inputs.
void test_abi_gemm(const Env &env);
void test_abi_ffn(const Env &env);
void test_abi_optim(const Env &env);
// The CUDA kernel table (what is wired) and its argument checks against the CPU's; needs no
// device, so it also runs on CI machines. `cpu` is the CPU backend with a stream.
void test_kernel_table(const Side &cpu);
// Benchmarks; `peak_gbs` > 0 adds a column against that HBM bandwidth (datasheet figure).
void run_benchmarks(const Env &env, double peak_gbs);
void run_gemm_benchmarks(const Env &env);
void run_ffn_benchmarks(const Env &env);

}  // namespace prophet::test
