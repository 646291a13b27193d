// mmada train --config run.json: the CPU training loop (docs/train-config.md).
#include <cstdio>

#include "command.h"
#include "core/error.h"
#include "train/eval_exact_match.h"
#include "train/eval_images.h"
#include "train/trainer.h"

namespace mmada::cli {
namespace {

Command train_cmd("train", "Train or fine-tune a model on CPU from a JSON run config",
                  [](CLI::App& sub) -> RunFn {
                    auto path = std::make_shared<std::string>();
                    auto eval = std::make_shared<std::string>();
                    auto eval_only = std::make_shared<bool>(false);
                    auto img = std::make_shared<train::ImageEvalOptions>();
                    img->describe_images = 0;
                    img->t2i_per_class = 0;
                    sub.add_option("-c,--config", *path, "run config (docs/train-config.md)")->required();
                    sub.add_option("--eval", *eval, "held-out chat JSONL: exact-match of the final answers after training");
                    sub.add_flag("--eval-only", *eval_only, "skip training; evaluate <output_dir>/checkpoint");
                    sub.add_option("--eval-images", img->describe_images,
                                   "describe accuracy on this many held-out images (data.images, split --eval-split)");
                    sub.add_option("--eval-t2i-per-class", img->t2i_per_class,
                                   "t2i proxy: generate this many images per class and classify their codes");
                    sub.add_option("--eval-split", img->split, "held-out split of the IDX folder")->capture_default_str();
                    sub.add_option("--eval-t2i-steps", img->t2i_timesteps, "T2I sampler steps")->capture_default_str();
                    sub.add_option("--eval-guidance", img->t2i_guidance, "T2I classifier-free guidance")->capture_default_str();
                    return [path, eval, eval_only, img] {
                      train::TrainConfig cfg = train::TrainConfig::load(*path);
                      if (*eval_only) cfg.run.resume = true;
                      train::Trainer t(cfg);
                      auto evaluate = [&] {
                        if (img->describe_images > 0 || img->t2i_per_class > 0) {
                          MMADA_CHECK(t.image_data(), "--eval-images / --eval-t2i-per-class need data.images in the config");
                          const train::ImageEvalResult r = train::eval_images(
                              t.checkpoint_dir(), t.config(), t.encoder(), *t.image_data(), *img);
                          for (const auto& e : r.examples) std::fprintf(stderr, "  %s\n", e.c_str());
                          const double chance = 100.0 / double(r.classes);
                          auto pct = [](int64_t a, int64_t b) { return b ? 100.0 * double(a) / double(b) : 0.0; };
                          if (r.describe_total)
                            std::printf("describe accuracy: %lld / %lld = %.1f%% (chance %.0f%%)\n",
                                        (long long)r.describe_correct, (long long)r.describe_total,
                                        pct(r.describe_correct, r.describe_total), chance);
                          if (r.describe_total)
                            std::printf("describe accuracy, nearest class name (edit distance): %lld / %lld = %.1f%% (chance %.0f%%)\n",
                                        (long long)r.describe_nearest_correct, (long long)r.describe_total,
                                        pct(r.describe_nearest_correct, r.describe_total), chance);
                          std::printf("t2i proxy calibration (nearest-centroid on held-out real codes): %lld / %lld = %.1f%%\n",
                                      (long long)r.real_correct, (long long)r.real_total, pct(r.real_correct, r.real_total));
                          if (r.t2i_total)
                            std::printf("t2i proxy accuracy (nearest-centroid on generated codes): %lld / %lld = %.1f%% (chance %.0f%%)\n",
                                        (long long)r.t2i_correct, (long long)r.t2i_total,
                                        pct(r.t2i_correct, r.t2i_total), chance);
                        }
                        if (eval->empty()) return;
                        const auto enc = train::make_text_encoder(cfg.tokenizer);
                        const train::ExactMatchResult r = train::eval_exact_match(
                            t.model_config(), t.params(), *enc, *eval, t.config().row_length(), 200);
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
                                   (long long)t.config().row_length(), (long long)cfg.steps);
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
