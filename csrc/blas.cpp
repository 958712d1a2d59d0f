#include "blas.h"

#include "common.h"

#if defined(MBN_HAVE_BLAS)
#include <cblas.h>
#endif

namespace mobilenet {

#if defined(MBN_HAVE_BLAS)
namespace {
// BLAS runs single-threaded: the engine's own pool provides the parallelism.
const bool kBlasSingleThreaded = [] {
  scipy_openblas_set_num_threads(1);
  return true;
}();
}  // namespace

bool blas_available() { return kBlasSingleThreaded; }

void blas_sgemm(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c, int ldc) {
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

const char* blas_config() { return scipy_openblas_get_config(); }
#else
bool blas_available() { return false; }
void blas_sgemm(int, int, int, const float*, int, const float*, int, float*, int) {
  MBN_CHECK(false, "this build has no BLAS backend");
}
const char* blas_config() { return "none"; }
#endif

}  // namespace mobilenet
