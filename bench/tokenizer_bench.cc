// Encode / decode throughput of the text tokenizer on ~1 MB of English-like text.
// Needs the tokenizer files: $MMADA_TOKENIZER_DIR (default ../shared/tokenizer).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

const mmada::Tokenizer* tokenizer() {
  static const std::unique_ptr<mmada::Tokenizer> tok = [] {
    const char* env = std::getenv("MMADA_TOKENIZER_DIR");
    return std::make_unique<mmada::Tokenizer>(mmada::Tokenizer::load(env && *env ? env : "../shared/tokenizer"));
  }();
  return tok.get();
}

// Varied words so that the BPE cache does not hold every piece after the first sentence.
std::string english_text(size_t bytes) {
  static const char* words[] = {"the", "model", "denoises", "masked", "tokens", "in", "parallel", "while",
                                "attention", "spans", "both", "directions", "and", "images", "become",
                                "codes", "of", "a", "learned", "codebook", "quickly", "Diffusion", "language"};
  std::string text;
  uint64_t state = 12345;
  while (text.size() < bytes) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const size_t w = (state >> 33) % (sizeof(words) / sizeof(words[0]));
    text += words[w];
    if ((state >> 20) % 7 == 0) text += std::to_string((state >> 40) % 100000);  // rare pieces
    text += (state >> 50) % 11 == 0 ? ".\n" : " ";
  }
  return text;
}

void BM_Encode1MB(benchmark::State& state) {
  const mmada::Tokenizer* tok = tokenizer();
  const std::string text = english_text(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(tok->encode(text));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_Encode1MB)->Unit(benchmark::kMillisecond);

void BM_Decode1MB(benchmark::State& state) {
  const mmada::Tokenizer* tok = tokenizer();
  const std::string text = english_text(1 << 20);
  const auto ids = tok->encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(tok->decode(ids));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_Decode1MB)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
