// Element-wise and normalisation operators on float32 NCHW feature maps used by MAGVIT-v2.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace mmada {

// GroupNorm (biased variance over C/groups channels x H x W per sample, statistics in float64)
// with per-channel affine gamma/beta [C], optionally followed by swish x*sigmoid(x).
Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t groups,
                  float eps, bool swish);

// Nearest-neighbour x2: [N, C, H, W] -> [N, C, 2H, 2W], each value copied into a 2x2 block.
Tensor upsample_nearest2x(const Tensor& x);

// Single-head attention over the H*W positions of q, k, v [N, C, H, W] (raster order):
// o_i = sum_j softmax_j(q_i . k_j * C^-0.5) v_j, returned as [N, C, H, W].
Tensor spatial_attention(const Tensor& q, const Tensor& k, const Tensor& v);

}  // namespace mmada
