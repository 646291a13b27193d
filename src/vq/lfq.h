// Lookup-free quantizer of MAGVIT-v2 (vq.md §4): each latent position holds `bits` channels;
// bit c = (z[c] > 0) and code = sum_c bit_c * 2^(bits-1-c), channel 0 the most significant bit.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace mmada {

// Bits of a codebook of `codebook` codes: ceil(log2 codebook).
inline int64_t lfq_bits_for(int64_t codebook) {
  int64_t b = 0;
  while ((int64_t(1) << b) < codebook) ++b;
  return b;
}

// Code of one latent vector z[0..bits) read with stride `stride` (elements).
inline int64_t lfq_code(const float* z, int64_t bits, int64_t stride) {
  int64_t code = 0;
  for (int64_t c = 0; c < bits; ++c) code = (code << 1) | (z[c * stride] > 0.f ? 1 : 0);
  return code;
}

// z [B, bits, h, w] float32 -> codes [B, h*w] int64 in raster order (n = row*w + col).
Tensor lfq_encode(const Tensor& z);

// codes [B, h*w] (int64 or int32) -> z_q [B, bits, h, w] float32 with +-1 per bit (the rows of
// the quantize.embedding buffer). Throws on a code outside [0, 2^bits) or h*w != codes per row.
Tensor lfq_decode(const Tensor& codes, int64_t bits, int64_t h, int64_t w);

// The quantize.embedding buffer [2^bits, bits]: row k = +-1 from the bits of k, MSB first.
Tensor lfq_codebook(int64_t bits);

}  // namespace mmada
