#include "model/packing.h"

#include <algorithm>

#include "core/error.h"

namespace mmada {

PackedRows pack_real_tokens(const int64_t* ids, const uint8_t* mask, int64_t B, int64_t L_in,
                            const std::vector<int64_t>& rows) {
  MMADA_CHECK(B >= 1 && L_in >= 1 && ids && mask, "pack_real_tokens: empty input");
  std::vector<int64_t> real(static_cast<size_t>(B), 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < L_in; ++i) real[size_t(b)] += mask[b * L_in + i] != 0;
  PackedRows p;
  p.L = *std::max_element(real.begin(), real.end());
  MMADA_CHECK(p.L >= 1, "pack_real_tokens: every position is padding");
  p.ids.assign(size_t(B * p.L), 0);
  p.positions.assign(size_t(B * p.L), 0);
  const bool filler = std::any_of(real.begin(), real.end(), [&](int64_t n) { return n != p.L; });
  if (filler) p.mask.assign(size_t(B * p.L), 0);
  std::vector<int64_t> where(static_cast<size_t>(B * L_in), -1);  // padded index -> packed index
  for (int64_t b = 0; b < B; ++b) {
    int64_t j = b * p.L + (p.L - real[size_t(b)]);
    for (int64_t i = 0; i < L_in; ++i) {
      if (!mask[b * L_in + i]) continue;
      p.ids[size_t(j)] = ids[b * L_in + i];
      p.positions[size_t(j)] = i;
      if (filler) p.mask[size_t(j)] = 1;
      where[size_t(b * L_in + i)] = j++;
    }
  }
  p.rows.reserve(rows.size());
  for (int64_t r : rows) {
    MMADA_CHECK(r >= 0 && r < B * L_in && where[size_t(r)] >= 0, "pack_real_tokens: requested row ", r,
                " is padding or outside [0, ", B * L_in, ")");
    p.rows.push_back(where[size_t(r)]);
  }
  return p;
}

}  // namespace mmada
