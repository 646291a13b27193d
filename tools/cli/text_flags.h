// Flags shared by the text commands (generate, chat), declared once with their defaults.
#pragma once
#include <string>

#include "backend/backend.h"
#include "command.h"
#include "sample/text_sampler.h"

namespace mmada::cli {

// Defaults: gen-length / steps / block-length 128 and temperature 1 are generate.py's
// (spec/sampling.md §5); low_confidence and cfg 0 are generate()'s defaults. Early stop is
// on for the CLI (off in the library, for parity).
struct TextFlags {
  std::string model, tokenizer, precision = "bf16", remasking = "low_confidence", backend = "cpu",
              cache = "none", gpu_weights = "bf16";
  TextSamplerParams p;
  bool think = false, no_early_stop = false;

  TextFlags() {
    p.gen_length = 128;
    p.steps = 128;
    p.block_length = 128;
    p.temperature = 1.0;
  }

  void add(CLI::App& sub) {
    sub.add_option("-m,--model", model, "model folder (config.json + safetensors); default: the embedded model");
    sub.add_option("--tokenizer", tokenizer, "tokenizer folder if the model folder has none");
    sub.add_option("--precision", precision, "bf16 (weights stay bf16) or f32 (parity mode)")
        ->check(CLI::IsMember({"bf16", "f32"}))->capture_default_str();
    sub.add_option("--backend", backend, "cpu or cuda[:N]")->capture_default_str();
    sub.add_option("--gpu-weights", gpu_weights, "bf16 (exact), fp8 (E4M3 layer matrices and activations, Hopper/Ada) or fp8-all (the LM head too); cuda only")->capture_default_str();
    sub.add_option("--gen-length", p.gen_length, "tokens to generate")->capture_default_str();
    sub.add_option("--steps", p.steps, "denoising steps in total")->capture_default_str();
    sub.add_option("--block-length", p.block_length, "semi-autoregressive block size")->capture_default_str();
    sub.add_option("--temperature", p.temperature, "Gumbel-max temperature (0 = greedy)")->capture_default_str();
    sub.add_option("--remasking", remasking, "low_confidence or random")->capture_default_str();
    sub.add_option("--cfg", p.cfg_scale, "classifier-free guidance scale")->capture_default_str();
    sub.add_option("--seed", p.seed, "random seed")->capture_default_str();
    sub.add_flag("--think", think, "thinking mode: ask for <think>...</think> reasoning first");
    sub.add_flag("--no-early-stop", no_early_stop, "always run every block, even after end-of-text");
    sub.add_option("--threshold", p.threshold,
                   "parallel decoding: commit every token above this confidence (0 = the exact schedule)")
        ->capture_default_str();
    sub.add_option("--factor", p.factor,
                   "parallel decoding, Fast-dLLM's factor rule: commit the top n tokens while (n+1)(1-c_n) < f (0 = off)")
        ->capture_default_str();
    sub.add_option("--cache", cache,
                   "approximate KV cache: none (exact), prefix (run from the block on) or dual (run the block only)")
        ->capture_default_str();
    sub.add_option("--cache-refresh", p.cache_refresh,
                   "with --cache: also recompute the cache every k steps inside a block (0 = at block starts only)")
        ->capture_default_str();
  }
  // Validates and returns the sampler settings; throws mmada::Error on bad values.
  TextSamplerParams params() const {
    TextSamplerParams q = p;
    q.remasking = remasking_from_name(remasking);
    q.cache = cache_mode_from_name(cache);
    q.early_stop = !no_early_stop;
    q.validate();
    return q;
  }
  // --backend's options; throws mmada::Error on an unknown --gpu-weights.
  BackendOptions backend_options() const { return {gpu_weights_from_name(gpu_weights)}; }
  std::string model_dir() const;
  std::string tokenizer_dir() const;
};

}  // namespace mmada::cli
