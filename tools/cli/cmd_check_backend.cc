// mmada check-backend: every op of a backend against the CPU reference on fresh random inputs.
#include <cstdio>

#include "backend/backend_check.h"
#include "command.h"

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
                      const auto res = check_backend(*cpu_backend(), *test, *seed);
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
