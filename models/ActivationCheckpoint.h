// Activation checkpointing: a block (one decoder layer) whose forward keeps only its input, and whose
// backward runs the forward again to rebuild the activations it needs. LibTorch has no
// torch.utils.checkpoint, so this is a hand-written autograd node.
//
// The recompute must equal the first forward bit for bit: it restores the random generators' states
// of the first forward (so dropout draws the same masks and seeds) and puts the current states back
// afterwards (so the rest of training draws what it would have drawn without checkpointing). Both
// passes run with gradients enabled, through the same code paths (hand-written nodes included); the
// first simply drops its graph when the block returns.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace rslora::models {

using CheckpointedBlock = std::function<torch::Tensor(const torch::Tensor&)>;

// y = block(x), keeping x and not the block's activations. `params`: the tensors inside the block
// that need gradients (its trainable parameters); their gradients, and x's, come out of this node.
// Anything else inside the block that needs a gradient would not get one, so callers pass every
// trainable tensor the block reads.
torch::Tensor checkpointed(const CheckpointedBlock& block, const torch::Tensor& x, const std::vector<torch::Tensor>& params);

} // namespace rslora::models
