// Float64 central finite differences for the gradient checks (grad_check_test: the transformer's
// training ops, vq_grad_check_test: MAGVIT-v2's).
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

// Relative error of `analytic` against central differences of f at the entries `which` of x
// (all entries when empty).
inline double check(Vec& x, const std::function<double()>& f, const Vec& analytic, std::vector<size_t> which = {},
                    double h = 1e-5) {
  if (which.empty())
    for (size_t i = 0; i < x.size(); ++i) which.push_back(i);
  double max_err = 0, max_num = 1e-3;
  for (size_t i : which) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double fp = f();
    x[i] = x0 - h;
    const double fm = f();
    x[i] = x0;
    const double num = (fp - fm) / (2 * h);
    max_err = std::max(max_err, std::abs(num - analytic[i]));
    max_num = std::max(max_num, std::abs(num));
  }
  return max_err / max_num;
}

}  // namespace mmada::test
