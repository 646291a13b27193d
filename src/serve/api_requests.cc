#include "serve/api_requests.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/api_error.h"
#include "serve/data_url.h"

using nlohmann::json;

namespace mmada::serve {
namespace {

json parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad_request("", "the request body is not valid JSON");
  if (!j.is_object()) bad_request("", "the request body must be a JSON object");
  return j;
}

// Typed optional fields: absent or null keeps the default; a wrong type is a 400.
bool get_bool(const json& j, const char* key, bool def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) bad_request(key, std::string("'") + key + "' must be a boolean");
  return it->get<bool>();
}
double get_number(const json& j, const char* key, double def, double lo, double hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number()) bad_request(key, std::string("'") + key + "' must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    bad_request(key, str_cat("'", key, "' must be in [", lo, ", ", hi, "], got ", v));
  return v;
}
int64_t get_int(const json& j, const char* key, int64_t def, int64_t lo, int64_t hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number_integer() && !(it->is_number_float() && std::floor(it->get<double>()) == it->get<double>()))
    bad_request(key, std::string("'") + key + "' must be an integer");
  const double d = it->get<double>();
  if (d < double(lo) || d > double(hi))
    bad_request(key, str_cat("'", key, "' must be in [", lo, ", ", hi, "], got ", it->dump()));
  return int64_t(d);
}
std::string get_string(const json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_string()) bad_request(key, std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

// A seed from the request, or a fresh one so that repeated requests differ.
uint64_t seed_of(const json& j, bool* given) {
  auto it = j.find("seed");
  *given = it != j.end() && !it->is_null();
  if (*given) return uint64_t(get_int(j, "seed", 0, 0, INT64_MAX));
  return uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
}

// OpenAI content: a string, or an array of {type: text|image_url} parts.
void parse_content(const json& content, const std::string& where, const RequestLimits& lim,
                   std::string* text, std::vector<uint8_t>* image, bool null_ok) {
  if (content.is_string()) {
    *text = content.get<std::string>();
    return;
  }
  if (content.is_null() && null_ok) return;
  if (!content.is_array()) bad_request(where, "'content' must be a string or an array of content parts");
  for (size_t k = 0; k < content.size(); ++k) {
    const json& part = content[k];
    const std::string pw = where + "[" + std::to_string(k) + "]";
    if (!part.is_object()) bad_request(pw, "a content part must be an object");
    const std::string type = get_string(part, "type", "");
    if (type == "text") {
      auto it = part.find("text");
      if (it == part.end() || !it->is_string()) bad_request(pw + ".text", "a text part needs a string 'text'");
      if (!text->empty()) *text += "\n";
      *text += it->get<std::string>();
    } else if (type == "image_url") {
      auto it = part.find("image_url");
      std::string url;
      if (it != part.end() && it->is_string()) url = it->get<std::string>();  // lenient form
      else if (it != part.end() && it->is_object() && it->contains("url") && (*it)["url"].is_string())
        url = (*it)["url"].get<std::string>();
      else bad_request(pw + ".image_url", "an image_url part needs 'image_url': {'url': 'data:...'}");
      *image = decode_image_data_url(url, lim.max_image_bytes, pw + ".image_url.url");
    } else {
      bad_request(pw + ".type", "unsupported content part type '" + type + "' (text, image_url)");
    }
  }
}

}  // namespace

