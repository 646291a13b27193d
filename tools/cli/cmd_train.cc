// mmada train --config run.json: the CPU training loop (docs/train-config.md).
#include <cstdio>

#include "command.h"
#include "core/error.h"
#include "train/eval_exact_match.h"
#include "train/trainer.h"

namespace mmada::cli {
namespace {

Command train_cmd("train", "Train or fine-tune a model on CPU from a JSON run config",
                  [](CLI::App& sub) -> RunFn {
                    auto path = std::make_shared<std::string>();
                    auto eval = std::make_shared<std::string>();
                    auto eval_only = std::make_shared<bool>(false);
                    sub.add_option("-c,--config", *path, "run config (docs/train-config.md)")->required();
                    sub.add_option("--eval", *eval, "held-out chat JSONL: exact-match of the final answers after training");
                    sub.add_flag("--eval-only", *eval_only, "skip training; evaluate <output_dir>/checkpoint");
                    return [path, eval, eval_only] {
                      train::TrainConfig cfg = train::TrainConfig::load(*path);
                      if (*eval_only) cfg.resume = true;
                      train::Trainer t(cfg);
                      auto evaluate = [&] {
                        if (eval->empty()) return;
                        const auto enc = train::make_text_encoder(cfg.tokenizer);
                        const train::ExactMatchResult r = train::eval_exact_match(
                            t.model_config(), t.params(), *enc, *eval, cfg.row_length(), 200);
                        for (const auto& e : r.examples) std::fprintf(stderr, "  %s\n", e.c_str());
                        std::printf("exact match: %lld / %lld\n", (long long)r.correct, (long long)r.total);
                      };
                      if (*eval_only) {
                        evaluate();
                        return 0;
                      }
                      const int64_t first = t.state().step;
                      double spent = 0;
                      std::fprintf(stderr, "mmada train: %lld parameters, row length %lld, %lld updates\n",
                                   (long long)t.model_config().param_count(),
                                   (long long)cfg.row_length(), (long long)cfg.steps);
                      t.run([&](const train::StepRecord& r) {
                        spent += r.step_seconds;
                        const double eta = spent / double(r.step - first) * double(cfg.steps - r.step);
                        std::fprintf(stderr,
                                     "step %lld/%lld  loss %.4f  (t2i %.4f lm %.4f mmu %.4f)  lr %.3g  "
                                     "|g| %.3f  %.0f tok/s  ETA %.0fs\n",
                                     (long long)r.step, (long long)cfg.steps, r.loss, r.task_loss[0],
                                     r.task_loss[1], r.task_loss[2], r.lr, r.grad_norm, r.tokens_per_s, eta);
                      });
                      std::fprintf(stderr, "mmada train: checkpoint in %s\n", t.checkpoint_dir().c_str());
                      evaluate();
                      return 0;
                    };
                  });

}  // namespace
}  // namespace mmada::cli
