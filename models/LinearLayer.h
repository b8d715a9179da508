// The projection module every architecture uses (q/k/v/o, gate/up/down, lm_head): the point where
// the engine wraps adapters around a frozen base (engine's AdaptedLinear derives from this).
#pragma once

#include <torch/torch.h>

namespace rslora::models {

class LinearLayer : public torch::nn::Module {
public:
    // Registers `weight` ([out, in]) as parameter "weight" and, when defined, `bias` ([out]) as
    // "bias". The tensors are used as given (no copy): a tied lm_head shares the embedding.
    explicit LinearLayer(torch::Tensor weight, torch::Tensor bias = {});
    ~LinearLayer() override = default;

    // y = x Wᵀ + b over the last dimension of x.
    virtual torch::Tensor forward(const torch::Tensor& x);
    virtual int64_t inFeatures() const;
    virtual int64_t outFeatures() const;
    bool hasBias() const { return bias.defined(); }

    torch::Tensor weight;
    torch::Tensor bias;

protected:
    // For wrappers that register their own parameters (weight/bias may stay undefined).
    LinearLayer() = default;
};

} // namespace rslora::models
