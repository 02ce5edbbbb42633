// Argument unwrapping shared by the communicator bindings (host communicators in
// comm_communicator.cpp, NCCL in nccl_communicator_binding.cpp).
#pragma once

#include <napi.h>

#include <memory>

#include "../comm/communicator.h"
#include "handles.h"

namespace prophet::addon {

// An all-to-all-v layout from a Float64Array of 4 * size byte counts: [sendOffsets, sendBytes,
// recvOffsets, recvBytes]. One typed array instead of four JS arrays keeps the call cheap.
std::shared_ptr<comm::AllToAllVLayout> arg_layout(const Napi::CallbackInfo &info, size_t index,
                                                  size_t size);

// root + a sorted, unique member list within [0, size) containing root.
comm::Subset arg_subset(const Napi::CallbackInfo &info, size_t root_index, size_t members_index,
                        int size);

// The storage argument `name`, holding at least `bytes_needed` bytes (a RangeError naming it
// otherwise). Each communicator then checks it is memory of the kind it can use.
BufferRef arg_collective_storage(const Napi::CallbackInfo &info, size_t index, const char *name,
                                 size_t bytes_needed);

// The highest byte either side of a layout reaches: [send end, recv end].
std::pair<size_t, size_t> layout_extent(const comm::AllToAllVLayout &layout);

}  // namespace prophet::addon
