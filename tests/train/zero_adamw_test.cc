// ZeRO-1 AdamW on flat buffers (zero_adamw.h) over in-process communicators: one rank is
// exactly optimizer.h's clip_grad_norm + AdamW; 2 and 3 ranks (threads) give the one-rank
// update when the ranks' gradients sum to the one-rank gradient. Plus the flat layout and
// the rank environment.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "core/error.h"
#include "sample/rng.h"
#include "test_util.h"
#include "train/communicator.h"
#include "train/flat_layout.h"
#include "train/train_model.h"
#include "train/zero_adamw.h"

namespace mmada::train {
namespace {

ModelConfig tiny() {
  ModelConfig c;
  c.d_model = 8;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.n_layers = 2;
  c.mlp_hidden = 12;
  c.vocab = 11;  // total parameters not a multiple of 2 or 3: the padded tail is exercised
  return c;
}

std::vector<float> random_flat(const FlatLayout& l, uint64_t stream, double scale) {
  const CounterRng rng{42};
  std::vector<float> v(static_cast<size_t>(l.padded), 0.0f);
  for (int64_t i = 0; i < l.total; ++i) v[size_t(i)] = float(scale * (rng.uniform(stream, uint64_t(i)) - 0.5));
  return v;
}

OptimConfig optim(double clip) {
  OptimConfig oc;
  oc.lr = 1e-2;
  oc.warmup_steps = 0;
  oc.weight_decay = 0.1;
  oc.no_decay_norms_embeddings = true;
  oc.grad_clip = clip;
  return oc;
}

TEST(FlatLayout, PackUnpackAndShards) {
  const ModelConfig c = tiny();
  const FlatLayout l = FlatLayout::of(c, 3);
  EXPECT_EQ(l.total, c.param_count());
  EXPECT_EQ(l.padded % 3, 0);
  EXPECT_GE(l.padded, l.total);
  EXPECT_LT(l.padded - l.total, 3);
  EXPECT_EQ(l.shard_begin(2) + l.shard_size(), l.padded);
  std::vector<float> v = random_flat(l, 1, 1.0), back(v.size(), -1.0f);
  ModelWeights w;
  l.unpack(c, v.data(), w);
  l.pack(c, w, back.data());
  EXPECT_EQ(v, back);
  EXPECT_THROW(FlatLayout::of(c, 0), Error);
}

// Reference: clip_grad_norm + AdamW on ModelWeights.
std::vector<float> reference(const ModelConfig& c, const FlatLayout& l1, const OptimConfig& oc,
                             const std::vector<float>& p0, const std::vector<std::vector<float>>& g,
                             std::vector<double>& norms, std::vector<float>& m_out) {
  ModelWeights p, gw;
  l1.unpack(c, p0.data(), p);
  AdamW opt(c, oc);
  for (const std::vector<float>& gs : g) {
    l1.unpack(c, gs.data(), gw);
    norms.push_back(clip_grad_norm(c, gw, oc.grad_clip));
    opt.step(p, gw, oc.lr);
  }
  std::vector<float> out(static_cast<size_t>(l1.padded)), m(out.size());
  l1.pack(c, p, out.data());
  l1.pack(c, opt.m(), m.data());
  m_out = m;
  return out;
}

TEST(ZeroAdamW, OneRankIsExactlyAdamWWithClipping) {
  const ModelConfig c = tiny();
  const FlatLayout l = FlatLayout::of(c, 1);
  for (double clip : {0.0, 0.5}) {  // 0.5 is far below the random gradients' norm: clipped
    const OptimConfig oc = optim(clip);
    const std::vector<float> p0 = random_flat(l, 1, 0.2);
    std::vector<std::vector<float>> g;
    for (uint64_t s = 0; s < 3; ++s) g.push_back(random_flat(l, 10 + s, 1.0));
    std::vector<double> want_norms;
    std::vector<float> want_m;
    const std::vector<float> want = reference(c, l, oc, p0, g, want_norms, want_m);

    SoloCommunicator solo;
    HostFlatMath math;
    ZeroAdamW z(l, oc, solo, math);
    std::vector<float> p = p0, m(p.size(), 0.0f), v(p.size(), 0.0f);
    for (size_t s = 0; s < g.size(); ++s) {
      std::vector<float> gs = g[s];
      EXPECT_EQ(z.reduce_and_clip(gs.data(), gs.data()), want_norms[s]);
      z.step(p.data(), gs.data(), m.data(), v.data(), oc.lr);
    }
    EXPECT_EQ(p, want) << "clip " << clip;
    EXPECT_EQ(m, want_m);
    EXPECT_EQ(z.steps(), 3);
  }
}

TEST(ZeroAdamW, SeveralRanksGiveTheOneRankUpdate) {
  const ModelConfig c = tiny();
  const OptimConfig oc = optim(0.5);
  const FlatLayout l1 = FlatLayout::of(c, 1);
  const std::vector<float> p0 = random_flat(l1, 1, 0.2);
  for (int world : {2, 3}) {
    const FlatLayout l = FlatLayout::of(c, world);
    // Rank k's gradient for step s; the one-rank gradient is their sum (in rank order, as
    // the reduce-scatter adds them).
    auto grad = [&](int k, int s) { return random_flat(l, 100 + uint64_t(10 * s + k), 1.0); };
    std::vector<std::vector<float>> sums;
    for (int s = 0; s < 3; ++s) {
      std::vector<float> sum(static_cast<size_t>(l1.padded), 0.0f);
      for (int k = 0; k < world; ++k) {
        const std::vector<float> gk = grad(k, s);
        for (int64_t i = 0; i < l1.padded; ++i) sum[size_t(i)] += gk[size_t(i)];
      }
      sums.push_back(sum);
    }
    std::vector<double> want_norms;
    std::vector<float> want_m;
    const std::vector<float> want = reference(c, l1, oc, p0, sums, want_norms, want_m);

    ThreadWorld tw(world);
    std::vector<std::vector<float>> params(static_cast<size_t>(world)), moments(params.size());
    std::vector<std::vector<double>> norms(params.size());
    std::vector<std::thread> threads;
    for (int k = 0; k < world; ++k)
      threads.emplace_back([&, k] {
        std::unique_ptr<Communicator> comm = tw.rank(k);
        HostFlatMath math;
        ZeroAdamW z(l, oc, *comm, math);
        std::vector<float> p(static_cast<size_t>(l.padded), 0.0f);
        std::copy(p0.begin(), p0.end(), p.begin());
        std::vector<float> shard(static_cast<size_t>(z.shard_size())), m(shard.size(), 0.0f),
            v(shard.size(), 0.0f);
        for (int s = 0; s < 3; ++s) {
          const std::vector<float> g = grad(k, s);
          norms[size_t(k)].push_back(z.reduce_and_clip(g.data(), shard.data()));
          z.step(p.data(), shard.data(), m.data(), v.data(), oc.lr);
        }
        std::vector<float> m_full(p.size());
        comm->all_gather(m.data(), m_full.data(), z.shard_size());
        params[size_t(k)] = p;
        moments[size_t(k)] = m_full;
      });
    for (std::thread& t : threads) t.join();
    for (int k = 0; k < world; ++k) {
      // Same gradients, same element updates; the norm's double sum is associated per shard,
      // which may move the clip factor by an ulp: 1e-6 of lr bounds that.
      ASSERT_EQ(norms[size_t(k)].size(), want_norms.size());
      for (size_t s = 0; s < want_norms.size(); ++s)
        EXPECT_NEAR(norms[size_t(k)][s], want_norms[s], 1e-12 * want_norms[s]);
      for (int64_t i = 0; i < l1.total; ++i) {
        EXPECT_NEAR(params[size_t(k)][size_t(i)], want[size_t(i)], 1e-6 * oc.lr) << "world " << world << " rank " << k << " element " << i;
        EXPECT_NEAR(moments[size_t(k)][size_t(i)], want_m[size_t(i)], 1e-6) << "element " << i;
      }
      for (int64_t i = l1.total; i < l.padded; ++i) EXPECT_EQ(params[size_t(k)][size_t(i)], 0.0f);
    }
  }
}

TEST(ThreadWorld, AllReduceAndBadRank) {
  ThreadWorld tw(2);
  std::vector<double> got(2);
  std::vector<std::thread> threads;
  for (int k = 0; k < 2; ++k)
    threads.emplace_back([&, k] {
      auto comm = tw.rank(k);
      double v[2] = {double(k + 1), 10.0 * (k + 1)};
      comm->all_reduce_sum(v, 2);
      got[size_t(k)] = v[0] + v[1];
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(got[0], 33.0);
  EXPECT_EQ(got[1], 33.0);
  EXPECT_THROW(tw.rank(2), Error);
}

struct EnvGuard {
  ~EnvGuard() {
    for (const char* v : {"MMADA_RANK", "MMADA_WORLD_SIZE", "MMADA_LOCAL_RANK", "MMADA_LAUNCH_ID",
                          "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"})
      unsetenv(v);
  }
};

TEST(DistEnv, FromMmadaAndOpenMpiVariables) {
  EnvGuard guard;
  EXPECT_EQ(DistEnv::from_environment().world, 1);
  setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
  DistEnv e = DistEnv::from_environment();
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.world, 4);
  EXPECT_EQ(e.local_rank, 1);
  setenv("MMADA_WORLD_SIZE", "2", 1);  // MMADA_* wins over OpenMPI's
  setenv("MMADA_RANK", "0", 1);
  e = DistEnv::from_environment();
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world, 2);
  setenv("MMADA_RANK", "2", 1);
  EXPECT_NE(test::error_of([] { DistEnv::from_environment(); }).find("outside a world of 2"), std::string::npos);
  setenv("MMADA_RANK", "x1", 1);
  EXPECT_NE(test::error_of([] { DistEnv::from_environment(); }).find("not a non-negative integer"), std::string::npos);
}

}  // namespace
}  // namespace mmada::train
