// `mmada check-train`: the GPU trainer (device cuda) against the CPU trainer on a tiny random
// model — logits, every gradient tensor, the clipped norm and the weights after a few AdamW
// steps — in exact fp32 GEMMs and in bf16 compute, with GQA, padding masks (Pair and
// AdditiveUnit, including a row with no real token), repeated head rows and label smoothing.
#pragma once
#include <cstdint>
#include <cstdio>

namespace mmada::train {

// Prints a table per compute mode to `out`; true when every comparison is within tolerance.
bool check_train(uint64_t seed, std::FILE* out);

}  // namespace mmada::train
