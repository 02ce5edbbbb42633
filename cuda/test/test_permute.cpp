// CUDA dispatch/combine and backward against the CPU backend's: routings from the CPU's gating
// (compact and padded layouts, drops, k = E), feature counts that take the float4 and the scalar
// paths, bitwise equality where the sums run in the CPU's order, and the routing failures with
// the CPU's messages and untouched outputs.
#include <numeric>

#include "harness.h"

namespace prophet::test {
namespace {

struct RoutingHost {
  int64_t T, k, E, R;
  std::vector<int32_t> index, position, offset;
  std::vector<float> weight;
};

// Routing from the CPU's gating of random logits; `padded` uses e * C offsets.
RoutingHost make_routing(const Env &env, int64_t T, int64_t E, int64_t k, int64_t capacity,
                         bool padded, Rng &rng) {
  const Side &cpu = env.cpu;
  const std::vector<float> logits = rng.normals(T * E);
  const Buf in = upload(cpu, logits);
  Buf idx = alloc(cpu, T * k * 4), w = alloc(cpu, T * k * 4), pos = alloc(cpu, T * k * 4),
      counts = alloc(cpu, E * 4), dropped = alloc(cpu, 4), probs = alloc(cpu, T * E * 4),
      lse = alloc(cpu, T * 4);
  const prophet_gating_params_t p{T, E, k, 1, PROPHET_SLOT_ORDER_TOKEN, capacity, 0};
  const prophet_gating_outputs_t out{idx.get(), w.get(), pos.get(), counts.get(),
                                     dropped.get(), probs.get(), lse.get()};
  ok(cpu, cpu.backend->kernel->gating->forward(&p, in.get(), &out, cpu.stream), "routing gating");
  ok(cpu, cpu.backend->stream->synchronize(cpu.stream), "routing gating sync");
  RoutingHost r{T, k, E, 0, download<int32_t>(cpu, idx, T * k), download<int32_t>(cpu, pos, T * k),
                std::vector<int32_t>(E), download<float>(cpu, w, T * k)};
  const std::vector<int32_t> c = download<int32_t>(cpu, counts, E);
  int64_t rows = 0;
  for (int64_t e = 0; e < E; ++e) {
    r.offset[e] = static_cast<int32_t>(padded ? e * capacity : rows);
    rows += padded ? capacity : c[e];
  }
  r.R = rows;
  return r;
}

struct Devices {
  Pair index, position, offset, weight;
};

prophet_permute_routing_t view(const Devices &d, bool gpu) {
  return prophet_permute_routing_t{d.index.on(gpu).get(), d.position.on(gpu).get(),
                                   d.offset.on(gpu).get()};
}

prophet_status_t settle(const Side &side, prophet_status_t queued) {
  return queued != PROPHET_OK ? queued : side.backend->stream->synchronize(side.stream);
}

void compare_ops(const Env &env, const std::string &name, const RoutingHost &r, int64_t d, Rng &rng) {
  const prophet_permute_shape_t shape{r.T, r.k, r.E, d, r.R};
  const Devices dev{upload_both(env, r.index), upload_both(env, r.position),
                    upload_both(env, r.offset), upload_both(env, r.weight)};
  const Pair x = upload_both(env, rng.normals(r.T * d)), y = upload_both(env, rng.normals(r.R * d)),
             d_out_rows = upload_both(env, rng.normals(r.R * d)),
             d_out_tokens = upload_both(env, rng.normals(r.T * d));
  // Row outputs start as a sentinel: rows no slot maps to must keep it.
  const Pair dispatched = alloc_both(env, r.R * d, 0x7f), combined = alloc_both(env, r.T * d, 0x7f),
             dx = alloc_both(env, r.T * d, 0x7f), d_y = alloc_both(env, r.R * d, 0x7f),
             d_weight = alloc_both(env, r.T * r.k, 0x7f);
  std::vector<float> h[2][5];
  for (bool gpu : {false, true}) {
    const Side &side = gpu ? env.gpu : env.cpu;
    const prophet_permute_i *k = side.backend->kernel->permute;
    const prophet_permute_routing_t routing = view(dev, gpu);
    ok(side, settle(side, k->dispatch(&shape, &routing, x.on(gpu).get(), dispatched.on(gpu).get(), side.stream)),
       name + " dispatch");
    ok(side, settle(side, k->combine(&shape, &routing, y.on(gpu).get(), dev.weight.on(gpu).get(),
                                     combined.on(gpu).get(), side.stream)),
       name + " combine");
    ok(side, settle(side, k->dispatch_backward(&shape, &routing, d_out_rows.on(gpu).get(),
                                               dx.on(gpu).get(), side.stream)),
       name + " dispatch_backward");
    ok(side, settle(side, k->combine_backward(&shape, &routing, d_out_tokens.on(gpu).get(),
                                              y.on(gpu).get(), dev.weight.on(gpu).get(),
                                              d_y.on(gpu).get(), d_weight.on(gpu).get(), side.stream)),
       name + " combine_backward");
    h[gpu][0] = download<float>(side, dispatched.on(gpu), r.R * d);
    h[gpu][1] = download<float>(side, combined.on(gpu), r.T * d);
    h[gpu][2] = download<float>(side, dx.on(gpu), r.T * d);
    h[gpu][3] = download<float>(side, d_y.on(gpu), r.R * d);
    h[gpu][4] = download<float>(side, d_weight.on(gpu), r.T * r.k);
  }
  expect_bitwise(h[0][0], h[1][0], name + " dispatch");
  expect_bitwise(h[0][1], h[1][1], name + " combine");
  expect_bitwise(h[0][2], h[1][2], name + " dispatch_backward");
  expect_bitwise(h[0][3], h[1][3], name + " combine_backward d_y");
  // d_weight: a dot product over d features, summed as a tree on CUDA and in order on the CPU.
  expect_close(h[0][4], h[1][4], 1e-5, 1e-5 * std::sqrt(double(d) + 1.0), name + " combine_backward d_weight");
}

void test_layouts(const Env &env) {
  Rng rng(11);
  const RoutingHost dropless = make_routing(env, 300, 8, 2, -1, false, rng);
  for (int64_t d : {1024, 3, 0}) compare_ops(env, "dropless d=" + std::to_string(d), dropless, d, rng);
  const RoutingHost padded = make_routing(env, 300, 8, 2, 60, true, rng);  // drops and padding rows
  compare_ops(env, "padded capacity", padded, 64, rng);
  const RoutingHost all = make_routing(env, 33, 4, 4, -1, false, rng);  // k = E
  compare_ops(env, "k=E", all, 20, rng);
  const RoutingHost none = make_routing(env, 0, 4, 2, -1, false, rng);  // T = 0
  compare_ops(env, "T=0", none, 16, rng);
  const RoutingHost hot = make_routing(env, 2000, 16, 1, 40, false, rng);  // many drops, k = 1
  compare_ops(env, "k=1 drops", hot, 256, rng);
}

// Broken routings: each op fails with the CPU's message and writes nothing.
void test_failures(const Env &env) {
  struct Case {
    std::string name;
    std::vector<int32_t> index, position, offset;
    int64_t R;
  };
  const std::vector<Case> cases = {
      {"row out of range", {0, 1, 1, 0}, {0, 0, 1, 5}, {0, 2}, 4},
      {"row claimed twice", {0, 1, 1, 0}, {0, 0, 1, 0}, {0, 2}, 4},
      {"bad expert", {0, 1, 2, 0}, {0, 0, 1, 1}, {0, 2}, 4},
      {"dropped slot ignored, then a duplicate", {0, 9, 1, 1}, {0, -1, 0, 0}, {0, 2}, 4},
  };
  const int64_t T = 2, k = 2, E = 2, d = 8;
  for (const Case &c : cases) {
    const prophet_permute_shape_t shape{T, k, E, d, c.R};
    const Devices dev{upload_both(env, c.index), upload_both(env, c.position),
                      upload_both(env, c.offset), upload_both(env, std::vector<float>(T * k, 0.5f))};
    const Pair x = upload_both(env, std::vector<float>(T * d, 1.0f)),
               y = upload_both(env, std::vector<float>(c.R * d, 1.0f)),
               out_rows = alloc_both(env, c.R * d, 0x7f), out_tokens = alloc_both(env, T * d, 0x7f),
               d_w = alloc_both(env, T * k, 0x7f);
    std::string message[2][4];
    for (bool gpu : {false, true}) {
      const Side &side = gpu ? env.gpu : env.cpu;
      const prophet_permute_i *kp = side.backend->kernel->permute;
      const prophet_permute_routing_t routing = view(dev, gpu);
      const prophet_status_t s[4] = {
          settle(side, kp->dispatch(&shape, &routing, x.on(gpu).get(), out_rows.on(gpu).get(), side.stream)),
          PROPHET_OK, PROPHET_OK, PROPHET_OK};
      message[gpu][0] = side.backend->last_error();
      const prophet_status_t s1 = settle(side, kp->combine(&shape, &routing, y.on(gpu).get(),
                                                           dev.weight.on(gpu).get(),
                                                           out_tokens.on(gpu).get(), side.stream));
      message[gpu][1] = side.backend->last_error();
      const prophet_status_t s2 = settle(side, kp->dispatch_backward(&shape, &routing, y.on(gpu).get(),
                                                                     out_tokens.on(gpu).get(), side.stream));
      message[gpu][2] = side.backend->last_error();
      const prophet_status_t s3 = settle(
          side, kp->combine_backward(&shape, &routing, x.on(gpu).get(), y.on(gpu).get(),
                                     dev.weight.on(gpu).get(), out_rows.on(gpu).get(),
                                     d_w.on(gpu).get(), side.stream));
      message[gpu][3] = side.backend->last_error();
      expect(s[0] == PROPHET_ERR_INVALID && s1 == PROPHET_ERR_INVALID && s2 == PROPHET_ERR_INVALID &&
                 s3 == PROPHET_ERR_INVALID,
             c.name + " " + side.name, "all four ops fail with INVALID");
    }
    for (int op = 0; op < 4; ++op) {
      expect(message[0][op] == message[1][op], c.name,
             "cuda '" + message[1][op] + "' equals cpu '" + message[0][op] + "'");
    }
    const std::vector<float> rows = download<float>(env.gpu, out_rows.gpu, c.R * d);
    const std::vector<float> tokens = download<float>(env.gpu, out_tokens.gpu, T * d);
    const std::vector<int32_t> dw = download<int32_t>(env.gpu, d_w.gpu, T * k);
    bool untouched = std::all_of(dw.begin(), dw.end(), [](int32_t v) { return v == 0x7f7f7f7f; });
    for (float v : rows) untouched = untouched && std::memcmp(&v, "\x7f\x7f\x7f\x7f", 4) == 0;
    for (float v : tokens) untouched = untouched && std::memcmp(&v, "\x7f\x7f\x7f\x7f", 4) == 0;
    expect(untouched, c.name, "cuda outputs left untouched");
  }
}

}  // namespace

void test_permute(const Env &env) {
  test_layouts(env);
  test_failures(env);
}

}  // namespace prophet::test
