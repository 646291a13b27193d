// Where the tokenizer tests find reference data: $MMADA_REFDATA (default ../shared/refdata
// relative to the working directory) and $MMADA_TOKENIZER_DIR (default $MMADA_REFDATA/../tokenizer).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace mmada::test {

inline std::string tokenizer_dir() {
  const char* env = std::getenv("MMADA_TOKENIZER_DIR");
  return env && *env ? env : refdata_dir() + "/../tokenizer";
}

// The real tokenizer, loaded once per test binary; nullptr if its files are absent.
inline const Tokenizer* shared_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = []() -> std::unique_ptr<Tokenizer> {
    if (!std::filesystem::exists(tokenizer_dir() + "/tokenizer.json")) return nullptr;
    return std::make_unique<Tokenizer>(Tokenizer::load(tokenizer_dir()));
  }();
  return tok.get();
}

}  // namespace mmada::test

#define MMADA_REQUIRE_TOKENIZER(tok)                                                              \
  const ::mmada::Tokenizer* tok = ::mmada::test::shared_tokenizer();                              \
  if (!tok) GTEST_SKIP() << "tokenizer.json not found in " << ::mmada::test::tokenizer_dir()      \
                         << " (set MMADA_TOKENIZER_DIR or MMADA_REFDATA)"
