// The CUDA backend's kernel table: one pointer per family, each implemented in its own .cu/.cuh
// pair in this folder.
#include "../../native/core/kernels.h"
#include "gating.cuh"
#include "permute.cuh"

namespace prophet::cuda {

const prophet_gating_i kGating = {
    /* .forward  = */ gating_forward,
    /* .aux_loss = */ gating_aux_loss,
    /* .backward = */ gating_backward,
};

extern const prophet_kernel_i kKernel = {
    // NULL: dense GEMM, the grouped expert FFN and the optimizers are not implemented on CUDA
    // yet (their CPU ABI headers are still being written); callers report
    // PROPHET_ERR_UNSUPPORTED naming the family. See docs/cuda.md.
    /* .gemm    = */ nullptr,
    /* .gating  = */ &kGating,
    /* .permute = */ &kPermute,
    /* .ffn     = */ nullptr,
    /* .optim   = */ nullptr,
};

}  // namespace prophet::cuda
