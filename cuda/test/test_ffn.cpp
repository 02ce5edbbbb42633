// The expert FFN (cuda/src/expert_ffn.h, through libprophet_cuda_testing.so) against an
// independent double-precision reference, forward and backward, for every activation, plain and
// gated, in f32, bf16 and f16 storage (the ABI entry, f32 only, is compared with the CPU backend in
// test_abi_dense.cpp); its epilogues' 16-byte and one-element kernels against each other, bitwise;
// and (--bench) forward + backward time against the sum of its six grouped GEMMs timed alone
// (issue target: <= 1.25x).
#include <cmath>
#include <cstdint>
#include <functional>

#include "dtype.h"
#include "harness.h"

extern "C" int prophet_cuda_testing_has_cublas(void);
extern "C" prophet_status_t prophet_cuda_testing_grouped_gemm(
    int which, int64_t num_experts, const int64_t *rows_per_expert, int64_t k, int64_t n,
    int dtype, prophet_buffer_t a, prophet_buffer_t b, prophet_buffer_t c, int accumulate,
    prophet_stream_t stream);
extern "C" prophet_status_t prophet_cuda_testing_expert_ffn(
    int backward, int64_t num_experts, const int64_t *rows_per_expert, int64_t d_model,
    int64_t d_hidden, int activation, int gated, int dtype, const prophet_buffer_t *weights,
    const prophet_buffer_t *grads, const prophet_buffer_t *io, prophet_stream_t stream);
extern "C" prophet_status_t prophet_cuda_testing_expert_ffn_at(
    int backward, int64_t num_experts, const int64_t *rows_per_expert, int64_t d_model,
    int64_t d_hidden, int activation, int gated, int dtype, void *const *weights,
    void *const *grads, void *const *io, prophet_stream_t stream);

