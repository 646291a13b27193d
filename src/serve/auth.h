// Bearer-token check for --api-key, compared in constant time so the reply timing does not
// reveal how much of a guessed key was right.
#pragma once
#include <cstdint>
#include <string_view>

namespace mmada::serve {

inline bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned diff = unsigned(a.size() != b.size());
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i)
    diff |= unsigned(uint8_t(i < a.size() ? a[i] : 0) ^ uint8_t(i < b.size() ? b[i] : 0));
  return diff == 0;
}

// `authorization` is the header value; an empty key means no authentication.
inline bool bearer_authorized(std::string_view authorization, std::string_view key) {
  if (key.empty()) return true;
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.substr(0, kPrefix.size()) != kPrefix) return false;
  return constant_time_equal(authorization.substr(kPrefix.size()), key);
}

}  // namespace mmada::serve
