// Argument checks of the kernel entries that do not depend on a backend: the scalar parameters
// and buffer sizes every backend validates the same way, with the same wording, before it queues
// work. Each returns "" when the arguments are fine and the message of PROPHET_ERR_INVALID
// otherwise; the backends wrap the message in their own error reporting.
#pragma once

#include <array>
#include <climits>
#include <cstdint>
#include <string>

#include "kernels_gating.h"
#include "kernels_permute.h"

namespace prophet::checks {

// a * b into *out; false when it overflows or either factor is negative.
inline bool checked_mul(int64_t a, int64_t b, int64_t *out) {
  return a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, out);
}

// "" when a buffer (`present`, holding `have_bytes`) fits num_elements × element_bytes.
inline std::string buffer_error(const char *kernel, const char *name, bool present,
                                uint64_t have_bytes, int64_t num_elements,
                                int64_t element_bytes) {
  int64_t bytes = 0;
  if (!checked_mul(num_elements, element_bytes, &bytes)) {
    return std::string(kernel) + ": size of " + name + " overflows";
  }
  if (!present) return std::string(kernel) + ": " + name + " is NULL";
  if (have_bytes < static_cast<uint64_t>(bytes)) {
    return std::string(kernel) + ": " + name + " holds " + std::to_string(have_bytes) +
           " bytes, needs " + std::to_string(bytes);
  }
  return "";
}

// The scalar parameters of gating forward; on success sets T·E and T·k.
inline std::string gating_params_error(const char *kernel, const prophet_gating_params_t &p,
                                       int64_t *num_logits, int64_t *num_slots) {
  const std::string name = kernel;
  if (p.num_tokens < 0 || p.num_tokens > INT32_MAX) return name + ": num_tokens must be in [0, 2^31)";
  if (p.num_experts < 1 || p.num_experts > INT32_MAX) {
    return name + ": num_experts must be in [1, 2^31)";
  }
  if (p.k < 1 || p.k > p.num_experts) return name + ": k must be in [1, num_experts]";
  if (p.slot_order != PROPHET_SLOT_ORDER_TOKEN && p.slot_order != PROPHET_SLOT_ORDER_RANDOM) {
    return name + ": unknown slot_order " + std::to_string(p.slot_order);
  }
  if (!checked_mul(p.num_tokens, p.num_experts, num_logits) ||
      !checked_mul(p.num_tokens, p.k, num_slots)) {
    return name + ": T * E overflows";
  }
  return "";
}

// A buffer an entry needs and how many 4-byte elements it must hold.
struct BufferNeed {
  const char *name;
  prophet_buffer_t buffer;
  int64_t count;
};

// The buffers of gating forward, for counts from gating_params_error().
inline std::array<BufferNeed, 8> gating_forward_buffers(const prophet_gating_params_t &p,
                                                        prophet_buffer_t logits,
                                                        const prophet_gating_outputs_t &out,
                                                        int64_t num_logits, int64_t num_slots) {
  return {{
      {"logits", logits, num_logits},
      {"expert_index", out.expert_index, num_slots},
      {"weight", out.weight, num_slots},
      {"position", out.position, num_slots},
      {"counts_per_expert", out.counts_per_expert, p.num_experts},
      {"num_dropped", out.num_dropped, 1},
      {"probs", out.probs, num_logits},
      {"logsumexp", out.logsumexp, p.num_tokens},
  }};
}

// Shape sanity and overflow-free element counts of a permute entry.
inline std::string permute_shape_error(const char *kernel, const prophet_permute_shape_t *shape,
                                       const prophet_permute_routing_t *routing) {
  if (shape == nullptr || routing == nullptr) {
    return std::string(kernel) + ": shape and routing are required";
  }
  const prophet_permute_shape_t &s = *shape;
  int64_t unused = 0;
  if (s.num_tokens < 0 || s.k < 1 || s.num_experts < 1 || s.num_features < 0 ||
      s.num_rows < 0 || !checked_mul(s.num_tokens, s.k, &unused) ||
      !checked_mul(s.num_tokens * s.k, s.num_features, &unused) ||
      !checked_mul(s.num_rows, s.num_features, &unused)) {
    return std::string(kernel) + ": invalid shape";
  }
  return "";
}

}  // namespace prophet::checks
