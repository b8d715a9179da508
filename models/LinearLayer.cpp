// Plain linear projection through the fused addmm of torch::linear.
#include "models/LinearLayer.h"

namespace rslora::models {

LinearLayer::LinearLayer(torch::Tensor w, torch::Tensor b) {
    // Trainable by default, as torch::nn modules are; the engine freezes what it does not train.
    weight = register_parameter("weight", std::move(w));
    if (b.defined())
        bias = register_parameter("bias", std::move(b));
}

torch::Tensor LinearLayer::forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }

int64_t LinearLayer::inFeatures() const { return weight.defined() ? weight.size(1) : 0; }
int64_t LinearLayer::outFeatures() const { return weight.defined() ? weight.size(0) : 0; }

} // namespace rslora::models
