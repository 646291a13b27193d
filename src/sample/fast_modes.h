// Short names for fast-decoding settings (docs/fast-decoding.md), shared by `mmada bench` and
// the evaluation commands so that a table row names exactly what ran.
//   text:  none | prefix | dual, then any of +tX (threshold), +fX (factor), +rK (cache refresh)
//   t2i:   none | '+'-joined xK (prompt K/V cache refreshed every K steps), i1 (committed image
//          codes cached too), cK (guidance branch every K steps), tX (threshold)
#pragma once
#include <string>
#include <vector>

#include "sample/t2i_sampler.h"
#include "sample/text_sampler.h"

namespace mmada {

// The share of positions where a fast mode's output equals the exact one (1 for two empty lists).
template <class T>
double share_equal(const std::vector<T>& got, const std::vector<T>& want) {
  size_t same = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) same += got[i] == want[i];
  return got.empty() ? 1.0 : double(same) / double(got.size());
}

// "a,b,c" -> {"a", "b", "c"}
std::vector<std::string> split_modes(const std::string& list);
// `base` with the mode's settings; validated (a refused combination throws with the reason).
TextSamplerParams text_mode(const std::string& spec, TextSamplerParams base);
T2iParams t2i_mode(const std::string& spec, T2iParams base);

}  // namespace mmada
