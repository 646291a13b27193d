// Reply bodies in OpenAI's shapes (chat.completion, chat.completion.chunk, images, model
// list) and Server-Sent Events framing.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mmada::serve {

struct ReplyMeta {
  std::string id;  // chatcmpl-... / img-...
  int64_t created = 0;
  std::string model;
};

nlohmann::json chat_completion(const ReplyMeta& m, const std::string& text, const std::string& finish_reason,
                               int64_t prompt_tokens, int64_t completion_tokens);
// delta: {"role": ...} / {"content": ...} / {}; finish_reason null until the last chunk.
nlohmann::json chat_chunk(const ReplyMeta& m, const nlohmann::json& delta,
                          const nlohmann::json& finish_reason = nullptr);
nlohmann::json images_reply(int64_t created, const std::vector<std::string>& b64_pngs);
// "image_size" (an mmada.cpp extension) is the model's default image side, for the web page; 0
// leaves it out (no image routes).
nlohmann::json model_list(const std::string& model_id, int64_t created, int64_t image_size = 0);

// "data: <json>\n\n", optionally preceded by "event: <name>\n".
std::string sse(const nlohmann::json& data, const std::string& event = "");
inline const char* sse_done() { return "data: [DONE]\n\n"; }

// A fresh id with a prefix: prefix + 24 random hex digits.
std::string new_id(const std::string& prefix);

}  // namespace mmada::serve
