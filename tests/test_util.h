// Shared helpers for tests: where the reference data lives, the message of an expected error.
#pragma once
#include <cstdlib>
#include <functional>
#include <string>

#include "core/error.h"

namespace mmada::test {

// MMADA_REFDATA (set by .ci/run), default ../shared/refdata relative to the working directory.
inline std::string refdata_dir() {
  const char* e = std::getenv("MMADA_REFDATA");
  return e && *e ? e : "../shared/refdata";
}

// The message of the mmada::Error that f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace mmada::test
