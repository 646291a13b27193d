#include "serve/engine.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "io/image.h"
#include "model/logits_fn.h"
#include "sample/t2i_sampler.h"
#include "tokenizer/prompts.h"
#include "vq/preprocess.h"

namespace mmada::serve {
namespace {

bool is_end_id(const SpecialTokens& tk, int64_t id) { return id == tk.eos || id == tk.eot_id; }

// A decoded prefix can end inside a multi-byte character (shown as U+FFFD); hold it back until
// the next block completes it.
std::string without_trailing_replacement(std::string s) {
  static const std::string kRepl = "\xEF\xBF\xBD";
  while (s.size() >= 3 && s.compare(s.size() - 3, 3, kRepl) == 0) s.resize(s.size() - 3);
  return s;
}

}  // namespace

Engine::Engine(const EngineOptions& o) : o_(o) {
  tm_ = TextModel::load(o.model_dir, o.tokenizer_dir, o.precision, o.backend, o.backend_options);
  if (!o.vq_dir.empty()) {
    vq_ = std::make_unique<Magvit>(Magvit::load(o.vq_dir));
    vq_->use_backend(tm_.model->shared_backend(), o.vq_exact ? ConvMath::Exact : ConvMath::Tf32);
    tm_.tokens.codebook_size = vq_->config().codebook_size();
    tm_.tokens.check_image_codes_fit();
    image_ = ImageSettings::for_model(tm_.model->config(), vq_->config().downsample_factor());
    if (o.t2i_text_len > 0) image_.t2i_text_len = o.t2i_text_len;
  }
  model_id_ = std::filesystem::path(o.model_dir).lexically_normal().filename().string();
  if (model_id_.empty()) model_id_ = std::filesystem::path(o.model_dir).lexically_normal().parent_path().filename().string();
  if (model_id_.empty()) model_id_ = "mmada";
}

std::vector<int64_t> Engine::image_codes(const std::vector<uint8_t>& encoded) {
  if (!vq_) throw EngineInputError("this server was started without --vq: it cannot read images");
  RgbImage img;
  try {
    img = decode_image(encoded.data(), encoded.size(), "attached image");
  } catch (const Error& e) {
    throw EngineInputError(e.what());
  }
  const Tensor codes = vq_->encode(preprocess_image(img, o_.mmu_size > 0 ? o_.mmu_size : int(image_.side), image_.fit));
  return std::vector<int64_t>(codes.ptr<int64_t>(), codes.ptr<int64_t>() + codes.numel());
}

ChatOutcome Engine::chat(const ChatCompletionRequest& r, const std::function<void(const std::string&)>& on_text,
                         const std::function<bool()>& keep_going) {
  ChatRequest req;
  req.messages = r.messages;
  req.sampler = r.sampler;
  req.think = r.think;
  if (!r.image.empty()) req.image_codes = image_codes(r.image);
  // A model trained on fixed rows (recorded layout) answers an image question in the rest of its
  // row unless the request chose a length, as `mmada describe` does.
  if (!r.image.empty() && image_.row_length > 0 && !r.lengths_given) req.fill_row = image_.row_length;
  ChatPlan plan;
  try {
    plan = plan_chat(tm_, req);
  } catch (const Error& e) {
    throw EngineInputError(e.what());  // checked before sampling: the request's fault
  }

  const int64_t G = plan.sampler.gen_length, BL = plan.sampler.block_length, n_blocks = G / BL;
  const int64_t mask = tm_.tokens.mask;
  int64_t blocks_done = 0;
  bool started = false;
  std::string sent;
  auto emit_prefix = [&](const std::string& full) {
    const std::string text = without_trailing_replacement(full);
    if (text.size() > sent.size() && text.compare(0, sent.size(), sent) == 0) {
      on_text(text.substr(sent.size()));
      sent = text;
    }
  };
  auto on_step = [&](const TextStep& st) {
    started = true;
    if (!keep_going()) return false;
    const std::vector<int64_t>& c = *st.canvas;
    const int64_t P = int64_t(c.size()) - G;
    int64_t done = blocks_done;
    while (done < n_blocks && std::find(c.begin() + P + done * BL, c.begin() + P + (done + 1) * BL, mask) ==
                                  c.begin() + P + (done + 1) * BL)
      ++done;
    if (done > blocks_done) {
      blocks_done = done;
      emit_prefix(tm_.tokenizer->decode(std::vector<int64_t>(c.begin() + P, c.begin() + P + done * BL), true));
    }
    return true;
  };

  ChatReply reply;
  try {
    reply = complete_chat(tm_, plan, on_step);
  } catch (const Error& e) {
    if (!started) throw EngineInputError(e.what());  // checked before sampling: the request's fault
    throw;
  }
  ChatOutcome out;
  out.cancelled = reply.stats.cancelled;
  if (out.cancelled) return out;
  emit_prefix(reply.text);
  out.text = reply.text;
  out.prompt_tokens = reply.prompt_tokens;
  const auto end = std::find_if(reply.answer_ids.begin(), reply.answer_ids.end(),
                                [&](int64_t id) { return is_end_id(tm_.tokens, id); });
  out.completion_tokens = int64_t(end - reply.answer_ids.begin());
  out.finish_reason = end != reply.answer_ids.end() ? "stop" : "length";
  return out;
}

std::vector<std::vector<uint8_t>> Engine::decode_pngs(const std::vector<int64_t>& codes, int64_t n,
                                                      int64_t h, int64_t w) const {
  Tensor t = Tensor::empty(DType::I64, {n, h * w});
  std::copy(codes.begin(), codes.end(), t.ptr<int64_t>());
  std::vector<std::vector<uint8_t>> pngs;
  for (const RgbImage& img : pixels_to_images(vq_->decode(t, h, w))) pngs.push_back(encode_png(img));
  return pngs;
}

ImageOutcome Engine::images(const ImageGenerationRequest& r,
                            const std::function<void(const ImageProgress&)>& on_progress,
                            const std::function<bool()>& keep_going) {
  if (!vq_) throw EngineInputError("this server was started without --vq: it cannot make images");
  const ModelConfig& cfg = tm_.model->config();
  const int64_t side = vq_->config().downsample_factor();  // pixels per code (16 for MAGVIT-v2)
  const int64_t gh = r.height / side, gw = r.width / side, N = gh * gw, B = r.n;
  const T2iBatch batch =
      build_t2i_batch(tm_.tokenizer->encode(r.prompt, true), image_, N, B, r.guidance_scale > 0, tm_.tokens);
  const int64_t L = batch.row_length;
  if (L > cfg.max_sequence_length)
    throw EngineInputError(str_cat("size ", r.width, "x", r.height, " needs ", L,
                                   " tokens, more than the model's max sequence length ", cfg.max_sequence_length));
  T2iParams p;
  p.timesteps = r.steps;
  p.guidance = r.guidance_scale;
  p.temperature = r.temperature;
  p.context_refresh = r.context_cache;
  p.cfg_refresh = r.cfg_refresh;
  p.threshold = r.threshold;
  p.cache_image = r.cache_image;
  p.codebook = tm_.tokens.codebook_size;
  p.image_offset = tm_.tokens.image_code_offset;
  p.mask_id = tm_.tokens.mask;
  p.bf16 = tm_.model->precision() == Precision::BF16;
  p.validate();
  SeededT2iRandom rng(r.seed);

  auto on_step = [&](const T2iStep& st) {
    if (!keep_going()) return false;
    ImageProgress pr;
    pr.step = st.step;
    pr.total = st.total;
    pr.grid_w = gw;
    pr.grid_h = gh;
    pr.committed = *st.current;
    std::vector<int64_t> guess = *st.current;  // preview: committed codes, this step's draws elsewhere
    const bool last = st.step == st.total;  // the result is the last step's draws, all of them
    for (size_t i = 0; i < guess.size(); ++i)
      if (st.masking[i]) {
        guess[i] = (*st.sampled)[i];
        pr.committed[i] = last ? guess[i] : -1;
      }
    if (o_.preview_every > 0 && st.step % o_.preview_every == 0 && st.step < st.total)
      pr.previews = decode_pngs(guess, B, gh, gw);
    on_progress(pr);
    return true;
  };
  const T2iResult res = generate_image(make_t2i_fn(*tm_.model, p.image_offset, p.image_offset + p.codebook),
                                       batch.ids, batch.mask, batch.uncond_ids, batch.uncond_mask, B, L, N, p, rng,
                                       on_step);
  ImageOutcome out;
  out.cancelled = res.cancelled;
  if (!out.cancelled) out.pngs = decode_pngs(res.codes, B, gh, gw);
  return out;
}

}  // namespace mmada::serve
