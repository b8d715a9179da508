// The 4-bit projection's forward and backward (see QuantizedLinear.h).
#include "models/quant/QuantizedLinear.h"

#include "common/Error.h"

#include <map>

namespace rslora::models::quant {
namespace {

// The per-layer buffer: one per device and dtype, grown to the largest layer seen. A layer
// dequantizes into it and multiplies; the next layer overwrites it (same stream on CUDA, so in
// order). Per thread, because each thread's forward or backward must have its own.
torch::Tensor scratch(const QuantizedWeight& w, torch::ScalarType dtype)
{
    thread_local std::map<std::pair<std::string, int>, torch::Tensor> buffers;
    torch::Tensor& buf = buffers[{w.device().str(), int(dtype)}];
    if (!buf.defined() || buf.numel() < w.numel())
        buf = torch::empty({w.numel()}, torch::TensorOptions().dtype(dtype).device(w.device()));
    torch::Tensor view = buf.narrow(0, 0, w.numel()).view({w.outFeatures(), w.inFeatures()});
    w.dequantizeInto(view);
    return view;
}

struct WeightCapsule : torch::CustomClassHolder {
    explicit WeightCapsule(std::shared_ptr<const QuantizedWeight> w) : weight(std::move(w)) {}
    std::shared_ptr<const QuantizedWeight> weight;
};

torch::ScalarType computeDtype(const torch::Tensor& x)
{
    const auto t = x.scalar_type();
    if (t != torch::kFloat32 && t != torch::kBFloat16 && t != torch::kFloat16)
        throw Error("4-bit linear layer: expected a float32, bfloat16 or float16 input, found " + std::string(c10::toString(t)));
    return t;
}

// y = x Wᵀ with W dequantized on the way in and again on the way back; W is frozen, so only
// the input's gradient is computed.
struct DequantLinearFunction : public torch::autograd::Function<DequantLinearFunction> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                                 const std::shared_ptr<const QuantizedWeight>& w)
    {
        ctx->saved_data["weight"] = c10::IValue::make_capsule(c10::make_intrusive<WeightCapsule>(w));
        return torch::matmul(x, scratch(*w, computeDtype(x)).t());
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads)
    {
        const auto holder = ctx->saved_data["weight"].toCapsule();
        const auto& w = *static_cast<WeightCapsule*>(holder.get())->weight;
        const torch::Tensor& g = grads[0];
        return {torch::matmul(g, scratch(w, computeDtype(g))), torch::Tensor()};
    }
};

} // namespace

QuantizedLinear::QuantizedLinear(QuantizedWeight weight, torch::Tensor b, torch::ScalarType dtype)
    : m_weight(std::make_shared<QuantizedWeight>(std::move(weight))), m_dtype(dtype)
{
    // Buffers share the tensors of m_weight: Module::to() swaps their data in place, so the
    // weight follows the model to another device.
    const QuantParts& p = m_weight->parts();
    register_buffer("weight_codes", p.codes);
    register_buffer("weight_quant_map", p.quantMap);
    register_buffer("weight_absmax", p.absmax);
    if (p.nested) {
        register_buffer("weight_nested_absmax", p.nestedAbsmax);
        register_buffer("weight_nested_quant_map", p.nestedQuantMap);
    }
    if (b.defined())
        bias = register_parameter("bias", std::move(b), /*requires_grad=*/false);
}

torch::Tensor QuantizedLinear::forward(const torch::Tensor& x)
{
    if (x.size(-1) != inFeatures())
        throw Error("4-bit linear layer: expected inputs with " + std::to_string(inFeatures()) + " features, found " +
                    std::to_string(x.size(-1)));
    torch::Tensor y = DequantLinearFunction::apply(x, std::const_pointer_cast<const QuantizedWeight>(m_weight));
    if (bias.defined())
        y = y + bias.to(y.scalar_type());
    return y;
}

torch::Tensor QuantizedLinear::denseWeight() const { return m_weight->dequantize(m_dtype); }

torch::TensorOptions QuantizedLinear::weightOptions() const
{
    return torch::TensorOptions().dtype(m_dtype).device(m_weight->device());
}

} // namespace rslora::models::quant
