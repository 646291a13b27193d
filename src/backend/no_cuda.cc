// Built when CUDA is off: asking for the GPU says so plainly.
#ifndef MMADA_WITH_CUDA
#include "backend/backend.h"
#include "core/error.h"

namespace mmada {

std::shared_ptr<Backend> cuda_backend(int, const BackendOptions&) {
  fail("this mmada was built without CUDA (configure with -DMMADA_CUDA=ON on a machine with nvcc)");
}
bool cuda_available() { return false; }

}  // namespace mmada
#endif
