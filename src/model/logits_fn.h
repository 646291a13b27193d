// Adapts a Transformer to the samplers' "tokens in, logits out" interface.
#pragma once
#include <algorithm>
#include <memory>
#include <optional>

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

// The T2I sampler's step (T2iModelFn): the padding of the pair-masked rows is dropped before the
// forward (model/packing.h: exact, the real positions keep their RoPE positions), the image-code
// columns [col_begin, col_end) of the slots stay in backend memory, and Backend::t2i_draw brings
// back only each slot's code and probability. The fast modes (T2iDrawRequest::context_cache,
// keep_uncond) run the conditional and unconditional rows as two forwards, each with its own KV
// cache, and keep the last unconditional logits; their state lives as long as the returned
// function, so make one per image.
inline T2iModelFn make_t2i_fn(const Transformer& m, int64_t col_begin, int64_t col_end) {
  struct FastState {
    std::optional<KvCache> kv[2];  // cond rows, uncond rows
    Tensor uncond;                 // the last computed unconditional logits (backend memory)
  };
  auto state = std::make_shared<FastState>();
  return [&m, col_begin, col_end, state](const T2iDrawRequest& q) {
    const int64_t R = int64_t(q.slots.size()) / (q.cfg ? 2 : 1), C = col_end - col_begin;
    MMADA_CHECK(q.ids && int64_t(q.ids->size()) == q.rows * q.L && q.mask, "T2I step: ids and mask must be [rows, L]");
    // Rows [first, first + rows) of the request with the slots [slot0, slot0 + R) (canvas indices
    // relative to row `first`); with `kv`, the cache is (re)made for the packed shape and, when
    // `reuse` and it is filled, only the positions from the first slot on run.
    auto run = [&](int64_t first, int64_t rows, int64_t slot0, int64_t nslots, std::optional<KvCache>* kv,
                   bool reuse) {
      std::vector<int64_t> slots(q.slots.begin() + slot0, q.slots.begin() + slot0 + nslots);
      for (int64_t& sl : slots) sl -= first * q.L;
      const PackedRows packed = pack_real_tokens(q.ids->data() + first * q.L, q.mask + first * q.L, rows, q.L, slots);
      ForwardRequest r;
      r.ids = packed.ids.data();
      r.B = rows;
      r.L = packed.L;
      r.token_mask = packed.mask.empty() ? nullptr : packed.mask.data();
      r.mask_mode = cpu::MaskMode::Pair;
      r.positions = packed.positions.data();
      r.rows = packed.rows;
      r.col_begin = col_begin;
      r.col_end = col_end;
      if (kv) {
        if (!*kv || (*kv)->batch() != rows || (*kv)->length() != packed.L) *kv = m.new_kv_cache(rows, packed.L);
        r.kv = &**kv;
        if (reuse && (*kv)->filled()) {
          r.span_begin = packed.L;
          for (int64_t row : packed.rows) r.span_begin = std::min(r.span_begin, row % packed.L);
        }
      }
      Tensor logits = m.forward_device(r);
      MMADA_CHECK(logits.size(1) == C, "T2I: model returned ", logits.size(1), " columns, expected ", C);
      return logits;
    };
    Tensor cond, uncond;
    if (!q.context_cache && !q.keep_uncond) {  // exact: one forward over every row
      cond = run(0, q.rows, 0, int64_t(q.slots.size()), nullptr, false);
    } else {
      const int64_t Bc = q.cfg ? q.rows / 2 : q.rows;
      cond = run(0, Bc, 0, R, q.context_cache ? &state->kv[0] : nullptr, q.reuse_context);
      if (q.cfg && q.reuse_uncond) {
        MMADA_CHECK(state->uncond.data && state->uncond.size(0) == R,
                    "T2I step: no unconditional logits kept from an earlier step to reuse");
        uncond = state->uncond;
      } else if (q.cfg) {
        uncond = run(Bc, Bc, R, R, q.context_cache ? &state->kv[1] : nullptr, q.reuse_context);
        if (q.keep_uncond) state->uncond = uncond;
      }
    }
    Backend& be = m.backend();
    T2iDrawResult out;
    out.codes.resize(size_t(R));
    out.probs.resize(size_t(R));
    Tensor guided;
    if (q.want_logits) guided = be.alloc(DType::F32, {R, C});
    const float* c_logits = cond.ptr<float>();
    const float* u_logits = !q.cfg ? nullptr : uncond.data ? uncond.ptr<float>() : c_logits + R * C;
    be.t2i_draw(c_logits, u_logits, R, C, q.guidance, q.bf16,
                q.fixed.empty() ? nullptr : q.fixed.data(), q.seed, q.streams.data(),
                q.want_logits ? guided.ptr<float>() : nullptr, out.codes.data(), out.probs.data());
    if (q.want_logits) {
      out.logits = Tensor::empty(DType::F32, {R, C});
      be.download(guided.data, out.logits.data, out.logits.nbytes());
    }
    return out;
  };
}

}  // namespace mmada
