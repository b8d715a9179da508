// Every mixed-precision decision of training in one place: the dtype the frozen base is held and
// computed in, the dtype of the adapters' master weights, the optimizer state's dtype, where sums are
// widened, which dtypes the hand-written autograd nodes take, and whether
// the loss needs scaling. AdaptedLinear, the loss, the optimizer and the trainer ask here instead of
// each comparing dtypes on its own.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace rslora::models {

class PrecisionPolicy {
public:
    // float32 throughout.
    PrecisionPolicy() = default;
    // base: the frozen weights' dtype (and the compute dtype); adapter: float32 (master weights) or
    // the base's 16-bit dtype.
    PrecisionPolicy(c10::ScalarType base, c10::ScalarType adapter);
    // From the config's names (model.dtype, model.adapter_dtype; TrainConfig's validate() checked them).
    static PrecisionPolicy fromNames(const std::string& baseDtype, const std::string& adapterDtype);

    c10::ScalarType baseDtype() const { return m_base; }
    // The dtype of adapter factors on a base weight of dtype `weight`: the 16-bit dtype when adapters
    // were asked in it; otherwise float32 master weights on a 16-bit base, the base's dtype else
    // (a float64 model keeps float64 factors).
    c10::ScalarType adapterDtypeFor(c10::ScalarType weight) const;
    // float16 gradients underflow without it; bfloat16 has float32's range and needs none.
    bool needsLossScaling() const { return m_base == c10::kHalf; }

    // Optimizer moments are float32 (float64 for a float64 parameter), whatever the parameter's dtype:
    // bfloat16's 8-bit mantissa cannot hold the second moment's small increments.
    static c10::ScalarType optimizerStateDtype(c10::ScalarType param);
    // Sums, softmax and the loss are accumulated in float32 for 16-bit inputs, otherwise in place.
    static c10::ScalarType accumulateDtype(c10::ScalarType compute);
    // Whether the hand-written autograd nodes (adapted projection, linear cross-entropy) take this
    // compute dtype. They do for float32/float64/bfloat16/float16 without autocast: under autocast
    // their in-place products would fall outside its dtype rules.
    static bool handWrittenTakes(c10::ScalarType compute);
    // Whether the seeded CPU dropout masks (regenerated in backward) exist for this dtype.
    static bool seededDropoutTakes(c10::ScalarType compute);
    // A master tensor (adapter factor) as the compute dtype sees it: a differentiable cast when the
    // dtypes differ (its gradient arrives in the master's dtype), the tensor itself otherwise.
    static at::Tensor asCompute(const at::Tensor& master, c10::ScalarType compute);

private:
    c10::ScalarType m_base = c10::kFloat;
    c10::ScalarType m_adapter = c10::kFloat;
};

} // namespace rslora::models
