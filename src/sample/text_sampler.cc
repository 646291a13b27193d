#include "sample/text_sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "backend/cpu/pick.h"
#include "sample/rng.h"

namespace mmada {

Remasking remasking_from_name(const std::string& s) {
  if (s == "low_confidence") return Remasking::LowConfidence;
  if (s == "random") return Remasking::Random;
  fail("unknown remasking '", s, "' (use low_confidence or random)");
}

CacheMode cache_mode_from_name(const std::string& s) {
  if (s == "none") return CacheMode::None;
  if (s == "prefix") return CacheMode::Prefix;
  if (s == "dual") return CacheMode::Dual;
  fail("unknown cache '", s, "' (use none, prefix or dual)");
}

const char* cache_mode_name(CacheMode m) {
  switch (m) {
    case CacheMode::None: return "none";
    case CacheMode::Prefix: return "prefix";
    case CacheMode::Dual: return "dual";
  }
  return "?";
}

void TextSamplerParams::validate() const {
  MMADA_CHECK(gen_length > 0, "gen_length must be positive, got ", gen_length);
  MMADA_CHECK(block_length > 0, "block_length must be positive, got ", block_length);
  MMADA_CHECK(gen_length % block_length == 0, "gen_length ", gen_length,
              " is not divisible by block_length ", block_length);
  const int64_t nb = gen_length / block_length;
  MMADA_CHECK(steps > 0 && steps % nb == 0, "steps ", steps, " must be a positive multiple of the ",
              "number of blocks ", nb, " (gen_length / block_length)");
  MMADA_CHECK(temperature >= 0 && std::isfinite(temperature), "temperature must be >= 0, got ",
              temperature);
  MMADA_CHECK(cfg_scale >= 0 && std::isfinite(cfg_scale), "cfg_scale must be >= 0, got ", cfg_scale);
  MMADA_CHECK(threshold >= 0 && threshold < 1, "threshold must be in [0, 1), got ", threshold);
  MMADA_CHECK(threshold == 0 || remasking == Remasking::LowConfidence,
              "a confidence threshold needs low_confidence remasking (random confidences mean nothing)");
  MMADA_CHECK(factor >= 0 && std::isfinite(factor), "factor must be >= 0, got ", factor);
  MMADA_CHECK(factor == 0 || threshold == 0,
              "choose one parallel decoding rule: a threshold or a factor, not both");
  MMADA_CHECK(factor == 0 || remasking == Remasking::LowConfidence,
              "the factor rule needs low_confidence remasking (random confidences mean nothing)");
  MMADA_CHECK(cache_refresh >= 0, "cache_refresh must be >= 0, got ", cache_refresh);
  MMADA_CHECK(cache_refresh == 0 || cache != CacheMode::None,
              "cache_refresh needs a KV cache (cache prefix or dual)");
  // With one block there is no masked suffix outside the block: dual would be prefix.
  MMADA_CHECK(cache != CacheMode::Dual || gen_length / block_length >= 2,
              "the dual cache needs block decoding (block_length < gen_length, here both ",
              gen_length, "); with a single block use the prefix cache");
}

std::vector<int64_t> split_transfers(int64_t n, int64_t s) {
  std::vector<int64_t> k(size_t(s), n / s);
  for (int64_t i = 0; i < n % s; ++i) ++k[size_t(i)];
  return k;
}

namespace {

}  // namespace

TextSamplerResult generate_text(const LogitsFn& model, const std::vector<int64_t>& prompt,
                                int64_t B, int64_t P, const std::vector<uint8_t>* prompt_mask,
                                const TextSamplerParams& p, const TextStepCallback& on_step,
                                const PickFn& picker, const CachedNetwork& cached) {
  p.validate();
  const bool use_cache = p.cache != CacheMode::None;
  MMADA_CHECK(!use_cache || cached.logits, "a KV cache was asked for but the network has none");
  const bool adaptive = p.threshold > 0 || p.factor > 0;  // steps per block not fixed
  MMADA_CHECK(B >= 1 && P >= 0 && int64_t(prompt.size()) == B * P, "prompt must hold B*P ids");
  const int64_t G = p.gen_length, L = P + G, M = p.mask_id;
  const int64_t NB = G / p.block_length, S = p.steps / NB;

  std::vector<int64_t> x(size_t(B * L), M);
  for (int64_t b = 0; b < B; ++b)
    std::copy_n(prompt.begin() + b * P, P, x.begin() + b * L);
  std::vector<uint8_t> is_prompt(x.size());
  for (size_t i = 0; i < x.size(); ++i) is_prompt[i] = x[i] != M;

  // Padding mask over the canvas: the prompt part as given, ones over the generated part.
  std::vector<uint8_t> mask;
  if (prompt_mask) {
    const int64_t mw = int64_t(prompt_mask->size()) / B;
    MMADA_CHECK(int64_t(prompt_mask->size()) == B * mw && (mw == P || mw == L),
                "attention mask must be [B, prompt length] or [B, prompt + gen length]");
    mask.assign(size_t(B * L), 1);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < mw; ++i) mask[size_t(b * L + i)] = (*prompt_mask)[size_t(b * mw + i)] != 0;
    if (std::all_of(mask.begin(), mask.end(), [](uint8_t v) { return v != 0; })) mask.clear();
  }

