// Adapts a Transformer to the samplers' "tokens in, logits out" interface.
#pragma once
#include "model/transformer.h"
#include "sample/text_sampler.h"

namespace mmada {

inline LogitsFn make_logits_fn(const Transformer& m, int64_t col_begin = 0, int64_t col_end = -1) {
  return [&m, col_begin, col_end](const std::vector<int64_t>& ids, int64_t B, int64_t L,
                                  const uint8_t* token_mask, const std::vector<int64_t>& rows) {
    ForwardRequest r;
    r.ids = ids.data();
    r.B = B;
    r.L = L;
    r.token_mask = token_mask;
    r.rows = rows;
    r.col_begin = col_begin;
    r.col_end = col_end;
    return m.forward(r);
  };
}

}  // namespace mmada
