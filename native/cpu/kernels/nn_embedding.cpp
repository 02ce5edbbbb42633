// CPU token (+ position) embedding and its backward. The backward owns each table row by one
// thread: tokens are bucketed by id with a counting sort (stable, so each bucket is in token
// order), then every row sums its bucket in that order. No atomics, bitwise-identical re-runs.
#include <vector>

#include "../../kernels/embedding.h"
#include "nn_cpu.h"

namespace prophet::cpu {
namespace {

prophet_status_t check_embedding(const char *kernel, int64_t N, int64_t V, int64_t d, int64_t P,
                                 prophet_buffer_t ids, prophet_buffer_t table_like,
                                 const char *table_name, prophet_buffer_t pos_like,
                                 const char *pos_name, prophet_buffer_t rows,
                                 const char *rows_name) {
  prophet_status_t s = check_dims(kernel, {N, d}, {0, 0});
  if (s == PROPHET_OK) s = check_dims(kernel, {V, d}, {1, 0});
  if (s == PROPHET_OK) s = check_dims(kernel, {P, d}, {0, 0});
  if (s == PROPHET_OK && V > INT32_MAX) {
    s = fail(PROPHET_ERR_INVALID, std::string(kernel) + ": vocab must be below 2^31");
  }
  if (s == PROPHET_OK) s = require_buffer(kernel, "ids", ids, N, 4);
  if (s == PROPHET_OK) s = require_buffer(kernel, table_name, table_like, V * d, 4);
  if (s == PROPHET_OK && P > 0 && pos_like != nullptr) {
    s = require_buffer(kernel, pos_name, pos_like, P * d, 4);
  }
  if (s == PROPHET_OK) s = require_buffer(kernel, rows_name, rows, N * d, 4);
  return s;
}

prophet_status_t bad_id(const char *kernel, const int32_t *ids, int64_t n, int64_t V) {
  return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": ids[" + std::to_string(n) + "] = " +
                                       std::to_string(ids[n]) + " is outside [0, " +
                                       std::to_string(V) + ")");
}

// Token indices grouped by id: bucket v is order[start[v] .. start[v + 1]) in token order.
void bucket_by_id(const int32_t *ids, int64_t N, int64_t V, std::vector<int64_t> *start,
                  std::vector<int64_t> *order) {
  start->assign(static_cast<size_t>(V + 1), 0);
  for (int64_t n = 0; n < N; ++n) ++(*start)[ids[n] + 1];
  for (int64_t v = 0; v < V; ++v) (*start)[v + 1] += (*start)[v];
  std::vector<int64_t> next(start->begin(), start->end() - 1);
  order->resize(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) (*order)[next[ids[n]]++] = n;
}

}  // namespace

prophet_status_t nn_embedding_forward(int64_t N, int64_t V, int64_t d, int64_t P,
                                      prophet_buffer_t ids, prophet_buffer_t table,
                                      prophet_buffer_t pos_table, prophet_buffer_t out,
                                      prophet_stream_t stream) {
  constexpr const char *kName = "embedding forward";
  if (P > 0 && pos_table == nullptr) {
    return fail(PROPHET_ERR_INVALID,
                std::string(kName) + ": pos_table is NULL but num_positions > 0");
  }
  if (prophet_status_t s = check_embedding(kName, N, V, d, P, ids, table, "table", pos_table,
                                           "pos_table", out, "out");
      s != PROPHET_OK) {
    return s;
  }
  stream->enqueue([=] {
    const auto *id = data_of<const int32_t>(ids);
    // Step 1: refuse ids out of range before writing anything.
    if (const int64_t bad = first_out_of_range(id, N, V); bad >= 0) return bad_id(kName, id, bad, V);
    // Step 2: gather (and add the position row of n mod P).
    const float *table_data = data_of<const float>(table);
    const float *pos_data = P > 0 ? data_of<const float>(pos_table) : nullptr;
    float *out_data = data_of<float>(out);
#pragma omp parallel for schedule(static) if (N * d > kNnParallelElements)
    for (int64_t n = 0; n < N; ++n) {
      kernels::embedding_row(table_data + id[n] * d, pos_data ? pos_data + (n % P) * d : nullptr,
                             d, out_data + n * d);
    }
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t nn_embedding_backward(int64_t N, int64_t V, int64_t d, int64_t P,
                                       prophet_buffer_t ids, prophet_buffer_t d_out,
                                       prophet_buffer_t d_table, prophet_buffer_t d_pos,
                                       prophet_stream_t stream) {
  constexpr const char *kName = "embedding backward";
  if (prophet_status_t s = check_embedding(kName, N, V, d, P, ids, d_table, "d_table", d_pos,
                                           "d_pos", d_out, "d_out");
      s != PROPHET_OK) {
    return s;
  }
  stream->enqueue([=] {
    const auto *id = data_of<const int32_t>(ids);
    if (const int64_t bad = first_out_of_range(id, N, V); bad >= 0) return bad_id(kName, id, bad, V);
    const float *grad = data_of<const float>(d_out);
    // Step 1: table rows, each summing its tokens in token order.
    std::vector<int64_t> start, order;
    bucket_by_id(id, N, V, &start, &order);
    float *table_grad = data_of<float>(d_table);
#pragma omp parallel for schedule(dynamic, 16) if (N * d > kNnParallelElements)
    for (int64_t v = 0; v < V; ++v) {
      for (int64_t at = start[v]; at < start[v + 1]; ++at) {
        kernels::accumulate_row(grad + order[at] * d, d, table_grad + v * d);
      }
    }
    // Step 2: position rows p, each summing tokens p, p + P, ... in order.
    if (P > 0 && d_pos != nullptr) {
      float *pos_grad = data_of<float>(d_pos);
#pragma omp parallel for schedule(static) if (N * d > kNnParallelElements)
      for (int64_t p = 0; p < P; ++p) {
        for (int64_t n = p; n < N; n += P) kernels::accumulate_row(grad + n * d, d, pos_grad + p * d);
      }
    }
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace prophet::cpu
