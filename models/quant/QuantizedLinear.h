// A frozen projection whose weight lives as 4-bit codes (QuantizedWeight). Each forward, and each
// backward, dequantizes the weight into a scratch buffer shared by all such layers (one per device
// and dtype, per thread) and multiplies: no dense copy of the weight is kept, and autograd saves
// nothing of it. `weight` stays undefined; the codes are buffers, so moving the model moves them.
#pragma once

#include "models/LinearLayer.h"
#include "models/quant/QuantizedWeight.h"

#include <memory>

namespace rslora::models::quant {

class QuantizedLinear : public LinearLayer {
public:
    // `dtype`: the model's dtype, what denseWeight() returns. The compute dtype of a forward is
    // its input's (float32, bfloat16 or float16).
    QuantizedLinear(QuantizedWeight weight, torch::Tensor bias, torch::ScalarType dtype);

    torch::Tensor forward(const torch::Tensor& x) override;
    int64_t inFeatures() const override { return m_weight->inFeatures(); }
    int64_t outFeatures() const override { return m_weight->outFeatures(); }
    torch::Tensor denseWeight() const override;
    torch::TensorOptions weightOptions() const override;

    const QuantizedWeight& quantized() const { return *m_weight; }

private:
    std::shared_ptr<QuantizedWeight> m_weight;
    torch::ScalarType m_dtype;
};

} // namespace rslora::models::quant
