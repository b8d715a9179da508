// Model-wide adapter injection (see AdapterSet.h).
#include "engine/AdapterSet.h"

#include "common/Error.h"
#include "models/quant/QuantizedLinear.h"

#include <algorithm>

namespace rslora::engine {

std::vector<ModuleFacts> linearModuleFacts(models::CausalLM& model)
{
    std::vector<ModuleFacts> facts;
    for (const auto& slot : model.linearSlots()) {
        auto layer = slot.get();
        facts.push_back({slot.name, slot.shortName, slot.layer, layer->inFeatures(), layer->outFeatures()});
    }
    return facts;
}

AdapterSpec adapterSpecFor(const AdapterConfig& c, const ModulePlan& plan, uint64_t seed)
{
    AdapterSpec s;
    s.rank = plan.rank;
    s.alpha = plan.alpha;
    s.scaling = c.scaling;
    s.init = c.init;
    s.initSigma = c.initSigma;
    s.randomizedSvd = c.randomizedSvd;
    s.svdIterations = c.svdIterations;
    s.dropout = c.dropout;
    s.parameterization = c.parameterization;
    s.subspaceDim = c.subspaceDim;
    s.projectionSeed = c.projectionSeed;
    s.initSeed = c.initSeed != 0 ? c.initSeed : seed;
    return s;
}

AdapterSet::AdapterSet(models::CausalLM& model) : m_model(model), m_slots(model.linearSlots())
{
    // Modules already wrapped (a second AdapterSet over the same model) are picked up.
    for (const auto& slot : m_slots)
        if (auto wrapped = std::dynamic_pointer_cast<AdaptedLinear>(slot.get()))
            m_modules.push_back({slot.name, slot.shortName, slot.layer, wrapped});
}

AdaptedLinear& AdapterSet::wrap(const std::string& moduleName)
{
    if (auto* m = find(moduleName))
        return *m->module;
    for (const auto& slot : m_slots) {
        if (slot.name != moduleName)
            continue;
        auto wrapped = std::make_shared<AdaptedLinear>(slot.get(), slot.name);
        slot.set(wrapped);
        m_modules.push_back({slot.name, slot.shortName, slot.layer, wrapped});
        // Keep model order so that saved files and logs list modules as the model does.
        std::stable_sort(m_modules.begin(), m_modules.end(), [this](const AdaptedModule& a, const AdaptedModule& b) {
            auto pos = [this](const std::string& n) {
                for (size_t i = 0; i < m_slots.size(); ++i)
                    if (m_slots[i].name == n)
                        return i;
                return m_slots.size();
            };
            return pos(a.name) < pos(b.name);
        });
        return *find(moduleName)->module;
    }
    throw Error("the model has no linear module named '" + moduleName + "'");
}

std::vector<ModulePlan> AdapterSet::addAdapter(const AdapterConfig& config, uint64_t seed, const std::vector<ModulePlan>* plans,
                                               std::optional<torch::ScalarType> dtype)
{
    std::vector<ModulePlan> planned = plans ? *plans : planModules(config, linearModuleFacts(m_model));
    if (planned.empty())
        throw Error("no module of the model matches the adapter's targets");
    for (const auto& p : planned) {
        AdapterSpec spec = adapterSpecFor(config, p, seed);
        spec.dtype = dtype;
        wrap(p.module.name).addAdapter(config.name, spec);
    }
    // The base never trains in LoRA mode.
    for (auto& p : m_model.parameters())
        p.set_requires_grad(false);
    setTrainable(config.name, config.bias);
    return planned;
}

void AdapterSet::addAdapterTo(const std::string& moduleName, const std::string& adapterName, const AdapterSpec& spec)
{
    wrap(moduleName).addAdapter(adapterName, spec);
}

void AdapterSet::setActive(const std::vector<ActiveAdapter>& active)
{
    for (auto& m : m_modules) {
        std::vector<ActiveAdapter> here;
        for (const auto& a : active)
            if (m.module->hasAdapter(a.name))
                here.push_back(a);
        m.module->setActiveAdapters(here);
    }
}

void AdapterSet::setRowAdapters(const std::vector<RowAdapterSet>& rows)
{
    for (auto& m : m_modules)
        m.module->setRowAdapters(rows);
}

void AdapterSet::setTrainable(const std::string& adapterName, BiasMode bias)
{
    for (auto& m : m_modules) {
        for (const auto& n : m.module->adapterNames())
            m.module->adapter(n).setTrainable(n == adapterName);
        m.module->setBiasTrainable(bias == BiasMode::LoraOnly && m.module->hasAdapter(adapterName));
    }
}

AdaptedModule* AdapterSet::find(const std::string& moduleName)
{
    for (auto& m : m_modules)
        if (m.name == moduleName)
            return &m;
    return nullptr;
}

std::vector<std::string> AdapterSet::adapterNames() const
{
    std::vector<std::string> names;
    for (const auto& m : m_modules)
        for (const auto& n : m.module->adapterNames())
            if (std::find(names.begin(), names.end(), n) == names.end())
                names.push_back(n);
    return names;
}

std::vector<AdapterSet::NamedTensor> AdapterSet::trainableTensors(const std::string& adapterName) const
{
    std::vector<NamedTensor> out;
    for (const auto& m : m_modules) {
        if (!m.module->hasAdapter(adapterName))
            continue;
        auto& ad = m.module->adapter(adapterName);
        const bool full = ad.spec().parameterization == Parameterization::Full;
        out.push_back({m.name + (full ? ".lora_A" : ".coef_a"), ad.factorA(), false});
        out.push_back({m.name + (full ? ".lora_B" : ".coef_b"), ad.factorB(), true});
        if (m.module->bias.defined() && m.module->bias.requires_grad())
            out.push_back({m.name + ".bias", m.module->bias, true});
    }
    return out;
}

ParameterCounts AdapterSet::parameterCounts() const
{
    ParameterCounts c;
    for (const auto& p : m_model.parameters()) {
        c.total += p.numel();
        if (p.requires_grad())
            c.trainable += p.numel();
    }
    // A projection held as 4-bit codes (model.quantization) has no weight parameter, only buffers:
    // its weights count by their shape, so a 4-bit base has the total its dense model has.
    for (const auto& slot : m_slots) {
        std::shared_ptr<models::LinearLayer> layer = slot.get();
        if (const auto adapted = std::dynamic_pointer_cast<AdaptedLinear>(layer))
            layer = adapted->base();
        if (const auto* q = dynamic_cast<const models::quant::QuantizedLinear*>(layer.get()))
            c.total += q->quantized().numel();
    }
    return c;
}

} // namespace rslora::engine
