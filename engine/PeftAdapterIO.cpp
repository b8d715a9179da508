// PEFT adapter folders (see PeftAdapterIO.h; format facts from reference/peft.md §1, §2.9, §8).
#include "engine/PeftAdapterIO.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "engine/TrainConfig.h"
#include "models/TensorIO.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <optional>
#include <set>

namespace rslora::engine {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json patternJson(const std::map<std::string, double>& m, bool integers)
{
    json o = json::object();
    for (const auto& [k, v] : m) {
        if (integers)
            o[k] = int64_t(std::llround(v));
        else
            o[k] = v;
    }
    return o;
}

} // namespace

void savePeftAdapter(AdapterSet& set, const std::string& adapterName, const AdapterConfig& config, const fs::path& dir,
                     const PeftSaveOptions& options)
{
    std::vector<std::pair<std::string, torch::Tensor>> tensors, coefficients;
    std::set<std::string> shortNames;
    std::map<std::string, double> rankPattern, alphaPattern;
    bool spectral = false, subspace = false, anyBias = false;
    // Spectral export doubles r and alpha (or alpha·√2 under rsLoRA) so the scale is unchanged.
    const double alphaFactor = config.scaling == ScalingMode::AlphaOverSqrtR ? std::sqrt(2.0) : 2.0;
    json modulesJson = json::array();
    torch::NoGradGuard ng;
    for (const auto& m : set.modules()) {
        if (!m.module->hasAdapter(adapterName))
            continue;
        auto& ad = m.module->adapter(adapterName);
        torch::Tensor A = ad.A().detach(), B = ad.B().detach();
        int rank = ad.rank();
        double alpha = ad.spec().alpha;
        if (ad.initialA().defined()) {
            spectral = true;
            A = torch::cat({A, ad.initialA()}, 0);
            B = torch::cat({B, -ad.initialB()}, 1);
            rank *= 2;
            alpha *= alphaFactor;
        }
        if (ad.spec().parameterization == Parameterization::RandomSubspace) {
            subspace = true;
            coefficients.emplace_back(m.name + ".coef_a", ad.factorA().detach());
            coefficients.emplace_back(m.name + ".coef_b", ad.factorB().detach());
        }
        tensors.emplace_back(kPeftKeyPrefix + m.name + ".lora_A.weight", A);
        tensors.emplace_back(kPeftKeyPrefix + m.name + ".lora_B.weight", B);
        if (m.module->bias.defined() && config.bias == BiasMode::LoraOnly) {
            anyBias = true;
            tensors.emplace_back(kPeftKeyPrefix + m.name + ".bias", m.module->bias.detach());
        }
        shortNames.insert(m.shortName);
        modulesJson.push_back({{"name", m.name}, {"r", ad.rank()}, {"lora_alpha", ad.spec().alpha}, {"scale", ad.scale()}});
        rankPattern[m.name] = rank;
        alphaPattern[m.name] = alpha;
    }
    if (tensors.empty())
        throw Error("no module holds an adapter named '" + adapterName + "'; nothing to save");
    (void)anyBias;

    const int baseRank = spectral ? config.rank * 2 : config.rank;
    const double baseAlpha = spectral ? config.alpha * alphaFactor : config.alpha;
    // Patterns only for modules that differ from the defaults; exact names are valid PEFT keys.
    for (auto it = rankPattern.begin(); it != rankPattern.end();)
        it = (int(it->second) == baseRank) ? rankPattern.erase(it) : std::next(it);
    for (auto it = alphaPattern.begin(); it != alphaPattern.end();)
        it = (std::abs(it->second - baseAlpha) < 1e-12 * std::max(1.0, baseAlpha)) ? alphaPattern.erase(it) : std::next(it);

    json pc = {
        {"alpha_pattern", patternJson(alphaPattern, false)},
        {"auto_mapping", nullptr},
        {"base_model_name_or_path", options.baseModelNameOrPath},
        {"bias", biasModeName(config.bias)},
        {"fan_in_fan_out", false},
        {"inference_mode", true},
        {"init_lora_weights", true},
        {"layer_replication", nullptr},
        {"layers_pattern", nullptr},
        {"layers_to_transform", config.layersToTransform.empty() ? json(nullptr) : json(config.layersToTransform)},
        {"loftq_config", json::object()},
        {"lora_alpha", baseAlpha},
        {"lora_dropout", config.dropout},
        {"megatron_config", nullptr},
        {"megatron_core", "megatron.core"},
        {"modules_to_save", nullptr},
        {"peft_type", "LORA"},
        {"r", baseRank},
        {"rank_pattern", patternJson(rankPattern, true)},
        {"revision", nullptr},
        {"target_modules", std::vector<std::string>(shortNames.begin(), shortNames.end())},
        {"task_type", "CAUSAL_LM"},
        {"use_dora", false},
        {"use_rslora", config.scaling == ScalingMode::AlphaOverSqrtR},
    };
    TrainConfig wrapper;
    wrapper.adapter = config;
    json extra = {
        {"format", "rslora-adapter"},
        {"version", 1},
        {"adapter", wrapper.toJson()["adapter"]},
        {"spectral_exported_as_rank_2r", spectral},
        {"modules", modulesJson},
    };

    AtomicDirectory out(dir);
    models::saveSafeTensors(out.stagingPath() / kPeftWeightsFile, tensors);
    writeFileAtomic(out.stagingPath() / kPeftConfigFile, pc.dump(2) + "\n");
    writeFileAtomic(out.stagingPath() / kExtraConfigFile, extra.dump(2) + "\n");
    if (subspace)
        models::saveSafeTensors(out.stagingPath() / kCoefficientsFile, coefficients);
    out.commit();
}

