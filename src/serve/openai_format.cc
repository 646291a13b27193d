#include "serve/openai_format.h"

#include <random>

using nlohmann::json;

namespace mmada::serve {

json chat_completion(const ReplyMeta& m, const std::string& text, const std::string& finish_reason,
                     int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"id", m.id},
          {"object", "chat.completion"},
          {"created", m.created},
          {"model", m.model},
          {"choices", json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", text}}},
                                    {"logprobs", nullptr},
                                    {"finish_reason", finish_reason}}})},
          {"usage", {{"prompt_tokens", prompt_tokens},
                     {"completion_tokens", completion_tokens},
                     {"total_tokens", prompt_tokens + completion_tokens}}}};
}

json chat_chunk(const ReplyMeta& m, const json& delta, const json& finish_reason) {
  return {{"id", m.id},
          {"object", "chat.completion.chunk"},
          {"created", m.created},
          {"model", m.model},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"logprobs", nullptr},
                                    {"finish_reason", finish_reason}}})}};
}

json images_reply(int64_t created, const std::vector<std::string>& b64_pngs) {
  json data = json::array();
  for (const auto& b : b64_pngs) data.push_back({{"b64_json", b}});
  return {{"created", created}, {"data", data}};
}

json model_list(const std::string& model_id, int64_t created, int64_t image_size) {
  json m = {{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "mmada.cpp"}};
  if (image_size > 0) m["image_size"] = image_size;
  return {{"object", "list"}, {"data", json::array({m})}};
}

std::string sse(const json& data, const std::string& event) {
  std::string s;
  if (!event.empty()) s += "event: " + event + "\n";
  s += "data: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
  return s;
}

std::string new_id(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s = prefix;
  for (int i = 0; i < 24; ++i) s += hex[rng() & 15];
  return s;
}

}  // namespace mmada::serve
