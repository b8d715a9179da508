// PEFT adapter folders (see PeftAdapterIO.h; format facts from reference/peft.md §1, §2.9, §8).
#include "engine/PeftAdapterIO.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "engine/ModuleSelection.h"
#include "engine/TrainConfig.h"
#include "models/FiniteValues.h"
#include "models/TensorIO.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <vector>

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

void checkAdapterTensorValues(const torch::Tensor& t, const std::string& file, const std::string& key)
{
    const auto dtype = models::dtypeFromTorch(t.scalar_type());
    if (!dtype || !isAdapterDtype(*dtype))
        throw Error(adapterDtypeError(file, key, dtype ? models::dtypeName(*dtype) : std::string(c10::toString(t.scalar_type()))));
    if (!torch::isfinite(t).all().item<bool>())
        throw Error(adapterValuesError(file, key));
    if (t.scalar_type() == torch::kFloat64 && !(t.abs() < models::kFloat32Overflow).all().item<bool>())
        throw Error(models::beyondFloat32TensorMessage(file, key));
}

LoraTensors readLoraTensors(const fs::path& weightsFile, const AdapterConfig& config)
{
    const std::string file = weightsFile.string();
    LoraTensors out;
    out.byKey = models::loadSafeTensorsMap(weightsFile);
    std::vector<PeftTensorShape> shapes;
    for (const auto& [key, t] : out.byKey)
        shapes.push_back({key, t.sizes().vec()});
    out.modules = pairLoraTensors(shapes, config, file);
    for (const auto& [key, t] : out.byKey)
        checkAdapterTensorValues(t, file, key);
    return out;
}

AdapterConfig loadPeftAdapter(AdapterSet& set, const fs::path& dir, const std::string& adapterName)
{
    const fs::path weightsPath = dir / kPeftWeightsFile;
    const std::string file = weightsPath.string();
    AdapterConfig config = readPeftAdapterConfig(dir, adapterName);
    requirePeftWeightsFile(dir);
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

    // Every tensor is checked before the model changes, by the rules readAdapterFactors and
    // checkPeftFolder apply too (PeftConfigFile.h): keys, pairs, ranks, element types and values.
    const LoraTensors lora = readLoraTensors(weightsPath, config);
    const auto& weights = lora.byKey;
    const std::vector<PeftModuleShapes>& modules = lora.modules;
    const std::vector<std::string> loaded = set.adapterNames();
    if (std::find(loaded.begin(), loaded.end(), adapterName) != loaded.end())
        throw Error("cannot load " + dir.string() + " as adapter '" + adapterName + "': the model already holds an adapter of that name");
    std::map<std::string, ModuleFacts> layers;
    for (const auto& f : linearModuleFacts(set.model()))
        layers.emplace(f.name, f);
    for (const auto& m : modules) {
        const auto it = layers.find(m.module);
        if (it == layers.end())
            throw Error(file + ": tensor '" + m.a.key + "' adapts '" + m.module + "', which is no linear module of the model");
        checkLoraFitsLayer(m, it->second.inFeatures, it->second.outFeatures, file);
    }

    std::map<std::string, torch::Tensor> coef;
    if (subspace) {
        const std::string coefFile = (dir / kCoefficientsFile).string();
        coef = models::loadSafeTensorsMap(dir / kCoefficientsFile);
        for (const auto& [key, t] : coef)
            checkAdapterTensorValues(t, coefFile, key);
        for (const auto& m : modules)
            if (coef.count(m.module + ".coef_a") == 0 || coef.count(m.module + ".coef_b") == 0)
                throw Error(coefFile + ": lacks the coefficients of " + m.module);
    }
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
    try {
        for (const auto& m : modules) {
            AdaptedLinear& layer = set.wrap(m.module);
            AdapterSpec spec;
            spec.rank = int(m.rank());
            spec.alpha = alphaFor(config, m.module);
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
                auto& ad = layer.addAdapter(adapterName, spec);
                ad.setCoefficients(coef.at(m.module + ".coef_a").to(ad.factorA().options()),
                                   coef.at(m.module + ".coef_b").to(ad.factorB().options()));
            } else {
                auto& ad = layer.addAdapter(adapterName, spec);
                ad.setFactors(weights.at(m.a.key).to(ad.factorA().options()), weights.at(m.b.key).to(ad.factorB().options()));
            }
            if (m.bias.key.empty())
                continue;
            if (!layer.bias.defined())
                throw Error(file + ": tensor '" + m.bias.key + "' is a trained bias of " + m.module + ", which has no bias in the model");
            LoraAdapterImpl& ad = layer.adapter(adapterName);
            const auto dt = ad.factorA().scalar_type();
            ad.setBiasDelta(weights.at(m.bias.key).to(layer.bias.device(), dt) - layer.bias.detach().to(dt));
        }
    } catch (...) {
        // Nothing half-attached stays behind (the base is never written).
        for (const auto& am : set.modules())
            if (am.module->hasAdapter(adapterName))
                am.module->removeAdapter(adapterName);
        throw;
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
