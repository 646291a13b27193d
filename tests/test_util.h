// Shared helpers for tests: where the reference data lives, the message of an expected error.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"

namespace mmada::test {

// MMADA_REFDATA (set by .ci/run), default ../shared/refdata relative to the working directory.
inline std::string refdata_dir() {
  const char* e = std::getenv("MMADA_REFDATA");
  return e && *e ? e : "../shared/refdata";
}

// The repository's root (this header lives in tests/).
inline std::string repo_root() { return std::filesystem::path(__FILE__).parent_path().parent_path().string(); }

// The message of the mmada::Error that f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// `text` with its first `from` replaced by `to`; a missing `from` fails the test (and changes nothing).
inline std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t k = text.find(from);
  EXPECT_NE(k, std::string::npos) << "no \"" << from << "\" in the text";
  return k == std::string::npos ? text : text.replace(k, from.size(), to);
}

// The bytes of a file; a file that cannot be opened is an mmada::Error (the test fails naming it).
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  MMADA_CHECK(f.good(), "cannot open ", path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
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

// An IDX split <dir>/<split>-{images-idx3,labels-idx1}-ubyte of n synthetic 28x28 images:
// image i has class i % 10, a bright horizontal bar at row 2 + 2·class (learnable, distinct).
inline void write_bar_images(const std::filesystem::path& dir, const std::string& split, int n) {
  std::vector<uint8_t> px(size_t(n) * 28 * 28, 0), lb(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    lb[size_t(i)] = uint8_t(i % 10);
    for (int x = 4; x < 24; ++x) px[size_t(i) * 784 + size_t(2 + 2 * (i % 10)) * 28 + size_t(x)] = 255;
  }
  write_idx(dir / (split + "-images-idx3-ubyte"), {uint32_t(n), 28, 28}, px);
  write_idx(dir / (split + "-labels-idx1-ubyte"), {uint32_t(n)}, lb);
}

}  // namespace mmada::test
