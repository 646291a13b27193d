// Error checks for CUDA runtime and cuBLASLt calls: a failure becomes mmada::Error naming the
// call, the file and line, and the library's message.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include "core/error.h"

#define MMADA_CUDA_CHECK(expr)                                                               \
  do {                                                                                       \
    cudaError_t e_ = (expr);                                                                 \
    if (e_ != cudaSuccess)                                                                   \
      ::mmada::fail("CUDA error in ", #expr, " at ", __FILE__, ":", __LINE__, ": ",          \
                    cudaGetErrorString(e_));                                                 \
  } while (0)

#define MMADA_CUBLAS_CHECK(expr)                                                             \
  do {                                                                                       \
    cublasStatus_t s_ = (expr);                                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                         \
      ::mmada::fail("cuBLAS error ", int(s_), " in ", #expr, " at ", __FILE__, ":", __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not later.
#define MMADA_CUDA_LAUNCHED() MMADA_CUDA_CHECK(cudaGetLastError())
