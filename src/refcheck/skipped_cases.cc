// Case kinds whose engine parts have not landed yet report SKIP with the reason.
#include "refcheck/refcheck.h"

namespace mmada {

}  // namespace mmada
