#include "pipeline/text_model.h"

#include <filesystem>

#include "core/error.h"
#include "model/cached_network.h"
#include "model/logits_fn.h"
#include "tokenizer/prompts.h"

namespace mmada {

std::string find_tokenizer_dir(const std::string& model_dir, const std::string& fallback) {
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(model_dir) / "tokenizer.json")) return model_dir;
  MMADA_CHECK(!fallback.empty() && fs::exists(fs::path(fallback) / "tokenizer.json"), model_dir,
              ": no tokenizer.json in the model folder; pass --tokenizer DIR");
  return fallback;
}

TextModel TextModel::load(const std::string& model_dir, const std::string& tokenizer_dir,
                          Precision p, const std::string& backend, const BackendOptions& backend_options) {
  TextModel tm;
  tm.model = std::make_shared<Transformer>(Transformer::load(model_dir, p, make_backend(backend, backend_options)));
  tm.tokenizer = std::make_shared<Tokenizer>(Tokenizer::load(tokenizer_dir));
  tm.tokens = SpecialTokens::from_model(tm.model->config(), *tm.tokenizer);
  return tm;
}

ChatPlan plan_chat(const TextModel& tm, const ChatRequest& req) {
  MMADA_CHECK(!req.messages.empty(), "chat: no messages");
  std::vector<ChatMessage> msgs = req.messages;
  if (req.think) {
    for (auto it = msgs.rbegin(); it != msgs.rend(); ++it)
      if (it->role == "user") {
        it->content = with_thinking_prefix(it->content);
        break;
      }
  }
  ChatPlan plan;
  plan.prompt = text_chat_prompt(*tm.tokenizer, msgs);
  if (!req.image_codes.empty()) {  // app.py form: image prefix, then the chat prompt
    const std::vector<int64_t> pre = image_prefix(tm.tokens, req.image_codes);
    plan.prompt.insert(plan.prompt.begin(), pre.begin(), pre.end());
  }
  const ModelConfig& cfg = tm.model->config();
  const int64_t P = int64_t(plan.prompt.size());
  TextSamplerParams& p = plan.sampler;
  p = req.sampler;
  if (req.fill_row > 0) {
    const int64_t answer = req.fill_row - P;
    MMADA_CHECK(answer > 0, "prompt of ", P, " tokens leaves no answer slots in the model's ",
                req.fill_row, "-token rows");
    p.gen_length = p.steps = p.block_length = answer;
    p.validate();
  }
  const int64_t total = P + p.gen_length;
  MMADA_CHECK(total <= cfg.max_sequence_length, "prompt of ", P, " tokens + gen length ",
              p.gen_length, " = ", total, " exceeds the model's max sequence length ",
              cfg.max_sequence_length);
  p.mask_id = tm.tokens.mask;
  p.end_ids = {tm.tokens.eos, tm.tokens.eot_id};
  p.end_fill_id = tm.tokens.eos;
  p.bf16_logits = tm.model->precision() == Precision::BF16;
  return plan;
}

ChatReply complete_chat(const TextModel& tm, const ChatPlan& plan, const TextStepCallback& on_step) {
  const TextSamplerParams& p = plan.sampler;
  ChatReply r;
  r.prompt_tokens = int64_t(plan.prompt.size());
  r.stats = generate_text(make_logits_fn(*tm.model), plan.prompt, 1, r.prompt_tokens, nullptr, p,
                          on_step, make_pick_fn(*tm.model),
                          p.cache != CacheMode::None ? make_cached_network(*tm.model) : CachedNetwork{});
  r.answer_ids.assign(r.stats.ids.begin() + r.prompt_tokens, r.stats.ids.end());
  r.text = tm.tokenizer->decode(r.answer_ids, /*skip_special=*/true);
  return r;
}

ChatReply complete_chat(const TextModel& tm, const ChatRequest& req, const TextStepCallback& on_step) {
  return complete_chat(tm, plan_chat(tm, req), on_step);
}

std::string render_canvas(const Tokenizer& tok, const std::vector<int64_t>& ids, int64_t begin,
                          int64_t end, int64_t mask_id, const std::string& mask_glyph) {
  std::string out;
  std::vector<int64_t> run;
  auto flush = [&] {
    if (!run.empty()) out += tok.decode(run, true);
    run.clear();
  };
  for (int64_t i = begin; i < end; ++i) {
    if (ids[size_t(i)] == mask_id) {
      flush();
      out += mask_glyph;
    } else {
      run.push_back(ids[size_t(i)]);
    }
  }
  flush();
  return out;
}

}  // namespace mmada
