#include "comm_args.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

namespace prophet::addon {

std::shared_ptr<comm::AllToAllVLayout> arg_layout(const Napi::CallbackInfo &info, size_t index,
                                                  size_t size) {
  Napi::Env env = info.Env();
  if (!info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw_type_error(env, "layout", "a Float64Array");
  }
  Napi::Float64Array array = info[index].As<Napi::Float64Array>();
  if (array.ElementLength() != 4 * size) {
    throw_range_error(env, "layout", "expected " + std::to_string(4 * size) + " entries");
  }
  std::vector<size_t> values(4 * size);
  for (size_t i = 0; i < values.size(); ++i) {
    const double number = array[i];
    if (!(number >= 0) || number > 9007199254740991.0 || std::floor(number) != number) {
      throw_range_error(env, "layout", "entry " + std::to_string(i) + " is not a byte count");
    }
    values[i] = static_cast<size_t>(number);
  }
  auto layout = std::make_shared<comm::AllToAllVLayout>();
  auto part = [&](size_t k) {
    return std::vector<size_t>(values.begin() + k * size, values.begin() + (k + 1) * size);
  };
  layout->send_offsets = part(0);
  layout->send_bytes = part(1);
  layout->recv_offsets = part(2);
  layout->recv_bytes = part(3);
  return layout;
}

comm::Subset arg_subset(const Napi::CallbackInfo &info, size_t root_index, size_t members_index,
                        int size) {
  Napi::Env env = info.Env();
  comm::Subset subset;
  subset.root = arg_int(info, root_index, "root");
  if (subset.root < 0 || subset.root >= size) throw_range_error(env, "root", "not a rank");
  if (!info[members_index].IsArray()) throw_type_error(env, "members", "an array of ranks");
  Napi::Array array = info[members_index].As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value v = array.Get(i);
    const double rank = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(rank >= 0 && rank < size) || rank != static_cast<int>(rank)) {
      throw_range_error(env, "members", "entry " + std::to_string(i) + " is not a rank");
    }
    subset.members.push_back(static_cast<int>(rank));
  }
  if (!std::is_sorted(subset.members.begin(), subset.members.end()) ||
      std::adjacent_find(subset.members.begin(), subset.members.end()) != subset.members.end()) {
    throw_range_error(env, "members", "expected ascending ranks without repeats");
  }
  if (!subset.contains(subset.root)) throw_range_error(env, "members", "must contain root");
  return subset;
}

BufferRef arg_collective_storage(const Napi::CallbackInfo &info, size_t index, const char *name,
                                 size_t bytes_needed) {
  BufferRef ref = arg_storage(info, index, name);
  if (bytes_needed > ref->bytes) {
    throw_range_error(info.Env(), name,
                      "the collective needs " + std::to_string(bytes_needed) +
                          " bytes but the storage has " + std::to_string(ref->bytes));
  }
  return ref;
}

std::pair<size_t, size_t> layout_extent(const comm::AllToAllVLayout &layout) {
  size_t send_end = 0, recv_end = 0;
  for (size_t p = 0; p < layout.send_bytes.size(); ++p) {
    send_end = std::max(send_end, layout.send_offsets[p] + layout.send_bytes[p]);
    recv_end = std::max(recv_end, layout.recv_offsets[p] + layout.recv_bytes[p]);
  }
  return {send_end, recv_end};
}

}  // namespace prophet::addon
