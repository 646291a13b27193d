#include "train/rl_image_tasks.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/t2i_draw.h"
#include "core/error.h"
#include "io/image.h"
#include "vq/preprocess.h"
#include "train/objectives.h"
#include "train/train_model.h"

namespace mmada::train {

namespace {
// Counter-RNG streams of the image prompts' draws (apart from rl_trainer.cc's text streams).
constexpr uint64_t kStreamT2iPrompt = 0x2400000000000000ull;
constexpr uint64_t kStreamMmuPrompt = 0x2500000000000000ull;
size_t pick(double u, size_t n) { return std::min(n - 1, size_t(u * double(n))); }
}  // namespace

MaskedRow masked_rollout_row(const RolloutGroup& g, size_t i, double ratio, MaskSampling sampling,
                             int64_t mask_id, const CounterRng& rng, uint64_t stream) {
  MaskedRow row = mask_response(g.prefix, g.responses.at(i), g.eligible.at(i), ratio, sampling, mask_id, rng, stream);
  row.ids.insert(row.ids.end(), g.suffix.begin(), g.suffix.end());
  MMADA_CHECK(g.real.empty() || g.real.size() == row.ids.size(), "rollout row of ", row.ids.size(),
              " tokens with a token mask of ", g.real.size());
  row.real = g.real;
  return row;
}

RlTask task_of_prompt(const double share[kNumRlTasks], int64_t p, int64_t NP) {
  double sum = 0;
  for (int k = 0; k < kNumRlTasks; ++k) sum += std::max(0.0, share[k]);
  MMADA_CHECK(sum > 0 && NP >= 1 && p >= 0 && p < NP, "task_of_prompt: no task shares or bad prompt index");
  const double at = (double(p) + 0.5) / double(NP) * sum;
  double edge = 0;
  int last = 0;
  for (int k = 0; k < kNumRlTasks; ++k) {
    if (share[k] <= 0) continue;
    last = k;
    edge += share[k];
    if (at < edge) return RlTask(k);
  }
  return RlTask(last);  // round-off at the top end
}

TrainForwardFn cpu_train_forward(const ModelConfig& mcfg, const ModelWeights& w) {
  return [&mcfg, &w](const TrainBatch& b) {
    const cpu::RopeTable rope = cpu::make_rope_table(b.L, mcfg.head_dim(), mcfg.rope_theta);
    Activations<float> acts;
    return train_forward<float>(mcfg, w, b, rope, acts);
  };
}

LogitsFn training_logits_fn(const ModelConfig& mcfg, TrainForwardFn forward) {
  return [&mcfg, forward = std::move(forward)](const std::vector<int64_t>& ids, int64_t B, int64_t L,
                                               const uint8_t* token_mask, const std::vector<int64_t>& rows) {
    TrainBatch b;
    b.ids = ids;
    b.B = B;
    b.L = L;
    if (token_mask) {
      b.token_mask.assign(token_mask, token_mask + B * L);
      b.mask_mode = AttnMask::Pair;
    }
    b.rows = rows;
    const std::vector<float> logits = forward(b);
    Tensor t = Tensor::empty(DType::F32, {int64_t(rows.size()), mcfg.vocab});
    std::memcpy(t.ptr<float>(), logits.data(), logits.size() * sizeof(float));
    return t;
  };
}

T2iModelFn training_t2i_fn(const ModelConfig& mcfg, TrainForwardFn forward, int64_t offset, int64_t K) {
  MMADA_CHECK(offset >= 0 && K >= 1 && offset + K <= mcfg.vocab, "T2I rollouts: image codes [", offset, ", ",
              offset + K, ") are outside the model's vocabulary of ", mcfg.vocab);
  return [&mcfg, forward = std::move(forward), offset, K](const T2iDrawRequest& q) {
    MMADA_CHECK(!q.context_cache && !q.cache_image && !q.keep_uncond && !q.want_logits,
                "T2I rollouts run the exact sampler (no fast modes, no logits replay)");
    MMADA_CHECK(q.ids && int64_t(q.ids->size()) == q.rows * q.L, "T2I step: ids must be [rows, L]");
    TrainBatch b;
    b.ids = *q.ids;
    b.B = q.rows;
    b.L = q.L;
    if (q.mask && std::any_of(q.mask, q.mask + q.rows * q.L, [](uint8_t m) { return m == 0; })) {
      b.token_mask.assign(q.mask, q.mask + q.rows * q.L);
      b.mask_mode = AttnMask::Pair;
    }
    b.rows = q.slots;
    const std::vector<float> logits = forward(b);
    const int64_t R = int64_t(q.slots.size()) / (q.cfg ? 2 : 1), V = mcfg.vocab;
    T2iDrawResult out;
    out.codes.resize(size_t(R));
    out.probs.resize(size_t(R));
    const CounterRng rng{q.seed};
    for (int64_t r = 0; r < R; ++r) {
      const float* cond = logits.data() + r * V + offset;
      const float* uncond = q.cfg ? logits.data() + (R + r) * V + offset : nullptr;
      const int64_t fixed = q.fixed.empty() ? -1 : q.fixed[size_t(r)];
      const t2i::Draw d = t2i::draw_row(cond, uncond, K, q.guidance, q.bf16, fixed, rng,
                                        q.streams.empty() ? 0 : q.streams[size_t(r)], nullptr);
      out.codes[size_t(r)] = d.code;
      out.probs[size_t(r)] = d.prob;
    }
    return out;
  };
}

ImageRollouts::ImageRollouts(const RlConfig& cfg, const TextEncoder& enc, const ModelConfig& mcfg)
    : cfg_(cfg), enc_(enc), mcfg_(mcfg) {
  MMADA_CHECK(cfg_.has_images, "the t2i and mmu tasks need data.images");
  ImageCodes codes = tokenize_images(cfg_.images, "", cfg_.run.backend());
  data_ = std::make_unique<ImageTaskData>(std::move(codes), cfg_.images, enc_);
  const RowTokens& tk = enc_.tokens();
  const int64_t K = data_->codes().codebook, off = enc_.image_code_offset();
  MMADA_CHECK(off + K <= mcfg_.vocab, "data.images: the VQ's ", K, " codes (ids ", off, "..", off + K - 1,
              ") do not fit the model's vocabulary of ", mcfg_.vocab, "; was the model trained with this VQ?");
  MMADA_CHECK(tk.mask < off || tk.mask >= off + K, "data.images: the [MASK] id ", tk.mask,
              " is one of the image codes' token ids [", off, ", ", off + K, ")");
  const std::vector<std::string> caps =
      cfg_.images.captions.empty() ? default_caption_templates() : cfg_.images.captions;
  for (const std::string& t : caps) {
    captions_.emplace_back();
    for (const std::string& n : data_->class_names()) captions_.back().push_back(enc_.encode(fill_template(t, n)));
  }
  const std::vector<std::string> qs = cfg_.images.questions.empty() ? default_questions() : cfg_.images.questions;
  for (const std::string& q : qs) {
    std::vector<int64_t> ids = {tk.bos};
    const std::vector<int64_t> t = enc_.encode(mmu_prompt_text(q));
    ids.insert(ids.end(), t.begin(), t.end());
    MMADA_CHECK(!cfg_.has_task(RlTask::Mmu) || int64_t(ids.size()) < cfg_.text_slots, "data.images.questions: \"", q, "\" takes ", ids.size(),
                " tokens, no room for an answer in rollout.text_slots ", cfg_.text_slots);
    questions_.push_back(std::move(ids));
  }
}

ImageRollouts::~ImageRollouts() = default;

const std::vector<std::string>& ImageRollouts::class_names() const { return data_->class_names(); }
int64_t ImageRollouts::image_tokens() const { return data_->image_tokens(); }

void ImageRollouts::want_png() {
  if (!png_vq_) png_vq_ = std::make_unique<Magvit>(Magvit::load(cfg_.images.vq));
}

ClassifierRewardContext ImageRollouts::reward_context() const {
  ClassifierRewardContext c;
  c.class_names = data_->class_names();
  c.vq = cfg_.images.vq;
  c.per_image = data_->codes().per_image;
  c.codebook = data_->codes().codebook;
  c.image_size = cfg_.images.image_size;
  return c;
}

RolloutGroup ImageRollouts::t2i(const TrainForwardFn& forward, int64_t step, int64_t p, uint64_t seed) const {
  const RowTokens& tk = enc_.tokens();
  const int64_t G = cfg_.unigrpo.group_size, N = image_tokens(), T = cfg_.text_slots, L = row_length();
  const int64_t K = data_->codes().codebook, off = enc_.image_code_offset();
  const CounterRng rng{cfg_.run.seed};
  const size_t cls = pick(rng.uniform(kStreamT2iPrompt + uint64_t(step), 2 * uint64_t(p)), class_names().size());
  const size_t tmpl = pick(rng.uniform(kStreamT2iPrompt + uint64_t(step), 2 * uint64_t(p) + 1), captions_.size());
  const std::vector<int64_t> slots(static_cast<size_t>(N), tk.mask);
  const CleanRow cond = t2i_row(captions_[tmpl][cls], slots, T, false, tk);
  const CleanRow uncond = t2i_row({}, slots, T, true, tk);
  MMADA_CHECK(int64_t(cond.ids.size()) == L, "t2i row of ", cond.ids.size(), " tokens, expected ", L);
  const bool hard = cfg_.t2i.hard_pad_attention, cfg = cfg_.t2i.guidance > 0;
  std::vector<int64_t> ids, uids;
  std::vector<uint8_t> mask, umask;
  for (int64_t b = 0; b < G; ++b) {
    ids.insert(ids.end(), cond.ids.begin(), cond.ids.end());
    if (cfg) uids.insert(uids.end(), uncond.ids.begin(), uncond.ids.end());
    for (int64_t i = 0; i < L; ++i) {
      mask.push_back(hard ? cond.real[size_t(i)] : 1);
      if (cfg) umask.push_back(hard ? uncond.real[size_t(i)] : 1);
    }
  }
  T2iParams tp;
  tp.timesteps = cfg_.t2i.timesteps;
  tp.guidance = cfg_.t2i.guidance;
  tp.temperature = cfg_.t2i.temperature;
  tp.codebook = K;
  tp.image_offset = off;
  tp.mask_id = tk.mask;
  SeededT2iRandom draws(seed);
  const T2iResult r = generate_image(training_t2i_fn(mcfg_, forward, off, K), ids, mask, uids, umask, G, L, N, tp, draws);

  RolloutGroup g;
  g.task = RlTask::T2i;
  const std::string& name = class_names()[cls];
  const std::string caption = enc_.decode(captions_[tmpl][cls]);
  g.label = "t2i \"" + caption + "\"";
  g.prefix.assign(cond.ids.begin(), cond.ids.begin() + (L - N - 1));  // ... <|soi|>
  g.suffix = {tk.eoi};
  if (hard) g.real = cond.real;
  for (int64_t b = 0; b < G; ++b) {
    std::vector<int64_t> resp(static_cast<size_t>(N));
    RewardInput in;
    in.task = RlTask::T2i;
    in.prompt = caption;
    in.reference = name;
    in.image_codes.resize(size_t(N));
    for (int64_t j = 0; j < N; ++j) {
      const int64_t c = r.codes[size_t(b * N + j)];
      resp[size_t(j)] = off + c;
      in.image_codes[size_t(j)] = int32_t(c);
    }
    g.responses.push_back(std::move(resp));
    g.eligible.push_back(N);  // every code is trained; no end tokens in an image
    g.inputs.push_back(std::move(in));
  }
  if (png_vq_) {
    Tensor t = Tensor::empty(DType::I64, {G, N});
    std::copy(r.codes.begin(), r.codes.end(), t.ptr<int64_t>());
    const std::vector<RgbImage> imgs = pixels_to_images(png_vq_->decode(t));
    for (int64_t b = 0; b < G; ++b) g.inputs[size_t(b)].image_png = encode_png(imgs[size_t(b)]);
  }
  return g;
}

RolloutGroup ImageRollouts::mmu(const TrainForwardFn& forward, int64_t step, int64_t p, uint64_t seed,
                                const std::vector<int64_t>& end_ids, int64_t post_num) const {
  const RowTokens& tk = enc_.tokens();
  const int64_t G = cfg_.unigrpo.group_size, L = row_length();
  const CounterRng rng{cfg_.run.seed};
  const size_t img = data_->draw_image(rng.uniform(kStreamMmuPrompt + uint64_t(step), 2 * uint64_t(p)));
  const size_t q = pick(rng.uniform(kStreamMmuPrompt + uint64_t(step), 2 * uint64_t(p) + 1), questions_.size());
  RolloutGroup g;
  g.task = RlTask::Mmu;
  g.prefix = {tk.mmu, tk.soi};
  const std::vector<int64_t> image = data_->image_ids(img);
  g.prefix.insert(g.prefix.end(), image.begin(), image.end());
  g.prefix.push_back(tk.eoi);
  g.prefix.insert(g.prefix.end(), questions_[q].begin(), questions_[q].end());
  const int64_t P = int64_t(g.prefix.size()), gen = L - P;
  const std::string& name = class_names()[data_->codes().labels[img]];
  const std::string question = cfg_.images.questions.empty() ? default_questions()[q] : cfg_.images.questions[q];
  g.label = "mmu image " + std::to_string(img) + " (" + name + ") \"" + question + "\"";

  TextSamplerParams sp = cfg_.rollout_sampler(tk.mask, end_ids, tk.eos, seed);
  sp.gen_length = gen;
  sp.block_length = cfg_.block_length > 0 && gen % cfg_.block_length == 0 ? cfg_.block_length : gen;
  sp.steps = cfg_.sampler_steps > 0 && cfg_.sampler_steps % (gen / sp.block_length) == 0 ? cfg_.sampler_steps : gen;
  sp.validate();
  std::vector<int64_t> prompt_rows;
  for (int64_t i = 0; i < G; ++i) prompt_rows.insert(prompt_rows.end(), g.prefix.begin(), g.prefix.end());
  const TextSamplerResult out = generate_text(training_logits_fn(mcfg_, forward), prompt_rows, G, P, nullptr, sp);
  for (int64_t i = 0; i < G; ++i) {
    std::vector<int64_t> r(out.ids.begin() + i * out.L + P, out.ids.begin() + (i + 1) * out.L);
    const int64_t content = eligible_length(r, end_ids, 0);
    RewardInput in;
    in.task = RlTask::Mmu;
    in.prompt = question;
    in.reference = name;
    in.response = enc_.decode(std::vector<int64_t>(r.begin(), r.begin() + content));
    g.eligible.push_back(eligible_length(r, end_ids, post_num));
    g.responses.push_back(std::move(r));
    g.inputs.push_back(std::move(in));
  }
  return g;
}

}  // namespace mmada::train
