// Shared helpers for tests: where the reference data lives.
#pragma once
#include <cstdlib>
#include <string>

namespace mmada::test {

// MMADA_REFDATA (set by .ci/run), default ../shared/refdata relative to the working directory.
inline std::string refdata_dir() {
  const char* e = std::getenv("MMADA_REFDATA");
  return e && *e ? e : "../shared/refdata";
}

}  // namespace mmada::test
