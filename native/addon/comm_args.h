// Argument unwrapping shared by the communicator bindings (host communicators in
// comm_communicator.cpp, NCCL in nccl_communicator_binding.cpp).
#pragma once

#include <napi.h>

#include <memory>

#include "../comm/communicator.h"

namespace prophet::addon {

// An all-to-all-v layout from a Float64Array of 4 * size byte counts: [sendOffsets, sendBytes,
// recvOffsets, recvBytes]. One typed array instead of four JS arrays keeps the call cheap.
std::shared_ptr<comm::AllToAllVLayout> arg_layout(const Napi::CallbackInfo &info, size_t index,
                                                  size_t size);

// root + a sorted, unique member list within [0, size) containing root.
comm::Subset arg_subset(const Napi::CallbackInfo &info, size_t root_index, size_t members_index,
                        int size);

// The highest byte either side of a layout reaches: [send end, recv end].
std::pair<size_t, size_t> layout_extent(const comm::AllToAllVLayout &layout);

}  // namespace prophet::addon
