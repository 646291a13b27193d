// mmada check-train: the GPU trainer against the CPU trainer on a tiny random model
// (src/train/check_train.h); exits 1 on a mismatch.
#include <cstdio>

#include "command.h"
#include "train/check_train.h"

namespace mmada::cli {
namespace {

Command check_train_cmd("check-train",
                        "Compare the CUDA trainer's logits, gradients and AdamW steps with the CPU trainer",
                        [](CLI::App& sub) -> RunFn {
                          auto seed = std::make_shared<uint64_t>(1);
                          sub.add_option("--seed", *seed, "weights and batch seed")->capture_default_str();
                          return [seed] { return train::check_train(*seed, stdout) ? 0 : 1; };
                        });

}  // namespace
}  // namespace mmada::cli
