// Host side of the kernels' validation: argument checks with the CPU backend's wording, the
// reset of a stream's op_key, and the messages of failures recorded on the device.
#include <string>

#include "kernel_common.cuh"

namespace prophet::cuda {
namespace {

const char *permute_op_name(int32_t op) {
  switch (op) {
    case 0: return "dispatch";
    case 1: return "combine";
    case 2: return "dispatch backward";
    case 3: return "combine backward";
    default: return "permute";
  }
}

std::string slot_name(long long slot, long long k) {
  return "[" + std::to_string(slot / k) + ", " + std::to_string(slot % k) + "]";
}

}  // namespace

prophet_status_t require_buffer(const char *kernel, const char *name, prophet_buffer_t buffer,
                                int64_t num_elements, int64_t element_bytes) {
  const std::string error = checks::buffer_error(kernel, name, buffer != nullptr,
                                                 buffer == nullptr ? 0 : buffer->bytes,
                                                 num_elements, element_bytes);
  return error.empty() ? PROPHET_OK : fail(PROPHET_ERR_INVALID, error);
}

prophet_status_t begin_validated_op(prophet_stream_t stream) {
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  return PROPHET_CUDA_CHECK(cudaMemsetAsync(&stream->scratch->op_key, 0xff,
                                            sizeof(unsigned long long), stream->stream));
}

std::string describe_device_error(const DeviceError &e) {
  switch (e.kind) {
    case kGatingNonFinite:
      return "gating forward: logits[" + std::to_string(e.a / e.b) + ", " +
             std::to_string(e.a % e.b) + "] is " + (e.c != 0 ? "infinite" : "NaN") +
             "; logits must be finite";
    case kGatingAuxBadExpert:
    case kGatingBackBadExpert:
      return std::string(e.kind == kGatingAuxBadExpert ? "gating aux_loss" : "gating backward") +
             ": expert_index" + slot_name(e.a, e.b) + " = " + std::to_string(e.c) +
             " is outside [0, " + std::to_string(e.d) + ")";
    case kPermuteBadExpert:
      return std::string(permute_op_name(e.op)) + ": slot " + slot_name(e.a, e.b) +
             " has expert_index " + std::to_string(e.c) + " outside [0, " + std::to_string(e.d) +
             ")";
    case kPermuteRowOutOfRange:
      return std::string(permute_op_name(e.op)) + ": slot " + slot_name(e.a, e.b) +
             " maps to row " + std::to_string(e.c) + " outside [0, " + std::to_string(e.d) + ")";
    case kPermuteRowClaimed:
      return std::string(permute_op_name(e.op)) + ": slot " + slot_name(e.a, e.b) +
             " maps to row " + std::to_string(e.c) + ", which an earlier slot maps to already";
    default:
      return "cuda kernel reported unknown failure kind " + std::to_string(e.kind);
  }
}

}  // namespace prophet::cuda
