// mmada refcheck MANIFEST: run every case of a reference manifest the engine can run.
#include <cstdio>

#include "command.h"
#include "refcheck/refcheck.h"

namespace {

struct Opts {
  std::string manifest;
  mmada::RefcheckOptions ro;
};

mmada::cli::Command refcheck_cmd(
    "refcheck", "Run the conformance cases of a reference manifest (shared/refdata format)",
    [](CLI::App& sub) -> mmada::cli::RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("manifest", o->manifest, "manifest.json of a reference set")->required();
      sub.add_option("--precision", o->ro.precision, "forward precision: f32 (parity) or bf16")
          ->check(CLI::IsMember({"f32", "bf16"}))
          ->capture_default_str();
      sub.add_option("--filter", o->ro.filter, "run only cases whose id contains this text");
      sub.add_option("--backend", o->ro.backend, "cpu or cuda[:N]")->capture_default_str();
      return [o] {
        const auto s = mmada::run_refcheck(o->manifest, o->ro, stdout);
        return s.failed == 0 ? 0 : 1;
      };
    });

}  // namespace
