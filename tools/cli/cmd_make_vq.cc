// mmada make-vq: write a random-weight MAGVIT-v2-architecture folder (config.json with the
// encoder/decoder spelled out + model.safetensors) that every image command and the trainer
// load like the real showlab/magvitv2. With random weights the codes are a fixed hash of the
// image (signs of random convolutional features), not a trained tokenizer: good for tiny CPU
// training runs and tests, useless for real images (a trained tokenizer is issue 11).
#include "command.h"
#include "core/error.h"
#include "vq/magvit.h"

namespace mmada::cli {
namespace {

struct Opts {
  std::string out;
  int64_t ch = 32, levels = 3, res_blocks = 1, bits = 13;
  uint64_t seed = 1;
};

Command make_vq_cmd(
    "make-vq",
    "Write a random-weight MAGVIT-v2-architecture tokenizer folder (codes are an image hash, NOT "
    "a trained tokenizer)",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("-o,--out", o->out, "output folder")->required();
      sub.add_option("--ch", o->ch, "base channels (multiple of 32)")->capture_default_str();
      sub.add_option("--levels", o->levels,
                     "resolution levels; down-sampling is 2^(levels-1) (3: x4, 32x32 -> 8x8 codes; "
                     "the real model has 5: x16)")->capture_default_str();
      sub.add_option("--res-blocks", o->res_blocks, "ResnetBlocks per level")->capture_default_str();
      sub.add_option("--bits", o->bits, "LFQ bits: codebook size 2^bits (real: 13 = 8192)")->capture_default_str();
      sub.add_option("--seed", o->seed, "weight seed")->capture_default_str();
      return [o] {
        const MagvitConfig c = MagvitConfig::small(o->ch, o->levels, o->res_blocks, o->bits);
        const int64_t params = Magvit::write_random(o->out, c, o->seed);
        std::fprintf(stderr,
                     "wrote %s (%.2f M random parameters, x%lld down-sampling, %lld codes; "
                     "random weights: the codes hash the image, this is not a trained tokenizer)\n",
                     o->out.c_str(), double(params) / 1e6, (long long)c.downsample_factor(),
                     (long long)c.codebook_size());
        return 0;
      };
    });

}  // namespace
}  // namespace mmada::cli
