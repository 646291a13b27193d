// The sampler's fast-decoding settings: the factor rule's commit counts, and the combinations
// refused at argument time.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "sample/text_sampler.h"
#include "tiny_model.h"

namespace mmada {
namespace {

// Two-token vocabulary; at canvas position i the argmax is token 0 with confidence conf[i - P]
// (logit log(c / (1 - c)) against 0).
LogitsFn confidence_model(std::vector<double> conf, int64_t P) {
  return [conf, P](const std::vector<int64_t>&, int64_t, int64_t L, const uint8_t*,
                   const std::vector<int64_t>& rows) {
    Tensor t = Tensor::empty(DType::F32, {int64_t(rows.size()), 2});
    for (size_t r = 0; r < rows.size(); ++r) {
      const double c = conf[size_t(rows[r] % L - P)];
      t.ptr<float>()[r * 2] = float(std::log(c / (1 - c)));
      t.ptr<float>()[r * 2 + 1] = 0.0f;
    }
    return t;
  };
}

TEST(FactorRule, CommitsTheTopTokensWhileTheBoundHolds) {
  TextSamplerParams p = test::sampler_params(4, 4, 4, 9);
  p.factor = 1.0;
  std::vector<int64_t> per_step;
  auto on_step = [&](const TextStep& st) {
    per_step.push_back(st.transferred[0]);
    return true;
  };
  // Sorted: 0.95, 0.9, 0.6, 0.55. Step 1: n=2: 3·0.1 = 0.3 < 1, n=3: 4·0.4 = 1.6 -> 2 tokens.
  // Step 2: 0.6 first (always), n=2: 3·0.45 = 1.35 -> 1. Step 3: the last one.
  const auto r = generate_text(confidence_model({0.6, 0.95, 0.55, 0.9}, 1), {7}, 1, 1, nullptr, p, on_step);
  EXPECT_EQ(per_step, (std::vector<int64_t>{2, 1, 1}));
  EXPECT_EQ(r.network_calls, 3);
  // A generous factor takes the whole block at once: 5·0.45 = 2.25 < 3.
  p.factor = 3.0;
  per_step.clear();
  generate_text(confidence_model({0.6, 0.95, 0.55, 0.9}, 1), {7}, 1, 1, nullptr, p, on_step);
  EXPECT_EQ(per_step, (std::vector<int64_t>{4}));
}

TEST(FastDecodingSettings, IncompatibleCombinationsAreRefused) {
  auto base = [] { return test::sampler_params(32, 8, 32, TextSamplerParams{}.mask_id); };
  TextSamplerParams p = base();
  p.factor = 1;
  p.threshold = 0.9;
  EXPECT_THROW(p.validate(), Error);  // two parallel rules
  p = base();
  p.factor = 1;
  p.remasking = Remasking::Random;
  EXPECT_THROW(p.validate(), Error);
  p = base();
  p.factor = -1;
  EXPECT_THROW(p.validate(), Error);
  p = base();
  p.cache_refresh = 2;
  EXPECT_THROW(p.validate(), Error);  // refresh without a cache
  p.cache = CacheMode::Prefix;
  EXPECT_NO_THROW(p.validate());
  p.cache_refresh = -1;
  EXPECT_THROW(p.validate(), Error);
  p = base();
  p.cache = CacheMode::Dual;
  EXPECT_NO_THROW(p.validate());
  p.block_length = 32;  // one block: no suffix to cache
  EXPECT_THROW(p.validate(), Error);
  p.cache = CacheMode::Prefix;  // the prompt's keys/values still are
  EXPECT_NO_THROW(p.validate());
  EXPECT_THROW(cache_mode_from_name("full"), Error);
  EXPECT_EQ(cache_mode_from_name("dual"), CacheMode::Dual);
}

}  // namespace
}  // namespace mmada
