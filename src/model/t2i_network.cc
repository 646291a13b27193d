// The T2I sampler's network step (make_t2i_fn, model/logits_fn.h) and its fast modes
// (docs/fast-decoding.md).
#include <algorithm>
#include <memory>
#include <optional>

#include "core/error.h"
#include "model/logits_fn.h"
#include "model/packing.h"

namespace mmada {
namespace {

// The conditional or the unconditional rows behind their own KV cache.
struct CachedGroup {
  std::optional<KvCache> kv;
  // With cache_image, each row's image codes sit in the last N packed columns in `order` (image
  // index per column; <|eoi|> moves before them, RoPE positions travel with the tokens), and the
  // codes masked when the group last ran are at the end of that order, in `masked`.
  std::vector<std::vector<int64_t>> order, masked;
};

struct FastState {
  CachedGroup group[2];
  Tensor uncond;                      // the last computed unconditional logits (backend memory)
  std::vector<int64_t> uncond_slots;  // with cache_image: the slot (b*N + n) of each of its rows
};

struct Group {
  int64_t first = 0, rows = 0, slot0 = 0, nslots = 0;  // rows of the request, its slots
};

PackedRows pack_group(const T2iDrawRequest& q, const Group& g) {
  std::vector<int64_t> slots(q.slots.begin() + g.slot0, q.slots.begin() + g.slot0 + g.nslots);
  for (int64_t& sl : slots) sl -= g.first * q.L;
  return pack_real_tokens(q.ids->data() + g.first * q.L, q.mask + g.first * q.L, g.rows, q.L, slots);
}

ForwardRequest request_for(const PackedRows& p, int64_t B, int64_t col_begin, int64_t col_end) {
  ForwardRequest r;
  r.ids = p.ids.data();
  r.B = B;
  r.L = p.L;
  r.token_mask = p.mask.empty() ? nullptr : p.mask.data();
  r.mask_mode = cpu::MaskMode::Pair;
  r.positions = p.positions.data();
  r.rows = p.rows;
  r.col_begin = col_begin;
  r.col_end = col_end;
  return r;
}

// The group's forward; with `cache`, the cache is (re)made for the packed shape and, when
// `reuse` and it is filled, only the positions from the first slot on run (the text part's
// keys/values come from the cache).
Tensor run_group(const Transformer& m, const T2iDrawRequest& q, const Group& g, CachedGroup* cache, bool reuse,
                 int64_t col_begin, int64_t col_end) {
  const PackedRows packed = pack_group(q, g);
  ForwardRequest r = request_for(packed, g.rows, col_begin, col_end);
  if (cache) {
    std::optional<KvCache>& kv = cache->kv;
    if (!kv || kv->batch() != g.rows || kv->length() != packed.L) kv = m.new_kv_cache(g.rows, packed.L);
    r.kv = &*kv;
    if (reuse && kv->filled()) {
      r.span_begin = packed.L;
      for (int64_t row : packed.rows) r.span_begin = std::min(r.span_begin, row % packed.L);
    }
  }
  return m.forward_device(r);
}

// cache_image: the group's forward over the image codes whose inputs changed since it last ran
// (masked then) and the ones still masked now; `want` receives the slots (b*N + n) whose logits
// rows come back, those masked now, in order. Empty tensor when nothing is masked.
Tensor run_group_image_cache(const Transformer& m, const T2iDrawRequest& q, const Group& g, CachedGroup& c,
                             bool reuse, int64_t col_begin, int64_t col_end, std::vector<int64_t>& want) {
  const int64_t N = g.nslots / g.rows;
  PackedRows p = pack_group(q, g);
  const int64_t PL = p.L;
  MMADA_CHECK(N + 1 <= PL, "T2I image cache: ", N, " image slots in packed rows of ", PL);
  std::vector<std::vector<int64_t>> now(static_cast<size_t>(g.rows));
  want.clear();
  for (int64_t b = 0; b < g.rows; ++b)
    for (int64_t n = 0; n < N; ++n)
      if ((*q.ids)[size_t((g.first + b) * q.L + (q.slots[size_t(g.slot0 + b * N + n)] % q.L))] == q.mask_id) {
        now[size_t(b)].push_back(n);
        want.push_back(b * N + n);
      }
  if (want.empty()) return {};
  if (!c.kv || c.kv->batch() != g.rows || c.kv->length() != PL) {
    c.kv = m.new_kv_cache(g.rows, PL);
    reuse = false;
  }
  reuse = reuse && c.kv->filled() && int64_t(c.order.size()) == g.rows;
  int64_t tail = N;  // columns run from the end of each row
  if (!reuse) {  // refresh: committed codes first, then the masked ones
    c.order.assign(size_t(g.rows), {});
    for (int64_t b = 0; b < g.rows; ++b) {
      std::vector<int64_t>& o = c.order[size_t(b)];
      for (int64_t n = 0; n < N; ++n)
        if (!std::binary_search(now[size_t(b)].begin(), now[size_t(b)].end(), n)) o.push_back(n);
      o.insert(o.end(), now[size_t(b)].begin(), now[size_t(b)].end());
    }
  } else {  // the last |masked| columns hold the codes masked at the last run: still masked ones last
    tail = 0;
    for (int64_t b = 0; b < g.rows; ++b) {
      const std::vector<int64_t>& was = c.masked[size_t(b)];
      const std::vector<int64_t>& is = now[size_t(b)];
      MMADA_CHECK(std::includes(was.begin(), was.end(), is.begin(), is.end()),
                  "T2I image cache: a committed code became masked again");
      std::vector<int64_t>& o = c.order[size_t(b)];
      const size_t at = o.size() - was.size();
      std::vector<int64_t> back;
      std::set_difference(was.begin(), was.end(), is.begin(), is.end(), std::back_inserter(back));
      back.insert(back.end(), is.begin(), is.end());
      std::copy(back.begin(), back.end(), o.begin() + int64_t(at));
      tail = std::max<int64_t>(tail, int64_t(was.size()));
    }
    // Whole multiples of 64 columns: a few span shapes (one recorded graph each on backends with
    // graphs) serve every step and every image; the extra columns are cached committed codes,
    // recomputed fresh.
    tail = std::min<int64_t>(N, (tail + 63) / 64 * 64);
  }
  c.masked = now;
  // Lay the rows out: <|eoi|> at column PL-N-1, then the image codes in `order`.
  const PackedRows natural = p;
  std::vector<int64_t> col_of(static_cast<size_t>(g.rows * N));
  for (int64_t b = 0; b < g.rows; ++b) {
    auto move = [&](int64_t to, int64_t from) {
      p.ids[size_t(b * PL + to)] = natural.ids[size_t(b * PL + from)];
      p.positions[size_t(b * PL + to)] = natural.positions[size_t(b * PL + from)];
      if (!p.mask.empty()) p.mask[size_t(b * PL + to)] = natural.mask[size_t(b * PL + from)];
    };
    move(PL - N - 1, PL - 1);
    for (int64_t j = 0; j < N; ++j) {
      const int64_t n = c.order[size_t(b)][size_t(j)];
      move(PL - N + j, PL - N - 1 + n);
      col_of[size_t(b * N + n)] = PL - N + j;
    }
  }
  p.rows.clear();
  for (int64_t s : want) p.rows.push_back((s / N) * PL + col_of[size_t(s)]);
  ForwardRequest r = request_for(p, g.rows, col_begin, col_end);
  r.kv = &*c.kv;
  if (reuse) r.span_begin = PL - tail;
  return m.forward_device(r);
}

}  // namespace

T2iModelFn make_t2i_fn(const Transformer& m, int64_t col_begin, int64_t col_end) {
  auto state = std::make_shared<FastState>();
  return [&m, col_begin, col_end, state](const T2iDrawRequest& q) {
    const int64_t R = int64_t(q.slots.size()) / (q.cfg ? 2 : 1), C = col_end - col_begin;
    MMADA_CHECK(q.ids && int64_t(q.ids->size()) == q.rows * q.L && q.mask, "T2I step: ids and mask must be [rows, L]");
    const int64_t Bc = q.cfg ? q.rows / 2 : q.rows;
    const Group cond_rows{0, Bc, 0, R}, uncond_rows{Bc, Bc, R, R};
    Backend& be = m.backend();
    Tensor cond, uncond;
    std::vector<int64_t> want;  // slots drawn here (empty: all R, in order)
    if (q.cache_image) {
      MMADA_CHECK(q.mask_id >= 0 && !q.want_logits, "T2I image cache: needs the mask id and no logits replay");
      cond = run_group_image_cache(m, q, cond_rows, state->group[0], q.reuse_context, col_begin, col_end, want);
      if (want.empty()) {  // nothing left to draw: the sampler keeps its committed codes
        T2iDrawResult out;
        out.codes.assign(size_t(R), 0);
        out.probs.assign(size_t(R), 1.0f);
        return out;
      }
      if (q.cfg && q.reuse_uncond) {
        // The kept rows cover every slot masked when they were made, a superset of `want`.
        std::vector<int64_t> pick(want.size());
        for (size_t k = 0; k < want.size(); ++k) {
          const auto it = std::lower_bound(state->uncond_slots.begin(), state->uncond_slots.end(), want[k]);
          MMADA_CHECK(it != state->uncond_slots.end() && *it == want[k],
                      "T2I step: no kept unconditional logits for slot ", want[k]);
          pick[k] = it - state->uncond_slots.begin();
        }
        const Tensor idx = be.upload(Tensor::view(DType::I64, {int64_t(pick.size())}, pick.data(), nullptr));
        uncond = be.alloc(DType::F32, {int64_t(pick.size()), C});
        be.gather_rows(state->uncond.ptr<float>(), idx.ptr<int64_t>(), int64_t(pick.size()), C, uncond.ptr<float>());
      } else if (q.cfg) {
        std::vector<int64_t> want_u;
        uncond = run_group_image_cache(m, q, uncond_rows, state->group[1], q.reuse_context, col_begin, col_end, want_u);
        MMADA_CHECK(want_u == want, "T2I step: the unconditional rows' masked slots differ from the conditional ones'");
        if (q.keep_uncond) state->uncond = uncond, state->uncond_slots = want_u;
      }
    } else if (!q.context_cache && !q.keep_uncond) {  // exact: one forward over every row
      cond = run_group(m, q, {0, q.rows, 0, int64_t(q.slots.size())}, nullptr, false, col_begin, col_end);
    } else {
      cond = run_group(m, q, cond_rows, q.context_cache ? &state->group[0] : nullptr, q.reuse_context, col_begin, col_end);
      if (q.cfg && q.reuse_uncond) {
        MMADA_CHECK(state->uncond.data && state->uncond.size(0) == R,
                    "T2I step: no unconditional logits kept from an earlier step to reuse");
        uncond = state->uncond;
      } else if (q.cfg) {
        uncond = run_group(m, q, uncond_rows, q.context_cache ? &state->group[1] : nullptr, q.reuse_context,
                           col_begin, col_end);
        if (q.keep_uncond) state->uncond = uncond;
      }
    }
    MMADA_CHECK(cond.size(1) == C, "T2I: model returned ", cond.size(1), " columns, expected ", C);
    // The draw over the slots run (all R, or the masked ones with the image cache).
    const int64_t Rd = want.empty() ? R : int64_t(want.size());
    std::vector<uint64_t> streams;
    std::vector<int64_t> fixed;
    for (int64_t k = 0; k < Rd; ++k) {
      const int64_t s = want.empty() ? k : want[size_t(k)];
      if (!q.streams.empty()) streams.push_back(q.streams[size_t(s)]);
      if (!q.fixed.empty()) fixed.push_back(q.fixed[size_t(s)]);
    }
    std::vector<int64_t> codes(static_cast<size_t>(Rd));
    std::vector<float> probs(static_cast<size_t>(Rd));
    Tensor guided;
    if (q.want_logits) guided = be.alloc(DType::F32, {R, C});
    const float* c_logits = cond.ptr<float>();
    const float* u_logits = !q.cfg ? nullptr : uncond.data ? uncond.ptr<float>() : c_logits + R * C;
    be.t2i_draw(c_logits, u_logits, Rd, C, q.guidance, q.bf16, fixed.empty() ? nullptr : fixed.data(), q.seed,
                streams.empty() ? nullptr : streams.data(), q.want_logits ? guided.ptr<float>() : nullptr,
                codes.data(), probs.data());
    T2iDrawResult out;
    if (want.empty()) {
      out.codes = std::move(codes);
      out.probs = std::move(probs);
    } else {  // slots not drawn are committed: the sampler keeps their codes
      out.codes.assign(size_t(R), 0);
      out.probs.assign(size_t(R), 1.0f);
      for (size_t k = 0; k < want.size(); ++k) {
        out.codes[size_t(want[k])] = codes[k];
        out.probs[size_t(want[k])] = probs[k];
      }
    }
    if (q.want_logits) {
      out.logits = Tensor::empty(DType::F32, {R, C});
      be.download(guided.data, out.logits.data, out.logits.nbytes());
    }
    return out;
  };
}

}  // namespace mmada
