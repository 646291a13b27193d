// mmada train --config run.json: the training loop on the CPU or the GPU (docs/train-config.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "command.h"
#include "core/error.h"
#include "io/image.h"
#include "sample/fast_modes.h"
#include "train/eval_exact_match.h"
#include "train/eval_images.h"
#include "train/trainer.h"
#include "vq/magvit.h"
#include "vq/preprocess.h"

namespace mmada::cli {
namespace {

double pct(int64_t a, int64_t b) { return b ? 100.0 * double(a) / double(b) : 0.0; }


struct EvalModes {
  std::string text, t2i;  // comma-separated fast-mode names (sample/fast_modes.h); empty = exact only
  int64_t block = 0;      // text/describe block length for the sampled evaluations (0: one block)
  std::string grid;       // PNG: the first generated image of each class, a row per t2i mode
};

// Describe accuracy per class and the name most often given instead: where the answers go wrong.
void print_describe_classes(const train::ImageEvalResult& r, const std::vector<std::string>& names) {
  std::printf("| class | describe | most often named instead |\n|---|---:|---|\n");
  const int64_t C = r.classes;
  for (int64_t c = 0; c < C; ++c) {
    const int64_t* row = &r.describe_named[size_t(c * (C + 1))];
    int64_t worst = -1, total = 0;
    for (int64_t k = 0; k <= C; ++k) {
      total += row[k];
      if (k != c && row[k] > 0 && (worst < 0 || row[k] > row[worst])) worst = k;
    }
    std::string instead = "-";
    if (worst >= 0)
      instead = (worst == C ? std::string("(no class)") : names[size_t(worst)]) + " (" + std::to_string(row[worst]) + ")";
    std::printf("| %s | %lld / %lld | %s |\n", names[size_t(c)].c_str(), (long long)row[c], (long long)total,
                instead.c_str());
  }
}

// Decodes code grids with the run's tokenizer and tiles them: one row per entry of `rows`, each
// a list of images' codes; each tile is scaled up to at least 96 pixels (nearest neighbour).
void write_code_grid(const std::string& path, const std::string& vq_dir,
                     const std::vector<std::vector<std::vector<int32_t>>>& rows, const PngText& text) {
  const Magvit vq = Magvit::load(vq_dir);
  const int64_t N = int64_t(rows.at(0).at(0).size()), g = int64_t(std::lround(std::sqrt(double(N))));
  MMADA_CHECK(g * g == N, "image grid: ", N, " codes per image are not a square");
  const int side = int(g * vq.config().downsample_factor()), scale = std::max(1, (96 + side - 1) / side);
  const int tile = side * scale, pad = 4;
  const int cols = int(rows[0].size()), W = pad + cols * (tile + pad), H = pad + int(rows.size()) * (tile + pad);
  RgbImage out(W, H);
  std::fill(out.rgb.begin(), out.rgb.end(), uint8_t(255));
  for (size_t r = 0; r < rows.size(); ++r) {
    Tensor t = Tensor::empty(DType::I64, {int64_t(rows[r].size()), N});
    for (size_t c = 0; c < rows[r].size(); ++c)
      for (int64_t j = 0; j < N; ++j) t.ptr<int64_t>()[int64_t(c) * N + j] = rows[r][c][size_t(j)];
    const std::vector<RgbImage> imgs = pixels_to_images(vq.decode(t, g, g));
    for (size_t c = 0; c < imgs.size(); ++c)
      for (int y = 0; y < tile; ++y)
        for (int x = 0; x < tile; ++x)
          std::copy_n(imgs[c].row(y / scale) + (x / scale) * 3, 3,
                      out.row(pad + int(r) * (tile + pad) + y) + (pad + int(c) * (tile + pad) + x) * 3);
  }
  write_png(path, out, text);
}

// Arithmetic exact match with the engine's sampler, one table row per text mode; agreement is
// the share of answers equal to the first mode's.
void eval_text_modes(const train::Trainer& t, const std::string& data, int64_t limit, const EvalModes& em,
                     const std::string& backend, const train::SampledEval& how) {
  const auto enc = train::make_text_encoder(t.config().tokenizer);
  std::printf("| mode | block | exact match | network calls / problem | s | answers equal to %s |\n"
              "|---|---:|---:|---:|---:|---:|\n", split_modes(em.text).front().c_str());
  std::vector<std::string> first;
  for (const std::string& mode : split_modes(em.text)) {
    TextSamplerParams shape;  // validated on a canvas of several blocks; the real one is per problem
    if (em.block > 0) shape.block_length = em.block, shape.gen_length = shape.steps = 4 * em.block;
    TextSamplerParams sp = text_mode(mode, shape);
    sp.block_length = em.block;
    const train::ExactMatchResult r =
        train::eval_exact_match_sampled(t.checkpoint_dir(), *enc, data, t.config().row_length(), limit, sp, backend,
                                        how);
    if (first.empty()) first = r.answers;
    std::printf("| %s | %lld | %lld / %lld = %.1f%% | %.1f | %.2f | %.3f |\n", mode.c_str(), (long long)em.block,
                (long long)r.correct, (long long)r.total, pct(r.correct, r.total),
                double(r.network_calls) / double(std::max<int64_t>(r.total, 1)), r.seconds,
                share_equal(r.answers, first));
    std::fflush(stdout);
  }
}

// With several answers per problem: how many problems every sample solved, none solved, some
// solved (the last are the ones a UniGRPO group learns from); and, with `path`, a JSONL line per
// problem in file order: {"problem": i, "correct": c, "samples": k}.
void report_samples(const train::ExactMatchResult& r, const train::SampledEval& how, const std::string& path) {
  int64_t all = 0, none = 0;
  for (int64_t c : r.problem_correct) {
    if (c == how.samples) ++all;
    if (c == 0) ++none;
  }
  const int64_t n = int64_t(r.problem_correct.size());
  if (how.samples > 1)
    std::printf("problems: every sample right %lld, none right %lld, some right %lld (of %lld, %lld samples each)\n",
                (long long)all, (long long)none, (long long)(n - all - none), (long long)n, (long long)how.samples);
  if (path.empty()) return;
  std::ofstream out(path);
  for (int64_t i = 0; i < n; ++i)
    out << "{\"problem\": " << i << ", \"correct\": " << r.problem_correct[size_t(i)] << ", \"samples\": "
        << how.samples << "}\n";
  MMADA_CHECK(out.good(), path, ": cannot write the per-problem results");
}

// Describe accuracy and the t2i proxy, one row per (describe mode, t2i mode) pair taken in step
// (the shorter list repeats its last entry).
void eval_image_modes(const train::Trainer& t, train::ImageEvalOptions opt, const EvalModes& em) {
  std::vector<std::string> dm = split_modes(em.text.empty() ? "none" : em.text);
  std::vector<std::string> tm = split_modes(em.t2i.empty() ? "none" : em.t2i);
  const size_t rows = std::max(dm.size(), tm.size());
  dm.resize(rows, dm.back());
  tm.resize(rows, tm.back());
  opt.describe_block = em.block;
  std::printf("| describe mode | describe | steps / batch | s | answers equal to first | t2i mode | t2i proxy | "
              "steps / batch | s | codes equal to first |\n|---|---:|---:|---:|---:|---|---:|---:|---:|---:|\n");
  train::ImageEvalResult first;
  std::vector<std::vector<std::vector<int32_t>>> grid;  // [mode][class] codes of the first image
  std::string legend = "rows, top to bottom:";
  for (size_t i = 0; i < rows; ++i) {
    opt.describe_mode = dm[i];
    opt.t2i_mode = tm[i];
    const train::ImageEvalResult r = train::eval_images(t.checkpoint_dir(), t.config(), t.encoder(), *t.image_data(), opt);
    if (i == 0) first = r;
    auto cell = [](bool ran, const std::string& v) { return ran ? v : std::string("-"); };
    char d[128], g[128];
    std::snprintf(d, sizeof d, "%.1f%% | %.1f | %.2f | %.3f", pct(r.describe_correct, r.describe_total),
                  double(r.describe_calls) / double(std::max<int64_t>(r.describe_batches, 1)), r.describe_seconds,
                  share_equal(r.describe_answers, first.describe_answers));
    std::snprintf(g, sizeof g, "%.1f%% | %.1f | %.2f | %.3f", pct(r.t2i_correct, r.t2i_total),
                  double(r.t2i_calls) / double(std::max<int64_t>(r.classes, 1)), r.t2i_seconds,
                  share_equal(r.t2i_codes, first.t2i_codes));
    std::printf("| %s | %s | %s | %s |\n", dm[i].c_str(), cell(r.describe_total > 0, d).c_str(), tm[i].c_str(),
                cell(r.t2i_total > 0, g).c_str());
    if (!opt.classifier.empty() && r.t2i_total > 0)
      std::printf("t2i mode %s: classifier accuracy %lld / %lld = %.1f%%, mean p(class) %.3f (calibration on real images %.1f%%)\n",
                  tm[i].c_str(), (long long)r.clf_t2i_correct, (long long)r.t2i_total, pct(r.clf_t2i_correct, r.t2i_total),
                  r.clf_t2i_prob, pct(r.clf_real_correct, r.real_total));
    std::fflush(stdout);
    if (!em.grid.empty() && r.t2i_total > 0) {
      const size_t N = r.t2i_codes.size() / size_t(r.t2i_total);
      grid.emplace_back();
      for (int64_t c = 0; c < r.classes; ++c) {
        const auto at = r.t2i_codes.begin() + int64_t(size_t(c * opt.t2i_per_class) * N);
        grid.back().emplace_back(at, at + int64_t(N));
      }
      legend += " " + tm[i];
    }
  }
  if (first.describe_total > 0) {
    std::printf("describe per class (mode %s):\n", dm[0].c_str());
    print_describe_classes(first, t.image_data()->class_names());
  }
  if (!grid.empty()) {
    write_code_grid(em.grid, t.config().images.vq, grid, {{"Description", legend + "; columns: classes in order"}});
    std::printf("wrote %s (%s; a column per class)\n", em.grid.c_str(), legend.c_str());
  }
}

Command train_cmd("train", "Train or fine-tune a model (CPU or CUDA, data-parallel over GPUs) from a JSON run config",
                  [](CLI::App& sub) -> RunFn {
                    auto path = std::make_shared<std::string>();
                    auto eval = std::make_shared<std::string>();
                    auto eval_only = std::make_shared<bool>(false);
                    auto eval_limit = std::make_shared<int64_t>(200);
                    auto how = std::make_shared<train::SampledEval>();
                    auto per_problem = std::make_shared<std::string>();
                    auto img = std::make_shared<train::ImageEvalOptions>();
                    img->describe_images = 0;
                    img->t2i_per_class = 0;
                    sub.add_option("-c,--config", *path, "run config (docs/train-config.md)")->required();
                    sub.add_option("--eval", *eval, "held-out chat JSONL: exact-match of the final answers after training");
                    sub.add_flag("--eval-only", *eval_only, "skip training; evaluate <output_dir>/checkpoint");
                    sub.add_option("--eval-limit", *eval_limit, "--eval scores the file's first N problems (0: all)")
                        ->capture_default_str()
                        ->check(CLI::NonNegativeNumber);
                    sub.add_option("--eval-samples", how->samples, "--eval: answers per problem")
                        ->capture_default_str()
                        ->check(CLI::PositiveNumber);
                    sub.add_option("--eval-temperature", how->temperature, "--eval: sampling temperature (0: greedy)")
                        ->capture_default_str()
                        ->check(CLI::NonNegativeNumber);
                    sub.add_option("--eval-seed", how->seed, "--eval: the sampler's seed")->capture_default_str();
                    sub.add_option("--eval-batch", how->batch,
                                   "--eval: problems per network call (those with equal prompt lengths)")
                        ->capture_default_str()
                        ->check(CLI::PositiveNumber);
                    sub.add_flag("--eval-bf16", how->bf16,
                                 "--eval: the engine's bf16 weights and kernels (faster on a GPU; answers may differ)");
                    sub.add_option("--eval-per-problem", *per_problem,
                                   "--eval: write each problem's count of right samples to this JSONL file");
                    sub.add_option("--eval-images", img->describe_images,
                                   "describe accuracy on this many held-out images (data.images, split --eval-split)");
                    sub.add_option("--eval-t2i-per-class", img->t2i_per_class,
                                   "t2i proxy: generate this many images per class and classify their codes");
                    sub.add_option("--eval-classifier", img->classifier,
                                   "with --eval-t2i-per-class: also judge the generated images with this classifier "
                                   "folder (mmada train-classifier)");
                    sub.add_option("--eval-backend", img->backend,
                                   "engine backend of the evaluations (cpu, cuda)")->capture_default_str();
                    sub.add_option("--eval-split", img->split, "held-out split of the IDX folder")->capture_default_str();
                    sub.add_option("--eval-t2i-steps", img->t2i_timesteps, "T2I sampler steps")->capture_default_str();
                    sub.add_option("--eval-guidance", img->t2i_guidance, "T2I classifier-free guidance")->capture_default_str();
                    auto modes = std::make_shared<EvalModes>();
                    sub.add_option("--eval-modes", modes->text,
                                   "evaluate with the engine's sampler in these text modes (none, prefix, dual, "
                                   "+tX, +fX, +rK; docs/fast-decoding.md), a table row each; also the describe modes");
                    sub.add_option("--eval-t2i-modes", modes->t2i,
                                   "t2i proxy in these modes (none, xK, cK, tX joined by '+'), a table row each");
                    sub.add_option("--eval-grid", modes->grid,
                                   "with --eval-t2i-per-class: PNG of the first generated image per class, a row per t2i mode");
                    sub.add_option("--eval-block", modes->block, "block length for --eval-modes (0: one block)")
                        ->capture_default_str();
                    return [path, eval, eval_only, eval_limit, img, modes, how, per_problem] {
                      MMADA_CHECK(!eval->empty() || (how->samples == 1 && how->temperature == 0 && !how->bf16 &&
                                                       per_problem->empty()),
                                  "--eval-samples / --eval-temperature / --eval-bf16 / --eval-per-problem need --eval");
                      MMADA_CHECK(img->classifier.empty() || img->t2i_per_class > 0,
                                  "--eval-classifier judges generated images: give --eval-t2i-per-class too");
                      MMADA_CHECK(per_problem->empty() ||
                                      (modes->text.empty() && modes->t2i.empty() && modes->grid.empty()),
                                  "--eval-per-problem writes the plain --eval's results: "
                                  "leave out --eval-modes / --eval-t2i-modes / --eval-grid");
                      if (!per_problem->empty()) {  // fail before the evaluation's time is spent
                        std::ofstream probe(*per_problem);
                        MMADA_CHECK(probe.good(), *per_problem, ": cannot write the per-problem results");
                      }
                      train::TrainConfig cfg = train::TrainConfig::load(*path);
                      // --eval-only reads the saved checkpoint: no training state is loaded (it may be
                      // a quantized export, or an RL checkpoint with its own seed).
                      if (*eval_only) cfg.run.resume = false;
                      train::Trainer t(cfg);
                      auto evaluate = [&] {
                        if (!modes->text.empty() || !modes->t2i.empty() || !modes->grid.empty()) {
                          MMADA_CHECK(modes->grid.empty() || img->t2i_per_class > 0,
                                      "--eval-grid draws generated images: give --eval-t2i-per-class too");
                          MMADA_CHECK(!eval->empty() || img->describe_images > 0 || img->t2i_per_class > 0,
                                      "--eval-modes / --eval-t2i-modes need --eval, --eval-images or --eval-t2i-per-class");
                          if (!eval->empty()) {  // with only --eval-t2i-modes / --eval-grid, the exact sampler
                            EvalModes tm = *modes;
                            if (tm.text.empty()) tm.text = "none";
                            eval_text_modes(t, *eval, *eval_limit, tm, img->backend, *how);
                          }
                          if (img->describe_images > 0 || img->t2i_per_class > 0) {
                            MMADA_CHECK(t.image_data(), "--eval-images / --eval-t2i-per-class need data.images in the config");
                            eval_image_modes(t, *img, *modes);
                          }
                          return;
                        }
                        if (img->describe_images > 0 || img->t2i_per_class > 0) {
                          MMADA_CHECK(t.image_data(), "--eval-images / --eval-t2i-per-class need data.images in the config");
                          const train::ImageEvalResult r = train::eval_images(
                              t.checkpoint_dir(), t.config(), t.encoder(), *t.image_data(), *img);
                          for (const auto& e : r.examples) std::fprintf(stderr, "  %s\n", e.c_str());
                          const double chance = 100.0 / double(r.classes);
                          if (r.describe_total)
                            std::printf("describe accuracy: %lld / %lld = %.1f%% (chance %.0f%%)\n",
                                        (long long)r.describe_correct, (long long)r.describe_total,
                                        pct(r.describe_correct, r.describe_total), chance);
                          if (r.describe_total)
                            std::printf("describe accuracy, nearest class name (edit distance): %lld / %lld = %.1f%% (chance %.0f%%)\n",
                                        (long long)r.describe_nearest_correct, (long long)r.describe_total,
                                        pct(r.describe_nearest_correct, r.describe_total), chance);
                          if (r.describe_total) print_describe_classes(r, t.image_data()->class_names());
                          std::printf("t2i proxy calibration (nearest-centroid on held-out real codes): %lld / %lld = %.1f%%\n",
                                      (long long)r.real_correct, (long long)r.real_total, pct(r.real_correct, r.real_total));
                          if (r.t2i_total)
                            std::printf("t2i proxy accuracy (nearest-centroid on generated codes): %lld / %lld = %.1f%% (chance %.0f%%)\n",
                                        (long long)r.t2i_correct, (long long)r.t2i_total,
                                        pct(r.t2i_correct, r.t2i_total), chance);
                          if (!img->classifier.empty()) {
                            std::printf("classifier calibration (held-out real images): %lld / %lld = %.1f%%\n",
                                        (long long)r.clf_real_correct, (long long)r.real_total,
                                        pct(r.clf_real_correct, r.real_total));
                            if (r.t2i_total)
                              std::printf("t2i classifier accuracy (generated images): %lld / %lld = %.1f%%, mean p(class) %.3f\n",
                                          (long long)r.clf_t2i_correct, (long long)r.t2i_total,
                                          pct(r.clf_t2i_correct, r.t2i_total), r.clf_t2i_prob);
                          }
                        }
                        if (eval->empty()) return;
                        // The saved checkpoint as the engine loads it (also a quantized or exported
                        // one, which --eval-only may be pointed at): one block, one token per step.
                        const auto enc = train::make_text_encoder(cfg.tokenizer);
                        TextSamplerParams sp;
                        sp.block_length = modes->block;
                        const train::ExactMatchResult r = train::eval_exact_match_sampled(
                            t.checkpoint_dir(), *enc, *eval, t.config().row_length(), *eval_limit, sp, img->backend,
                            *how);
                        for (const auto& e : r.examples) std::fprintf(stderr, "  %s\n", e.c_str());
                        std::printf("exact match: %lld / %lld\n", (long long)r.correct, (long long)r.total);
                        report_samples(r, *how, *per_problem);
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
                      if (!t.writes_files()) return 0;  // data-parallel rank > 0: rank 0 reports
                      std::fprintf(stderr, "mmada train: checkpoint in %s\n", t.checkpoint_dir().c_str());
                      evaluate();
                      return 0;
                    };
                  });

}  // namespace
}  // namespace mmada::cli
