// The CUDA permute family (native/core/kernels_permute.h): dispatch, combine and their backward
// passes, in permute.cu.
#pragma once

#include "../../native/core/kernels_permute.h"

namespace prophet::cuda {

extern const prophet_permute_i kPermute;

}  // namespace prophet::cuda
