#include "model/transformer.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "model/model_file.h"
#include "model/quant_recipe.h"

namespace mmada {

// The layer stack of one shape, recorded once and replayed: text generation calls the same
// (B, L) forward hundreds of times, and replaying saves every launch's host cost.
// KV-cached forwards are recorded per cache (the graph writes into its buffers) and span.
struct Transformer::GraphCache {
  struct Entry {
    Tensor ids, mask, positions, x;
    std::shared_ptr<void> graph;
    std::weak_ptr<KvCache::Storage> cache;  // the KV cache storage the graph reads and writes
  };
  std::mutex mu;
  // (B, L, has mask, mask mode, has positions, RoPE table length, KV cache id (0 = none),
  //  span begin, span length)
  using Key = std::tuple<int64_t, int64_t, bool, int, bool, int64_t, uint64_t, int64_t, int64_t>;
  std::map<Key, Entry> entries;
  // Bounds on the graphs kept (each keeps a pool of one forward's temporaries): plain forwards,
  // and KV-cached ones (a refresh plus one span per block for each live cache).
  static constexpr size_t kMaxPlain = 4, kMaxCached = 48;
};

Precision precision_from_name(const std::string& s) {
  if (s == "f32" || s == "fp32") return Precision::F32;
  if (s == "bf16") return Precision::BF16;
  fail("unknown precision '", s, "' (use f32 or bf16)");
}

Transformer Transformer::load(const std::string& dir, Precision p, std::shared_ptr<Backend> backend) {
  const ModelFile file = ModelFile::open(dir);  // HF folder or GGUF; tensors by HF name
  Transformer m;
  m.cfg_ = file.config;
  m.prec_ = p;
  if (!m.cfg_.unknown_fields.empty()) {
    std::string list;
    for (const auto& f : m.cfg_.unknown_fields) list += " " + f;
    std::fprintf(stderr, "mmada: warning: %s: ignoring unknown config fields:%s\n",
                 dir.c_str(), list.c_str());
  }
  std::set<std::string> used;
  for_each_tensor(m.cfg_, m.w_, [&](const TensorSlot& s) {
    auto it = file.tensors.find(s.name);
    MMADA_CHECK(it != file.tensors.end(), dir, ": checkpoint is missing tensor '", s.name,
                "' (config expects shape ", shape_str(s.shape), ")");
    const Tensor& t = it->second;
    MMADA_CHECK(t.shape == s.shape, dir, ": tensor '", s.name, "' has shape ", shape_str(t.shape),
                " but config.json implies ", shape_str(s.shape));
    const bool quantized = dtype_is_quantized(t.dtype);
    MMADA_CHECK(t.dtype == DType::BF16 || t.dtype == DType::F16 || t.dtype == DType::F32 || quantized,
                dir, ": tensor '", s.name, "' has dtype ", dtype_name(t.dtype),
                " (weights must be BF16, F16, F32 or block-quantized)");
    used.insert(s.name);
    switch (s.role) {
      case TensorRole::Norm: *s.tensor = t.to_f32(); break;
      case TensorRole::Embedding: *s.tensor = t; break;  // rows are converted on lookup
      case TensorRole::Matrix:
        // bf16 and block-quantized weights stay mapped; the backend's linear takes them.
        if (p == Precision::F32) *s.tensor = t.to_f32();
        else *s.tensor = t.dtype == DType::BF16 || quantized ? t : t.to_bf16();
        break;
    }
  });
  int extra = 0;
  for (const auto& kv : file.tensors) extra += used.count(kv.first) == 0;
  if (extra)
    std::fprintf(stderr, "mmada: warning: %s: %d checkpoint tensors are not used by the model\n",
                 dir.c_str(), extra);
  m.be_ = std::move(backend);
  m.upload();
  return m;
}

Transformer Transformer::random(const ModelConfig& cfg, Precision p, uint64_t seed,
                                std::shared_ptr<Backend> backend, const QuantRecipe* quant) {
  Transformer m;
  m.cfg_ = cfg;
  m.prec_ = p;
  uint64_t k = 0;
  for_each_tensor(m.cfg_, m.w_, [&](const TensorSlot& s) {
    ++k;
    const bool bf16 = p == Precision::BF16 && s.role != TensorRole::Norm;
    const DType plain = bf16 ? DType::BF16 : DType::F32;
    const float scale = s.role == TensorRole::Norm ? 0.1f
                        : s.role == TensorRole::Embedding ? 1.0f
                                                          : 1.0f / std::sqrt(float(s.shape[1]));
    const float base = s.role == TensorRole::Norm ? 1.0f : 0.0f;
    // Element i of tensor k: a counter-based hash, so the fill is parallel and independent of
    // the thread count (and of how the rows are cut into slabs below).
    auto fill = [&](Tensor& t, int64_t first) {
      const int64_t n = t.numel();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        uint64_t z = seed * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull + uint64_t(first + i);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        // uniform in [-sqrt(3), sqrt(3)): unit variance
        const float u = (float(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * 1.7320508f;
        const float v = base + scale * u;
        if (bf16) t.ptr<uint16_t>()[i] = f32_to_bf16(v);
        else t.ptr<float>()[i] = v;
      }
    };
    const DType target = quant ? quant->target(s, plain) : plain;
    if (!dtype_is_quantized(target)) {
      Tensor t = Tensor::empty(plain, s.shape);
      fill(t, 0);
      *s.tensor = std::move(t);
      return;
    }
    // Quantized: made a slab of rows at a time, so the unquantized tensor never exists whole
    // (the bf16 LM head alone is 1.1 GB at 8B) and peak memory is the quantized model's.
    Tensor out = Tensor::empty(target, s.shape);
    const int64_t N = s.shape[0], K = s.shape[1], slab = std::max<int64_t>(1, (int64_t(1) << 22) / K);
    const size_t row_bytes = dtype_nbytes(target, K);
    for (int64_t r0 = 0; r0 < N; r0 += slab) {
      const int64_t rows = std::min(slab, N - r0);
      Tensor t = Tensor::empty(plain, {rows, K});
      fill(t, r0 * K);
      const Tensor q = quant->apply(s, t);
      std::memcpy(out.ptr<uint8_t>() + size_t(r0) * row_bytes, q.data, q.nbytes());
    }
    *s.tensor = std::move(out);
  });
  m.be_ = std::move(backend);
  m.upload();
  return m;
}

void Transformer::upload() {
  if (be_->supports_graphs()) graphs_ = std::make_shared<GraphCache>();
  kv_pool_ = std::make_shared<KvPool>();
  const bool fuse = be_->fuse_projections();
  // Stacks host matrices by rows in backend memory (one upload each, then a device copy).
  auto stack = [&](std::initializer_list<const Tensor*> parts) {
    int64_t rows = 0;
    for (const Tensor* t : parts) rows += t->size(0);
    const Tensor* first = *parts.begin();
    Tensor out = be_->alloc(first->dtype, {rows, first->size(1)});
    size_t off = 0;
    for (const Tensor* t : parts) {
      MMADA_CHECK(t->dtype == first->dtype && t->size(1) == first->size(1), "cannot fuse weights of different layouts");
      const Tensor d = be_->upload(*t);
      be_->copy(d.data, static_cast<char*>(out.data) + off, d.nbytes());
      off += d.nbytes();
    }
    be_->sync();
    return out;
  };
  // Both tables are walked in the same order: the i-th slot of one is the i-th of the other.
  std::vector<Tensor*> host, dev;
  for_each_tensor(cfg_, w_, [&](const TensorSlot& s) { host.push_back(s.tensor); });
  for_each_tensor(cfg_, dw_, [&](const TensorSlot& s) { dev.push_back(s.tensor); });
  // A group is fused only where its matrices share one layout (a quantized checkpoint may keep
  // some of them, --keep, at another type); the forward takes either form.
  auto same_layout = [](std::initializer_list<const Tensor*> parts) {
    for (const Tensor* t : parts)
      if (t->dtype != (*parts.begin())->dtype) return false;
    return true;
  };
  std::set<const Tensor*> fused;
  std::vector<std::pair<bool, bool>> fuse_layer;  // (qkv, gate_up) per layer
  for (auto& l : w_.layers) {
    const bool qkv = fuse && same_layout({&l.q_proj, &l.k_proj, &l.v_proj});
    const bool gu = fuse && same_layout({&l.ff_proj, &l.up_proj});
    fuse_layer.emplace_back(qkv, gu);
    if (qkv) fused.insert({&l.q_proj, &l.k_proj, &l.v_proj});
    if (gu) fused.insert({&l.ff_proj, &l.up_proj});
  }
  for (size_t i = 0; i < host.size(); ++i)
    if (!fused.count(host[i])) *dev[i] = be_->upload(*host[i]);
  for (size_t li = 0; li < w_.layers.size(); ++li) {
    const LayerWeights& h = w_.layers[li];
    if (fuse_layer[li].first) dw_.layers[li].qkv = stack({&h.q_proj, &h.k_proj, &h.v_proj});
    if (fuse_layer[li].second) dw_.layers[li].gate_up = stack({&h.ff_proj, &h.up_proj});
  }
  // The form the backend's linear takes (E4M3 + scale with --gpu-weights fp8), made once here.
  for (LayerWeights& l : dw_.layers)
    for (Tensor* t : {&l.qkv, &l.gate_up, &l.q_proj, &l.k_proj, &l.v_proj, &l.ff_proj, &l.up_proj,
                      &l.attn_out, &l.ff_out})
      if (t->data) *t = be_->linear_weight(std::move(*t), /*lm_head=*/false);
  dw_.head = be_->linear_weight(std::move(dw_.head), /*lm_head=*/true);
}

// Released KV cache storages, kept for the next cache of the same shape (a few: each holds
// 2 · layers · B · L · kv_dim floats).
struct Transformer::KvPool {
  std::mutex mu;
  std::vector<std::shared_ptr<KvCache::Storage>> free;
  static constexpr size_t kMaxFree = 2;
};

KvCache Transformer::new_kv_cache(int64_t B, int64_t L) const {
  MMADA_CHECK(B >= 1 && L >= 1, "KV cache: empty shape (B=", B, ", L=", L, ")");
  static std::atomic<uint64_t> next_id{1};
  std::shared_ptr<KvCache::Storage> s;
  {
    std::lock_guard<std::mutex> lk(kv_pool_->mu);
    auto& fr = kv_pool_->free;
    for (auto it = fr.begin(); it != fr.end(); ++it)
      if ((*it)->B == B && (*it)->L == L) {
        s = *it;
        fr.erase(it);
        break;
      }
  }
  if (!s) {
    s = std::make_shared<KvCache::Storage>();
    s->B = B, s->L = L, s->id = next_id++;
    for (int64_t li = 0; li < cfg_.n_layers; ++li) {
      s->k.push_back(be_->alloc(DType::F32, {B * L, cfg_.kv_dim()}));
      s->v.push_back(be_->alloc(DType::F32, {B * L, cfg_.kv_dim()}));
    }
  }
  KvCache kv;
  kv.owner_ = s;
  std::weak_ptr<KvPool> pool = kv_pool_;
  kv.s_ = std::shared_ptr<KvCache::Storage>(s.get(), [pool, s](KvCache::Storage*) mutable {
    if (auto p = pool.lock()) {
      std::lock_guard<std::mutex> lk(p->mu);
      if (p->free.size() >= KvPool::kMaxFree) p->free.erase(p->free.begin());  // oldest goes
      p->free.push_back(std::move(s));
    }
  });
  return kv;
}

void Transformer::run_layers(const int64_t* ids, const uint8_t* mask, cpu::MaskMode mode,
                             const int64_t* positions, int64_t n_pos, int64_t B, int64_t L, float* xp,
                             Tensor* hidden_states, KvCache* kv, int64_t q0) const {
  const ModelConfig& c = cfg_;
  Backend& be = *be_;
  const int64_t N = B * L, D = c.d_model, H = c.n_heads, KV = c.kv_dim(), Dh = c.head_dim(),
                F = c.mlp_hidden, W = D + 2 * KV;
  const int64_t Lc = kv ? kv->length() : L;  // the length of the rows attention reads
  Tensor h = be.alloc(DType::F32, {N, D}), q = be.alloc(DType::F32, {N, D}),
         k = be.alloc(DType::F32, {N, KV}), v = be.alloc(DType::F32, {N, KV}),
         att = be.alloc(DType::F32, {N, D}), qkv = be.alloc(DType::F32, {N, W}),
         gu = be.alloc(DType::F32, {N, 2 * F}), g = be.alloc(DType::F32, {N, F});
  auto f = [](const Tensor& t) { return t.ptr<float>(); };
  be.embedding(dw_.wte, ids, N, xp);
  const float eps = float(c.rms_norm_eps);
  const bool bf16 = prec_ == Precision::BF16;
  for (int64_t li = 0; li < c.n_layers; ++li) {
    const LayerWeights& l = dw_.layers[size_t(li)];
    if (hidden_states) be.download(xp, hidden_states->ptr<float>() + li * N * D, size_t(N * D) * 4);
    be.rmsnorm(xp, f(l.attn_norm), f(h), N, D, eps);
    // q, k, v side by side in one [N, D + 2KV] buffer: one GEMM where weights are fused.
    if (l.qkv.data) {
      be.linear(f(h), N, D, l.qkv, 0, W, f(qkv), W, false);
    } else {
      be.linear(f(h), N, D, l.q_proj, 0, D, f(qkv), W, false);
      be.linear(f(h), N, D, l.k_proj, 0, KV, f(qkv) + D, W, false);
      be.linear(f(h), N, D, l.v_proj, 0, KV, f(qkv) + D + KV, W, false);
    }
    be.copy_cols(f(qkv), N, W, 0, D, f(q));
    be.copy_cols(f(qkv), N, W, D, KV, f(k));
    be.copy_cols(f(qkv), N, W, D + KV, KV, f(v));
    be.rope(f(q), B, L, H, Dh, c.rope_theta, positions, n_pos);
    be.rope(f(k), B, L, c.n_kv_heads, Dh, c.rope_theta, positions, n_pos);
    const float *keys = f(k), *values = f(v);
    if (kv) {  // this run's keys/values replace the cached ones; attention reads whole rows
      float *kc = f(kv->s_->k[size_t(li)]), *vc = f(kv->s_->v[size_t(li)]);
      const int64_t rows = L == Lc ? B * L : L, parts = L == Lc ? 1 : B;  // contiguous runs
      for (int64_t b = 0; b < parts; ++b) {
        be.copy(f(k) + b * L * KV, kc + (b * Lc + q0) * KV, size_t(rows * KV) * 4);
        be.copy(f(v) + b * L * KV, vc + (b * Lc + q0) * KV, size_t(rows * KV) * 4);
      }
      keys = kc, values = vc;
    }
    be.attention(f(q), keys, values, f(att), B, Lc, q0, L, H, c.n_kv_heads, Dh, mask, mode, bf16);
    be.linear(f(att), N, D, l.attn_out, 0, D, xp, D, /*accumulate=*/true);
    be.rmsnorm(xp, f(l.ff_norm), f(h), N, D, eps);
    if (l.gate_up.data) {
      be.linear(f(h), N, D, l.gate_up, 0, 2 * F, f(gu), 2 * F, false);
    } else {
      be.linear(f(h), N, D, l.ff_proj, 0, F, f(gu), 2 * F, false);
      be.linear(f(h), N, D, l.up_proj, 0, F, f(gu) + F, 2 * F, false);
    }
    be.silu_gate(f(gu), N, F, f(g));
    be.linear(f(g), N, F, l.ff_out, 0, D, xp, D, /*accumulate=*/true);
  }
}

Tensor Transformer::forward_device(const ForwardRequest& r) const {
  const ModelConfig& c = cfg_;
  Backend& be = *be_;
  const int64_t B = r.B, L = r.L, D = c.d_model;
  MMADA_CHECK(B >= 1 && L >= 1 && r.ids, "forward: empty input (B=", B, ", L=", L, ")");
  const int64_t col_end = r.col_end < 0 ? c.vocab : r.col_end;
  MMADA_CHECK(0 <= r.col_begin && r.col_begin < col_end && col_end <= c.vocab,
              "forward: head columns [", r.col_begin, ", ", col_end, ") outside vocabulary ",
              c.vocab);
  for (int64_t i = 0; i < B * L; ++i)
    MMADA_CHECK(r.ids[i] >= 0 && r.ids[i] < c.vocab, "token id ", r.ids[i],
                " is outside the vocabulary (", c.vocab, " rows)");
  // The positions run: [q0, q0 + Lq) of each row; the whole row without a KV cache.
  const int64_t q0 = r.span_begin, Lq = (r.span_end < 0 ? L : r.span_end) - q0, N = B * Lq;
  if (r.kv) {
    MMADA_CHECK(r.kv->s_ && r.kv->batch() == B && r.kv->length() == L &&
                    int64_t(r.kv->s_->k.size()) == c.n_layers,
                "forward: KV cache made for [", r.kv->batch(), ", ", r.kv->length(), "], canvas is [", B,
                ", ", L, "]");
    MMADA_CHECK(0 <= q0 && Lq >= 1 && q0 + Lq <= L, "forward: span [", q0, ", ", q0 + Lq,
                ") outside the row [0, ", L, ")");
    MMADA_CHECK(Lq == L || r.kv->filled_, "forward: a span needs a KV cache filled by a whole-row forward");
    MMADA_CHECK(!r.hidden_states, "forward: hidden states are not kept on KV-cached forwards");
  } else {
    MMADA_CHECK(q0 == 0 && Lq == L, "forward: a span needs a KV cache");
  }
  const bool span = Lq < L;
  for (int64_t row : r.rows)
    MMADA_CHECK(row >= 0 && row < B * L && row % L >= q0 && row % L < q0 + Lq, "forward: requested row ",
                row, " outside the positions run ([0, ", B * L, "), positions [", q0, ", ", q0 + Lq, "))");
  // RoPE table rows needed. With explicit positions: the model's whole range, one length per
  // model, so graphs recorded against the table stay valid whatever positions come later.
  const int64_t n_pos = r.positions ? std::max(L, c.max_sequence_length) : L;
  if (r.positions)
    for (int64_t i = 0; i < B * L; ++i)
      MMADA_CHECK(r.positions[i] >= 0 && r.positions[i] < n_pos, "forward: position ", r.positions[i],
                  " outside [0, ", n_pos, ")");
  const bool all_rows = r.rows.empty();
  const int64_t R = all_rows ? N : int64_t(r.rows.size());
  auto upload_vec = [&](DType dt, Shape shape, const void* src) {
    return be.upload(Tensor::view(dt, std::move(shape), src, nullptr));  // CPU: the view itself
  };
  // Rows of x (the positions run): b * Lq + (i - q0) for canvas row b * L + i.
  std::vector<int64_t> row_list(static_cast<size_t>(R));
  for (int64_t k = 0; k < R; ++k) {
    const int64_t row = all_rows ? (k / Lq) * L + q0 + k % Lq : r.rows[size_t(k)];
    row_list[size_t(k)] = (row / L) * Lq + row % L - q0;
  }
  const Tensor rows = upload_vec(DType::I64, {R}, row_list.data());
  if (r.hidden_states) *r.hidden_states = Tensor::empty(DType::F32, {c.n_layers + 1, B, L, D});
  // The span's ids and RoPE positions (the whole canvas runs with ids as given, positions r % L
  // or the explicit ones). The cache keeps K/V by slot, so explicit positions must stay the same
  // for a slot between the refresh and the span steps (packing the same layout does that).
  std::vector<int64_t> span_ids, span_pos;
  if (span) {
    span_ids.resize(static_cast<size_t>(N));
    span_pos.resize(static_cast<size_t>(N));
    for (int64_t k = 0; k < N; ++k) {
      const int64_t slot = (k / Lq) * L + q0 + k % Lq;
      span_pos[size_t(k)] = r.positions ? r.positions[slot] : q0 + k % Lq;
      span_ids[size_t(k)] = r.ids[slot];
    }
  }
  const int64_t* run_pos = span ? span_pos.data() : r.positions;
  const int64_t* run_ids = span ? span_ids.data() : r.ids;

  // Layers: replayed from a recorded graph where the backend has them (bounded shapes only:
  // each graph keeps its own pool of one forward's temporaries).
  const bool graph = graphs_ && !r.hidden_states && B * L <= 4096;
  std::unique_lock<std::mutex> lock;
  Tensor x;
  if (graph) {
    lock = std::unique_lock<std::mutex>(graphs_->mu);
    const GraphCache::Key key(B, L, r.token_mask != nullptr, int(r.mask_mode), r.positions != nullptr, n_pos,
                              r.kv ? r.kv->s_->id : 0, q0, Lq);
    auto it = graphs_->entries.find(key);
    const bool fresh = it == graphs_->entries.end();
    if (fresh) {
      // Drop graphs of caches that are gone, then bound what is kept (plain and cached apart).
      auto& es = graphs_->entries;
      const bool cached = r.kv != nullptr;
      size_t same_kind = 0;
      for (auto e = es.begin(); e != es.end();) {
        const bool e_cached = std::get<4>(e->first) != 0;
        if (e_cached && e->second.cache.expired()) {
          e = es.erase(e);
          continue;
        }
        same_kind += e_cached == cached;
        ++e;
      }
      if (same_kind >= (cached ? GraphCache::kMaxCached : GraphCache::kMaxPlain))
        for (auto e = es.begin(); e != es.end();)
          e = (std::get<4>(e->first) != 0) == cached ? es.erase(e) : std::next(e);
      GraphCache::Entry e;
      e.ids = be.alloc(DType::I64, {N});
      if (r.token_mask) e.mask = be.alloc(DType::U8, {B * L});
      if (span && !r.positions) e.positions = upload_vec(DType::I64, {N}, span_pos.data());  // fixed by the key
      if (r.positions) e.positions = be.alloc(DType::I64, {N});
      e.x = be.alloc(DType::F32, {N, D});
      if (r.kv) e.cache = r.kv->owner_;
      it = es.emplace(key, std::move(e)).first;
    }
    GraphCache::Entry& e = it->second;
    be.upload_into(e.ids.data, run_ids, size_t(N) * 8);
    if (r.token_mask) be.upload_into(e.mask.data, r.token_mask, size_t(B * L));
    if (r.positions) be.upload_into(e.positions.data, run_pos, size_t(N) * 8);
    const uint8_t* m = r.token_mask ? e.mask.ptr<uint8_t>() : nullptr;
    const int64_t* pos = span || r.positions ? e.positions.ptr<int64_t>() : nullptr;
    if (fresh) {
      // Run eagerly once (plans, tables and pools get made outside the capture), then record.
      run_layers(e.ids.ptr<int64_t>(), m, r.mask_mode, pos, n_pos, B, Lq, e.x.ptr<float>(), nullptr, r.kv, q0);
      be.capture_begin();
      run_layers(e.ids.ptr<int64_t>(), m, r.mask_mode, pos, n_pos, B, Lq, e.x.ptr<float>(), nullptr, r.kv, q0);
      e.graph = be.capture_end();
    } else {
      be.graph_launch(e.graph);
    }
    x = e.x;
  } else {
    const Tensor ids = upload_vec(DType::I64, {N}, run_ids);
    Tensor mask, pos;
    if (r.token_mask) mask = upload_vec(DType::U8, {B * L}, r.token_mask);
    if (run_pos) pos = upload_vec(DType::I64, {N}, run_pos);
    x = be.alloc(DType::F32, {N, D});
    run_layers(ids.ptr<int64_t>(), r.token_mask ? mask.ptr<uint8_t>() : nullptr, r.mask_mode,
               pos.data ? pos.ptr<int64_t>() : nullptr, n_pos, B, Lq, x.ptr<float>(), r.hidden_states, r.kv, q0);
  }
  if (r.kv && !span) r.kv->filled_ = true;

  // Final norm and head, on the requested rows only (the head is the largest matrix).
  const float eps = float(c.rms_norm_eps);
  auto f = [](const Tensor& t) { return t.ptr<float>(); };
  if (r.hidden_states) {
    Tensor h = be.alloc(DType::F32, {N, D});
    be.rmsnorm(f(x), f(dw_.ln_f), f(h), N, D, eps);
    be.download(f(h), r.hidden_states->ptr<float>() + c.n_layers * N * D, size_t(N * D) * 4);
  }
  Tensor sel = be.alloc(DType::F32, {R, D}), xr = be.alloc(DType::F32, {R, D});
  be.gather_rows(f(x), rows.ptr<int64_t>(), R, D, f(sel));
  be.rmsnorm(f(sel), f(dw_.ln_f), f(xr), R, D, eps);
  const int64_t C = col_end - r.col_begin;
  Tensor dev_logits = be.alloc(DType::F32, {R, C});
  be.linear(f(xr), R, D, dw_.head, r.col_begin, col_end, f(dev_logits), C, false);
  return dev_logits;
}

Tensor Transformer::forward(const ForwardRequest& r) const {
  Tensor dev = forward_device(r);
  if (be_->name() == "cpu") return dev;  // already host memory
  Tensor logits = Tensor::empty(DType::F32, dev.shape);
  be_->download(dev.data, logits.data, logits.nbytes());
  return logits;
}

}  // namespace mmada