ChatCompletionRequest parse_chat_request(const std::string& body, const RequestLimits& lim) {
  const json j = parse_object(body);
  ChatCompletionRequest r;
  r.model = get_string(j, "model", "");
  auto msgs = j.find("messages");
  if (msgs == j.end()) bad_request("messages", "'messages' is required");
  if (!msgs->is_array()) bad_request("messages", "'messages' must be an array");
  if (msgs->empty()) bad_request("messages", "'messages' must not be empty");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad_request(where, "a message must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad_request(where + ".role", "a message needs a string 'role'");
    std::string rs = role->get<std::string>();
    if (rs == "developer") rs = "system";  // OpenAI's newer name for the system role
    if (rs != "system" && rs != "user" && rs != "assistant")
      bad_request(where + ".role", "unknown role '" + rs + "' (system, user, assistant)");
    auto content = m.find("content");
    if (content == m.end()) bad_request(where + ".content", "a message needs 'content'");
    ChatMessage cm{rs, ""};
    parse_content(*content, where + ".content", lim, &cm.content, &r.image, rs == "assistant");
    r.messages.push_back(std::move(cm));
  }
  if (r.messages.back().role != "user")
    bad_request("messages", "the last message must come from the user");

  TextSamplerParams& p = r.sampler;
  r.lengths_given = j.contains("max_tokens") || j.contains("max_completion_tokens") || j.contains("steps") ||
                    j.contains("block_length");
  p.gen_length = get_int(j, "max_tokens", 128, 1, lim.max_tokens);
  p.gen_length = get_int(j, "max_completion_tokens", p.gen_length, 1, lim.max_tokens);
  p.block_length = get_int(j, "block_length", p.gen_length % 32 == 0 ? 32 : p.gen_length, 1, p.gen_length);
  p.steps = get_int(j, "steps", p.gen_length, 1, lim.max_steps);
  p.temperature = get_number(j, "temperature", 0.0, 0.0, 2.0);
  p.cfg_scale = get_number(j, "cfg", 0.0, 0.0, 100.0);
  const std::string rm = get_string(j, "remasking", "low_confidence");
  if (rm != "low_confidence" && rm != "random")
    bad_request("remasking", "'remasking' must be 'low_confidence' or 'random'");
  p.remasking = remasking_from_name(rm);
  p.seed = seed_of(j, &r.seed_given);
  // Fast decoding (docs/fast-decoding.md); the defaults are the exact sampler.
  p.threshold = get_number(j, "threshold", 0.0, 0.0, 0.999999);
  p.factor = get_number(j, "factor", 0.0, 0.0, 1000.0);
  const std::string cache = get_string(j, "cache", "none");
  if (cache != "none" && cache != "prefix" && cache != "dual")
    bad_request("cache", "'cache' must be 'none', 'prefix' or 'dual'");
  p.cache = cache_mode_from_name(cache);
  p.cache_refresh = get_int(j, "cache_refresh", 0, 0, lim.max_steps);
  p.early_stop = true;
  try {
    p.validate();
  } catch (const Error& e) {
    bad_request("steps", e.what());
  }
  r.think = get_bool(j, "think", false);
  r.stream = get_bool(j, "stream", false);
  if (get_int(j, "n", 1, 1, 1) != 1) bad_request("n", "'n' must be 1");
  return r;
}

void parse_image_size(const std::string& s, int64_t max_side, int64_t* w, int64_t* h) {
  const size_t x = s.find('x');
  auto side = [&](const std::string& t) -> int64_t {
    if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stoll(t);
  };
  const int64_t a = x == std::string::npos ? -1 : side(s.substr(0, x));
  const int64_t b = x == std::string::npos ? -1 : side(s.substr(x + 1));
  if (a < 16 || b < 16 || a > max_side || b > max_side || a % 16 || b % 16)
    bad_request("size", str_cat("'size' must be WIDTHxHEIGHT with sides multiples of 16 up to ", max_side,
                                " (e.g. 512x512, 256x256), got '", s, "'"));
  *w = a;
  *h = b;
}

ImageGenerationRequest parse_image_request(const std::string& body, const RequestLimits& lim) {
  const json j = parse_object(body);
  ImageGenerationRequest r;
  r.model = get_string(j, "model", "");
  auto prompt = j.find("prompt");
  if (prompt == j.end()) bad_request("prompt", "'prompt' is required");
  if (!prompt->is_string()) bad_request("prompt", "'prompt' must be a string");
  r.prompt = prompt->get<std::string>();
  if (r.prompt.empty()) bad_request("prompt", "'prompt' must not be empty");
  r.n = get_int(j, "n", 1, 1, lim.max_images);
  const int64_t def_side = std::min<int64_t>(lim.default_image_side > 0 ? lim.default_image_side : 512, lim.max_image_side);
  const std::string def_size = str_cat(def_side, "x", def_side);
  parse_image_size(get_string(j, "size", def_size), lim.max_image_side, &r.width, &r.height);
  const std::string fmt = get_string(j, "response_format", "b64_json");
  if (fmt != "b64_json") bad_request("response_format", "'response_format' must be 'b64_json' (no URL hosting)");
  r.steps = get_int(j, "steps", 15, 1, lim.max_steps);
  r.guidance_scale = get_number(j, "guidance_scale", 3.5, 0.0, 100.0);
  r.temperature = get_number(j, "temperature", 1.0, 0.0, 10.0);
  r.context_cache = get_int(j, "context_cache", 0, 0, lim.max_steps);
  r.cfg_refresh = get_int(j, "cfg_refresh", 0, 0, lim.max_steps);
  r.cache_image = get_bool(j, "cache_image", false);
  if (r.cache_image && r.context_cache == 0)
    bad_request("cache_image", "'cache_image' keeps image codes in the context cache: set 'context_cache' too");
  if (r.cfg_refresh > 1 && r.guidance_scale == 0)
    bad_request("cfg_refresh", "'cfg_refresh' reuses the unconditional branch, which needs guidance_scale > 0");
  r.threshold = get_number(j, "threshold", 0.0, 0.0, 1.0);
  r.seed = seed_of(j, &r.seed_given);
  r.stream = get_bool(j, "stream", false);
  return r;
}

}  // namespace mmada::serve
