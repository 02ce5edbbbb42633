// Micro-benchmark of the CUDA gating, permute and optimizer kernels (--bench). Each kernel's time (CUDA
// timing events through the ABI, mean of 20 runs after 3 warm-ups) is turned into GB/s from the
// bytes the operation must move at least, and set side by side with a device-to-device copy of
// comparable size measured in the same run (a copy of N bytes moves 2N: read and write). With
// --peak-gbs the same figure is also given as a fraction of that datasheet HBM bandwidth.
// Lines starting with "| " are rows for docs/gpu-results.md.
#include <functional>

#include "harness.h"

namespace prophet::test {
namespace {

constexpr int kWarmup = 3;
constexpr int kRuns = 20;

// Mean milliseconds of body() on the GPU stream, or -1 when something failed.
double time_ms(const Side &gpu, const std::function<bool()> &body) {
  const prophet_backend_i *b = gpu.backend;
  prophet_event_t start = nullptr, end = nullptr;
  if (!ok(gpu, b->event->create(0, PROPHET_EVENT_TIMING, &start), "bench event") ||
      !ok(gpu, b->event->create(0, PROPHET_EVENT_TIMING, &end), "bench event")) {
    return -1.0;
  }
  bool good = true;
  for (int i = 0; i < kWarmup && good; ++i) good = body();
  good = good && ok(gpu, b->stream->synchronize(gpu.stream), "bench warm-up");
  good = good && ok(gpu, b->event->record(start, gpu.stream), "bench record");
  for (int i = 0; i < kRuns && good; ++i) good = body();
  good = good && ok(gpu, b->event->record(end, gpu.stream), "bench record");
  good = good && ok(gpu, b->stream->synchronize(gpu.stream), "bench sync");
  double ms = -1.0;
  if (good && !ok(gpu, b->event->elapsed_ms(start, end, &ms), "bench elapsed")) ms = -1.0;
  b->event->destroy(start);
  b->event->destroy(end);
  return good && ms > 0.0 ? ms / kRuns : -1.0;
}

// GB/s of a device-to-device copy of `bytes` (counting read + write).
double copy_gbs(const Side &gpu, size_t bytes) {
  Buf a = alloc(gpu, bytes), c = alloc(gpu, bytes);
  const double ms = time_ms(gpu, [&] {
    return ok(gpu, gpu.backend->memory->copy_d2d_async(c.get(), 0, a.get(), 0, bytes, gpu.stream), "copy");
  });
  return ms > 0.0 ? 2.0 * double(bytes) / (ms * 1e6) : -1.0;
}

void report(const char *op, const std::string &shape, double ms, double bytes, double copy,
            double peak_gbs) {
  if (ms <= 0.0) {
    expect(false, std::string("bench ") + op, "timing failed");
    return;
  }
  const double gbs = bytes / (ms * 1e6);
  char peak[64] = "n/a";
  if (peak_gbs > 0.0) std::snprintf(peak, sizeof peak, "%.2f", gbs / peak_gbs);
  std::printf("| %s | %s | %.4f | %.0f | %.2f | %s |\n", op, shape.c_str(), ms, gbs, gbs / copy, peak);
}

void bench_gating(const Env &env, int64_t T, double peak_gbs) {
  const Side &gpu = env.gpu;
  const int64_t E = 64, k = 2;
  Rng rng(5);
  const Buf logits = upload(gpu, rng.normals(T * E));
  Buf idx = alloc(gpu, T * k * 4), w = alloc(gpu, T * k * 4), pos = alloc(gpu, T * k * 4),
      counts = alloc(gpu, E * 4), dropped = alloc(gpu, 4), probs = alloc(gpu, T * E * 4),
      lse = alloc(gpu, T * 4), d_weight = upload(gpu, rng.normals(T * k)),
      d_logits = alloc(gpu, T * E * 4);
  const int64_t capacity = (k * T * 5 + 4 * E - 1) / (4 * E);  // capacity factor 1.25
  const prophet_gating_outputs_t out{idx.get(), w.get(), pos.get(), counts.get(), dropped.get(),
                                     probs.get(), lse.get()};
  const std::string shape = "T=" + std::to_string(T) + " E=64 k=2";
  const double copy = copy_gbs(gpu, size_t(T * E * 4));
  const double logit_bytes = double(T * E * 4);
  const double slot_bytes = double(T * k * 4);
  for (int32_t order : {PROPHET_SLOT_ORDER_TOKEN, PROPHET_SLOT_ORDER_RANDOM}) {
    const prophet_gating_params_t p{T, E, k, 1, order, capacity, 42};
    const double ms = time_ms(gpu, [&] {
      return ok(gpu, gpu.backend->kernel->gating->forward(&p, logits.get(), &out, gpu.stream), "gating");
    });
    // logits in, probs out, logsumexp, expert_index + weight + position.
    report(order == PROPHET_SLOT_ORDER_TOKEN ? "gating forward (capacity 1.25)"
                                             : "gating forward (random order)",
           shape, ms, 2 * logit_bytes + T * 4 + 3 * slot_bytes, copy, peak_gbs);
  }
  const prophet_gating_backward_params_t bp{T, E, k, 1, 0.01f, 0.001f};
  const double ms = time_ms(gpu, [&] {
    return ok(gpu, gpu.backend->kernel->gating->backward(&bp, probs.get(), lse.get(), idx.get(),
                                                          pos.get(), d_weight.get(), d_logits.get(),
                                                          gpu.stream),
              "gating backward");
  });
  // probs in, d_logits out, logsumexp, expert_index + position + d_weight.
  report("gating backward", shape, ms, 2 * logit_bytes + T * 4 + 3 * slot_bytes, copy, peak_gbs);
}

void bench_permute(const Env &env, int64_t T, int64_t d, double peak_gbs) {
  const Side &gpu = env.gpu, &cpu = env.cpu;
  const int64_t E = 64, k = 2;
  Rng rng(9);
  // A dropless routing from the CPU's gating, compact layout (R = T * k).
  std::vector<int32_t> index(T * k), position(T * k), offset(E);
  std::vector<float> weight(T * k);
  {
    const Buf logits = upload(cpu, rng.normals(T * E));
    Buf idx = alloc(cpu, T * k * 4), w = alloc(cpu, T * k * 4), pos = alloc(cpu, T * k * 4),
        counts = alloc(cpu, E * 4), dropped = alloc(cpu, 4), probs = alloc(cpu, T * E * 4),
        lse = alloc(cpu, T * 4);
    const prophet_gating_params_t p{T, E, k, 1, PROPHET_SLOT_ORDER_TOKEN, -1, 0};
    const prophet_gating_outputs_t out{idx.get(), w.get(), pos.get(), counts.get(), dropped.get(),
                                       probs.get(), lse.get()};
    ok(cpu, cpu.backend->kernel->gating->forward(&p, logits.get(), &out, cpu.stream), "routing");
    ok(cpu, cpu.backend->stream->synchronize(cpu.stream), "routing sync");
    index = download<int32_t>(cpu, idx, T * k);
    position = download<int32_t>(cpu, pos, T * k);
    weight = download<float>(cpu, w, T * k);
    const std::vector<int32_t> c = download<int32_t>(cpu, counts, E);
    for (int64_t e = 1; e < E; ++e) offset[e] = offset[e - 1] + c[e - 1];
  }
  const int64_t R = T * k;
  const Buf gi = upload(gpu, index), gp = upload(gpu, position), go = upload(gpu, offset),
            gw = upload(gpu, weight);
  Buf x = alloc(gpu, T * d * 4), rows = alloc(gpu, R * d * 4), tokens = alloc(gpu, T * d * 4),
      d_rows = alloc(gpu, R * d * 4), d_w = alloc(gpu, T * k * 4);
  const prophet_permute_shape_t shape{T, k, E, d, R};
  const prophet_permute_routing_t routing{gi.get(), gp.get(), go.get()};
  const prophet_permute_i *kp = gpu.backend->kernel->permute;
  const std::string text = "T=" + std::to_string(T) + " d=" + std::to_string(d) + " k=2";
  const double copy = copy_gbs(gpu, size_t(R * d * 4));
  const double token_bytes = double(T * d * 4), row_bytes = double(R * d * 4);
  report("dispatch", text, time_ms(gpu, [&] {
           return ok(gpu, kp->dispatch(&shape, &routing, x.get(), rows.get(), gpu.stream), "dispatch");
         }), token_bytes + row_bytes, copy, peak_gbs);
  report("combine", text, time_ms(gpu, [&] {
           return ok(gpu, kp->combine(&shape, &routing, rows.get(), gw.get(), tokens.get(), gpu.stream), "combine");
         }), row_bytes + token_bytes, copy, peak_gbs);
  report("dispatch backward", text, time_ms(gpu, [&] {
           return ok(gpu, kp->dispatch_backward(&shape, &routing, rows.get(), tokens.get(), gpu.stream), "dispatch_backward");
         }), row_bytes + token_bytes, copy, peak_gbs);
  report("combine backward", text, time_ms(gpu, [&] {
           return ok(gpu, kp->combine_backward(&shape, &routing, tokens.get(), rows.get(), gw.get(),
                                               d_rows.get(), d_w.get(), gpu.stream), "combine_backward");
         }), token_bytes + 2 * row_bytes, copy, peak_gbs);
}

// The optimizer family's memory-bound entries over n fp32 parameters, through the ABI.
void bench_optim(const Env &env, int64_t n, double peak_gbs) {
  const Side &gpu = env.gpu;
  const Buf p = alloc(gpu, n * 4), g = alloc(gpu, n * 4), m = alloc(gpu, n * 4), v = alloc(gpu, n * 4),
            sum = alloc(gpu, 4);
  float *pp = dptr(gpu, p), *gp = dptr(gpu, g), *mp = dptr(gpu, m), *vp = dptr(gpu, v);
  const prophet_optim_i *o = gpu.backend->kernel->optim;
  const prophet_adamw_params_t adam{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 10};
  const prophet_sgd_params_t sgd{0.1f, 0.9f, 0.0f, 0.0f, 0, 0};
  const std::string text = "n=" + std::to_string(n) + " fp32";
  const double copy = copy_gbs(gpu, size_t(n * 4)), b = double(n) * 4.0;
  // AdamW reads p, g, m, v and writes p, m, v; SGD with momentum reads p, g, buf, writes p, buf.
  report("adamw", text, time_ms(gpu, [&] {
           return ok(gpu, o->adamw(gpu.stream, n, pp, gp, mp, vp, &adam), "adamw");
         }), 7 * b, copy, peak_gbs);
  report("sgd momentum", text, time_ms(gpu, [&] {
           return ok(gpu, o->sgd(gpu.stream, n, pp, gp, mp, &sgd), "sgd");
         }), 5 * b, copy, peak_gbs);
  const float *const tensors[] = {gp};
  const int64_t sizes[] = {n};
  report("sum_squares", text, time_ms(gpu, [&] {
           return ok(gpu, o->sum_squares(gpu.stream, 1, tensors, sizes, dptr(gpu, sum)), "sum_squares");
         }), b, copy, peak_gbs);
  float *const scaled[] = {gp};
  report("clip_by_norm", text, time_ms(gpu, [&] {
           return ok(gpu, o->clip_by_norm(gpu.stream, 1, scaled, sizes, dptr(gpu, sum), 1.0f), "clip");
         }), 2 * b, copy, peak_gbs);
}

}  // namespace

void run_benchmarks(const Env &env, double peak_gbs) {
  std::printf("\nbenchmark: GB/s from the bytes each op must move; 'of copy' divides by a "
              "device-to-device copy measured in the same run; 'of peak' by --peak-gbs %.0f\n",
              peak_gbs);
  std::printf("| op | shape | ms | GB/s | of copy | of peak |\n|---|---|---|---|---|---|\n");
  for (int64_t T : {16384, 1048576}) bench_gating(env, T, peak_gbs);
  bench_permute(env, 8192, 1024, peak_gbs);
  bench_permute(env, 32768, 2048, peak_gbs);
  bench_optim(env, int64_t(1) << 26, peak_gbs);
}

}  // namespace prophet::test
