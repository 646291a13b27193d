// Float64 central finite differences for the gradient checks (grad_check_test: the transformer's
// training ops, vq_grad_check_test: MAGVIT-v2's, unigrpo_test: the UniGRPO objective).
//
// Error measure: max |analytic − numeric| / max(max |numeric|, 1e-3) over the checked entries.
// Tolerance of a float64 backward: 1e-6 (FD step 1e-5: truncation ~h²·f''' ~ 1e-10, rounding
// ~1e-16/h ~ 1e-11, so 1e-6 leaves room for the few larger third derivatives).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <utility>
#include <vector>

namespace mmada::test {

using Vec = std::vector<double>;

inline constexpr double kTolF64 = 1e-6;

inline Vec randn(size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = d(g);
  return v;
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// df/dx by central differences at x (restored afterwards).
inline double central_difference(double& x, const std::function<double()>& f, double h = 1e-5) {
  const double x0 = x;
  x = x0 + h;
  const double fp = f();
  x = x0 - h;
  const double fm = f();
  x = x0;
  return (fp - fm) / (2 * h);
}

// The entries of a tensor of n a check visits: all of them up to `all_up_to`, else every
// `stride`-th (a sample of the larger tensors).
inline std::vector<size_t> sampled_entries(size_t n, size_t all_up_to, size_t stride) {
  std::vector<size_t> v;
  for (size_t i = 0; i < n; i += n > all_up_to ? stride : 1) v.push_back(i);
  return v;
}

// Relative error of `analytic` against central differences of f at the entries `which` of
// x[0, n) (all entries when empty).
inline double check(double* x, size_t n, const std::function<double()>& f, const double* analytic,
                    std::vector<size_t> which = {}, double h = 1e-5) {
  if (which.empty())
    for (size_t i = 0; i < n; ++i) which.push_back(i);
  double max_err = 0, max_num = 1e-3;
  for (size_t i : which) {
    const double num = central_difference(x[i], f, h);
    max_err = std::max(max_err, std::abs(num - analytic[i]));
    max_num = std::max(max_num, std::abs(num));
  }
  return max_err / max_num;
}

inline double check(Vec& x, const std::function<double()>& f, const Vec& analytic, std::vector<size_t> which = {},
                    double h = 1e-5) {
  return check(x.data(), x.size(), f, analytic.data(), std::move(which), h);
}

}  // namespace mmada::test
