#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/train_model.h"
#include "vq/lfq.h"

namespace mmada::train {

namespace fs = std::filesystem;

namespace {
// N(0, std²) by Box–Muller from draws 2i and 2i+1 of `stream`.
double normal_draw(const CounterRng& rng, uint64_t stream, uint64_t i, double std) {
  const double u1 = 1.0 - rng.uniform(stream, 2 * i), u2 = rng.uniform(stream, 2 * i + 1);
  return std * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}
}  // namespace

void init_image_codes_from_bits(Tensor& wte, int64_t offset, int64_t codebook, double std, uint64_t seed) {
  MMADA_CHECK(wte.dtype == DType::F32 && wte.shape.size() == 2 && offset >= 0 && codebook >= 2 &&
                  offset + codebook <= wte.shape[0],
              "image code rows ", offset, "+", codebook, " do not fit the embedding");
  const int64_t bits = lfq_bits_for(codebook);
  const int64_t D = wte.shape[1];
  const CounterRng rng{seed};
  constexpr uint64_t kBitVectorStream = 0x6c66716269747300ull;
  std::vector<float> v(size_t(bits * D));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = float(normal_draw(rng, kBitVectorStream, i, std) / std::sqrt(double(bits)));
  for (int64_t c = 0; c < codebook; ++c) {
    float* row = wte.ptr<float>() + (offset + c) * D;
    std::fill(row, row + D, 0.0f);
    for (int64_t k = 0; k < bits; ++k) {
      const float sgn = (c >> k) & 1 ? 1.0f : -1.0f;
      for (int64_t d = 0; d < D; ++d) row[d] += sgn * v[size_t(k * D + d)];
    }
  }
}

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
      p[i] = float(normal_draw(rng, k, uint64_t(i), std));
    }
    *s.tensor = std::move(t);
  });
  return w;
}

Trainer::Trainer(const TrainConfig& cfg) : cfg_(cfg), rng_{cfg.run.seed} {
  enc_ = make_text_encoder(cfg_.tokenizer);
  int64_t vocab_needed = enc_->vocab_size();
  ModelConfig mcfg;
  if (cfg_.has_images) {
    images_ = std::make_unique<ImageTaskData>(tokenize_images(cfg_.images, "", cfg_.run.backend()), cfg_.images, *enc_);
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
    mcfg = ModelConfig::load((fs::path(cfg_.init_from) / "config.json").string());
  } else {
    mcfg = cfg_.model;
    if (mcfg.vocab == 0) mcfg.vocab = vocab_needed;
    mcfg.mask_token_id = enc_->tokens().mask;
    mcfg.eos_token_id = mcfg.pad_token_id = enc_->tokens().eos;
    mcfg.max_sequence_length = std::max<int64_t>(4096, cfg_.row_length());
  }
  if (cfg_.has_images) {  // what describe / imagine / serve need to lay images out as training did
    ImageLayout l;
    l.codes_per_image = cfg_.image_tokens;
    l.t2i_text_len = cfg_.text_slots + 1;  // t2i_row's text part
    l.t2i_pad_visible = cfg_.t2i_pad_attention == AttnMask::None;
    l.fit = "pad";  // grey_to_pixels centres the images on a black canvas
    mcfg.image_layout = l;
  }
  MMADA_CHECK(mcfg.vocab >= vocab_needed, "model vocab ", mcfg.vocab, " is smaller than the ",
              vocab_needed, " rows the tokenizer", cfg_.has_images ? " and the image codes" : "",
              " need");
  MMADA_CHECK(mcfg.mask_token_id == enc_->tokens().mask, "model mask_token_id ",
              mcfg.mask_token_id, " differs from the tokenizer's [MASK] ", enc_->tokens().mask);
  if (!cfg_.lm_sources.empty()) {
    std::vector<JsonlSource> sources;
    for (const SourceSpec& s : cfg_.lm_sources)
      sources.push_back(JsonlSource::load(s, *enc_, cfg_.on_malformed, cfg_.row_length()));
    loader_ = std::make_unique<MixedTextLoader>(std::move(sources));
  }

  run_ = TrainingRun(mcfg, cfg_.optim, cfg_.run, "mmada train", [&] {
    if (!cfg_.init_from.empty()) return load_master_weights(cfg_.init_from, mcfg);
    ModelWeights w = random_init(mcfg, cfg_.init_std, cfg_.run.seed);
    if (cfg_.image_code_init_from_bits)
      init_image_codes_from_bits(w.wte, enc_->image_code_offset(), images_->codes().codebook, cfg_.init_std,
                                 cfg_.run.seed);
    return w;
  });
  run_.tokenizer_dir = enc_->tokenizer_dir();
}

Trainer::~Trainer() = default;

