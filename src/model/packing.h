// Pair-masked rows without their padding. Under the pair bias (spec/model.md §5) no real query
// sees a masked key, so dropping the masked positions leaves every real position's output as it
// was, provided RoPE keeps each token's position in the padded row. That is exact for
// MaskMode::Pair only: HF-causal masking is not offered here.
#pragma once
#include <cstdint>
#include <vector>

namespace mmada {

struct PackedRows {
  int64_t L = 0;                        // the longest row's real length
  std::vector<int64_t> ids, positions;  // [B, L]: each row's real tokens, right-aligned
  std::vector<uint8_t> mask;            // [B, L]: 0 on the left filler; empty if no row has any
  std::vector<int64_t> rows;            // the requested rows b*L_in+i as b*L+j
};

// ids, mask: [B, L_in]; rows: requested positions (each must be real). Shorter rows are filled on
// the left with masked copies of token 0 (any id would do: nothing sees them).
PackedRows pack_real_tokens(const int64_t* ids, const uint8_t* mask, int64_t B, int64_t L_in,
                            const std::vector<int64_t>& rows);

}  // namespace mmada
