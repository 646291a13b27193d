// The request bodies of the OpenAI-compatible routes, parsed from JSON into native structs at
// the edge. Every parse function throws ApiError (400 naming the field, 413 for an oversized
// image) and never lets a json exception escape.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sample/text_sampler.h"
#include "tokenizer/chat_template.h"

namespace mmada::serve {

// Per-request ceilings, from the server's flags.
struct RequestLimits {
  int64_t max_tokens = 1024;        // chat: max_tokens (= gen length)
  int64_t max_steps = 1024;         // chat steps and image steps
  int64_t max_images = 4;           // images: n
  size_t max_image_bytes = 8 << 20; // an attached image, encoded
  int64_t max_image_side = 512;     // images: size
  int64_t default_image_side = 0;   // images: size when the request names none (0: 512, or max_image_side if smaller)
};

struct ChatCompletionRequest {
  std::string model;
  std::vector<ChatMessage> messages;
  // The encoded (PNG/JPEG) image of the latest image_url part, empty if none: the model
  // reads one image, placed before the conversation as app.py does.
  std::vector<uint8_t> image;
  // Validated. Besides OpenAI's fields: steps, block_length, cfg, remasking, think, and fast
  // decoding (docs/fast-decoding.md): threshold (0), factor (0), cache ("none"|"prefix"|"dual",
  // "none"), cache_refresh (0); the defaults give the exact sampler.
  TextSamplerParams sampler;
  bool seed_given = false;
  // max_tokens, max_completion_tokens, steps or block_length given: with none of them an image
  // question to a model with a recorded layout answers in the rest of its trained row.
  bool lengths_given = false;
  bool think = false;
  bool stream = false;
};

struct ImageGenerationRequest {
  std::string model;
  std::string prompt;
  int64_t n = 1;
  int64_t width = 512, height = 512;
  int64_t steps = 15;
  double guidance_scale = 3.5;
  double temperature = 1.0;
  // Fast sampling (docs/fast-decoding.md), 0 = off: T2iParams::context_refresh, cfg_refresh and
  // threshold under the names context_cache, cfg_refresh and threshold.
  int64_t context_cache = 0, cfg_refresh = 0;
  bool cache_image = false;  // T2iParams::cache_image (needs context_cache)
  double threshold = 0;
  uint64_t seed = 0;
  bool seed_given = false;
  bool stream = false;
};

ChatCompletionRequest parse_chat_request(const std::string& body, const RequestLimits& lim);
ImageGenerationRequest parse_image_request(const std::string& body, const RequestLimits& lim);

// "WxH" with both sides multiples of 16 in [16, max_side]; throws ApiError 400 otherwise.
void parse_image_size(const std::string& s, int64_t max_side, int64_t* w, int64_t* h);

}  // namespace mmada::serve
