// The CPU backend's kernel table: one pointer per family, each defined in its own file in this
// folder (prophet::cpu::kGemm, kGating, ...).
#include "../../core/kernels.h"

namespace prophet::cpu {

// Weak so that a build may lack a family (the pointer is then NULL and callers report
// PROPHET_ERR_UNSUPPORTED) while families are developed independently.
extern const prophet_gemm_i kGemm __attribute__((weak));
extern const prophet_gating_i kGating __attribute__((weak));
extern const prophet_permute_i kPermute __attribute__((weak));
extern const prophet_ffn_i kFfn __attribute__((weak));
extern const prophet_optim_i kOptim __attribute__((weak));
extern const prophet_nn_i kNn __attribute__((weak));

extern const prophet_kernel_i kKernel = {
    /* .gemm    = */ &kGemm,
    /* .gating  = */ &kGating,
    /* .permute = */ &kPermute,
    /* .ffn     = */ &kFfn,
    /* .optim   = */ &kOptim,
    /* .nn      = */ &kNn,
};

}  // namespace prophet::cpu