AdapterConfig loadPeftAdapter(AdapterSet& set, const fs::path& dir, const std::string& adapterName)
{
    const fs::path weightsPath = dir / kPeftWeightsFile;
    AdapterConfig config = readPeftAdapterConfig(dir, adapterName);
    // Our own options, when the folder was written by us.
    json extra;
    if (fs::exists(dir / kExtraConfigFile)) {
        try {
            extra = json::parse(readFile(dir / kExtraConfigFile));
        } catch (const json::exception& e) {
            throw Error((dir / kExtraConfigFile).string() + ": not valid JSON (" + jsonErrorText(e) + ")");
        }
    }
    const bool subspace = extra.is_object() && extra.contains("adapter")
        && extra["adapter"].value("parameterization", "full") == "random_subspace" && fs::exists(dir / kCoefficientsFile);

    const auto weights = models::loadSafeTensorsMap(weightsPath);
    std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> perModule;
    std::map<std::string, torch::Tensor> biases;
    for (const auto& [key, t] : weights) {
        const auto parsed = parseLoraKey(key, adapterName);
        if (!parsed)
            throw Error(weightsPath.string() + ": tensor '" + key + "' is not a LoRA tensor this loader understands "
                        "(expected <module>.lora_A.weight / lora_B.weight / bias)");
        if (parsed->part == LoraKey::Part::Bias)
            biases[parsed->module] = t;
        else
            (parsed->part == LoraKey::Part::A ? perModule[parsed->module].first : perModule[parsed->module].second) = t;
    }
    if (perModule.empty())
        throw Error(weightsPath.string() + ": holds no lora_A / lora_B tensors");

    std::map<std::string, torch::Tensor> coef;
    if (subspace)
        coef = models::loadSafeTensorsMap(dir / kCoefficientsFile);
    const TrainConfig extraConfig = subspace ? TrainConfig::fromJson(json{{"adapter", extra["adapter"]}}) : TrainConfig{};
    // The init the factors were drawn with (diagnostics compare std(A) with what it promises). A
    // spectral adapter is stored as plain rank-2r factors, so it loads as a plain one.
    InitMode drawnWith = InitMode::Lora;
    double drawnSigma = AdapterSpec{}.initSigma;
    if (extra.is_object() && extra.contains("adapter") && extra["adapter"].is_object()) {
        const json& a = extra["adapter"];
        for (InitMode m : {InitMode::Gaussian, InitMode::Rescaled, InitMode::Spectral})
            if (a.value("init", std::string()) == initModeName(m))
                config.init = m;
        if (config.init != InitMode::Spectral)
            drawnWith = config.init;
        if (a.contains("init_sigma") && a["init_sigma"].is_number() && a["init_sigma"].get<double>() > 0)
            drawnSigma = a["init_sigma"].get<double>();
    }

    torch::NoGradGuard ng;
    for (const auto& [module, ab] : perModule) {
        const auto& [A, B] = ab;
        if (!A.defined() || !B.defined())
            throw Error(weightsPath.string() + ": module '" + module + "' has only one of lora_A and lora_B");
        auto* existing = set.find(module);
        AdaptedLinear& layer = existing ? *existing->module : set.wrap(module); // throws for unknown modules
        if (A.dim() != 2 || B.dim() != 2 || A.size(0) != B.size(1) || A.size(1) != layer.inFeatures() || B.size(0) != layer.outFeatures())
            throw Error(weightsPath.string() + ": " + module + " has lora_A " + c10::str(A.sizes()) + " and lora_B " + c10::str(B.sizes())
                        + ", which do not fit a layer of [out " + std::to_string(layer.outFeatures()) + ", in "
                        + std::to_string(layer.inFeatures()) + "]");
        const int rank = int(A.size(0));
        const int configRank = rankFor(config, module);
        if (configRank != rank)
            throw Error(weightsPath.string() + ": " + module + " has rank " + std::to_string(rank) + " but "
                        + kPeftConfigFile + " says r = " + std::to_string(configRank));
        AdapterSpec spec;
        spec.rank = rank;
        spec.alpha = alphaFor(config, module);
        spec.scaling = config.scaling;
        spec.dropout = config.dropout;
        spec.init = drawnWith;
        spec.initSigma = drawnSigma;
        spec.drawInit = false; // the saved factors replace it

        if (subspace) {
            const AdapterConfig& ec = extraConfig.adapter;
            spec.parameterization = Parameterization::RandomSubspace;
            spec.subspaceDim = ec.subspaceDim;
            spec.projectionSeed = ec.projectionSeed;
            layer.addAdapter(adapterName, spec);
            auto a = coef.find(module + ".coef_a"), b = coef.find(module + ".coef_b");
            if (a == coef.end() || b == coef.end())
                throw Error((dir / kCoefficientsFile).string() + ": lacks the coefficients of " + module);
            auto& ad = layer.adapter(adapterName);
            ad.setCoefficients(a->second.to(ad.factorA().options()), b->second.to(ad.factorB().options()));
        } else {
            auto& ad = layer.addAdapter(adapterName, spec);
            ad.setFactors(A.to(ad.factorA().options()), B.to(ad.factorB().options()));
        }
        auto bias = biases.find(module);
        if (bias != biases.end()) {
            if (!layer.bias.defined() || layer.bias.sizes() != bias->second.sizes())
                throw Error(weightsPath.string() + ": bias of " + module + " does not fit the layer");
            layer.bias.copy_(bias->second);
        }
    }
    set.setActive({{adapterName, 1.0}});
    for (auto& m : set.modules())
        if (m.module->hasAdapter(adapterName))
            m.module->adapter(adapterName).setTrainable(false);
    if (subspace) {
        config.parameterization = Parameterization::RandomSubspace;
        config.subspaceDim = extraConfig.adapter.subspaceDim;
        config.projectionSeed = extraConfig.adapter.projectionSeed;
    }
    return config;
}

} // namespace rslora::engine