  TextSamplerResult res;
  res.B = B;
  res.L = L;
  CounterRng rng{p.seed};
  std::vector<uint8_t> row_done(size_t(B), 0);
  int64_t step_no = 0;
  const bool cfg = p.cfg_scale > 0;
  auto rb = [&](float v) { return p.bf16_logits ? round_bf16(v) : v; };

  for (int64_t blk = 0; blk < NB; ++blk) {
    const int64_t lo = P + blk * p.block_length, hi = lo + p.block_length;
    std::vector<std::vector<int64_t>> k(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = std::count(x.begin() + b * L + lo, x.begin() + b * L + hi, M);
      k[size_t(b)] = split_transfers(n, S);
    }
    // Fixed schedule: exactly S steps. Threshold decoding: until the block is complete, at most
    // block_length steps (each step commits at least one token per unfinished row).
    auto block_open = [&] {
      for (int64_t b = 0; b < B; ++b)
        if (std::count(x.begin() + b * L + lo, x.begin() + b * L + hi, M) > 0) return true;
      return false;
    };
    for (int64_t s = 0; adaptive ? block_open() : s < S; ++s, ++step_no) {
      // Rows that can be committed now: masked positions before the block end.
      std::vector<int64_t> rows;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < hi; ++i)
          if (x[size_t(b * L + i)] == M) rows.push_back(b * L + i);
      std::vector<int64_t> transferred(size_t(B), 0);
      if (!rows.empty()) {
        // Under a cache: refresh at the block's first step (and every cache_refresh steps), else
        // run from the block start (or an earlier masked position) to the canvas end or block end.
        CacheStep cs;
        if (use_cache) {
          cs.refresh = s == 0 || (p.cache_refresh > 0 && s % p.cache_refresh == 0);
          cs.begin = lo;
          for (int64_t r : rows) cs.begin = std::min(cs.begin, r % L);
          cs.end = p.cache == CacheMode::Dual ? hi : L;
          res.cache_refreshes += cs.refresh;
        }
        auto run_model = [&](const std::vector<int64_t>& ids, int64_t rows_b, const uint8_t* m,
                             const std::vector<int64_t>& want) {
          return use_cache ? cached.logits(ids, rows_b, L, m, want, cs) : model(ids, rows_b, L, m, want);
        };
        const bool device_pick = !cfg && (use_cache ? bool(cached.pick) : bool(picker));
        const int64_t R = int64_t(rows.size());
        std::vector<uint64_t> streams(static_cast<size_t>(R));
        for (int64_t r = 0; r < R; ++r) streams[size_t(r)] = (uint64_t(step_no) << 32) ^ uint64_t(rows[size_t(r)]);
        std::vector<Pick> picks;
        if (device_pick) {  // logits stay on the backend; only the choices come back
          const uint8_t* m = mask.empty() ? nullptr : mask.data();
          picks = use_cache ? cached.pick(x, B, L, m, rows, p.temperature, p.seed, streams, p.bf16_logits, cs)
                            : picker(x, B, L, m, rows, p.temperature, p.seed, streams, p.bf16_logits);
        } else {
          Tensor logits;
          if (cfg) {
            std::vector<int64_t> both(x);
            both.resize(size_t(2 * B * L));
            for (size_t i = 0; i < x.size(); ++i) both[x.size() + i] = is_prompt[i] ? M : x[i];
            std::vector<int64_t> rows2(rows);
            for (int64_t r : rows) rows2.push_back(r + B * L);
            Tensor lu_lc = run_model(both, 2 * B, nullptr, rows2);
            const int64_t V = lu_lc.size(1);
            logits = Tensor::empty(DType::F32, {R, V});
            const float w1 = float(p.cfg_scale + 1.0);
            for (int64_t i = 0; i < R * V; ++i) {
              const float c = lu_lc.ptr<float>()[i], u = lu_lc.ptr<float>()[R * V + i];
              logits.ptr<float>()[i] = rb(u + rb(w1 * rb(c - u)));  // u + (w+1)(c-u)
            }
          } else {
            logits = run_model(x, B, mask.empty() ? nullptr : mask.data(), rows);
            if (p.bf16_logits)
              for (int64_t i = 0; i < logits.numel(); ++i) logits.ptr<float>()[i] = rb(logits.ptr<float>()[i]);
          }
          const int64_t V = logits.size(1);
          picks.resize(size_t(R));
#pragma omp parallel for schedule(dynamic)
          for (int64_t r = 0; r < R; ++r)
            picks[size_t(r)] = pick_token(logits.ptr<float>() + r * V, V, p.temperature, rng,
                                          streams[size_t(r)], /*bf16_logits=*/false);
        }
        ++res.network_calls;
        if (p.remasking == Remasking::Random)
          for (int64_t r = 0; r < R; ++r)
            picks[size_t(r)].prob = float(rng.uniform(streams[size_t(r)] ^ 0x5A5A5A5A00000000ull, 0));
        // Commit the k most confident masked positions of each row (value desc, index asc).
        size_t r0 = 0;
        for (int64_t b = 0; b < B; ++b) {
          size_t r1 = r0;
          while (r1 < rows.size() && rows[r1] < (b + 1) * L) ++r1;
          std::vector<size_t> cand(r1 - r0);
          std::iota(cand.begin(), cand.end(), r0);
          auto more_confident = [&](size_t a, size_t c) {
            if (picks[a].prob != picks[c].prob) return picks[a].prob > picks[c].prob;
            return rows[a] < rows[c];
          };
          int64_t want = 0;
          if (p.factor > 0 && !cand.empty()) {  // the top n while (n+1)(1 - c_n) < factor; n >= 1
            std::sort(cand.begin(), cand.end(), more_confident);
            want = 1;
            while (want < int64_t(cand.size()) &&
                   double(want + 2) * (1.0 - picks[cand[size_t(want)]].prob) < p.factor)
              ++want;
          } else {
            if (p.threshold > 0) {  // every candidate above the threshold, and at least the best one
              for (size_t c : cand) want += picks[c].prob > p.threshold;
              want = std::min<int64_t>(std::max<int64_t>(want, 1), int64_t(cand.size()));
            } else {
              want = std::min<int64_t>(k[size_t(b)][size_t(s)], int64_t(cand.size()));
            }
            std::partial_sort(cand.begin(), cand.begin() + want, cand.end(), more_confident);
          }
          for (int64_t j = 0; j < want; ++j) x[size_t(rows[cand[size_t(j)]])] = picks[cand[size_t(j)]].token;
          transferred[size_t(b)] = want;
          r0 = r1;
        }
      }
      if (on_step) {
        TextStep st{step_no + 1, p.steps, blk, &x, transferred};
        if (!on_step(st)) {
          res.cancelled = true;
          res.ids = x;
          return res;
        }
      }
    }
    if (p.early_stop && blk + 1 < NB) {
      // A row is finished when its generated text so far has an end id followed only by end ids.
      for (int64_t b = 0; b < B; ++b) {
        const int64_t* g = &x[size_t(b * L + P)];
        const int64_t n = hi - P;
        auto is_end = [&](int64_t t) {
          return std::find(p.end_ids.begin(), p.end_ids.end(), t) != p.end_ids.end();
        };
        int64_t first = -1;
        for (int64_t i = 0; i < n && first < 0; ++i)
          if (is_end(g[i])) first = i;
        bool done = first >= 0;
        for (int64_t i = first + 1; done && i < n; ++i) done = is_end(g[i]);
        if (done) {
          row_done[size_t(b)] = 1;
          for (int64_t i = hi; i < L; ++i) x[size_t(b * L + i)] = p.end_fill_id;
        }
      }
      if (std::all_of(row_done.begin(), row_done.end(), [](uint8_t v) { return v != 0; })) {
        res.steps_skipped = (NB - blk - 1) * S;
        break;
      }
    }
  }
  res.ids = x;
  return res;
}

}  // namespace mmada
