// CUDA gating against the CPU backend's on the same inputs: forward (integers exact, floats within
// a few ulp: CUDA's expf/logf are not glibc's), aux losses and backward (fed the CPU's forward
// outputs, so both see identical inputs), the documented worked example, and the failures
// (non-finite logits, expert index out of range) with the CPU's exact messages.
#include <cmath>
#include <limits>

#include "harness.h"

namespace prophet::test {
namespace {

struct Outputs {
  Pair index, weight, position, counts, dropped, probs, lse;
};

// Outputs filled with the byte 0x7f, so that "left untouched" can be checked.
Outputs make_outputs(const Env &env, int64_t T, int64_t E, int64_t k) {
  return Outputs{alloc_both(env, T * k, 0x7f), alloc_both(env, T * k, 0x7f),
                 alloc_both(env, T * k, 0x7f), alloc_both(env, E, 0x7f),
                 alloc_both(env, 1, 0x7f),     alloc_both(env, T * E, 0x7f),
                 alloc_both(env, T, 0x7f)};
}

prophet_gating_outputs_t view(const Outputs &o, bool gpu) {
  return prophet_gating_outputs_t{o.index.on(gpu).get(),  o.weight.on(gpu).get(),
                                  o.position.on(gpu).get(), o.counts.on(gpu).get(),
                                  o.dropped.on(gpu).get(),  o.probs.on(gpu).get(),
                                  o.lse.on(gpu).get()};
}

// Forward on one side; returns the status of the call or of the synchronize after it.
prophet_status_t forward(const Side &side, const prophet_gating_params_t &p, const Buf &logits,
                         const prophet_gating_outputs_t &out) {
  const prophet_status_t s = side.backend->kernel->gating->forward(&p, logits.get(), &out, side.stream);
  if (s != PROPHET_OK) return s;
  return side.backend->stream->synchronize(side.stream);
}

struct Host {
  std::vector<int32_t> index, position, counts, dropped;
  std::vector<float> weight, probs, lse;
};

Host fetch(const Side &side, const Outputs &o, bool gpu, int64_t T, int64_t E, int64_t k) {
  return Host{download<int32_t>(side, o.index.on(gpu), T * k),
              download<int32_t>(side, o.position.on(gpu), T * k),
              download<int32_t>(side, o.counts.on(gpu), E),
              download<int32_t>(side, o.dropped.on(gpu), 1),
              download<float>(side, o.weight.on(gpu), T * k),
              download<float>(side, o.probs.on(gpu), T * E),
              download<float>(side, o.lse.on(gpu), T)};
}

// Aux losses and backward on both sides from the CPU's forward results.
void compare_backward(const Env &env, const std::string &name, const prophet_gating_params_t &p,
                      const Host &ref, Rng &rng) {
  const int64_t T = p.num_tokens, E = p.num_experts, k = p.k;
  const Pair probs = upload_both(env, ref.probs), lse = upload_both(env, ref.lse),
             index = upload_both(env, ref.index), position = upload_both(env, ref.position);
  const Pair losses = alloc_both(env, 2);
  std::vector<float> loss[2];
  for (bool gpu : {false, true}) {
    const Side &side = gpu ? env.gpu : env.cpu;
    ok(side, side.backend->kernel->gating->aux_loss(T, E, k, probs.on(gpu).get(), lse.on(gpu).get(),
                                                    index.on(gpu).get(), losses.on(gpu).get(), side.stream),
       name + " aux_loss");
    ok(side, side.backend->stream->synchronize(side.stream), name + " aux_loss sync");
    loss[gpu] = download<float>(side, losses.on(gpu), 2);
  }
  expect_close(loss[0], loss[1], 1e-6, 1e-7, name + " aux_loss");

  const Pair d_weight = upload_both(env, rng.normals(size_t(T * k)));
  for (bool with_d_weight : {true, false}) {
    const prophet_gating_backward_params_t bp{T, E, k, p.renormalize, 0.01f, 0.001f};
    const Pair d_logits = alloc_both(env, T * E, 0x7f);
    std::vector<float> grad[2];
    for (bool gpu : {false, true}) {
      const Side &side = gpu ? env.gpu : env.cpu;
      ok(side, side.backend->kernel->gating->backward(
                   &bp, probs.on(gpu).get(), lse.on(gpu).get(), index.on(gpu).get(),
                   position.on(gpu).get(), with_d_weight ? d_weight.on(gpu).get() : nullptr,
                   d_logits.on(gpu).get(), side.stream),
         name + " backward");
      ok(side, side.backend->stream->synchronize(side.stream), name + " backward sync");
      grad[gpu] = download<float>(side, d_logits.on(gpu), T * E);
    }
    expect_close(grad[0], grad[1], 1e-5, 1e-7,
                 name + (with_d_weight ? " backward d_logits" : " backward d_logits (aux only)"));
  }
}

// Forward on both sides, every output compared, then the backward passes.
Host compare_case(const Env &env, const std::string &name, const prophet_gating_params_t &p,
                  const std::vector<float> &logits_host, Rng &rng) {
  const int64_t T = p.num_tokens, E = p.num_experts, k = p.k;
  const Pair logits = upload_both(env, logits_host);
  const Outputs out = make_outputs(env, T, E, k);
  Host host[2];
  for (bool gpu : {false, true}) {
    const Side &side = gpu ? env.gpu : env.cpu;
    ok(side, forward(side, p, logits.on(gpu), view(out, gpu)), name + " forward");
    host[gpu] = fetch(side, out, gpu, T, E, k);
  }
  const Host &c = host[0], &g = host[1];
  expect_equal(c.index, g.index, name + " expert_index");
  expect_equal(c.position, g.position, name + " position");
  expect_equal(c.counts, g.counts, name + " counts_per_expert");
  expect_equal(c.dropped, g.dropped, name + " num_dropped");
  expect_close(c.weight, g.weight, 1e-5, 1e-8, name + " weight");
  expect_close(c.probs, g.probs, 1e-5, 1e-8, name + " probs");
  expect_close(c.lse, g.lse, 1e-6, 1e-6, name + " logsumexp");
  int64_t kept = 0;
  for (int32_t count : g.counts) kept += count;
  expect(kept + g.dropped[0] == T * k, name + " invariant", "sum(counts) + num_dropped == T * k");
  compare_backward(env, name, p, c, rng);
  return g;
}

prophet_gating_params_t params(int64_t T, int64_t E, int64_t k, bool renormalize, int64_t capacity,
                               int32_t order = PROPHET_SLOT_ORDER_TOKEN, uint32_t seed = 0) {
  return prophet_gating_params_t{T, E, k, renormalize ? 1 : 0, order, capacity, seed};
}

// C = ceil(k * T / E * cf), as gatingCapacity computes it.
int64_t capacity_of(int64_t T, int64_t E, int64_t k, double cf) {
  return static_cast<int64_t>(std::ceil(double(k) * double(T) / double(E) * cf));
}

void test_cases(const Env &env) {
  Rng rng(7);
  compare_case(env, "T=0", params(0, 4, 2, false, -1), {}, rng);
  compare_case(env, "E=1", params(9, 1, 1, false, -1), rng.normals(9), rng);
  compare_case(env, "k=E", params(37, 5, 5, true, capacity_of(37, 5, 5, 1.0)), rng.normals(37 * 5), rng);
  {
    // One hot expert: most first choices go to expert 3, so capacity drops many slots.
    const int64_t T = 300, E = 8, k = 2;
    std::vector<float> logits = rng.normals(T * E);
    for (int64_t t = 0; t < T; ++t) logits[t * E + 3] += 6.0f;
    const Host g = compare_case(env, "hot expert", params(T, E, k, true, capacity_of(T, E, k, 1.0)), logits, rng);
    expect(g.dropped[0] > 0, "hot expert", "capacity drops slots");
  }
  {
    // Ties everywhere: integer logits in {0, 1, 2}; the lower expert index must win.
    const int64_t T = 257, E = 6, k = 3;
    std::vector<float> logits(T * E);
    Rng r(3);
    for (float &v : logits) v = float(r.next() % 3);
    compare_case(env, "ties", params(T, E, k, false, capacity_of(T, E, k, 1.0)), logits, rng);
  }
  compare_case(env, "random order", params(1000, 16, 2, false, capacity_of(1000, 16, 2, 1.0),
                                           PROPHET_SLOT_ORDER_RANDOM, 1234),
               rng.normals(1000 * 16, 2.0f), rng);
  compare_case(env, "random order dropless", params(999, 16, 4, true, -1, PROPHET_SLOT_ORDER_RANDOM, 99),
               rng.normals(999 * 16), rng);
  compare_case(env, "capacity 0", params(50, 4, 2, false, 0), rng.normals(200), rng);
  compare_case(env, "large", params(5000, 64, 2, true, capacity_of(5000, 64, 2, 1.25)),
               rng.normals(5000 * 64, 3.0f), rng);
  compare_case(env, "many experts", params(700, 300, 8, true, capacity_of(700, 300, 8, 1.0)),
               rng.normals(700 * 300), rng);
  // Rows too wide for a shared-memory tile take the global-memory kernels.
  compare_case(env, "wide rows", params(20, 13000, 4, true, -1), rng.normals(20 * 13000), rng);
}

// docs/kernels.md's worked example, checked against its literal numbers on CUDA.
void test_worked_example(const Env &env) {
  Rng rng(1);
  const Host g = compare_case(env, "worked example", params(3, 2, 2, false, 2),
                              {2, 1, 2, 1, 1, 2}, rng);
  expect(g.position == std::vector<int32_t>{0, 1, 1, -1, 0, -1}, "worked example", "positions");
  expect(g.counts == std::vector<int32_t>{2, 2} && g.dropped[0] == 2, "worked example",
         "counts [2, 2], 2 dropped");
}

// Non-finite logits: the same message on both backends, outputs untouched, stream usable after.
void test_non_finite(const Env &env) {
  const int64_t T = 5, E = 4, k = 2;
  for (int variant = 0; variant < 2; ++variant) {
    std::vector<float> logits(T * E, 0.5f);
    logits[3 * E + 0] = std::numeric_limits<float>::quiet_NaN();
    if (variant == 1) logits[1 * E + 2] = -std::numeric_limits<float>::infinity();
    const std::string name = variant == 0 ? "NaN logit" : "infinite logit";
    const Pair in = upload_both(env, logits);
    const Outputs out = make_outputs(env, T, E, k);
    std::string message[2];
    for (bool gpu : {false, true}) {
      const Side &side = gpu ? env.gpu : env.cpu;
      const prophet_status_t s = forward(side, params(T, E, k, false, -1), in.on(gpu), view(out, gpu));
      expect(s == PROPHET_ERR_INVALID, name + " " + side.name, "forward fails with INVALID");
      message[gpu] = side.backend->last_error();
      expect(side.backend->stream->synchronize(side.stream) == PROPHET_OK, name + " " + side.name,
             "the stream is usable after the failure was reported");
    }
    expect(message[0] == message[1], name, "cuda message '" + message[1] + "' equals cpu '" + message[0] + "'");
    const Host g = fetch(env.gpu, out, true, T, E, k);
    expect(std::all_of(g.index.begin(), g.index.end(), [](int32_t v) { return v == 0x7f7f7f7f; }) &&
               std::all_of(g.counts.begin(), g.counts.end(), [](int32_t v) { return v == 0x7f7f7f7f; }) &&
               g.dropped[0] == 0x7f7f7f7f,
           name, "cuda outputs left untouched");
  }
}

// An expert index outside [0, E) in aux_loss and backward: same messages as the CPU.
void test_bad_expert_index(const Env &env) {
  const int64_t T = 4, E = 3, k = 2;
  std::vector<float> probs(T * E, 1.0f / 3.0f), lse(T, 1.0f);
  std::vector<int32_t> index = {0, 1, 2, 0, 1, 3, 7, 0}, position(T * k, 0);
  const Pair p = upload_both(env, probs), l = upload_both(env, lse), i = upload_both(env, index),
             pos = upload_both(env, position), losses = alloc_both(env, 2),
             d_logits = alloc_both(env, T * E);
  std::string message[2][2];
  const prophet_gating_backward_params_t bp{T, E, k, 0, 0.1f, 0.1f};
  for (bool gpu : {false, true}) {
    const Side &side = gpu ? env.gpu : env.cpu;
    const prophet_gating_i *g = side.backend->kernel->gating;
    ok(side, g->aux_loss(T, E, k, p.on(gpu).get(), l.on(gpu).get(), i.on(gpu).get(),
                         losses.on(gpu).get(), side.stream), "aux_loss queue");
    expect(side.backend->stream->synchronize(side.stream) == PROPHET_ERR_INVALID,
           std::string("bad expert ") + side.name, "aux_loss fails");
    message[gpu][0] = side.backend->last_error();
    ok(side, g->backward(&bp, p.on(gpu).get(), l.on(gpu).get(), i.on(gpu).get(), pos.on(gpu).get(),
                         nullptr, d_logits.on(gpu).get(), side.stream), "backward queue");
    expect(side.backend->stream->synchronize(side.stream) == PROPHET_ERR_INVALID,
           std::string("bad expert ") + side.name, "backward fails");
    message[gpu][1] = side.backend->last_error();
  }
  for (int m = 0; m < 2; ++m) {
    expect(message[0][m] == message[1][m], "bad expert message",
           "cuda '" + message[1][m] + "' equals cpu '" + message[0][m] + "'");
  }
  // Argument errors come back at once with the CPU's wording.
  const prophet_gating_params_t bad = params(4, 3, 4, false, -1);
  const Outputs out = make_outputs(env, 4, 3, 3);
  std::string arg_message[2];
  for (bool gpu : {false, true}) {
    const Side &side = gpu ? env.gpu : env.cpu;
    expect(side.backend->kernel->gating->forward(&bad, p.on(gpu).get(), nullptr, side.stream) ==
               PROPHET_ERR_INVALID,
           "gating arguments", "NULL outputs refused");
    const prophet_gating_outputs_t o = view(out, gpu);
    expect(side.backend->kernel->gating->forward(&bad, p.on(gpu).get(), &o, side.stream) ==
               PROPHET_ERR_INVALID,
           "gating arguments", "k > E refused");
    arg_message[gpu] = side.backend->last_error();
  }
  expect(arg_message[0] == arg_message[1], "gating arguments", "same message: " + arg_message[1]);
}

}  // namespace

void test_gating(const Env &env) {
  test_cases(env);
  test_worked_example(env);
  test_non_finite(env);
  test_bad_expert_index(env);
}

}  // namespace prophet::test
