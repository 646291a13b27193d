// libFuzzer target for the config.json parser. Malformed input must raise mmada::Error;
// anything else escapes and is reported. An accepted config must also survive a round trip
// through to_json() with the same values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  mmada::ModelConfig c;
  try {
    c = mmada::ModelConfig::from_json_text(text, "fuzz");
  } catch (const mmada::Error&) {
    return 0;  // expected for malformed input
  }
  // Invariants the forward pass relies on.
  if (c.d_model <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_layers <= 0 ||
      c.mlp_hidden <= 0 || c.vocab <= 0 || c.d_model % c.n_heads != 0 ||
      c.n_heads % c.n_kv_heads != 0 || c.head_dim() % 2 != 0 || c.mask_token_id < 0 ||
      c.mask_token_id >= c.vocab || !(c.rope_theta > 0) || !(c.rms_norm_eps > 0))
    __builtin_trap();
  // The written config must parse back to the same network.
  const mmada::ModelConfig b = mmada::ModelConfig::from_json_text(c.to_json(), "fuzz round trip");
  if (b.d_model != c.d_model || b.n_heads != c.n_heads || b.n_kv_heads != c.n_kv_heads ||
      b.n_layers != c.n_layers || b.mlp_hidden != c.mlp_hidden || b.vocab != c.vocab ||
      b.rope_theta != c.rope_theta || b.rms_norm_eps != c.rms_norm_eps ||
      b.mask_token_id != c.mask_token_id || b.eos_token_id != c.eos_token_id ||
      b.pad_token_id != c.pad_token_id || b.max_sequence_length != c.max_sequence_length)
    __builtin_trap();
  return 0;
}
