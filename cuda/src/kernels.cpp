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
    // NULL: dense GEMM, the grouped expert FFN and the optimizers exist in cuda/ (cuBLAS) but
    // are not yet adapted to the ABI entries of kernels_{gemm,ffn,optim}.h; callers report
    // PROPHET_ERR_UNSUPPORTED naming the family. See docs/cuda.md.
    /* .gemm    = */ nullptr,
    /* .gating  = */ &kGating,
    /* .permute = */ &kPermute,
    /* .ffn     = */ nullptr,
    /* .optim   = */ nullptr,
    /* .nn      = */ nullptr,  // the example model's dense layers: CPU only for now
};

}  // namespace prophet::cuda
