// Model-wide adapter handling: wraps the targeted projections of a CausalLM in AdaptedLinear
// (once), adds named adapters, switches the active set, freezes the base, and lists the trainable
// tensors under stable names. The adapter math itself stays in AdaptedLinear.
#pragma once

#include "engine/AdaptedLinear.h"
#include "engine/AdapterConfig.h"
#include "engine/ModuleSelection.h"
#include "models/CausalLM.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine {

struct AdaptedModule {
    std::string name;      // "model.layers.0.self_attn.q_proj"
    std::string shortName; // "q_proj"
    int layer = -1;
    std::shared_ptr<AdaptedLinear> module;
};

struct ParameterCounts {
    int64_t trainable = 0;
    int64_t total = 0;
    double ratio() const { return total > 0 ? double(trainable) / double(total) : 0.0; }
};

// Facts about every linear slot of the model (for validate() and planning).
std::vector<ModuleFacts> linearModuleFacts(models::CausalLM& model);

class AdapterSet {
public:
    explicit AdapterSet(models::CausalLM& model);

    // Adds adapter `config.name` to every module the config targets, with the ranks/alphas of
    // `plans` when given (e.g. from sensitivity allocation), else planModules(). Freezes the base.
    // Returns the plan used. Throws when no module matches. `dtype`: the factors' dtype (unset: the
    // precision policy's default for the base, AdapterSpec::dtype).
    std::vector<ModulePlan> addAdapter(const AdapterConfig& config, uint64_t seed,
                                       const std::vector<ModulePlan>* plans = nullptr,
                                       std::optional<torch::ScalarType> dtype = std::nullopt);
    // Adds an adapter with explicit per-module specs (loading).
    void addAdapterTo(const std::string& moduleName, const std::string& adapterName, const AdapterSpec& spec);
    // Wraps a module without adding anything; returns the wrapper.
    AdaptedLinear& wrap(const std::string& moduleName);

    // Sets the active adapters with their weights on every module (modules lacking one skip it).
    void setActive(const std::vector<ActiveAdapter>& active);
    // Mixed batches: each row of the next forwards its own adapter set (AdaptedLinear::setRowAdapters
    // on every module); an empty list returns every module to its active set.
    void setRowAdapters(const std::vector<RowAdapterSet>& rows);
    // Trains only `adapterName` (all others frozen); bias "lora_only" makes adapted biases train too.
    void setTrainable(const std::string& adapterName, BiasMode bias = BiasMode::None);

    const std::vector<AdaptedModule>& modules() const { return m_modules; }
    AdaptedModule* find(const std::string& moduleName);
    std::vector<std::string> adapterNames() const;

    // Trainable tensors of one adapter: "<module>.lora_A" / ".lora_B" (or ".coef_a" / ".coef_b"),
    // and "<module>.bias" for lora_only biases.
    struct NamedTensor {
        std::string name;
        torch::Tensor tensor;
        bool isB = false; // B side (LoRA+ group)
    };
    std::vector<NamedTensor> trainableTensors(const std::string& adapterName) const;
    ParameterCounts parameterCounts() const;

    models::CausalLM& model() { return m_model; }

private:
    models::CausalLM& m_model;
    std::vector<models::LinearSlot> m_slots;
    std::vector<AdaptedModule> m_modules;
};

// The spec of one module's adapter from the config and its plan.
AdapterSpec adapterSpecFor(const AdapterConfig& config, const ModulePlan& plan, uint64_t seed);

} // namespace rslora::engine
