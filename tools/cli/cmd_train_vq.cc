// mmada train-vq --config vq.json: trains a small MAGVIT-v2-architecture image tokenizer on the
// CPU (docs/vq-training.md) and writes a folder every image command loads.
#include <cstdio>

#include "command.h"
#include "core/error.h"
#include "train/vq_trainer.h"
#include "vq/magvit.h"

namespace mmada::cli {
namespace {

struct Opts {
  std::string config;
  bool quiet = false, eval_only = false;
};

Command train_vq_cmd(
    "train-vq",
    "Train a small MAGVIT-v2-architecture image tokenizer (LFQ) on IDX images (docs/vq-training.md)",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("--config", o->config, "training config JSON")->required();
      sub.add_flag("-q,--quiet", o->quiet, "no progress lines on stderr");
      sub.add_flag("--eval-only", o->eval_only,
                   "no training: evaluate the tokenizer in output_dir on data.eval (eval.json, recon.png)");
      return [o] {
        const train::VqTrainConfig cfg = train::VqTrainConfig::load(o->config);
        if (o->eval_only) {
          const Magvit vq = Magvit::load(cfg.run.output_dir);
          for (const train::VqEval& e : train::evaluate_vq_sources(vq, cfg, cfg.run.output_dir))
            std::printf("%s: %lld images, PSNR %.2f dB (28x28 area; %.2f dB whole canvas), codes used "
                        "%lld/%lld, code entropy %.2f bits\n",
                        e.source.c_str(), (long long)e.images, e.psnr, e.psnr_canvas,
                        (long long)e.codes_used, (long long)e.codebook, e.code_entropy_bits);
          return 0;
        }
        std::fprintf(stderr, "train-vq: %lld steps of %lld images, x%lld down-sampling, %lld codes -> %s\n",
                     (long long)cfg.steps, (long long)cfg.batch,
                     (long long)cfg.vq.downsample_factor(), (long long)cfg.vq.codebook_size(),
                     cfg.run.output_dir.c_str());
        train::train_vq(cfg, [o](const std::string& line) {
          if (!o->quiet) std::fprintf(stderr, "%s\n", line.c_str());
        });
        std::fprintf(stderr, "train-vq: wrote %s (config.json, model.safetensors, eval.json, recon.png)\n",
                     cfg.run.output_dir.c_str());
        return 0;
      };
    });

}  // namespace
}  // namespace mmada::cli
