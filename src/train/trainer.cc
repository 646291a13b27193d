#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/train_model.h"

namespace mmada::train {

namespace fs = std::filesystem;

ModelWeights random_init(const ModelConfig& cfg, double std, uint64_t seed) {
  ModelWeights w;
  const CounterRng rng{seed};
  uint64_t k = 0;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) {
    ++k;
    Tensor t = Tensor::empty(DType::F32, s.shape);
    float* p = t.ptr<float>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) {
      if (s.role == TensorRole::Norm) {
        p[i] = 1.0f;
        continue;
      }
      // Box–Muller from two counter draws.
      const double u1 = 1.0 - rng.uniform(k, 2 * uint64_t(i)), u2 = rng.uniform(k, 2 * uint64_t(i) + 1);
      p[i] = float(std * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2));
    }
    *s.tensor = std::move(t);
  });
  return w;
}

Trainer::Trainer(const TrainConfig& cfg) : cfg_(cfg), rng_{cfg.run.seed} {
  enc_ = make_text_encoder(cfg_.tokenizer);
  int64_t vocab_needed = enc_->vocab_size();
  if (cfg_.has_images) {
    images_ = std::make_unique<ImageTaskData>(tokenize_images(cfg_.images), cfg_.images, *enc_);
    const ImageCodes& c = images_->codes();
    std::fprintf(stderr, "mmada train: %lld images x %lld codes (codebook %lld)%s\n",
                 (long long)c.count, (long long)c.per_image, (long long)c.codebook,
                 c.from_cache ? (", cached in " + c.cache_file).c_str() : "");
    if (cfg_.image_tokens == 0) cfg_.image_tokens = c.per_image;
    MMADA_CHECK(cfg_.image_tokens == c.per_image, "batch.image_tokens = ", cfg_.image_tokens,
                " but the tokenizer gives ", c.per_image, " codes per ", cfg_.images.image_size,
                "-pixel image (leave image_tokens out to take it from the data)");
    // t2i: <|t2i|> BOS caption EOS must fit T+1 slots; mmu: BOS question/answer EOS must fit T
    // (a cut answer would train on a truncated class name).
    MMADA_CHECK(images_->longest_t2i_text() <= cfg_.text_slots + 1 &&
                    images_->longest_mmu_text() <= cfg_.text_slots,
                "batch.text_slots = ", cfg_.text_slots, " is too small for the image tasks' text: ",
                "captions need ", images_->longest_t2i_text() - 1, ", questions with answers ",
                images_->longest_mmu_text());
    vocab_needed = std::max(vocab_needed, enc_->image_code_offset() + c.codebook);
  }
  if (!cfg_.init_from.empty()) {
    mcfg_ = ModelConfig::load((fs::path(cfg_.init_from) / "config.json").string());
  } else {
    mcfg_ = cfg_.model;
    if (mcfg_.vocab == 0) mcfg_.vocab = vocab_needed;
    mcfg_.mask_token_id = enc_->tokens().mask;
    mcfg_.eos_token_id = mcfg_.pad_token_id = enc_->tokens().eos;
    mcfg_.max_sequence_length = std::max<int64_t>(4096, cfg_.row_length());
  }
  MMADA_CHECK(mcfg_.vocab >= vocab_needed, "model vocab ", mcfg_.vocab, " is smaller than the ",
              vocab_needed, " rows the tokenizer", cfg_.has_images ? " and the image codes" : "",
              " need");
  MMADA_CHECK(mcfg_.mask_token_id == enc_->tokens().mask, "model mask_token_id ",
              mcfg_.mask_token_id, " differs from the tokenizer's [MASK] ", enc_->tokens().mask);
  if (!cfg_.lm_sources.empty()) {
    std::vector<JsonlSource> sources;
    for (const SourceSpec& s : cfg_.lm_sources)
      sources.push_back(JsonlSource::load(s, *enc_, cfg_.on_malformed, cfg_.row_length()));
    loader_ = std::make_unique<MixedTextLoader>(std::move(sources));
  }

  opt_ = std::make_unique<AdamW>(mcfg_, cfg_.optim);
  state_.seed = cfg_.run.seed;
  const std::string ck = checkpoint_dir();
  if (cfg_.run.resume && fs::exists(fs::path(ck) / "trainer_state.json")) {
    params_ = load_master_weights(ck, mcfg_);
    load_optimizer_state(ck, mcfg_, *opt_, state_);
    MMADA_CHECK(state_.seed == cfg_.run.seed, ck, ": checkpoint seed ", state_.seed,
                " differs from the config's ", cfg_.run.seed, " (the resumed run would not match)");
    std::fprintf(stderr, "mmada train: resumed from %s at step %lld\n", ck.c_str(),
                 (long long)state_.step);
  } else if (!cfg_.init_from.empty()) {
    params_ = load_master_weights(cfg_.init_from, mcfg_);
  } else {
    params_ = random_init(mcfg_, cfg_.init_std, cfg_.run.seed);
  }
  grads_ = zero_weights(mcfg_, DType::F32);
}