StepRecord Trainer::update() {
  const auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& mcfg = run_.mcfg;
  const int64_t L = cfg_.row_length();
  const RowTokens& tk = enc_->tokens();
  const double coeff[kNumTasks] = {cfg_.t2i_coeff, cfg_.lm_coeff, cfg_.mmu_coeff};
  StepRecord rec;
  TrainCompute& tc = run_.compute();
  Communicator& comm = tc.comm();
  tc.zero_grads();
  int64_t tokens = 0;
  for (int64_t micro = 0; micro < cfg_.accumulation; ++micro) {
    const int64_t ms = run_.state.micro_step;
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
    // Every rank draws the same global micro-batch and its task weights; rank k runs rows
    // [n·k/W, n·(k+1)/W), so the gradients summed over ranks are the one-process gradient.
    const std::vector<double> tw = task_weights(rows, cfg_.lm_normaliser);
    const size_t W = size_t(comm.world()), k_rank = size_t(comm.rank());
    const size_t first_row = rows.size() * k_rank / W, end_row = rows.size() * (k_rank + 1) / W;

    TrainBatch b;
    b.B = int64_t(end_row - first_row);
    b.L = L;
    std::vector<int64_t> labels;
    std::vector<double> weight;
    std::vector<Task> task;
    size_t k = 0;
    if (cfg_.rows_t2i > 0 && cfg_.t2i_pad_attention != AttnMask::None) {
      b.mask_mode = cfg_.t2i_pad_attention;  // only t2i rows have [iPAD] (real = 0)
      for (size_t r = first_row; r < end_row; ++r)
        b.token_mask.insert(b.token_mask.end(), rows[r].real.begin(), rows[r].real.end());
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      const bool mine = r >= first_row && r < end_row;
      if (mine) b.ids.insert(b.ids.end(), rows[r].ids.begin(), rows[r].ids.end());
      for (size_t j = 0; j < rows[r].positions.size(); ++j, ++k) {
        if (!mine) continue;
        b.rows.push_back(int64_t(r - first_row) * L + rows[r].positions[j]);
        labels.push_back(rows[r].labels[j]);
        weight.push_back(tw[k] * coeff[int(rows[r].task)] / double(cfg_.accumulation));
        task.push_back(rows[r].task);
      }
    }
    tokens += int64_t(rows.size()) * L;
    if (k == 0) {  // nothing masked anywhere (possible for tiny p): no loss, no gradient
      ++run_.state.micro_step;
      continue;
    }
    // This rank's loss and per-task losses, then summed over the ranks.
    double sums[1 + kNumTasks] = {0, 0, 0, 0};
    std::vector<float> dlogits;
    if (!b.rows.empty()) {
      const std::vector<float> logits = tc.forward(b);
      dlogits.resize(logits.size());
      std::vector<double> ce(b.rows.size());
      sums[0] = cross_entropy<float>(logits.data(), labels.data(), weight.data(),
                                     int64_t(b.rows.size()), mcfg.vocab, cfg_.label_smoothing,
                                     dlogits.data(), ce.data());
      for (size_t i = 0; i < ce.size(); ++i) {
        const int t = int(task[i]);
        if (coeff[t] > 0) sums[1 + t] += weight[i] * ce[i] / coeff[t];
      }
    }
    comm.all_reduce_sum(sums, 1 + kNumTasks);
    const double loss = sums[0];
    if (!std::isfinite(loss))
      fail("non-finite loss (", loss, ") at step ", run_.state.step + 1, ", micro-step ", ms,
           cfg_.rows_lm > 0 ? " (lm source " + cfg_.lm_sources[source].path + ")" : std::string(),
           "; training stopped, the last good checkpoint is ", checkpoint_dir());
    for (int t = 0; t < kNumTasks; ++t) rec.task_loss[t] += sums[1 + t];
    rec.loss += loss;
    if (!b.rows.empty()) tc.backward(dlogits);
    ++run_.state.micro_step;
  }
  rec.grad_norm = tc.reduce_and_clip();
  MMADA_CHECK(std::isfinite(rec.grad_norm), "non-finite gradient norm at step ", run_.state.step + 1,
              " (micro-steps ", run_.state.micro_step - cfg_.accumulation, "..", run_.state.micro_step - 1,
              "); training stopped, the last good checkpoint is ", checkpoint_dir());
  rec.lr = lr_at(cfg_.optim, tc.optimizer_steps());
  tc.step(rec.lr);
  rec.step = ++run_.state.step;
  rec.step_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec.tokens_per_s = double(tokens) / std::max(1e-9, rec.step_seconds);
  return rec;
}

void Trainer::run(const std::function<void(const StepRecord&)>& on_step, int64_t until_step) {
  const int64_t last = until_step > 0 ? std::min(until_step, cfg_.steps) : cfg_.steps;
  run_.run_steps<StepRecord>(
      last, "training log", [&] { return update(); },
      [](const StepRecord& r) {
        return nlohmann::json{{"step", r.step},          {"loss", r.loss},
                              {"loss_t2i", r.task_loss[0]}, {"loss_lm", r.task_loss[1]},
                              {"loss_mmu", r.task_loss[2]}, {"lr", r.lr},
                              {"grad_norm", r.grad_norm},   {"tokens_per_s", r.tokens_per_s},
                              {"step_seconds", r.step_seconds}};
      },
      on_step);
}

}  // namespace mmada::train
