// mmada check-backend: every op of a backend against the CPU reference on fresh random inputs.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend/backend_check.h"
#include "command.h"
#include "core/error.h"
#include "vq/feature_check.h"

namespace mmada::cli {
namespace {

Command check_cmd("check-backend", "Compare every op of a backend with the CPU reference",
                  [](CLI::App& sub) -> RunFn {
                    auto backend = std::make_shared<std::string>("cuda");
                    auto seed = std::make_shared<uint64_t>(1);
                    sub.add_option("--backend", *backend, "backend to test: cuda[:N] or cpu")->capture_default_str();
                    sub.add_option("--seed", *seed, "input seed")->capture_default_str();
                    return [backend, seed] {
                      auto test = make_backend(*backend);
                      auto res = check_backend(*cpu_backend(), *test, *seed);
                      // MAGVIT-v2's layers on the same device (cuDNN convolutions on CUDA), with
                      // exact and with TF32 convolutions (operands rounded to 10 bits: 3e-3).
                      for (ConvMath math : {ConvMath::Exact, ConvMath::Tf32}) {
                        const std::string tag = math == ConvMath::Exact ? "" : " [tf32]";
                        try {
                          for (auto& r : check_feature_backend(*cpu_feature_backend(), *feature_backend_for(test, math),
                                                               *seed, math == ConvMath::Exact ? 1e-5 : 3e-3))
                            res.push_back({r.op + tag, r.rel_error, r.tolerance});
                        } catch (const Error& e) {
                          res.push_back({std::string("vq ops") + tag + ": " + e.what(), INFINITY, 0.0});
                        }
                        if (!test->native_stream()) break;  // the CPU has one kind of arithmetic
                      }
                      // Block-quantized weights. Few rows: float32 straight from the blocks, only
                      // the summation order differs (1e-5). Many rows: weights and inputs rounded
                      // to bf16 for the tensor-core GEMM, each with relative error <= 2^-9 (RMS
                      // ~1.1e-3), so the sums are off by ~1.6e-3 of their norm; 5e-3 is 3x that.
                      // The CPU's own kernels quantise the inputs to int8 (Q8_0) or round them to
                      // bf16, both within 2e-2.
                      try {
                        const bool gpu = test->native_stream() != nullptr;
                        for (auto& r : check_quantized_weights(*cpu_backend(), *test, *seed, gpu ? 1e-5 : 2e-2,
                                                               gpu ? 5e-3 : 2e-2))
                          res.push_back(r);
                      } catch (const Error& e) {
                        res.push_back({std::string("quantized weights: ") + e.what(), INFINITY, 0.0});
                      }
                      if (test->native_stream()) {
                        // FP8 weights and activations (--gpu-weights fp8). E4M3 keeps 3 mantissa
                        // bits: each operand is rounded with relative error <= 2^-4 (RMS ~2^-5.5
                        // over a binade), so the products' sums are off by ~2^-5 of their norm;
                        // 2^-4 is the bound, and a wrong scale or layout gives errors near 1.
                        std::shared_ptr<Backend> fp8;
                        try {
                          fp8 = make_backend(*backend, BackendOptions{GpuWeights::FP8});
                        } catch (const Error& e) {  // a GPU without FP8 tensor cores
                          std::printf("fp8 linear: skipped (%s)\n", e.what());
                        }
                        if (fp8) {
                          try {
                            for (auto& r : check_linear_weights(*cpu_backend(), *fp8, *seed, "fp8", 0.0625)) res.push_back(r);
                          } catch (const Error& e) {
                            res.push_back({std::string("linear fp8: ") + e.what(), INFINITY, 0.0});
                          }
                        }
                      }
                      int bad = 0;
                      std::printf("backend: %s\n| op | rel error | tolerance | result |\n|---|---:|---:|---|\n", test->name().c_str());
                      for (const auto& r : res) {
                        std::printf("| %s | %.3g | %.0e | %s |\n", r.op.c_str(), r.rel_error, r.tolerance, r.passed() ? "ok" : "FAIL");
                        bad += !r.passed();
                      }
                      std::printf("%d passed, %d failed\n", int(res.size()) - bad, bad);
                      return bad ? 1 : 0;
                    };
                  });

}  // namespace
}  // namespace mmada::cli
