#include "train/check_train.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "sample/rng.h"
#include "train/train_ops.h"
#include "train/trainer.h"
#include "train/training_run.h"

namespace mmada::train {

namespace {

struct Diff {
  double max_diff = 0, max_ref = 0, mean_diff = 0;
  double rel() const { return max_diff / std::max(max_ref, 1e-30); }
};

Diff compare(const float* ref, const float* got, int64_t n) {
  Diff d;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::fabs(double(ref[i]) - double(got[i]));
    d.max_diff = std::max(d.max_diff, std::isnan(e) ? INFINITY : e);
    d.max_ref = std::max(d.max_ref, std::fabs(double(ref[i])));
    sum += e;
  }
  d.mean_diff = n ? sum / double(n) : 0;
  return d;
}

std::vector<std::pair<std::string, Tensor*>> named(const ModelConfig& c, ModelWeights& w) {
  std::vector<std::pair<std::string, Tensor*>> out;
  for_each_tensor(c, w, [&](const TensorSlot& s) { out.emplace_back(s.name, s.tensor); });
  return out;
}

struct Batch {
  TrainBatch b;
  std::vector<int64_t> labels;
  std::vector<double> weight;
};

// B = 3 rows of L = 12: row 0 all real, row 1 with 4 padding tokens, row 2 with no real token
// (its queries see no key under Pair: the uniform case); 15 head rows, one of them twice.
Batch make_batch(const ModelConfig& c, AttnMask mode, uint64_t seed) {
  const CounterRng rng{seed};
  Batch x;
  x.b.B = 3;
  x.b.L = 12;
  x.b.mask_mode = mode;
  const int64_t N = x.b.B * x.b.L;
  for (int64_t i = 0; i < N; ++i) {
    x.b.ids.push_back(int64_t(rng.uniform(1, uint64_t(i)) * double(c.vocab)) % c.vocab);
    const int64_t row = i / x.b.L, pos = i % x.b.L;
    if (mode != AttnMask::None) x.b.token_mask.push_back(row == 0 || (row == 1 && pos < 8) ? 1 : 0);
  }
  for (int64_t r = 0; r < 15; ++r) {
    x.b.rows.push_back(r < 14 ? (r * 5 + 2) % N : x.b.rows[3]);
    x.labels.push_back(int64_t(rng.uniform(2, uint64_t(r)) * double(c.vocab)) % c.vocab);
    x.weight.push_back(0.5 + rng.uniform(3, uint64_t(r)));
  }
  return x;
}

}  // namespace

