#include "train/training_run.h"

#include "train/train_model.h"

namespace mmada::train {

namespace fs = std::filesystem;

TrainingRun::TrainingRun(const ModelConfig& m, const OptimConfig& optim, const RunSettings& s,
                         const char* tool, const std::function<ModelWeights()>& init)
    : mcfg(m), settings(s) {
  opt = std::make_unique<AdamW>(mcfg, optim);
  state.seed = settings.seed;
  const std::string ck = checkpoint_dir();
  if (settings.resume && fs::exists(fs::path(ck) / "trainer_state.json")) {
    params = load_master_weights(ck, mcfg);
    load_optimizer_state(ck, mcfg, *opt, state);
    MMADA_CHECK(state.seed == settings.seed, ck, ": checkpoint seed ", state.seed,
                " differs from the config's ", settings.seed, " (the resumed run would not match)");
    std::fprintf(stderr, "%s: resumed from %s at step %lld\n", tool, ck.c_str(), (long long)state.step);
  } else {
    params = init();
  }
  grads = zero_weights(mcfg, DType::F32);
}

void TrainingRun::save() {
  save_checkpoint(checkpoint_dir(), mcfg, params, settings.save_dtype, opt.get(), &state, tokenizer_dir);
}

}  // namespace mmada::train
