// The reference model of preference training (see ReferenceModel.h).
#include "engine/objectives/ReferenceModel.h"

#include "common/Error.h"

namespace rslora::engine::objectives {

void ReferenceModel::keepOriginalWeights()
{
    m_originals.clear();
    // detach() makes a new tensor over the same memory: spectral init gives the module's weight new
    // memory before it subtracts (AdaptedLinear::addAdapter), so this view keeps the original values.
    // A 4-bit base has no dense weight, and spectral init (the only change to keep) is refused there.
    for (const auto& slot : m_model.linearSlots())
        if (const auto& w = slot.get()->weight; w.defined())
            m_originals[slot.name] = w.detach();
}

void ReferenceModel::attach(const AdapterContext& context, std::vector<ActiveAdapter> reference)
{
    m_adapters = context.adapters;
    m_reference = std::move(reference);
    m_restores.clear();
    for (const auto& m : m_adapters->modules()) {
        if (!m.module->hasAdapter(context.trainedAdapter) || !m.module->adapter(context.trainedAdapter).initialA().defined())
            continue;
        auto it = m_originals.find(m.name);
        if (it == m_originals.end())
            throw Error("the reference model lacks the original weight of " + m.name
                        + " (spectral init changed it before the reference could keep it)");
        m_restores.push_back({m.module, it->second});
    }
    m_originals.clear(); // the modules not listed keep their original weights themselves
}

PairLogProbs ReferenceModel::score(const PreferenceBatch& batch, int64_t chunkTokens)
{
    if (!m_adapters)
        throw Error("preference training needs adapters (training.mode 'lora'): the reference is the frozen base");
    torch::NoGradGuard ng;
    const bool wasTraining = m_model.is_training();
    m_model.eval();
    // What each module has active now (the policy at this step's stack weights) comes back afterwards.
    std::vector<std::vector<ActiveAdapter>> before;
    before.reserve(m_adapters->modules().size());
    for (const auto& m : m_adapters->modules())
        before.push_back(m.module->activeAdapters());
    m_adapters->setActive(m_reference);
    std::vector<torch::Tensor> residuals;
    residuals.reserve(m_restores.size());
    for (auto& r : m_restores) {
        residuals.push_back(r.module->weight.detach());
        r.module->weight.set_data(r.original);
    }
    struct PutBack {
        ReferenceModel& self;
        std::vector<torch::Tensor>& residuals;
        const std::vector<std::vector<ActiveAdapter>>& before;
        bool wasTraining;
        ~PutBack()
        {
            for (size_t i = 0; i < residuals.size(); ++i)
                self.m_restores[i].module->weight.set_data(residuals[i]);
            const auto& modules = self.m_adapters->modules();
            for (size_t i = 0; i < modules.size() && i < before.size(); ++i)
                modules[i].module->setActiveAdapters(before[i]);
            self.m_model.train(wasTraining);
        }
    } putBack{*this, residuals, before, wasTraining};
    return scorePairs(m_model, batch, chunkTokens);
}

} // namespace rslora::engine::objectives
