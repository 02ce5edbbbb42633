// cuBLAS, loaded on first use with dlopen so that libprophet_cuda.so loads (and reports its
// reason) on machines without cuBLAS. Compiled only when CMake found cublas_v2.h
// (PROPHET_CUDA_HAVE_CUBLAS); the types and prototypes come from that header.
#pragma once

#include <cublas_v2.h>

#include "cuda_internal.h"

namespace prophet::cuda {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t *);
  cublasStatus_t (*destroy)(cublasHandle_t);
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void *, const void *, cudaDataType, int, const void *,
                            cudaDataType, int, const void *, void *, cudaDataType, int,
                            cublasComputeType_t, cublasGemmAlgo_t);
  const char *(*status_string)(cublasStatus_t);
};

// The loaded API (once per process), or a failure naming every path tried. Candidates:
// $PROPHET_CUBLAS_LIBRARY, libcublas.so.13 through the loader's search path, then the toolkit
// and wheel folders CMake found (PROPHET_CUBLAS_DIRS).
prophet_status_t cublas_api(const CublasApi **out);

// The stream's cuBLAS handle, created on first use and bound to the stream.
prophet_status_t cublas_handle(prophet_stream_t stream, cublasHandle_t *out);

// Releases the stream's handle (stream destroy).
void cublas_release(prophet_stream_t stream);

// The one cuBLAS check: "cublasXxx failed: <status string> at file:line in function (statement)".
prophet_status_t check_cublas(cublasStatus_t status, const char *statement, const char *function,
                              const char *file, int line);

}  // namespace prophet::cuda

#define PROPHET_CUBLAS_CHECK(statement) \
  ::prophet::cuda::check_cublas((statement), #statement, __func__, __FILE__, __LINE__)
