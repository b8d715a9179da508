// Quantizing a model's projections while it is built (see BaseQuantizer.h).
#include "models/quant/BaseQuantizer.h"

#include "common/Error.h"
#include "models/quant/QuantizedLinear.h"

#include <cstdio>

namespace rslora::models::quant {

bool BaseQuantizer::quantizes(const std::string& name, TensorRole role)
{
    return role == TensorRole::Linear && name.rfind("model.layers.", 0) == 0;
}

TensorSource BaseQuantizer::wrap(TensorSource inner)
{
    return [this, inner = std::move(inner)](const std::string& name, const std::vector<int64_t>& shape, TensorRole role) {
        torch::Tensor t = inner(name, shape, role);
        if (!quantizes(name, role) || t.is_meta()) // meta: the inner source holds it quantized already
            return t;
        m_weights.insert_or_assign(name, QuantizedWeight::quantize(t, m_options, name).to(t.device()));
        return torch::empty(shape, torch::TensorOptions().dtype(t.scalar_type()).device(torch::kMeta));
    };
}

void BaseQuantizer::add(const std::string& weightName, QuantizedWeight weight)
{
    m_weights.insert_or_assign(weightName, std::move(weight));
}

void BaseQuantizer::install(CausalLM& model, torch::ScalarType dtype, torch::Device device)
{
    for (auto& slot : model.linearSlots()) {
        if (slot.layer < 0)
            continue;
        auto it = m_weights.find(slot.name + ".weight");
        auto current = slot.get();
        if (it == m_weights.end()) {
            if (!current->weight.defined() || current->weight.is_meta())
                throw Error("4-bit model: no weight for " + slot.name);
            continue;
        }
        torch::Tensor bias = current->bias.defined() ? current->bias.detach() : torch::Tensor();
        slot.set(std::make_shared<QuantizedLinear>(it->second.to(device), bias, dtype));
        m_weights.erase(it);
    }
}

QuantSummary BaseQuantizer::summarize(CausalLM& model)
{
    QuantSummary s;
    const int64_t elementBytes = int64_t(c10::elementSize(model.dtype()));
    for (auto& slot : model.linearSlots()) {
        const auto* q = dynamic_cast<const QuantizedLinear*>(slot.get().get());
        if (!q)
            continue;
        ++s.layers;
        s.parameters += q->quantized().numel();
        s.denseBytes += q->quantized().numel() * elementBytes;
        s.quantizedBytes += q->quantized().storageBytes();
    }
    return s;
}

std::optional<QuantOptions> parseQuantization(const std::string& name, const std::string& where)
{
    if (name == "none")
        return std::nullopt;
    if (name != "nf4" && name != "fp4")
        throw Error(where + " must be 'none', 'nf4' or 'fp4', found '" + name + "'");
    QuantOptions o;
    o.type = parseQuantType(name, where);
    return o;
}

std::string summaryText(const QuantSummary& s)
{
    char buf[200];
    const double bits = s.parameters ? double(s.quantizedBytes) * 8.0 / double(s.parameters) : 0.0;
    std::snprintf(buf, sizeof buf, "%d projections in 4 bits: %.2f MB instead of %.2f MB (%.3f bits per weight, %.2f MB saved)",
                  s.layers, double(s.quantizedBytes) / 1e6, double(s.denseBytes) / 1e6, bits,
                  double(s.denseBytes - s.quantizedBytes) / 1e6);
    return buf;
}

} // namespace rslora::models::quant
