#include "sample/fast_modes.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"

namespace mmada {
namespace {

// Calls on(letter, value) for each '+'-separated part of `parts` ("t0.9+r4").
template <class On>
void for_each_part(const std::string& spec, const std::string& parts, const std::string& letters, On on) {
  for (size_t at = 0; at < parts.size();) {
    const size_t next = std::min(parts.find('+', at), parts.size());
    const std::string part = parts.substr(at, next - at);
    MMADA_CHECK(part.size() >= 2 && letters.find(part[0]) != std::string::npos, "mode '", spec,
                "': each '+' part is a letter of '", letters, "' and a number, got '", part, "'");
    char* end = nullptr;
    const double v = std::strtod(part.c_str() + 1, &end);
    MMADA_CHECK(end && *end == 0, "mode '", spec, "': '", part, "' is not a letter and a number");
    on(part[0], v);
    at = next + 1;
  }
}

}  // namespace

std::vector<std::string> split_modes(const std::string& list) {
  std::vector<std::string> modes;
  for (size_t at = 0; at <= list.size();) {
    const size_t next = std::min(list.find(',', at), list.size());
    modes.push_back(list.substr(at, next - at));
    at = next + 1;
  }
  return modes;
}

TextSamplerParams text_mode(const std::string& spec, TextSamplerParams p) {
  const size_t at = std::min(spec.find('+'), spec.size());
  p.cache = cache_mode_from_name(spec.substr(0, at));
  for_each_part(spec, spec.substr(std::min(at + 1, spec.size())), "tfr", [&](char k, double v) {
    if (k == 't') p.threshold = v;
    if (k == 'f') p.factor = v;
    if (k == 'r') p.cache_refresh = int64_t(v);
  });
  p.validate();
  return p;
}

T2iParams t2i_mode(const std::string& spec, T2iParams p) {
  if (spec != "none")
    for_each_part(spec, spec, "xict", [&](char k, double v) {
      if (k == 'x') p.context_refresh = int64_t(v);
      if (k == 'i') p.cache_image = v != 0;
      if (k == 'c') p.cfg_refresh = int64_t(v);
      if (k == 't') p.threshold = v;
    });
  p.validate();
  return p;
}

}  // namespace mmada
