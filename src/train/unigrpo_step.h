// The model side of a UniGRPO update: per-token log-probabilities of masked response rows from
// one training forward (train_model.h), and the objective's gradient pushed back through the
// same train_backward the SFT trainer uses (no second transformer backward).
#pragma once
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"
#include "train/train_compute.h"
#include "train/unigrpo.h"

namespace mmada::train {

// Rows of one length L (one group: the same prompt). ℓ of every loss position, rows in order,
// positions in order. Throws naming `what` if a log-probability is not finite.
template <class T>
std::vector<double> masked_logprobs(const ModelConfig& cfg, const ModelWeights& w,
                                    const std::vector<MaskedRow>& rows, const std::string& what);

// One group's contribution at one inner step: forward with θ = w, the objective against the
// recorded l_old / l_ref (rows' tokens in the same order as masked_logprobs), backward into
// `grads` (accumulated). `tokens[i]` carries advantage and |o| of row i; its l/l_old/l_ref are
// filled here from the forward and from old/ref. Returns the sums for logging.
template <class T>
ObjectiveSums unigrpo_group_backward(const ModelConfig& cfg, const ModelWeights& w,
                                     const std::vector<MaskedRow>& rows,
                                     const std::vector<double>& l_old,
                                     const std::vector<double>& l_ref,
                                     std::vector<ResponseTokens>& tokens, int64_t batch_responses,
                                     const UniGrpoConfig& c, ModelWeights& grads,
                                     const std::string& what);

// The same through a TrainCompute (the training loop's CPU or GPU engine; float): the
// forward under its current weights, the backward accumulated into its gradients.
std::vector<double> masked_logprobs(const ModelConfig& cfg, TrainCompute& tc,
                                    const std::vector<MaskedRow>& rows, const std::string& what);
// ℓ of the same rows under the compute's frozen reference weights (TrainCompute::set_reference):
// the KL reference evaluated where the policy runs, on the GPU with device cuda.
std::vector<double> reference_logprobs(const ModelConfig& cfg, TrainCompute& tc,
                                       const std::vector<MaskedRow>& rows, const std::string& what);
ObjectiveSums unigrpo_group_backward(const ModelConfig& cfg, TrainCompute& tc,
                                     const std::vector<MaskedRow>& rows,
                                     const std::vector<double>& l_old,
                                     const std::vector<double>& l_ref,
                                     std::vector<ResponseTokens>& tokens, int64_t batch_responses,
                                     const UniGrpoConfig& c, const std::string& what);

}  // namespace mmada::train