bool check_train(uint64_t seed, std::FILE* out) {
  ModelConfig c;
  c.d_model = 64;
  c.n_heads = 4;
  c.n_kv_heads = 2;  // GQA: two query heads per kv head
  c.n_layers = 2;
  c.mlp_hidden = 96;
  c.vocab = 97;
  c.mask_token_id = 96;
  c.eos_token_id = c.pad_token_id = 95;
  OptimConfig oc;
  oc.lr = 1e-3;
  oc.warmup_steps = 0;
  oc.max_train_steps = 100;
  oc.grad_clip = 1.0;
  oc.no_decay_norms_embeddings = true;  // both decay groups in the update
  const double smoothing = 0.1;
  const int kSteps = 3;
  RunSettings st;
  st.output_dir = (std::filesystem::temp_directory_path() / "mmada-check-train").string();
  st.seed = seed;
  ModelWeights init = random_init(c, 0.1, seed);

  bool all_ok = true;
  for (const bool bf16 : {false, true}) {
    // Tolerances, relative to the largest |value| of the compared tensor. fp32: both sides
    // round every op to float and differ only in summation order (oneDNN vs cuBLAS, atomics in
    // the embedding scatter): measured 1.4e-6 at worst on an H200, 2e-5 leaves a 14x margin.
    // bf16: cuBLAS rounds GEMM operands to 8-bit mantissas (2^-9 relative each) and the errors
    // add up through ~20 GEMMs of the forward and backward: measured 3.2e-3, limit 2e-2.
    const double tol = bf16 ? 2e-2 : 2e-5;
    // Weights after kSteps AdamW steps: the update lr·m/(√v + eps) is normalised per element,
    // so the mean discrepancy is compared with the update size lr·kSteps (measured 8.4e-6 in
    // fp32, 1.1e-3 in bf16).
    const double tol_update = bf16 ? 2e-2 : 2e-4;
    st.cuda = false;
    st.bf16_compute = false;
    TrainingRun cpu(c, oc, st, "check-train", [&] { return cast_weights(c, init, DType::F32); });
    st.cuda = true;
    st.bf16_compute = bf16;
    TrainingRun gpu(c, oc, st, "check-train", [&] { return cast_weights(c, init, DType::F32); });
    TrainCompute& tc_cpu = cpu.compute();
    TrainCompute& tc_gpu = gpu.compute();  // fails plainly without CUDA, before any output
    std::fprintf(out, "check-train: %s compute (tolerance %.0e of max|ref|)\n",
                 bf16 ? "bf16" : "fp32", tol);
    auto report = [&](const std::string& what, const Diff& d, double limit) {
      const bool ok = d.rel() <= limit;
      all_ok = all_ok && ok;
      std::fprintf(out, "  %-44s max|d| %.3e  max|ref| %.3e  rel %.2e  %s\n", what.c_str(),
                   d.max_diff, d.max_ref, d.rel(), ok ? "ok" : "MISMATCH");
    };
    const std::pair<AttnMask, const char*> modes[] = {
        {AttnMask::Pair, "pair"}, {AttnMask::AdditiveUnit, "additive"}, {AttnMask::None, "none"}};
    for (const auto& [mode, name] : modes) {
      const Batch x = make_batch(c, mode, seed + 7);
      tc_cpu.zero_grads();
      tc_gpu.zero_grads();
      const std::vector<float> lc = tc_cpu.forward(x.b), lg = tc_gpu.forward(x.b);
      report(std::string(name) + " logits", compare(lc.data(), lg.data(), int64_t(lc.size())), tol);
      // The CPU's dlogits drive both backwards, so the gradients compare the backward alone.
      std::vector<float> dl(lc.size());
      cross_entropy<float>(lc.data(), x.labels.data(), x.weight.data(), int64_t(x.labels.size()),
                           c.vocab, smoothing, dl.data(), nullptr);
      tc_cpu.backward(dl);
      tc_gpu.backward(dl);
      ModelWeights gc = tc_cpu.gradients(), gg = tc_gpu.gradients();
      const auto a = named(c, gc), b = named(c, gg);
      Diff worst;
      std::string worst_name;
      for (size_t i = 0; i < a.size(); ++i) {
        const Diff d = compare(a[i].second->ptr<float>(), b[i].second->ptr<float>(), a[i].second->numel());
        if (d.rel() > worst.rel() || worst_name.empty()) worst = d, worst_name = a[i].first;
        if (d.rel() > tol) report(std::string(name) + " grad " + a[i].first, d, tol);
      }
      report(std::string(name) + " grads (" + std::to_string(a.size()) + ", worst " + worst_name + ")",
             worst, tol);
      const double nc = tc_cpu.reduce_and_clip(), ng = tc_gpu.reduce_and_clip();
      const Diff dn{std::fabs(nc - ng), std::fabs(nc), 0};
      report(std::string(name) + " grad norm", dn, tol);
    }
    // kSteps full updates, each side on its own logits, then the weights.
    const Batch x = make_batch(c, AttnMask::Pair, seed + 11);
    for (int s = 0; s < kSteps; ++s) {
      for (TrainCompute* tc : {&tc_cpu, &tc_gpu}) {
        tc->zero_grads();
        const std::vector<float> l = tc->forward(x.b);
        std::vector<float> dl(l.size());
        cross_entropy<float>(l.data(), x.labels.data(), x.weight.data(), int64_t(x.labels.size()),
                             c.vocab, smoothing, dl.data(), nullptr);
        tc->backward(dl);
        tc->reduce_and_clip();
        tc->step(oc.lr);
      }
    }
    tc_gpu.sync_to_host();
    const auto a = named(c, cpu.params), b = named(c, gpu.params);
    double sum = 0, mx = 0;
    int64_t n = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const Diff d = compare(a[i].second->ptr<float>(), b[i].second->ptr<float>(), a[i].second->numel());
      sum += d.mean_diff * double(a[i].second->numel());
      n += a[i].second->numel();
      mx = std::max(mx, d.max_diff);
    }
    const double update = oc.lr * kSteps, mean = sum / double(n);
    const bool ok = mean <= tol_update * update && gpu.opt->steps() == kSteps;
    all_ok = all_ok && ok;
    std::fprintf(out, "  weights after %d AdamW steps: mean|d| %.3e (%.2e of lr*steps, limit %.0e)  max|d| %.3e  %s\n",
                 kSteps, mean, mean / update, tol_update, mx, ok ? "ok" : "MISMATCH");
    // The frozen second weight set (mmada rl's KL reference): the initial weights, which the
    // steps above have moved away from, uploaded beside the trained ones.
    tc_cpu.set_reference(cast_weights(c, init, DType::F32));
    tc_gpu.set_reference(cast_weights(c, init, DType::F32));
    const std::vector<float> rc = tc_cpu.forward_reference(x.b), rg = tc_gpu.forward_reference(x.b);
    report("reference weights' logits (pair)", compare(rc.data(), rg.data(), int64_t(rc.size())), tol);
  }
  std::fprintf(out, "check-train: %s\n", all_ok ? "all within tolerance" : "MISMATCH");
  return all_ok;
}

}  // namespace mmada::train
