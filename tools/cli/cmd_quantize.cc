// mmada quantize -m IN -o OUT --type q8|q4|q4_0 [--keep GLOB]... [--format safetensors|gguf]:
// block-quantize a model's matrices (docs/quantization.md). IN is anything the loader takes
// (a Hugging Face folder, a quantized folder, a GGUF file); OUT is a model folder
// (config.json, model.safetensors with U8 block tensors, the tokenizer files) or a .gguf file.
#include <filesystem>
#include <fstream>

#include "command.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "model/model_file.h"
#include "model/quant_recipe.h"

namespace mmada::cli {
namespace {

struct Opts {
  std::string in, out, type = "q8", format;
  std::vector<std::string> keep;
};

Command quantize_cmd(
    "quantize", "Quantize a model's weights to 8 or 4 bits (safetensors folder or GGUF file)",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("-m,--model", o->in, "input model (folder or .gguf)")->required();
      sub.add_option("-o,--out", o->out, "output folder, or a .gguf file")->required();
      sub.add_option("--type", o->type, "q8 (Q8_0), q4 (Q4_K, head Q6_K) or q4_0")
          ->check(CLI::IsMember({"q8", "q4", "q4_0"}))->capture_default_str();
      sub.add_option("--keep", o->keep, "tensor name glob to leave unquantized (repeatable), e.g. '*.wte.*'");
      sub.add_option("--format", o->format, "safetensors or gguf (default: gguf if OUT ends in .gguf)")
          ->check(CLI::IsMember({"safetensors", "gguf"}));
      return [o] {
        namespace fs = std::filesystem;
        const bool gguf = o->format.empty() ? fs::path(o->out).extension() == ".gguf" : o->format == "gguf";
        QuantRecipe recipe = QuantRecipe::from_name(o->type);
        recipe.keep = o->keep;
        const ModelFile in = ModelFile::open(o->in);
        const ModelConfig& c = in.config;
        std::vector<std::pair<std::string, Tensor>> out;
        size_t bytes_in = 0, bytes_out = 0;
        ModelWeights slots;
        for_each_tensor(c, slots, [&](const TensorSlot& s) {
          auto it = in.tensors.find(s.name);
          MMADA_CHECK(it != in.tensors.end(), o->in, ": missing tensor '", s.name, "'");
          MMADA_CHECK(it->second.shape == s.shape, o->in, ": tensor '", s.name, "' has shape ",
                      shape_str(it->second.shape), ", expected ", shape_str(s.shape));
          Tensor t = recipe.apply(s, it->second);
          bytes_in += it->second.nbytes();
          bytes_out += t.nbytes();
          std::fprintf(stderr, "%-48s %-6s -> %s\n", s.name.c_str(),
                       std::string(dtype_name(it->second.dtype)).c_str(), std::string(dtype_name(t.dtype)).c_str());
          out.emplace_back(s.name, std::move(t));
        });
        if (gguf) {
          if (fs::path(o->out).has_parent_path()) fs::create_directories(fs::path(o->out).parent_path());
          write_model_gguf(o->out, c, out);
        } else {
          fs::create_directories(o->out);
          write_safetensors((fs::path(o->out) / "model.safetensors").string(), out,
                            {{"format", "pt"}, {"mmada.quantization", o->type}});
          std::ofstream((fs::path(o->out) / "config.json").string()) << c.to_json() << "\n";
          // The tokenizer travels with the model when the input folder has one.
          if (fs::is_directory(o->in))
            for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
              if (fs::exists(fs::path(o->in) / f))
                fs::copy_file(fs::path(o->in) / f, fs::path(o->out) / f, fs::copy_options::overwrite_existing);
        }
        std::fprintf(stderr, "wrote %s: %.1f MiB of weights (from %.1f MiB)\n", o->out.c_str(),
                     double(bytes_out) / (1 << 20), double(bytes_in) / (1 << 20));
        return 0;
      };
    });

}  // namespace
}  // namespace mmada::cli
