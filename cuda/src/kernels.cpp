// The CUDA backend's kernel table: one pointer per family, each implemented in its own files in
// this folder (entries adapt the ABI to the kernels, with the checks shared with the CPU).
#include "../../native/core/kernels.h"
#include "gating.cuh"
#include "kernel_families.h"
#include "permute.cuh"

namespace prophet::cuda {

const prophet_gating_i kGating = {
    /* .forward  = */ gating_forward,
    /* .aux_loss = */ gating_aux_loss,
    /* .backward = */ gating_backward,
};

extern const prophet_kernel_i kKernel = {
#if PROPHET_CUDA_HAVE_CUBLAS
    /* .gemm    = */ &kGemm,
#else
    /* .gemm    = */ nullptr,  // built without cuBLAS headers (cuda/CMakeLists.txt)
#endif
    /* .gating  = */ &kGating,
    /* .permute = */ &kPermute,
#if PROPHET_CUDA_HAVE_CUBLAS
    /* .ffn     = */ &kFfn,
#else
    /* .ffn     = */ nullptr,  // built without cuBLAS headers: no GEMMs
#endif
    /* .optim   = */ &kOptim,
    // NULL: embedding, RMSNorm, attention and cross-entropy (the example model's dense layers)
    // have no CUDA kernels yet; the addon reports ENOTSUP "backend 'cuda' has no nn kernels".
    /* .nn      = */ nullptr,
};

}  // namespace prophet::cuda
