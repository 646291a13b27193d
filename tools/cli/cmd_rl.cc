// mmada rl --config rl.json: UniGRPO reinforcement learning on the CPU or GPUs
// (docs/rl-config.md); `mmada launch -n N -- mmada rl ...` runs N data-parallel ranks
// (docs/multi-gpu.md), of which rank 0 alone prints, evaluates and writes files.
#include <cstdio>

#include "command.h"
#include "core/error.h"
#include "train/eval_exact_match.h"
#include "train/rl_trainer.h"

namespace mmada::cli {
namespace {

Command rl_cmd("rl", "UniGRPO reinforcement learning of a trained model (CPU or GPUs) from a JSON config",
               [](CLI::App& sub) -> RunFn {
                 auto path = std::make_shared<std::string>();
                 auto eval = std::make_shared<std::string>();
                 auto eval_only = std::make_shared<bool>(false);
                 auto eval_max = std::make_shared<int64_t>(200);
                 auto eval_len = std::make_shared<int64_t>(0);
                 sub.add_option("-c,--config", *path, "RL config (docs/rl-config.md)")->required();
                 sub.add_option("--eval", *eval,
                                "held-out chat JSONL: exact match of the final answers before and after RL");
                 sub.add_flag("--eval-only", *eval_only,
                              "no RL; evaluate the current weights (<output_dir>/checkpoint if it exists, else init_from)");
                 sub.add_option("--eval-max", *eval_max, "held-out problems to evaluate (default 200)");
                 sub.add_option("--eval-row-length", *eval_len,
                                "row length of the exact-match decode (default rollout.row_length)");
                 return [=] {
                   train::RlConfig cfg = train::RlConfig::load(*path);
                   if (*eval_only) cfg.run.resume = true;
                   train::RlTrainer t(cfg);
                   const int64_t L = *eval_len > 0 ? *eval_len : cfg.row_length;
                   MMADA_CHECK(eval->empty() || L > 0,
                               "--eval needs --eval-row-length when the config gives rollout.gen_length");
                   auto evaluate = [&](const char* when) {
                     if (eval->empty() || !t.writes_files()) return;  // rank 0 evaluates
                     const train::ExactMatchResult r = train::eval_exact_match(
                         t.model_config(), t.params(), t.encoder(), *eval, L, *eval_max);
                     for (const auto& e : r.examples) std::fprintf(stderr, "  %s\n", e.c_str());
                     std::printf("exact match %s: %lld / %lld\n", when, (long long)r.correct,
                                 (long long)r.total);
                     std::fflush(stdout);
                   };
                   if (*eval_only) {
                     evaluate("(current weights)");
                     return 0;
                   }
                   const int64_t first = t.state().step;
                   if (first == 0) evaluate("before RL");
                   if (t.writes_files())
                     std::fprintf(stderr, "mmada rl: %lld parameters, %lld prompts, %lld RL steps\n",
                                  (long long)t.model_config().param_count(),
                                  (long long)(cfg.batch_size / cfg.unigrpo.group_size), (long long)cfg.steps);
                   double spent = 0;
                   t.run([&](const train::RlStepRecord& r) {
                     spent += r.rollout_seconds + r.update_seconds;
                     const double eta = spent / double(r.step - first) * double(cfg.steps - r.step);
                     std::string per;
                     for (size_t k = 0; k < t.rewards().size(); ++k) {
                       char b[96];
                       std::snprintf(b, sizeof b, " %s %.3f", t.rewards().name(k).c_str(), r.each_mean[k]);
                       per += b;
                     }
                     std::fprintf(stderr,
                                  "step %lld/%lld  reward %.3f±%.3f (%s)  loss %.4f  kl %.4f  clip %.3f  "
                                  "len %.1f  groups %lld/%lld (%lld redrawn)  skipped %lld  |g| %.3f  %.1fs+%.1fs  ETA %.0fs\n",
                                  (long long)r.step, (long long)cfg.steps, r.reward_mean, r.reward_std,
                                  per.c_str() + 1, r.loss, r.kl, r.clip_frac, r.len_mean,
                                  (long long)r.groups_kept, (long long)(r.groups_kept + r.groups_dropped),
                                  (long long)r.groups_redrawn, (long long)r.skipped, r.grad_norm, r.rollout_seconds, r.update_seconds, eta);
                   });
                   if (t.writes_files())
                     std::fprintf(stderr, "mmada rl: checkpoint in %s (%lld reward warnings)\n",
                                  t.checkpoint_dir().c_str(), (long long)t.warnings());
                   evaluate("after RL");
                   return 0;
                 };
               });

}  // namespace
}  // namespace mmada::cli
