#include "train/eval_images.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdio>
#include <limits>

#include "core/error.h"
#include "model/cached_network.h"
#include "model/logits_fn.h"
#include "model/transformer.h"
#include "sample/fast_modes.h"
#include "sample/t2i_sampler.h"
#include "sample/text_sampler.h"
#include "train/classifier_reward.h"
#include "vq/lfq.h"

namespace mmada::train {

CodeCentroids::CodeCentroids(const ImageCodes& train, int64_t classes)
    : classes_(classes), per_image_(train.per_image), bits_(lfq_bits_for(train.codebook)) {
  const int64_t F = per_image_ * bits_;
  mean_.assign(size_t(classes_ * F), 0.0);
  std::vector<int64_t> n(size_t(classes_), 0);
  for (int64_t i = 0; i < train.count; ++i) {
    const int64_t c = train.labels[size_t(i)];
    ++n[size_t(c)];
    for (int64_t j = 0; j < per_image_; ++j) {
      const int32_t code = train.codes[size_t(i * per_image_ + j)];
      for (int64_t k = 0; k < bits_; ++k)
        mean_[size_t(c * F + j * bits_ + k)] += (code >> k) & 1 ? 1.0 : -1.0;
    }
  }
  for (int64_t c = 0; c < classes_; ++c)
    for (int64_t f = 0; f < F; ++f) mean_[size_t(c * F + f)] /= double(std::max<int64_t>(1, n[size_t(c)]));
}

int64_t CodeCentroids::classify(const int32_t* codes) const {
  const int64_t F = per_image_ * bits_;
  int64_t best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < classes_; ++c) {
    double d = 0;
    for (int64_t j = 0; j < per_image_; ++j)
      for (int64_t k = 0; k < bits_; ++k) {
        const double x = (codes[j] >> k) & 1 ? 1.0 : -1.0, e = x - mean_[size_t(c * F + j * bits_ + k)];
        d += e * e;
      }
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

ImageEvalResult eval_images(const std::string& checkpoint_dir, const TrainConfig& cfg,
                            const TextEncoder& enc, const ImageTaskData& train,
                            const ImageEvalOptions& opt) {
  const RowTokens& tk = enc.tokens();
  const std::vector<std::string>& names = train.class_names();
  const int64_t T = cfg.text_slots, N = cfg.image_tokens, L = cfg.row_length();
  const int64_t offset = enc.image_code_offset(), K = train.codes().codebook;
  ImageEvalResult res;
  res.classes = int64_t(names.size());
  const Transformer model = Transformer::load(checkpoint_dir, Precision::F32, make_backend(opt.backend));
  const CodeCentroids centroids(train.codes(), res.classes);

  ImageSourceSpec held = cfg.images;
  held.augment = {};  // held-out images as they are
  held.limit = opt.describe_images > 0 ? opt.describe_images : opt.calibration_images;
  const ImageCodes test = tokenize_images(held, opt.split);
  for (int64_t i = 0; i < test.count; ++i) {
    ++res.real_total;
    res.real_correct += centroids.classify(&test.codes[size_t(i * test.per_image)]) == test.labels[size_t(i)];
  }
  std::unique_ptr<ImageClassifier> clf;
  std::unique_ptr<Magvit> clf_vq;
  if (!opt.classifier.empty()) {
    clf = std::make_unique<ImageClassifier>(ImageClassifier::load(opt.classifier));
    ClassifierRewardContext ctx;
    ctx.class_names = names;
    ctx.vq = cfg.images.vq;
    ctx.per_image = N;
    ctx.codebook = K;
    ctx.image_size = cfg.images.image_size;
    check_classifier_matches(*clf, ctx, "classifier " + opt.classifier);
    if (clf->spec().input == ClassifierInput::Pixels) clf_vq = std::make_unique<Magvit>(Magvit::load(cfg.images.vq));
    // Calibration: real held-out images as the VQ reconstructs them (a pixel classifier sees the
    // decoded codes, as it will see generated ones).
    const std::vector<double> p = classify_codes(*clf, clf_vq.get(), test.codes.data(), test.count, N);
    for (int64_t i = 0; i < test.count; ++i) {
      const double* r = &p[size_t(i * res.classes)];
      res.clf_real_correct += int64_t(std::max_element(r, r + res.classes) - r) == test.labels[size_t(i)];
    }
  }

  if (opt.describe_images > 0) {
    const std::vector<std::string> qs = cfg.images.questions.empty() ? default_questions() : cfg.images.questions;
    std::vector<int64_t> text = {tk.bos};
    const std::vector<int64_t> q = enc.encode(mmu_prompt_text(qs[0]));
    text.insert(text.end(), q.begin(), q.end());
    const int64_t P = N + 3 + int64_t(text.size());
    MMADA_CHECK(L - P >= 1, "describe: the question leaves no room for an answer in rows of ", L);
    const int64_t block = opt.describe_block > 0 ? opt.describe_block : L - P;
    res.describe_named.assign(size_t(res.classes * (res.classes + 1)), 0);
    const int64_t G = (L - P + block - 1) / block * block, LG = P + G;
    TextSamplerParams sp;
    sp.gen_length = sp.steps = G;
    sp.block_length = block;
    sp.temperature = 0;
    sp.mask_id = tk.mask;
    const std::vector<int64_t> eot = enc.encode("<|eot_id|>");
    sp.end_ids = {tk.eos};
    if (eot.size() == 1) sp.end_ids.push_back(eot[0]);
    sp.end_fill_id = tk.eos;
    sp = text_mode(opt.describe_mode, sp);
    const auto t0 = std::chrono::steady_clock::now();
    constexpr int64_t kBatch = 32;
    for (int64_t b0 = 0; b0 < test.count; b0 += kBatch) {
      const int64_t B = std::min(kBatch, test.count - b0);
      std::vector<int64_t> prompt;
      for (int64_t b = 0; b < B; ++b) {
        prompt.push_back(tk.mmu);
        prompt.push_back(tk.soi);
        for (int64_t j = 0; j < N; ++j) prompt.push_back(offset + test.codes[size_t((b0 + b) * N + j)]);
        prompt.push_back(tk.eoi);
        prompt.insert(prompt.end(), text.begin(), text.end());
      }
      const TextSamplerResult r =
          generate_text(make_logits_fn(model), prompt, B, P, nullptr, sp, {}, make_pick_fn(model),
                        sp.cache != CacheMode::None ? make_cached_network(model) : CachedNetwork{});
      res.describe_calls += r.network_calls;
      ++res.describe_batches;
      for (int64_t b = 0; b < B; ++b) {
        std::vector<int64_t> answer;
        for (int64_t i = P; i < LG; ++i) {
          const int64_t id = r.ids[size_t(b * LG + i)];
          if (std::find(sp.end_ids.begin(), sp.end_ids.end(), id) != sp.end_ids.end()) break;
          answer.push_back(id);
        }
        const std::string got = enc.decode(answer);
        const int64_t want = test.labels[size_t(b0 + b)];
        const int64_t named = class_named_in(got, names);
        ++res.describe_total;
        res.describe_correct += named == want;
        ++res.describe_named[size_t(want * (res.classes + 1) + (named < 0 ? res.classes : named))];
        res.describe_nearest_correct += nearest_class_name(got, names) == want;
        res.describe_answers.push_back(got);
        if (res.examples.size() < 8) res.examples.push_back(names[size_t(want)] + " => " + got);
      }
    }
    res.describe_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  if (opt.t2i_per_class > 0) {
    // Undrawn image slots are told from codes by their token ids (t2i_sampler.h).
    MMADA_CHECK(tk.mask < offset || tk.mask >= offset + K, "t2i proxy: the [MASK] id ", tk.mask,
                " is one of the image codes' token ids [", offset, ", ", offset + K, ")");
    const std::vector<int64_t> slots(static_cast<size_t>(N), tk.mask);
    T2iParams tp;
    tp.timesteps = opt.t2i_timesteps;
    tp.guidance = opt.t2i_guidance;
    tp.temperature = opt.t2i_temperature;
    tp.codebook = K;
    tp.image_offset = offset;
    tp.mask_id = tk.mask;
    tp = t2i_mode(opt.t2i_mode, tp);
    const auto t0 = std::chrono::steady_clock::now();
    // Training with t2i_pad_attention "none" let [iPAD] be attended: keep them visible here too.
    const bool hard = cfg.t2i_pad_attention == AttnMask::Pair;
    for (int64_t c = 0; c < res.classes; ++c) {
      const int64_t B = opt.t2i_per_class;
      const std::string tmpl = caption_templates(cfg.images, c)[0];  // the class's first template
      const CleanRow cond = t2i_row(enc.encode(fill_template(tmpl, names[size_t(c)])), slots, T, false, tk);
      const CleanRow uncond = t2i_row({}, slots, T, true, tk);
      std::vector<int64_t> ids, uids;
      std::vector<uint8_t> mask, umask;
      for (int64_t b = 0; b < B; ++b) {
        ids.insert(ids.end(), cond.ids.begin(), cond.ids.end());
        uids.insert(uids.end(), uncond.ids.begin(), uncond.ids.end());
        for (int64_t i = 0; i < L; ++i) {
          mask.push_back(hard ? cond.real[size_t(i)] : 1);
          umask.push_back(hard ? uncond.real[size_t(i)] : 1);
        }
      }
      SeededT2iRandom rng(opt.seed * 1000003 + uint64_t(c));
      const T2iResult r = generate_image(make_t2i_fn(model, offset, offset + K), ids, mask, uids,
                                         umask, B, L, N, tp, rng);
      res.t2i_calls += r.steps_run;
      for (int64_t b = 0; b < B; ++b) {
        std::vector<int32_t> codes(static_cast<size_t>(N));
        for (int64_t j = 0; j < N; ++j) codes[size_t(j)] = int32_t(r.codes[size_t(b * N + j)]);
        ++res.t2i_total;
        res.t2i_correct += centroids.classify(codes.data()) == c;
        res.t2i_codes.insert(res.t2i_codes.end(), codes.begin(), codes.end());
        if (clf) {
          const std::vector<double> p = classify_codes(*clf, clf_vq.get(), codes.data(), 1, N);
          res.clf_t2i_correct += int64_t(std::max_element(p.begin(), p.end()) - p.begin()) == c;
          res.clf_t2i_prob += p[size_t(c)];
        }
      }
    }
    if (res.t2i_total) res.clf_t2i_prob /= double(res.t2i_total);
    res.t2i_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return res;
}

}  // namespace mmada::train
