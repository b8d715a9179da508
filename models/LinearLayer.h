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
    // The weight as one dense [out, in] tensor: `weight` itself here; a layer that stores its
    // weight in another form (4-bit codes) leaves `weight` undefined and returns a new copy.
    virtual torch::Tensor denseWeight() const { return weight; }
    // Dtype and device of the weight the layer computes with.
    virtual torch::TensorOptions weightOptions() const { return weight.options(); }

    torch::Tensor weight;
    torch::Tensor bias;

protected:
    // For wrappers that register their own parameters (weight/bias may stay undefined).
    LinearLayer() = default;
};

} // namespace rslora::models
