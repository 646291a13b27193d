// mmada train-classifier: a small image classifier (train/image_classifier.h), the local
// text-to-image reward of `mmada rl` (docs/rl-config.md).
#include <cstdio>

#include "command.h"
#include "core/error.h"
#include "train/image_classifier.h"

namespace mmada::cli {
namespace {

Command train_classifier_cmd(
    "train-classifier", "Train a small MLP image classifier (pixels or VQ codes) for the RL classifier reward",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<train::ClassifierTrainOptions>();
      auto input = std::make_shared<std::string>("codes");
      sub.add_option("--data", o->data, "IDX folder (train-* and t10k-* files, e.g. /usr/share/datasets/fashion-mnist)")
          ->required();
      sub.add_option("--input", *input, "pixels (the grey canvas) or codes (the VQ codes' LFQ bits)")
          ->check(CLI::IsMember({"pixels", "codes"}))
          ->capture_default_str();
      sub.add_option("--vq", o->vq, "MAGVIT-v2 folder whose codes the classifier reads (input codes)");
      sub.add_option("--cache-dir", o->cache_dir, "codes cache folder (as data.images.cache_dir)");
      sub.add_option("--image-size", o->image_size, "canvas side (as data.images.image_size)")->capture_default_str();
      sub.add_option("--class-names", o->class_names,
                     "the classes' names in label order, comma-separated (default: Fashion-MNIST's ten; "
                     "e.g. the 20 of data/mnist/fashion-digits/classes.json)")
          ->delimiter(',');
      sub.add_option("--limit", o->train_limit, "first N training images (0 = all)")->capture_default_str();
      sub.add_option("--test-limit", o->test_limit, "first N t10k images for the held-out accuracy")->capture_default_str();
      sub.add_option("--hidden", o->hidden, "hidden width")->capture_default_str();
      sub.add_option("--steps", o->steps, "AdamW steps")->capture_default_str();
      sub.add_option("--batch", o->batch, "images per step")->capture_default_str();
      sub.add_option("--lr", o->lr, "peak learning rate (cosine to 0)")->capture_default_str();
      sub.add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
      sub.add_option("--seed", o->seed, "initialisation and batch draws")->capture_default_str();
      sub.add_option("-o,--output", o->output, "folder to write (model.safetensors + classifier.json)")->required();
      return [o, input] {
        o->input = *input == "pixels" ? train::ClassifierInput::Pixels : train::ClassifierInput::Codes;
        MMADA_CHECK(o->image_size >= 1 && o->image_size <= 1024, "--image-size ", o->image_size, " out of range");
        MMADA_CHECK(o->steps >= 1 && o->batch >= 1 && o->hidden >= 1 && o->lr > 0,
                    "--steps, --batch, --hidden and --lr must be positive");
        const train::ClassifierTrainResult r = train::train_classifier(*o, [](int64_t step, double loss) {
          std::fprintf(stderr, "step %lld  loss %.4f\n", (long long)step, loss);
        });
        std::printf("classifier (%s, %lld training images): held-out accuracy %lld / %lld = %.1f%% in %.1f s; wrote %s\n",
                    input->c_str(), (long long)r.train_count, (long long)r.test_correct, (long long)r.test_count,
                    r.test_count ? 100.0 * double(r.test_correct) / double(r.test_count) : 0.0, r.seconds,
                    o->output.c_str());
        return 0;
      };
    });

}  // namespace
}  // namespace mmada::cli