namespace prophet::test {
namespace {

const char *const kActNames[] = {"relu", "gelu", "silu"};

double act_ref(int act, double x) {
  if (act == 0) return x > 0 ? x : 0;
  if (act == 1) return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  return x / (1 + std::exp(-x));
}

double act_grad_ref(int act, double x) {
  if (act == 0) return x > 0 ? 1 : 0;
  if (act == 1) {
    const double c = std::sqrt(2 / M_PI), t = std::tanh(c * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
  }
  const double s = 1 / (1 + std::exp(-x));
  return s * (1 + x * (1 - s));
}

struct Problem {
  std::vector<int64_t> rows;
  int64_t E, R, D, F, P;
  int act, gated, dtype;
  // Inputs (already rounded to the storage type) and reference outputs.
  std::vector<float> x, w1, b1, w2, b2, dy;
  std::vector<float> pre, h, y, dx, dw1, db1, dw2, db2;
};

std::vector<float> rounded(std::vector<float> v, int dtype) { return decode(encode(v, dtype), dtype); }

void solve(Problem &p) {
  const int64_t D = p.D, F = p.F, P = p.P;
  p.pre.assign(p.R * P, 0);
  p.h.assign(p.R * F, 0);
  p.y.assign(p.R * D, 0);
  p.dx.assign(p.R * D, 0);
  p.dw1.assign(p.E * D * P, 0);
  p.db1.assign(p.E * P, 0);
  p.dw2.assign(p.E * F * D, 0);
  p.db2.assign(p.E * D, 0);
  int64_t first = 0;
  for (int64_t e = 0; e < p.E; ++e) {
    std::vector<double> dw1(D * P, 0), db1(P, 0), dw2(F * D, 0), db2(D, 0);
    for (int64_t r = first; r < first + p.rows[e]; ++r) {
      std::vector<double> pre(P), h(F), dh(F, 0), dpre(P, 0);
      for (int64_t c = 0; c < P; ++c) {
        double s = p.b1[e * P + c];
        for (int64_t d = 0; d < D; ++d) s += double(p.x[r * D + d]) * p.w1[(e * D + d) * P + c];
        pre[c] = s;
        p.pre[r * P + c] = float(s);
      }
      for (int64_t f = 0; f < F; ++f) {
        h[f] = act_ref(p.act, pre[f]) * (p.gated ? pre[F + f] : 1.0);
        p.h[r * F + f] = float(h[f]);
      }
      for (int64_t d = 0; d < D; ++d) {
        double s = p.b2[e * D + d];
        for (int64_t f = 0; f < F; ++f) s += h[f] * p.w2[(e * F + f) * D + d];
        p.y[r * D + d] = float(s);
        db2[d] += p.dy[r * D + d];
        for (int64_t f = 0; f < F; ++f) {
          dw2[f * D + d] += h[f] * p.dy[r * D + d];
          dh[f] += double(p.dy[r * D + d]) * p.w2[(e * F + f) * D + d];
        }
      }
      for (int64_t f = 0; f < F; ++f) {
        dpre[f] = dh[f] * (p.gated ? pre[F + f] : 1.0) * act_grad_ref(p.act, pre[f]);
        if (p.gated) dpre[F + f] = dh[f] * act_ref(p.act, pre[f]);
      }
      for (int64_t c = 0; c < P; ++c) {
        db1[c] += dpre[c];
        for (int64_t d = 0; d < D; ++d) {
          dw1[d * P + c] += double(p.x[r * D + d]) * dpre[c];
          p.dx[r * D + d] += float(dpre[c] * p.w1[(e * D + d) * P + c]);
        }
      }
    }
    for (int64_t i = 0; i < D * P; ++i) p.dw1[e * D * P + i] = float(dw1[i]);
    for (int64_t i = 0; i < P; ++i) p.db1[e * P + i] = float(db1[i]);
    for (int64_t i = 0; i < F * D; ++i) p.dw2[e * F * D + i] = float(dw2[i]);
    for (int64_t i = 0; i < D; ++i) p.db2[e * D + i] = float(db2[i]);
    first += p.rows[e];
  }
}

void check_problem(const Env &env, const std::vector<int64_t> &rows, int64_t D, int64_t F, int act,
                   int gated, int dtype, Rng &rng) {
  Problem p{rows, int64_t(rows.size()), 0, D, F, gated ? 2 * F : F, act, gated, dtype,
            {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  for (int64_t r : rows) p.R += r;
  p.x = rounded(rng.normals(p.R * D, 0.5f), dtype);
  p.w1 = rounded(rng.normals(p.E * D * p.P, 0.3f), dtype);
  p.b1 = rounded(rng.normals(p.E * p.P, 0.1f), dtype);
  p.w2 = rounded(rng.normals(p.E * F * D, 0.3f), dtype);
  p.b2 = rounded(rng.normals(p.E * D, 0.1f), dtype);
  p.dy = rounded(rng.normals(p.R * D, 0.5f), dtype);
  solve(p);
  const Side &gpu = env.gpu;
  const size_t width = dtype == kF32 ? 4 : 2;
  const Buf w1 = upload(gpu, encode(p.w1, dtype)), b1 = upload(gpu, encode(p.b1, dtype)),
            w2 = upload(gpu, encode(p.w2, dtype)), b2 = upload(gpu, encode(p.b2, dtype)),
            x = upload(gpu, encode(p.x, dtype)), dy = upload(gpu, encode(p.dy, dtype));
  const Buf pre = alloc(gpu, p.R * p.P * width), h = alloc(gpu, p.R * F * width),
            y = alloc(gpu, p.R * D * width), dx = alloc(gpu, p.R * D * width, 0x7f),
            dpre = alloc(gpu, p.R * p.P * width, 0x7f),
            // Gradients accumulate (the ABI's semantics): zero first for a plain gradient.
            dw1 = alloc(gpu, p.E * D * p.P * width), db1 = alloc(gpu, p.E * p.P * width),
            dw2 = alloc(gpu, p.E * F * D * width), db2 = alloc(gpu, p.E * D * width);
  const prophet_buffer_t weights[] = {w1.get(), b1.get(), w2.get(), b2.get()};
  const prophet_buffer_t grads[] = {dw1.get(), db1.get(), dw2.get(), db2.get()};
  const prophet_buffer_t fwd_io[] = {x.get(), pre.get(), h.get(), y.get()};
  const prophet_buffer_t bwd_io[] = {dy.get(), x.get(), pre.get(), h.get(), dx.get(), dpre.get()};
  const std::string name = std::string("expert_ffn ") + kActNames[act] + (gated ? " gated " : " ") +
                           kDtypeNames[dtype] + " R=" + std::to_string(p.R);
  if (!ok(gpu, prophet_cuda_testing_expert_ffn(0, p.E, rows.data(), D, F, act, gated, dtype, weights,
                                               nullptr, fwd_io, gpu.stream), name + " forward") ||
      !ok(gpu, prophet_cuda_testing_expert_ffn(1, p.E, rows.data(), D, F, act, gated, dtype, weights,
                                               grads, bwd_io, gpu.stream), name + " backward") ||
      !ok(gpu, gpu.backend->stream->synchronize(gpu.stream), name + " sync")) {
    return;
  }
  // f32: fp32 GEMMs against double. bf16 (8 bits) and f16 (11 bits): every stored intermediate
  // is rounded.
  const double rtol = dtype == kF32 ? 1e-3 : dtype == kF16 ? 1e-2 : 4e-2;
  const double atol = dtype == kF32 ? 1e-4 : dtype == kF16 ? 1e-2 : 4e-2;
  const struct {
    const char *what;
    const Buf &buf;
    const std::vector<float> &want;
  } outputs[] = {{"pre", pre, p.pre}, {"h", h, p.h},       {"y", y, p.y},       {"dx", dx, p.dx},
                 {"dw1", dw1, p.dw1}, {"db1", db1, p.db1}, {"dw2", dw2, p.dw2}, {"db2", db2, p.db2}};
  for (const auto &o : outputs) {
    const std::vector<float> got = decode(download<uint8_t>(gpu, o.buf, o.want.size() * width), dtype);
    expect_close(o.want, got, rtol, atol, name + " " + o.what);
  }
}

void test_expert_ffn(const Env &env) {
  Rng rng(17);
  for (int dtype : {kF32, kBF16, kF16}) {
    for (int act : {0, 1, 2}) {
      for (int gated : {0, 1}) check_problem(env, {4, 0, 9}, 12, 10, act, gated, dtype, rng);
    }
  }
  check_problem(env, {0, 0}, 8, 6, 2, 1, kF32, rng);  // no rows: gradients stay zero
  check_problem(env, {0, 40, 0}, 8, 6, 1, 0, kBF16, rng);  // one hot expert
}

// --- the epilogues' two pack widths ------------------------------------------------------------

// Inputs of one FFN problem, encoded in its storage dtype.
struct FfnInputs {
  std::vector<int64_t> rows;
  int64_t E, R, D, F, P;
  int act, gated, dtype;
  std::vector<uint8_t> x, w1, b1, w2, b2, dy;
};

// Everything forward and backward write, in this order.
const char *const kFfnOutputs[] = {"pre", "h", "y", "dx", "dpre", "dw1", "db1", "dw2", "db2"};
using FfnOutputs = std::vector<std::vector<uint8_t>>;

// The alignment test of packs_fit (cuda/src/expert_ffn.cu), which picks an epilogue's 16-byte
// kernel when every buffer it touches passes it (and its rows are whole 16-byte packs).
bool on_16_bytes(const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The device address `byte_offset` bytes into a buffer.
void *device_at(const Side &side, const Buf &buffer, size_t byte_offset) {
  return static_cast<char *>(side.backend->buffer->device_ptr(buffer.get())) + byte_offset;
}

// `bytes` uploaded `shift` bytes into an allocation that much larger.
Buf upload_shifted(const Side &side, const std::vector<uint8_t> &bytes, size_t shift) {
  Buf buffer = alloc(side, shift + bytes.size());
  if (buffer.get() == nullptr) return buffer;
  ok(side, side.backend->memory->copy_h2d_async(buffer.get(), shift, bytes.data(), bytes.size(),
                                                side.stream),
     "upload");
  ok(side, side.backend->stream->synchronize(side.stream), "upload sync");
  return buffer;
}

// Forward then backward on the GPU, with b1, b2 and the pre that backward reads placed `shift`
// bytes into their allocations: 0 puts every buffer on a 16-byte boundary, so each epilogue takes
// its 16-byte kernel; one element (2 or 4 bytes) fails packs_fit's alignment test for b1 (bias +
// activation), b2 (bias add) and the saved pre (activation backward), so all three take the
// one-element kernel. The GEMMs' operands stay at the start of their allocations in both runs:
// cuBLAS picks its kernels by pointer alignment too, and another kernel may sum in another order,
// which would make the runs differ for reasons that are not the epilogues'. So the forward writes
// pre in place and backward reads a byte-for-byte copy of it, placed `shift` bytes in.
FfnOutputs run_ffn_placed(const Env &env, const FfnInputs &in, size_t shift,
                          const std::string &name) {
  const Side &gpu = env.gpu;
  const size_t width = in.dtype == kF32 ? 4 : 2;
  const int64_t E = in.E, R = in.R, D = in.D, F = in.F, P = in.P;
  const Buf x = upload(gpu, in.x), w1 = upload(gpu, in.w1), w2 = upload(gpu, in.w2),
            dy = upload(gpu, in.dy), b1 = upload_shifted(gpu, in.b1, shift),
            b2 = upload_shifted(gpu, in.b2, shift);
  const Buf pre = alloc(gpu, R * P * width), h = alloc(gpu, R * F * width),
            y = alloc(gpu, R * D * width), saved_pre = alloc(gpu, shift + R * P * width),
            dx = alloc(gpu, R * D * width, 0x7f), dpre = alloc(gpu, R * P * width, 0x7f),
            dw1 = alloc(gpu, E * D * P * width), db1 = alloc(gpu, E * P * width),
            dw2 = alloc(gpu, E * F * D * width), db2 = alloc(gpu, E * D * width);
  void *const shifted[] = {device_at(gpu, b1, shift), device_at(gpu, b2, shift),
                           device_at(gpu, saved_pre, shift)};
  void *const weights[] = {device_at(gpu, w1, 0), shifted[0], device_at(gpu, w2, 0), shifted[1]};
  void *const grads[] = {device_at(gpu, dw1, 0), device_at(gpu, db1, 0), device_at(gpu, dw2, 0),
                         device_at(gpu, db2, 0)};
  void *const fwd_io[] = {device_at(gpu, x, 0), device_at(gpu, pre, 0), device_at(gpu, h, 0),
                          device_at(gpu, y, 0)};
  void *const bwd_io[] = {device_at(gpu, dy, 0), fwd_io[0], shifted[2], fwd_io[2],
                          device_at(gpu, dx, 0), device_at(gpu, dpre, 0)};
  // Only the shifted buffers may be off 16 bytes, and they are exactly when shift != 0.
  bool placed = true;
  for (void *const p : shifted) placed = placed && on_16_bytes(p) == (shift == 0);
  for (const Buf *kept : {&x, &w1, &w2, &dy, &pre, &h, &y, &dx, &dpre, &dw1, &db1, &dw2, &db2}) {
    placed = placed && on_16_bytes(device_at(gpu, *kept, 0));
  }
  expect(placed, name,
         shift == 0 ? "every buffer must be on 16 bytes (16-byte epilogues)"
                    : "b1, b2 and the saved pre must be the only buffers off 16 bytes "
                      "(one-element epilogues, the same GEMMs)");
  const bool ran =
      ok(gpu, prophet_cuda_testing_expert_ffn_at(0, E, in.rows.data(), D, F, in.act, in.gated,
                                                 in.dtype, weights, nullptr, fwd_io, gpu.stream),
         name + " forward") &&
      ok(gpu, gpu.backend->memory->copy_d2d_async(saved_pre.get(), shift, pre.get(), 0,
                                                  R * P * width, gpu.stream),
         name + " copy pre") &&
      ok(gpu, prophet_cuda_testing_expert_ffn_at(1, E, in.rows.data(), D, F, in.act, in.gated,
                                                 in.dtype, weights, grads, bwd_io, gpu.stream),
         name + " backward") &&
      ok(gpu, gpu.backend->stream->synchronize(gpu.stream), name + " sync");
  if (!ran) return {};
  const struct {
    const Buf &buf;
    int64_t count;
  } outputs[] = {{pre, R * P}, {h, R * F}, {y, R * D}, {dx, R * D}, {dpre, R * P},
                 {dw1, E * D * P}, {db1, E * P}, {dw2, E * F * D}, {db2, E * D}};
  FfnOutputs result;
  for (const auto &o : outputs) result.push_back(download<uint8_t>(gpu, o.buf, o.count * width));
  return result;
}

// Bitwise equality of one output of the two runs; a difference is reported with both values.
bool expect_same_bits(const std::vector<uint8_t> &wide, const std::vector<uint8_t> &narrow,
                      int dtype, const std::string &where) {
  if (wide.size() != narrow.size()) return expect(false, where, "sizes differ");
  const size_t width = dtype == kF32 ? 4 : 2;
  for (size_t i = 0; i < wide.size(); i += width) {
    if (std::memcmp(&wide[i], &narrow[i], width) != 0) {
      const std::vector<uint8_t> a(wide.begin() + i, wide.begin() + i + width),
          b(narrow.begin() + i, narrow.begin() + i + width);
      char text[160];
      std::snprintf(text, sizeof text, "element %zu: 16-byte %.9g, one-element %.9g (bitwise)",
                    i / width, decode(a, dtype)[0], decode(b, dtype)[0]);
      return expect(false, where, text);
    }
  }
  return expect(true, where, "");
}

void check_pack_widths(const Env &env, const std::vector<int64_t> &rows, int64_t D, int64_t F,
                       int act, int gated, int dtype, Rng &rng) {
  FfnInputs in{rows, int64_t(rows.size()), 0, D, F, gated ? 2 * F : F, act, gated, dtype,
               {}, {}, {}, {}, {}, {}};
  for (int64_t r : rows) in.R += r;
  in.x = encode(rng.normals(in.R * D, 0.5f), dtype);
  in.w1 = encode(rng.normals(in.E * D * in.P, 0.3f), dtype);
  in.b1 = encode(rng.normals(in.E * in.P, 0.1f), dtype);
  in.w2 = encode(rng.normals(in.E * F * D, 0.3f), dtype);
  in.b2 = encode(rng.normals(in.E * D, 0.1f), dtype);
  in.dy = encode(rng.normals(in.R * D, 0.5f), dtype);
  const std::string name = std::string("expert_ffn pack widths ") + kActNames[act] +
                           (gated ? " gated " : " ") + kDtypeNames[dtype];
  const int64_t per_pack = dtype == kF32 ? 4 : 8;  // elements in 16 bytes
  expect(D % per_pack == 0 && F % per_pack == 0, name, "D and F must be whole 16-byte packs");
  const size_t element = dtype == kF32 ? 4 : 2;
  const FfnOutputs wide = run_ffn_placed(env, in, 0, name + " (16-byte)");
  const FfnOutputs narrow = run_ffn_placed(env, in, element, name + " (one-element)");
  if (wide.empty() || narrow.empty()) return;
  for (size_t i = 0; i < wide.size(); ++i) {
    expect_same_bits(wide[i], narrow[i], dtype, name + " " + kFfnOutputs[i]);
  }
}

// The epilogues' 16-byte kernels and their one-element fallback give bitwise the same outputs
// and gradients: the same FFN, on the same values, once on each path.
void test_expert_ffn_pack_widths(const Env &env) {
  Rng rng(29);
  for (int dtype : {kF32, kBF16, kF16}) {
    for (int act : {0, 1, 2}) {
      // Uneven experts, one without rows; D and F whole 16-byte packs in every dtype.
      for (int gated : {0, 1}) check_pack_widths(env, {5, 0, 11, 2}, 16, 24, act, gated, dtype, rng);
    }
  }
}

double time_ms(const Env &env, const std::function<bool()> &body, int runs) {
  const prophet_backend_i *be = env.gpu.backend;
  prophet_event_t start = nullptr, end = nullptr;
  be->event->create(0, PROPHET_EVENT_TIMING, &start);
  be->event->create(0, PROPHET_EVENT_TIMING, &end);
  bool good = body() && ok(env.gpu, be->stream->synchronize(env.gpu.stream), "ffn bench warm-up");
  be->event->record(start, env.gpu.stream);
  for (int i = 0; i < runs && good; ++i) good = body();
  be->event->record(end, env.gpu.stream);
  good = good && ok(env.gpu, be->stream->synchronize(env.gpu.stream), "ffn bench sync");
  double ms = -1.0;
  if (good) ok(env.gpu, be->event->elapsed_ms(start, end, &ms), "ffn bench elapsed");
  be->event->destroy(start);
  be->event->destroy(end);
  return good && ms > 0 ? ms / runs : -1.0;
}

void bench_ffn(const Env &env, int dtype, int gated, const std::vector<int64_t> &rows, int64_t D, int64_t F) {
  const Side &gpu = env.gpu;
  int64_t R = 0;
  for (int64_t r : rows) R += r;
  const int64_t E = static_cast<int64_t>(rows.size()), P = gated ? 2 * F : F;
  const size_t width = dtype == kF32 ? 4 : 2;
  Rng rng(8);
  const std::vector<uint8_t> block = encode(rng.normals(1 << 20, 0.05f), dtype);
  const auto filled = [&](int64_t count) {
    std::vector<uint8_t> bytes(count * width);
    for (size_t i = 0; i < bytes.size(); i += block.size()) {
      std::memcpy(&bytes[i], block.data(), std::min(block.size(), bytes.size() - i));
    }
    return upload(gpu, bytes);
  };
  const Buf w1 = filled(E * D * P), b1 = filled(E * P), w2 = filled(E * F * D), b2 = filled(E * D),
            x = filled(R * D), dy = filled(R * D), pre = filled(R * P), h = filled(R * F),
            y = filled(R * D), dx = filled(R * D), dw1 = filled(E * D * P), db1 = filled(E * P),
            dw2 = filled(E * F * D), db2 = filled(E * D), scratch_p = filled(R * P), scratch_f = filled(R * F);
  const prophet_buffer_t weights[] = {w1.get(), b1.get(), w2.get(), b2.get()};
  const prophet_buffer_t grads[] = {dw1.get(), db1.get(), dw2.get(), db2.get()};
  const prophet_buffer_t fwd_io[] = {x.get(), pre.get(), h.get(), y.get()};
  const prophet_buffer_t bwd_io[] = {dy.get(), x.get(), pre.get(), h.get(), dx.get(), scratch_p.get()};
  const int act = 2;  // SiLU (SwiGLU when gated)
  const auto ffn = [&](int backward) {
    return [&, backward] {
      return ok(gpu, prophet_cuda_testing_expert_ffn(backward, E, rows.data(), D, F, act, gated, dtype, weights,
                                                     grads, backward ? bwd_io : fwd_io, gpu.stream),
                "ffn bench");
    };
  };
  const auto gemm = [&](int which, int64_t k, int64_t n, const Buf &a, const Buf &b, const Buf &c) {
    return time_ms(env, [&] {
      return ok(gpu, prophet_cuda_testing_grouped_gemm(which, E, rows.data(), k, n, dtype, a.get(), b.get(),
                                                       c.get(), 0, gpu.stream), "gemm");
    }, 5);
  };
  // The six GEMMs of forward + backward, each timed alone on the same buffers.
  const double gemms[] = {gemm(0, D, P, x, w1, pre),        gemm(0, F, D, h, w2, y),
                          gemm(2, F, D, h, dy, dw2),        gemm(1, F, D, dy, w2, scratch_f),
                          gemm(2, D, P, x, scratch_p, dw1), gemm(1, D, P, scratch_p, w1, dx)};
  double gemm_sum = 0;
  for (double ms : gemms) gemm_sum += ms;
  const double fwd = time_ms(env, ffn(0), 5), bwd = time_ms(env, ffn(1), 5);
  if (fwd <= 0 || bwd <= 0 || gemm_sum <= 0) {
    expect(false, "ffn bench", "timing failed");
    return;
  }
  const double flops = 2.0 * double(R) * double(D) * double(P + F) * 3.0;  // 2 GEMMs fwd, 4 bwd
  std::printf("| expert FFN fwd+bwd %s%s %s | E=%lld R=%lld D=%lld F=%lld | %.3f | %.3f | %.2f | %.1f |\n",
              kActNames[act], gated ? " gated" : "", kDtypeNames[dtype], static_cast<long long>(E),
              static_cast<long long>(R), static_cast<long long>(D), static_cast<long long>(F), fwd + bwd,
              gemm_sum, (fwd + bwd) / gemm_sum, flops / ((fwd + bwd) * 1e9));
}

}  // namespace

void test_ffn(const Env &env) {
  if (prophet_cuda_testing_has_cublas() == 0) {
    std::printf("expert FFN tests skipped: library built without cuBLAS headers\n");
    return;
  }
  test_expert_ffn(env);
  test_expert_ffn_pack_widths(env);
}

void run_ffn_benchmarks(const Env &env) {
  if (prophet_cuda_testing_has_cublas() == 0) return;
  std::printf("\nexpert FFN forward+backward vs the sum of its six grouped GEMMs timed alone "
              "(target <= 1.25)\n");
  std::printf("| op | shape | ms | GEMMs ms | ratio | TFLOP/s |\n|---|---|---|---|---|---|\n");
  bench_ffn(env, kBF16, 1, {1024, 1536, 2048, 2560, 1536, 3072, 2048, 2560}, 4096, 4096);
  bench_ffn(env, kBF16, 0, {1024, 1536, 2048, 2560, 1536, 3072, 2048, 2560}, 4096, 8192);
  bench_ffn(env, kF32, 0, {512, 768, 1024, 1280, 768, 1536, 1024, 1280}, 2048, 4096);
}

}  // namespace prophet::test
