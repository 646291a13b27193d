#include "serve/data_url.h"

#include <algorithm>
#include <cctype>

#include "serve/api_error.h"
#include "serve/base64.h"

namespace mmada::serve {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

bool is_png(const std::vector<uint8_t>& b) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  return b.size() >= 8 && std::equal(sig, sig + 8, b.begin());
}
bool is_jpeg(const std::vector<uint8_t>& b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

}  // namespace

std::vector<uint8_t> decode_image_data_url(const std::string& url, size_t max_bytes,
                                           const std::string& param) {
  if (lower(url.substr(0, 5)) != "data:")
    bad_request(param, "only data: URLs are supported for images (no remote fetches)");
  const size_t comma = url.find(',');
  if (comma == std::string::npos) bad_request(param, "malformed data URL: no ','");
  const std::string meta = lower(url.substr(5, comma - 5));
  const size_t semi = meta.find(';');
  const std::string mime = meta.substr(0, semi);
  if (mime != "image/png" && mime != "image/jpeg" && mime != "image/jpg")
    bad_request(param, "data URL media type must be image/png or image/jpeg, got '" + mime + "'");
  if (semi == std::string::npos || meta.find(";base64") == std::string::npos)
    bad_request(param, "data URL must be base64-encoded (';base64,')");
  const std::string_view payload(url.data() + comma + 1, url.size() - comma - 1);
  // Reject by the encoded length before decoding anything.
  if (payload.size() / 4 * 3 > max_bytes + 3)
    throw ApiError(413, "invalid_request_error",
                   "image is larger than the limit of " + std::to_string(max_bytes) + " bytes", param,
                   "image_too_large");
  auto bytes = base64_decode(payload, max_bytes + 3);
  if (!bytes) bad_request(param, "data URL payload is not valid base64");
  if (bytes->size() > max_bytes)
    throw ApiError(413, "invalid_request_error",
                   "image is larger than the limit of " + std::to_string(max_bytes) + " bytes", param,
                   "image_too_large");
  if (!is_png(*bytes) && !is_jpeg(*bytes)) bad_request(param, "data URL does not hold a PNG or JPEG image");
  return std::move(*bytes);
}

}  // namespace mmada::serve
