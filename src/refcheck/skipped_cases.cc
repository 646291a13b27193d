// Case kinds whose engine parts have not landed yet report SKIP with the reason.
#include "refcheck/refcheck.h"

namespace mmada {

CaseResult run_t2i_case(const CaseContext&) {
  CaseResult r;
  r.skip("text-to-image sampler not implemented yet");
  return r;
}

CaseResult run_magvit_case(const CaseContext&) {
  CaseResult r;
  r.skip("MAGVIT-v2 not implemented yet");
  return r;
}

}  // namespace mmada