Trainer::~Trainer() = default;

void Trainer::save() {
  save_checkpoint(checkpoint_dir(), mcfg_, params_, cfg_.run.save_dtype, opt_.get(), &state_);
}

StepRecord Trainer::update() {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t L = cfg_.row_length();
  const RowTokens& tk = enc_->tokens();
  const cpu::RopeTable rope = cpu::make_rope_table(L, mcfg_.head_dim(), mcfg_.rope_theta);
  const double coeff[kNumTasks] = {cfg_.t2i_coeff, cfg_.lm_coeff, cfg_.mmu_coeff};
  StepRecord rec;
  zero_grads(mcfg_, grads_);
  int64_t tokens = 0;
  for (int64_t micro = 0; micro < cfg_.accumulation; ++micro) {
    const int64_t ms = state_.micro_step;
    size_t source = 0;
    // Rows stacked t2i, lm, mmu (training.md §2); row r of the micro-step noises from stream
    // 0x1000000 + ms*4096 + r (with only lm rows, r is the lm row index as before).
    std::vector<CleanRow> clean;
    for (int64_t r = 0; r < cfg_.rows_t2i; ++r)
      clean.push_back(images_->t2i(rng_, ms, r, cfg_.text_slots, cfg_.cond_dropout_prob, tk));
    if (cfg_.rows_lm > 0) {
      std::vector<CleanRow> lm = loader_->draw(rng_, ms, cfg_.rows_lm, L, tk, &source);
      for (CleanRow& c : lm) clean.push_back(std::move(c));
    }
    for (int64_t r = 0; r < cfg_.rows_mmu; ++r)
      clean.push_back(images_->mmu(rng_, ms, r, cfg_.text_slots, tk));
    std::vector<NoisedRow> rows;
    for (size_t r = 0; r < clean.size(); ++r) {
      const RowDraws d{rng_, 0x1000000ull + uint64_t(ms) * 4096 + r};
      rows.push_back(clean[r].task == Task::T2i
                         ? noise_t2i(clean[r], cfg_.image_tokens, cfg_.min_masking_rate, d, tk)
                         : noise_text(clean[r], cfg_.mask_eps, d, tk));
    }
    const std::vector<double> tw = task_weights(rows, cfg_.lm_normaliser);

    TrainBatch b;
    b.B = int64_t(rows.size());
    b.L = L;
    std::vector<int64_t> labels;
    std::vector<double> weight;
    std::vector<Task> task;
    size_t k = 0;
    if (cfg_.rows_t2i > 0 && cfg_.t2i_pad_attention != AttnMask::None) {
      b.mask_mode = cfg_.t2i_pad_attention;  // only t2i rows have [iPAD] (real = 0)
      for (const NoisedRow& r : rows) b.token_mask.insert(b.token_mask.end(), r.real.begin(), r.real.end());
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      b.ids.insert(b.ids.end(), rows[r].ids.begin(), rows[r].ids.end());
      for (size_t j = 0; j < rows[r].positions.size(); ++j, ++k) {
        b.rows.push_back(int64_t(r) * L + rows[r].positions[j]);
        labels.push_back(rows[r].labels[j]);
        weight.push_back(tw[k] * coeff[int(rows[r].task)] / double(cfg_.accumulation));
        task.push_back(rows[r].task);
      }
    }
    tokens += b.B * L;
    if (b.rows.empty()) {  // nothing masked anywhere (possible for tiny p): no loss, no gradient
      ++state_.micro_step;
      continue;
    }
    Activations<float> acts;
    const std::vector<float> logits = train_forward<float>(mcfg_, params_, b, rope, acts);
    std::vector<float> dlogits(logits.size());
    std::vector<double> ce(b.rows.size());
    const double loss = cross_entropy<float>(logits.data(), labels.data(), weight.data(),
                                             int64_t(b.rows.size()), mcfg_.vocab,
                                             cfg_.label_smoothing, dlogits.data(), ce.data());
    if (!std::isfinite(loss))
      fail("non-finite loss (", loss, ") at step ", state_.step + 1, ", micro-step ", ms,
           cfg_.rows_lm > 0 ? " (lm source " + cfg_.lm_sources[source].path + ")" : std::string(),
           "; training stopped, the last good checkpoint is ", checkpoint_dir());
    for (size_t i = 0; i < ce.size(); ++i) {
      const int t = int(task[i]);
      if (coeff[t] > 0) rec.task_loss[t] += weight[i] * ce[i] / coeff[t];
    }
    rec.loss += loss;
    train_backward<float>(mcfg_, params_, b, rope, acts, dlogits, grads_);
    ++state_.micro_step;
  }
  rec.grad_norm = clip_grad_norm(mcfg_, grads_, cfg_.optim.grad_clip);
  MMADA_CHECK(std::isfinite(rec.grad_norm), "non-finite gradient norm at step ", state_.step + 1,
              " (micro-steps ", state_.micro_step - cfg_.accumulation, "..", state_.micro_step - 1,
              "); training stopped, the last good checkpoint is ", checkpoint_dir());
  rec.lr = lr_at(cfg_.optim, opt_->steps());
  opt_->step(params_, grads_, rec.lr);
  rec.step = ++state_.step;
  rec.step_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec.tokens_per_s = double(tokens) / std::max(1e-9, rec.step_seconds);
  return rec;
}

void Trainer::run(const std::function<void(const StepRecord&)>& on_step, int64_t until_step) {
  const int64_t last = until_step > 0 ? std::min(until_step, cfg_.steps) : cfg_.steps;
  fs::create_directories(cfg_.run.output_dir);
  std::ofstream log(cfg_.run.log_path, std::ios::app);
  MMADA_CHECK(log.good(), cfg_.run.log_path, ": cannot open the training log");
  while (state_.step < last) {
    const StepRecord r = update();
    nlohmann::json j = {{"step", r.step},          {"loss", r.loss},
                        {"loss_t2i", r.task_loss[0]}, {"loss_lm", r.task_loss[1]},
                        {"loss_mmu", r.task_loss[2]}, {"lr", r.lr},
                        {"grad_norm", r.grad_norm},   {"tokens_per_s", r.tokens_per_s},
                        {"step_seconds", r.step_seconds}};
    log << j.dump() << "\n";
    log.flush();
    if (on_step) on_step(r);
    if (cfg_.run.save_every > 0 && r.step % cfg_.run.save_every == 0) save();
  }
  if (cfg_.run.save_every == 0 || state_.step % cfg_.run.save_every != 0) save();
}

}  // namespace mmada::train
