#include "model/transformer.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "io/safetensors.h"

namespace mmada {

Precision precision_from_name(const std::string& s) {
  if (s == "f32" || s == "fp32") return Precision::F32;
  if (s == "bf16") return Precision::BF16;
  fail("unknown precision '", s, "' (use f32 or bf16)");
}

Transformer Transformer::load(const std::string& dir, Precision p) {
  namespace fs = std::filesystem;
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  MMADA_CHECK(fs::exists(cfg_path), dir, ": no config.json (expected a Hugging Face model folder)");
  Transformer m;
  m.cfg_ = ModelConfig::load(cfg_path);
  m.prec_ = p;
  if (!m.cfg_.unknown_fields.empty()) {
    std::string list;
    for (const auto& f : m.cfg_.unknown_fields) list += " " + f;
    std::fprintf(stderr, "mmada: warning: %s: ignoring unknown config fields:%s\n",
                 cfg_path.c_str(), list.c_str());
  }
  const SafeTensorsSet set = SafeTensorsSet::open(dir);
  std::set<std::string> used;
  for_each_tensor(m.cfg_, m.w_, [&](const TensorSlot& s) {
    MMADA_CHECK(set.has(s.name), dir, ": checkpoint is missing tensor '", s.name,
                "' (config expects shape ", shape_str(s.shape), ")");
    const Tensor& t = set.get(s.name);
    MMADA_CHECK(t.shape == s.shape, dir, ": tensor '", s.name, "' has shape ", shape_str(t.shape),
                " but config.json implies ", shape_str(s.shape));
    MMADA_CHECK(t.dtype == DType::BF16 || t.dtype == DType::F16 || t.dtype == DType::F32, dir,
                ": tensor '", s.name, "' has dtype ", dtype_name(t.dtype),
                " (weights must be BF16, F16 or F32)");
    used.insert(s.name);
    switch (s.role) {
      case TensorRole::Norm: *s.tensor = t.to_f32(); break;
      case TensorRole::Embedding: *s.tensor = t; break;  // rows are converted on lookup
      case TensorRole::Matrix:
        if (p == Precision::F32) *s.tensor = t.to_f32();
        else *s.tensor = t.dtype == DType::BF16 ? t : t.to_bf16();  // bf16 stays mapped
        break;
    }
  });
  int extra = 0;
  for (const auto& n : set.names()) extra += used.count(n) == 0;
  if (extra)
    std::fprintf(stderr, "mmada: warning: %s: %d checkpoint tensors are not used by the model\n",
                 dir.c_str(), extra);
  return m;
}

Transformer Transformer::random(const ModelConfig& cfg, Precision p, uint64_t seed) {
  Transformer m;
  m.cfg_ = cfg;
  m.prec_ = p;
  uint64_t k = 0;
  for_each_tensor(m.cfg_, m.w_, [&](const TensorSlot& s) {
    ++k;
    const bool bf16 = p == Precision::BF16 && s.role != TensorRole::Norm;
    Tensor t = Tensor::empty(bf16 ? DType::BF16 : DType::F32, s.shape);
    const int64_t n = t.numel();
    const float scale = s.role == TensorRole::Norm ? 0.1f
                        : s.role == TensorRole::Embedding ? 1.0f
                                                          : 1.0f / std::sqrt(float(s.shape[1]));
    const float base = s.role == TensorRole::Norm ? 1.0f : 0.0f;
    // Counter-based hash so the fill is parallel and independent of the thread count.
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      uint64_t z = seed * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull + uint64_t(i);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      // uniform in [-sqrt(3), sqrt(3)): unit variance
      const float u = (float(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * 1.7320508f;
      const float v = base + scale * u;
      if (bf16) t.ptr<uint16_t>()[i] = f32_to_bf16(v);
      else t.ptr<float>()[i] = v;
    }
    *s.tensor = std::move(t);
  });
  return m;
}

Tensor Transformer::forward(const ForwardRequest& r) const {
  const ModelConfig& c = cfg_;
  const int64_t B = r.B, L = r.L, N = B * L, D = c.d_model, H = c.n_heads, KV = c.kv_dim(),
                Dh = c.head_dim(), F = c.mlp_hidden;
  MMADA_CHECK(B >= 1 && L >= 1 && r.ids, "forward: empty input (B=", B, ", L=", L, ")");
  const int64_t col_end = r.col_end < 0 ? c.vocab : r.col_end;
  MMADA_CHECK(0 <= r.col_begin && r.col_begin < col_end && col_end <= c.vocab,
              "forward: head columns [", r.col_begin, ", ", col_end, ") outside vocabulary ",
              c.vocab);
  for (int64_t row : r.rows)
    MMADA_CHECK(row >= 0 && row < N, "forward: requested row ", row, " outside [0, ", N, ")");

  std::vector<float> x(size_t(N * D)), h(size_t(N * D)), q(size_t(N * D)), k(size_t(N * KV)),
      v(size_t(N * KV)), att(size_t(N * D)), g(size_t(N * F)), u(size_t(N * F));
  cpu::embedding(w_.wte, r.ids, N, x.data());
  if (r.hidden_states) *r.hidden_states = Tensor::empty(DType::F32, {c.n_layers + 1, B, L, D});
  const cpu::RopeTable rope = cpu::make_rope_table(L, Dh, c.rope_theta);
  const float eps = float(c.rms_norm_eps);
  const bool bf16 = prec_ == Precision::BF16;

  for (int64_t li = 0; li < c.n_layers; ++li) {
    const LayerWeights& l = w_.layers[size_t(li)];
    if (r.hidden_states)
      std::memcpy(r.hidden_states->ptr<float>() + li * N * D, x.data(), size_t(N * D) * 4);
    cpu::rmsnorm(x.data(), l.attn_norm.ptr<float>(), h.data(), N, D, eps);
    cpu::linear(h.data(), N, D, l.q_proj, q.data());
    cpu::linear(h.data(), N, D, l.k_proj, k.data());
    cpu::linear(h.data(), N, D, l.v_proj, v.data());
    cpu::apply_rope(q.data(), B, L, H, Dh, rope);
    cpu::apply_rope(k.data(), B, L, c.n_kv_heads, Dh, rope);
    cpu::attention(q.data(), k.data(), v.data(), att.data(), B, L, H, c.n_kv_heads, Dh,
                   r.token_mask, r.mask_mode, bf16);
    cpu::linear(att.data(), N, D, l.attn_out, x.data(), /*accumulate=*/true);
    cpu::rmsnorm(x.data(), l.ff_norm.ptr<float>(), h.data(), N, D, eps);
    cpu::linear(h.data(), N, D, l.ff_proj, g.data());
    cpu::linear(h.data(), N, D, l.up_proj, u.data());
    cpu::silu_mul(g.data(), u.data(), N * F);
    cpu::linear(g.data(), N, F, l.ff_out, x.data(), /*accumulate=*/true);
  }

  // Final norm and head, on the requested rows only (the head is the largest matrix).
  const bool all_rows = r.rows.empty();
  const int64_t R = all_rows ? N : int64_t(r.rows.size());
  std::vector<float> xr(size_t(R * D));
  if (r.hidden_states) {
    float* out = r.hidden_states->ptr<float>() + c.n_layers * N * D;
    cpu::rmsnorm(x.data(), w_.ln_f.ptr<float>(), out, N, D, eps);
    for (int64_t i = 0; i < R; ++i)
      std::memcpy(&xr[size_t(i * D)], out + (all_rows ? i : r.rows[size_t(i)]) * D, size_t(D) * 4);
  } else {
    std::vector<float> sel(size_t(R * D));
    for (int64_t i = 0; i < R; ++i)
      std::memcpy(&sel[size_t(i * D)], &x[size_t((all_rows ? i : r.rows[size_t(i)]) * D)],
                  size_t(D) * 4);
    cpu::rmsnorm(sel.data(), w_.ln_f.ptr<float>(), xr.data(), R, D, eps);
  }
  Tensor logits = Tensor::empty(DType::F32, {R, col_end - r.col_begin});
  cpu::linear_rows(xr.data(), R, D, w_.head, r.col_begin, col_end, logits.ptr<float>(),
                   col_end - r.col_begin);
  return logits;
}

}  // namespace mmada
