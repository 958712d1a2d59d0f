// The optional BLAS backend for pointwise convolutions: OpenBLAS from the
// scipy-openblas32 wheel, through its scipy_-prefixed CBLAS symbols.
#pragma once

namespace mobilenet {

bool blas_available();
// Row-major C[m x n] = A[m x k] * B[k x n]. Throws if built without BLAS.
void blas_sgemm(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c, int ldc);
const char* blas_config();

}  // namespace mobilenet
