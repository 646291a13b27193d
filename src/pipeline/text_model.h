// A loaded text model: the transformer plus its tokenizer, and the chat-completion call that
// the CLI and the server share (prompt building -> block diffusion -> decoding).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/special_tokens.h"
#include "model/transformer.h"
#include "sample/text_sampler.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace mmada {

// Where the tokenizer of a model folder is: the folder itself (Hugging Face layout), else
// `fallback` (the tokenizer shipped in assets/ for models saved without one).
std::string find_tokenizer_dir(const std::string& model_dir, const std::string& fallback);

struct TextModel {
  std::shared_ptr<Transformer> model;
  std::shared_ptr<Tokenizer> tokenizer;
  SpecialTokens tokens;  // from config.json and the tokenizer (model/special_tokens.h)
  static TextModel load(const std::string& model_dir, const std::string& tokenizer_dir,
                        Precision p, const std::string& backend = "cpu",
                        const BackendOptions& backend_options = {});
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  TextSamplerParams sampler;
  bool think = false;              // thinking-mode prefix on the last user turn (app.py)
  std::vector<int64_t> image_codes;  // MAGVIT codes of an attached image, empty if none
  // > 0: the answer canvas fills the sequence to this length, in one block, one token per step
  // (overrides the sampler's lengths): a model trained on fixed-length rows answers as trained.
  int64_t fill_row = 0;
};

struct ChatReply {
  std::string text;                // decoded answer, special tokens skipped
  std::vector<int64_t> answer_ids; // the generated positions
  int64_t prompt_tokens = 0;
  TextSamplerResult stats;
};

// The prompt ids and the sampler settings a request runs with (fill_row applied): callers
// that follow the canvas while it is sampled (the server's streaming) need its lengths.
struct ChatPlan {
  std::vector<int64_t> prompt;
  TextSamplerParams sampler;
};

// Both throw mmada::Error for an oversized prompt or invalid sampler settings.
ChatPlan plan_chat(const TextModel& tm, const ChatRequest& req);
ChatReply complete_chat(const TextModel& tm, const ChatPlan& plan, const TextStepCallback& on_step = {});
ChatReply complete_chat(const TextModel& tm, const ChatRequest& req,
                        const TextStepCallback& on_step = {});

// The canvas as text for --show-steps: masked positions shown as `mask_glyph`.
std::string render_canvas(const Tokenizer& tok, const std::vector<int64_t>& ids, int64_t begin,
                          int64_t end, int64_t mask_id, const std::string& mask_glyph);

}  // namespace mmada
