// Adapts a Transformer to the samplers' "tokens in, logits out" interface.
#pragma once
#include <algorithm>

#include "core/error.h"
#include "model/packing.h"
#include "model/transformer.h"
#include "sample/t2i_sampler.h"
#include "sample/text_sampler.h"

namespace mmada {

// The sampler's per-position choice (cpu/pick.h) on logits left in backend memory by
// forward_device: only a token and a probability per row come back.
inline std::vector<Pick> pick_on_backend(const Transformer& m, const Tensor& logits, double t,
                                         uint64_t seed, const std::vector<uint64_t>& streams,
                                         bool bf16_logits) {
  const int64_t R = logits.size(0);
  std::vector<int64_t> tok(static_cast<size_t>(R));
  std::vector<double> prob(static_cast<size_t>(R));
  m.backend().pick_tokens(logits.ptr<float>(), R, logits.size(1), t, seed, streams.data(),
                          bf16_logits, tok.data(), prob.data());
  std::vector<Pick> out(static_cast<size_t>(R));
  for (int64_t i = 0; i < R; ++i) out[size_t(i)] = {tok[size_t(i)], prob[size_t(i)]};
  return out;
}

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

// The backend-side pick: forward without copying logits back, then pick_tokens.
inline PickFn make_pick_fn(const Transformer& m) {
  return [&m](const std::vector<int64_t>& ids, int64_t B, int64_t L, const uint8_t* token_mask,
              const std::vector<int64_t>& rows, double t, uint64_t seed,
              const std::vector<uint64_t>& streams, bool bf16_logits) {
    ForwardRequest r;
    r.ids = ids.data();
    r.B = B;
    r.L = L;
    r.token_mask = token_mask;
    r.rows = rows;
    return pick_on_backend(m, m.forward_device(r), t, seed, streams, bf16_logits);
  };
}

// The T2I sampler's step (T2iModelFn), model/t2i_network.cc: the padding of the pair-masked
// rows is dropped before the forward (model/packing.h: exact, the real positions keep their RoPE
// positions), the image-code columns [col_begin, col_end) of the slots stay in backend memory, and
// Backend::t2i_draw brings back only each slot's code and probability. The fast modes
// (T2iDrawRequest: context_cache, keep_uncond, cache_image) run the conditional and unconditional
// rows as two forwards, each behind its own KV cache, and keep the last unconditional logits;
// their state lives as long as the returned function, so make one per image.
T2iModelFn make_t2i_fn(const Transformer& m, int64_t col_begin, int64_t col_end);

}  // namespace mmada
