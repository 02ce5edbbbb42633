#include "communicator.h"

#include <algorithm>
#include <cstring>

namespace prophet::comm {

bool Subset::contains(int rank) const {
  return std::binary_search(members.begin(), members.end(), rank);
}

std::string describe_call(const char *collective, const Call &call) {
  return std::string(collective) + " #" + std::to_string(call.seq);
}

std::string format_ranks(const std::vector<int> &ranks) {
  std::string text = "[";
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(ranks[i]);
  }
  return text + "]";
}

void sum_in_order_f32(const float *const *inputs, size_t num_inputs, size_t count, float *out) {
  // Chunks small enough for L1: every input chunk is read before `out` is written, so `out` may
  // alias an input, and each element is summed in input order whatever the chunking.
  constexpr size_t kChunk = 2048;
  float acc[kChunk];
  for (size_t begin = 0; begin < count; begin += kChunk) {
    const size_t n = std::min(kChunk, count - begin);
    if (num_inputs == 0) {
      std::memset(acc, 0, n * sizeof(float));
    } else {
      std::memcpy(acc, inputs[0] + begin, n * sizeof(float));
    }
    for (size_t j = 1; j < num_inputs; ++j) {
      const float *in = inputs[j] + begin;
      for (size_t k = 0; k < n; ++k) acc[k] += in[k];
    }
    std::memcpy(out + begin, acc, n * sizeof(float));
  }
}

}  // namespace prophet::comm
