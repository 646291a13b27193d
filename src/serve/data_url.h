// data: URLs of attached images (RFC 2397, base64 form only): checked to hold a PNG or JPEG.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mmada::serve {

// The decoded bytes of `url`, which must be data:image/png or data:image/jpeg with ;base64.
// Throws ApiError: 400 (not a data URL, not an image, bad base64, bytes not PNG/JPEG), 413
// (decoded size over max_bytes). `param` names the field in the error.
std::vector<uint8_t> decode_image_data_url(const std::string& url, size_t max_bytes,
                                           const std::string& param);

}  // namespace mmada::serve
