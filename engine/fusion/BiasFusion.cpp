// Trained biases in a fusion (see BiasFusion.h).
#include "engine/fusion/BiasFusion.h"

#include "common/Error.h"
#include "engine/fusion/TaskArithmetic.h"
#include "models/ModelFingerprint.h"
#include "models/TensorIO.h"
#include "models/WeightFiles.h"

#include <set>

namespace rslora::engine::fusion {

namespace {

std::string labelOf(const AdapterFactors& a)
{
    return a.label.empty() ? a.dir.string() : a.label;
}

std::string shapeText(const std::vector<uint64_t>& shape)
{
    std::string out = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
}

// The first adapter (and one of its modules) that trained a bias: what an error names.
std::pair<const AdapterFactors*, std::string> firstTrainedBias(const std::vector<AdapterFactors>& adapters)
{
    for (const auto& a : adapters)
        if (!a.biases.empty())
            return {&a, a.biases.begin()->first};
    return {nullptr, {}};
}

void checkFingerprints(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters)
{
    std::string fingerprint;
    for (size_t i = 0; i < plan.baseFingerprints.size() && i < adapters.size(); ++i) {
        const std::string& recorded = plan.baseFingerprints[i];
        if (recorded.empty())
            continue;
        if (fingerprint.empty())
            fingerprint = models::modelFingerprint(plan.baseModelDir);
        if (recorded != fingerprint)
            throw Error("adapter '" + labelOf(adapters[i]) + "' was trained on base model " + recorded.substr(0, 12) + "…, but "
                        + plan.baseModelDir.string() + " has fingerprint " + fingerprint.substr(0, 12)
                        + "…: the fused biases are computed against the base model the adapters were trained on; name that one");
    }
}

// b of `module` from the base folder, float64 [out].
torch::Tensor baseBias(const models::WeightFiles& weights, const std::string& module, int64_t outFeatures,
                       const AdapterFactors& asker)
{
    const std::string name = module + ".bias";
    const std::string where = weights.directory().string();
    if (!weights.contains(name))
        throw Error("adapter '" + labelOf(asker) + "' trained the bias of " + module + " (bias \"lora_only\"), but the base model "
                    + where + " has no tensor '" + name + "': the adapter belongs to another base model");
    const models::TensorInfo& info = weights.info(name);
    if (info.shape.size() != 1 || int64_t(info.shape[0]) != outFeatures)
        throw Error("adapter '" + labelOf(asker) + "' trained the bias of " + module + " with " + std::to_string(outFeatures)
                    + " values, but the base tensor '" + name + "' in " + where + " has shape " + shapeText(info.shape)
                    + ": the adapter belongs to another base model");
    if (!c10::isFloatingType(models::torchScalarType(info.dtype, where + ": " + name)))
        throw Error("base tensor '" + name + "' in " + where + " has dtype " + models::dtypeName(info.dtype)
                    + "; only floating-point biases can be fused");
    const torch::Tensor b = models::tensorFromFile(weights.fileOf(name), info).to(torch::kFloat64);
    if (!torch::isfinite(b).all().item<bool>())
        throw Error("base tensor '" + name + "' in " + where + " holds NaN or infinite values");
    return b;
}

} // namespace

bool hasTrainedBiases(const std::vector<AdapterFactors>& adapters)
{
    return firstTrainedBias(adapters).first != nullptr;
}

std::map<std::string, torch::Tensor> fuseTrainedBiases(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters)
{
    std::map<std::string, torch::Tensor> fused;
    const auto [first, firstModule] = firstTrainedBias(adapters);
    if (!first)
        return fused;
    if (plan.baseModelDir.empty())
        throw Error("adapter '" + labelOf(*first) + "' trained biases (bias \"lora_only\", e.g. of " + firstModule
                    + "), which PEFT stores whole: fusing them needs the base model's own biases. Name the base model folder "
                    + "(rslora fuse --model DIR; stored versions use the base recorded with them)");
    checkFingerprints(plan, adapters);
    const models::WeightFiles weights(plan.baseModelDir);

    std::set<std::string> modules;
    for (const auto& a : adapters)
        for (const auto& [module, trained] : a.biases)
            modules.insert(module);
    for (const std::string& module : modules) {
        torch::NoGradGuard noGrad;
        const AdapterFactors* asker = nullptr;
        for (const auto& a : adapters)
            if (!asker && a.biases.count(module))
                asker = &a;
        const torch::Tensor b = baseBias(weights, module, asker->biases.at(module).size(0), *asker);
        std::vector<torch::Tensor> weighted;
        std::vector<size_t> indices;
        for (size_t i = 0; i < adapters.size(); ++i) {
            auto it = adapters[i].biases.find(module);
            if (it == adapters[i].biases.end())
                continue;
            if (it->second.sizes() != b.sizes())
                throw Error("adapters '" + labelOf(*asker) + "' and '" + labelOf(adapters[i]) + "' trained biases of " + module
                            + " of different sizes: adapters of different base models cannot be fused");
            weighted.push_back(((it->second.to(torch::kFloat64) - b) * plan.weights[i]).unsqueeze(1));
            indices.push_back(i);
        }
        torch::Tensor change;
        if (isDenseMethod(plan.method))
            change = mergeDeltas(plan.method, weighted, indices, plan, module + ".bias");
        else
            change = torch::stack(weighted).sum(0);
        const torch::Tensor out = (b + change.squeeze(1)).to(torch::kFloat32).contiguous();
        if (!torch::isfinite(out).all().item<bool>())
            throw Error("the fused bias of " + module + " is not finite in float32 (the weighted changes overflow it); nothing "
                        "was written: give the adapters smaller weights");
        fused[module] = out;
    }
    return fused;
}

} // namespace rslora::engine::fusion
