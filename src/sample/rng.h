// Counter-based random numbers: a value depends only on (seed, stream, index), so draws are
// reproducible whatever the thread count or the order positions are visited in.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define MMADA_HOST_DEVICE __host__ __device__
#else
#define MMADA_HOST_DEVICE
#endif

namespace mmada {

// Also compiled for the GPU, so device code draws exactly the host's numbers.
MMADA_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct CounterRng {
  uint64_t seed = 0;
  MMADA_HOST_DEVICE uint64_t bits(uint64_t stream, uint64_t index) const {
    return mix64(mix64(seed * 0x9E3779B97F4A7C15ull + stream) + index * 0xD1B54A32D192ED03ull);
  }
  // Uniform double in [0, 1) with 53 random bits.
  MMADA_HOST_DEVICE double uniform(uint64_t stream, uint64_t index) const {
    return double(bits(stream, index) >> 11) * (1.0 / 9007199254740992.0);
  }
};

}  // namespace mmada
