// The text sampler's network behind an approximate KV cache (sample/text_sampler.h
// CachedNetwork, docs/fast-decoding.md), adapted from a Transformer.
#pragma once
#include <memory>
#include <optional>

#include "model/logits_fn.h"
#include "model/transformer.h"
#include "sample/text_sampler.h"

namespace mmada {

// The cache is made at the first refresh for the canvas shape (again if the shape changes) and
// lives as long as the returned functions: make one per generation.
inline CachedNetwork make_cached_network(const Transformer& m) {
  auto kv = std::make_shared<std::optional<KvCache>>();
  auto request = [&m, kv](const std::vector<int64_t>& ids, int64_t B, int64_t L,
                          const uint8_t* token_mask, const std::vector<int64_t>& rows,
                          const CacheStep& step) {
    if (!*kv || (*kv)->batch() != B || (*kv)->length() != L) *kv = m.new_kv_cache(B, L);
    ForwardRequest r;
    r.ids = ids.data();
    r.B = B;
    r.L = L;
    r.token_mask = token_mask;
    r.rows = rows;
    r.kv = &**kv;
    if (!step.refresh) {
      r.span_begin = step.begin;
      r.span_end = step.end;
    }
    return r;
  };
  CachedNetwork n;
  n.logits = [&m, request](const std::vector<int64_t>& ids, int64_t B, int64_t L,
                           const uint8_t* token_mask, const std::vector<int64_t>& rows,
                           const CacheStep& step) {
    return m.forward(request(ids, B, L, token_mask, rows, step));
  };
  n.pick = [&m, request](const std::vector<int64_t>& ids, int64_t B, int64_t L,
                         const uint8_t* token_mask, const std::vector<int64_t>& rows, double t,
                         uint64_t seed, const std::vector<uint64_t>& streams, bool bf16_logits,
                         const CacheStep& step) {
    return pick_on_backend(m, m.forward_device(request(ids, B, L, token_mask, rows, step)), t, seed,
                           streams, bf16_logits);
  };
  return n;
}

}  // namespace mmada
