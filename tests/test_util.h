// Shared helpers for tests: where the reference data lives, the message of an expected error.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

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

// Writes an uncompressed IDX file (unsigned-byte elements) with these dimensions and body.
inline void write_idx(const std::filesystem::path& p, const std::vector<uint32_t>& dims,
                      const std::vector<uint8_t>& body) {
  std::vector<uint8_t> b = {0, 0, 8, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
  b.insert(b.end(), body.begin(), body.end());
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

}  // namespace mmada::test
