// Standard base64 (RFC 4648, '+/' alphabet, '=' padding) for data: URLs and b64_json images.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmada::serve {

std::string base64_encode(const uint8_t* data, size_t n);
inline std::string base64_encode(const std::vector<uint8_t>& v) { return base64_encode(v.data(), v.size()); }

// nullopt for anything that is not valid base64 (bad characters, bad length, bad padding).
// ASCII whitespace is skipped. Stops early with nullopt once the output would pass max_bytes.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view s, size_t max_bytes);

}  // namespace mmada::serve
