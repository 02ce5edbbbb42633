// The CUDA backend's dense kernel family tables, each defined in its adapter file: kGemm
// (gemm_entry.cpp) and kFfn (ffn_entry.cpp) only when built with cuBLAS headers, kOptim
// (optim_entry.cpp) always. Gating and permute are declared in gating.cuh and permute.cuh.
#pragma once

#include "../../native/core/kernels_ffn.h"
#include "../../native/core/kernels_gemm.h"
#include "../../native/core/kernels_optim.h"

namespace prophet::cuda {

extern const prophet_gemm_i kGemm;
extern const prophet_ffn_i kFfn;
extern const prophet_optim_i kOptim;

}  // namespace prophet::cuda
