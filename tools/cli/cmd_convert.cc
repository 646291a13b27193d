// mmada convert IN.bin OUT.safetensors: a torch.save checkpoint (pytorch_model.bin) to
// safetensors, read by the restricted unpickler (no Python, nothing executed).
#include <cstdio>

#include "command.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/torch_pickle.h"

namespace mmada::cli {
namespace {

struct ConvertOpts {
  std::string in, out;
};

Command convert_cmd("convert", "Convert a PyTorch .bin checkpoint to .safetensors", [](CLI::App& sub) -> RunFn {
  auto o = std::make_shared<ConvertOpts>();
  sub.add_option("input", o->in, "PyTorch checkpoint (zip format of torch.save)")->required();
  sub.add_option("output", o->out, "safetensors file to write")->required();
  return [o] {
    MMADA_CHECK(o->out.ends_with(".safetensors"), o->out, ": output name must end in .safetensors");
    const auto tensors = load_torch_checkpoint(o->in);
    write_safetensors(o->out, tensors, {{"format", "pt"}});
    size_t bytes = 0;
    for (const auto& [name, t] : tensors) bytes += t.nbytes();
    std::fprintf(stderr, "%s: %zu tensors, %.1f MB\n", o->out.c_str(), tensors.size(), double(bytes) / 1e6);
    return 0;
  };
});

}  // namespace
}  // namespace mmada::cli
