// `mmada train-vq`: trains a small MAGVIT-v2-architecture image tokenizer on class-labelled IDX
// images (Fashion-MNIST, MNIST) on the CPU and writes a folder the engine loads unchanged
// (config.json + model.safetensors, the layout of Magvit::write_random). docs/vq-training.md
// documents the config; this header is the contract the CLI and the tests use.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/optimizer.h"
#include "train/run_settings.h"
#include "train/vq_model.h"
#include "vq/magvit.h"

namespace mmada::train {

struct VqImageSource {
  std::string path;  // folder with <split>-images-idx3-ubyte[.gz] (+ labels, read for the count check)
  std::string split = "train";
  int64_t limit = 0;  // first `limit` images, 0 = all
};

struct VqTrainConfig {
  MagvitConfig vq;  // MagvitConfig::small(ch, levels, res_blocks, bits)
  int64_t ch = 32, levels = 3, res_blocks = 1, bits = 10;
  uint64_t init_seed = 1;  // initial weights = mmada make-vq --seed init_seed
  std::vector<VqImageSource> train, eval;
  int64_t image_size = 32;  // 28x28 images centred on a black canvas (the trainer's image data)
  int64_t batch = 16;
  VqLossConfig loss;
  OptimConfig optim;
  int64_t steps = 0;
  int64_t log_every = 10, eval_every = 0;  // eval_every 0 = only at the end
  int64_t grid_images = 16;                // originals vs reconstructions written to recon.png
  RunSettings run;

  static VqTrainConfig from_json_text(const std::string& text, const std::string& where);
  static VqTrainConfig load(const std::string& path);
};

// Held-out quality of a tokenizer, measured with the engine's inference path (Magvit).
struct VqEval {
  std::string source;      // "<path>:<split>"
  int64_t images = 0;
  double psnr = 0;         // mean over images of 10·log10(1/MSE), pixels in [0, 1], the decode
                           // clamped, over the original 28x28 area (the padding is excluded)
  double psnr_canvas = 0;  // the same over the whole canvas
  int64_t codes_used = 0, codebook = 0;  // distinct codes over all positions of all images
  double code_entropy_bits = 0;          // entropy of the code histogram, bits (max: log2 codebook)
  // The first grid images and their reconstructions, NCHW [grid, 3, size, size] in [-1, 1].
  int64_t grid = 0;
  std::vector<float> grid_orig, grid_recon;
};

// Grey images of one or more IDX sources (all of one size), in order.
struct VqImages {
  int64_t count = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // [count, height, width] grey
};
VqImages load_vq_images(const std::vector<VqImageSource>& sources);

VqEval evaluate_vq(const Magvit& vq, const VqImages& images, int64_t size, int64_t grid_images);
// Originals above their reconstructions, 8 images a row, each eval's images on their own rows,
// 2x nearest-neighbour.
void write_recon_grid(const std::string& path, const std::vector<VqEval>& evals, int64_t size);
// Evaluates `vq` on each of cfg.eval's sources separately; with `out_dir` non-empty writes
// <out_dir>/eval.json and <out_dir>/recon.png.
std::vector<VqEval> evaluate_vq_sources(const Magvit& vq, const VqTrainConfig& cfg,
                                        const std::string& out_dir);

// Runs the whole training (resume, logs, checkpoints, final folder + eval.json + recon.png).
// `progress` (may be empty) receives a one-line status after every logged step.
void train_vq(const VqTrainConfig& cfg, const std::function<void(const std::string&)>& progress);

}  // namespace mmada::train
