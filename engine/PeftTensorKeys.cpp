// PEFT tensor keys and the shape rules of adapter files: which module and factor a key of
// adapter_model.safetensors names, the pairing of lora_A and lora_B into modules with their rank,
// and the checks of those shapes against the config and the layers (see PeftConfigFile.h; format
// facts from reference/peft.md §1, §2, §8).
#include "engine/PeftConfigFile.h"

#include "common/Error.h"
#include "engine/ModuleSelection.h"
#include "models/FiniteValues.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

namespace rslora::engine {

namespace {

// Longer module paths are refused before any pattern is matched against them.
constexpr size_t kLongestModuleName = 1000;

std::vector<std::string> splitDots(const std::string& s)
{
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
        const size_t dot = s.find('.', start);
        parts.push_back(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos)
            return parts;
        start = dot + 1;
    }
}

std::string joinDots(const std::vector<std::string>& parts, size_t count)
{
    std::string s;
    for (size_t i = 0; i < count; ++i)
        s += (i ? "." : "") + parts[i];
    return s;
}

// What a key of adapter_model.safetensors holds.
enum class KeyKind { LoraWeight, LoraBias, Embedding, Magnitude, OtherLora, WholeModule, ModuleBias, Unknown };

struct ClassifiedKey {
    KeyKind kind = KeyKind::Unknown;
    std::string module;
    LoraKey::Part part = LoraKey::Part::A;
};

ClassifiedKey classifyKey(const std::string& key)
{
    std::string k = key;
    if (k.rfind(kPeftKeyPrefix, 0) == 0)
        k.erase(0, std::string(kPeftKeyPrefix).size());
    const std::vector<std::string> parts = splitDots(k);
    // The last lora_A / lora_B component, after a module path and before "[<adapter name>.]weight".
    for (size_t i = parts.size(); i-- > 1;) {
        if (parts[i] != "lora_A" && parts[i] != "lora_B")
            continue;
        const size_t rest = parts.size() - i - 1;
        const bool modulePathOk = std::none_of(parts.begin(), parts.begin() + std::ptrdiff_t(i), [](const std::string& p) { return p.empty(); });
        if (modulePathOk && (rest == 1 || (rest == 2 && !parts[i + 1].empty()))) {
            const LoraKey::Part part = parts[i] == "lora_A" ? LoraKey::Part::A : LoraKey::Part::B;
            if (parts.back() == "weight")
                return {KeyKind::LoraWeight, joinDots(parts, i), part};
            if (parts.back() == "bias")
                return {KeyKind::LoraBias, joinDots(parts, i), part};
        }
        break;
    }
    auto has = [&](const char* name) { return std::find(parts.begin(), parts.end(), name) != parts.end(); };
    if (has("lora_embedding_A") || has("lora_embedding_B"))
        return {KeyKind::Embedding, {}, LoraKey::Part::A};
    if (has("lora_magnitude_vector"))
        return {KeyKind::Magnitude, {}, LoraKey::Part::A};
    if (std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.rfind("lora_", 0) == 0; }))
        return {KeyKind::OtherLora, {}, LoraKey::Part::A};
    if (has("modules_to_save"))
        return {KeyKind::WholeModule, {}, LoraKey::Part::A};
    if (parts.size() > 1 && parts.back() == "bias")
        return {KeyKind::ModuleBias, joinDots(parts, parts.size() - 1), LoraKey::Part::A};
    if (parts.size() > 1 && parts.back() == "weight")
        return {KeyKind::WholeModule, joinDots(parts, parts.size() - 1), LoraKey::Part::A};
    return {};
}

// The "<name>" of a lora_A / lora_B weight key "<module>.lora_A.<name>.weight"; "" without one.
std::string adapterNameOf(const std::string& key)
{
    const std::vector<std::string> parts = splitDots(key);
    if (parts.size() >= 3 && (parts[parts.size() - 3] == "lora_A" || parts[parts.size() - 3] == "lora_B"))
        return parts[parts.size() - 2];
    return {};
}

std::string shapeText(const std::vector<int64_t>& s)
{
    std::string t = "[";
    for (size_t i = 0; i < s.size(); ++i)
        t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
}

std::string listText(const std::vector<std::string>& names)
{
    std::string t = "[";
    for (size_t i = 0; i < names.size(); ++i)
        t += (i ? ", \"" : "\"") + names[i] + "\"";
    return t + "]";
}

std::string layersText(const std::vector<int>& layers)
{
    std::string t = "[";
    for (size_t i = 0; i < layers.size(); ++i)
        t += (i ? ", " : "") + std::to_string(layers[i]);
    return t + "]";
}

// Which field of adapter_config.json leaves `module` out, for matchTarget's verdict.
std::string untargetedReason(const AdapterConfig& config, const std::string& module, TargetMatch match)
{
    switch (match) {
    case TargetMatch::Excluded:
        return config.excludeRegex.empty() ? "\"exclude_modules\" " + listText(config.excludeModules) + " names it"
                                           : "\"exclude_modules\" \"" + config.excludeRegex + "\" (a regex) matches it";
    case TargetMatch::NotATarget:
        if (config.targetsFromWeights)
            return "\"target_modules\" is not set, so PEFT adapts its default targets for the model type, " +
                   listText(peftDefaultTargets()) + " (the same for Llama, Mistral, Qwen2 and Qwen3)";
        if (!config.targetRegex.empty())
            return "\"target_modules\" is the regex \"" + config.targetRegex + "\", which does not match the whole name";
        if (config.targetModules == std::vector<std::string>{"all-linear"})
            return "\"target_modules\" \"all-linear\" covers the decoder's projections, never the output head";
        return "\"target_modules\" " + listText(config.targetModules) + " does not name it (a module matches by its full "
               "name or a dotted suffix)";
    case TargetMatch::OutsideLayers: {
        const std::optional<int> layer = peftLayerIndex(module, config.layersPattern);
        const std::string pattern = config.layersPattern.empty() ? "" : " after \"layers_pattern\" " + listText(config.layersPattern);
        return "\"layers_to_transform\" " + layersText(config.layersToTransform)
               + (layer ? " leaves out its layer " + std::to_string(*layer) : " is set, and its name has no layer index" + pattern);
    }
    case TargetMatch::Targeted:
        break;
    }
    return {};
}

// The module's scale (alpha / r or alpha / sqrt r, per rank_pattern and alpha_pattern) must be a
// non-zero float32 number: it multiplies float32 values wherever the adapter is applied.
void checkModuleScale(const AdapterConfig& config, const PeftModuleShapes& m, const std::string& file)
{
    const double alpha = alphaFor(config, m.module);
    const double scale = adapterScale(config.scaling, int(m.rank()), alpha);
    if (!fitsFloat32(scale) || float(scale) == 0.0f) {
        std::ostringstream s;
        s << file << ": " << m.module << " has scale " << scale << " (lora_alpha " << alpha << " / "
          << (config.scaling == ScalingMode::AlphaOverSqrtR ? "sqrt(r), r = " : "r = ") << m.rank() << ", from "
          << kPeftConfigFile << "), which " << (fitsFloat32(scale) ? "is 0" : "overflows") << " in float32; "
          << "give lora_alpha / alpha_pattern a value between about 1e-30 and 1e30";
        throw Error(s.str());
    }
}

} // namespace

std::optional<LoraKey> parseLoraKey(const std::string& key)
{
    const ClassifiedKey c = classifyKey(key);
    if (c.kind != KeyKind::LoraWeight)
        return std::nullopt;
    return LoraKey{c.module, c.part};
}

LoraKey loraKeyOf(const std::string& key, const std::string& file)
{
    const ClassifiedKey c = classifyKey(key);
    const std::string refused = file + ": tensor '" + key + "' is not a lora_A / lora_B weight";
    switch (c.kind) {
    case KeyKind::LoraWeight:
        // PEFT's loader inserts the name of the adapter it loads into ("default" unless given) before
        // ".weight" and keeps a key that carries a name already as it is: "lora_A.default.weight"
        // loads as PEFT's default adapter, a key with any other name matches no parameter there and
        // its weights are left out (PEFT only warns of missing adapter keys).
        if (const std::string name = adapterNameOf(key); !name.empty() && name != "default") {
            const std::string factor = c.part == LoraKey::Part::A ? "lora_A" : "lora_B";
            throw Error(file + ": tensor '" + key + "' carries the adapter name '" + name + "' (" + factor + "." + name +
                            ".weight), which PEFT's PeftModel.from_pretrained does not load: it matches the "
                            "keys to its adapter 'default' and leaves these weights out",
                        "rename the keys to <module>." + factor + ".weight, as PEFT's save_pretrained writes them");
        }
        return LoraKey{c.module, c.part};
    case KeyKind::LoraBias:
        throw Error(refused + ": it is a bias of " + (c.part == LoraKey::Part::A ? "lora_A" : "lora_B") + " of " + c.module
                    + " (PEFT's lora_bias: true), which is not supported; train the adapter with lora_bias false");
    case KeyKind::Embedding:
        throw Error(refused + ": it is part of an embedding LoRA (lora_embedding_A / lora_embedding_B), which is not "
                    "supported; adapt linear modules only");
    case KeyKind::Magnitude:
        throw Error(refused + ": it is a DoRA magnitude vector; DoRA adapters are not supported");
    case KeyKind::OtherLora:
        throw Error(refused + ": it belongs to a LoRA variant this program does not know");
    case KeyKind::WholeModule:
        throw Error(refused + ": it is a whole module's weight (modules_to_save, or a trained base layer), which is not "
                    "supported; save the adapter without modules_to_save");
    case KeyKind::ModuleBias:
        throw Error(refused + ": it is a trained bias of " + c.module + ", which only an adapter with bias \"lora_only\" "
                    "or \"all\" may hold (adapter_config.json says otherwise)");
    case KeyKind::Unknown:
        break;
    }
    throw Error(refused + " (expected <module>.lora_A.weight / <module>.lora_B.weight, or PEFT's default adapter "
                "name before .weight: <module>.lora_A.default.weight)");
}

std::vector<PeftModuleShapes> pairLoraTensors(const std::vector<PeftTensorShape>& tensors, const AdapterConfig& config,
                                              const std::string& file)
{
    std::map<std::string, PeftModuleShapes> byModule;
    std::map<std::string, PeftTensorShape> biases;  // bias "lora_only": module -> its trained bias
    for (const auto& t : tensors) {
        if (config.bias == BiasMode::LoraOnly) {
            const ClassifiedKey c = classifyKey(t.key);
            if (c.kind == KeyKind::ModuleBias) {
                if (t.shape.size() != 1 || t.shape[0] < 1)
                    throw Error(file + ": tensor '" + t.key + "' has shape " + shapeText(t.shape) + ", expected a bias [out]");
                // PEFT's wrapped layer keeps the base layer's own bias at "<module>.base_layer.bias".
                std::string module = c.module;
                if (const std::string wrapped = ".base_layer"; module.size() > wrapped.size() &&
                                                              module.compare(module.size() - wrapped.size(), wrapped.size(), wrapped) == 0)
                    module.erase(module.size() - wrapped.size());
                if (!biases.emplace(module, t).second)
                    throw Error(file + ": tensors '" + biases[module].key + "' and '" + t.key + "' are both the bias of " + module);
                continue;
            }
        }
        const LoraKey k = loraKeyOf(t.key, file);
        PeftModuleShapes& m = byModule[k.module];
        m.module = k.module;
        PeftTensorShape& slot = k.part == LoraKey::Part::A ? m.a : m.b;
        const char* part = k.part == LoraKey::Part::A ? "lora_A" : "lora_B";
        if (!slot.key.empty())
            throw Error(file + ": tensors '" + slot.key + "' and '" + t.key + "' are both " + part + " of " + k.module
                        + "; a file holds one adapter (keys without an adapter name, or all with PEFT's 'default')");
        if (t.shape.size() != 2 || t.shape[0] < 1 || t.shape[1] < 1)
            throw Error(file + ": tensor '" + t.key + "' has shape " + shapeText(t.shape) + ", expected 2 dimensions, none "
                        "empty (lora_A [r, in], lora_B [out, r])");
        slot = t;
    }
    if (byModule.empty())
        throw Error(file + ": holds no lora_A / lora_B tensors");
    for (const auto& [module, t] : biases) {
        auto it = byModule.find(module);
        if (it == byModule.end())
            throw Error(file + ": tensor '" + t.key + "' is a trained bias of " + module + ", which the adapter does not adapt; "
                        "only the biases of adapted modules are applied here (bias \"lora_only\"), and the trained biases "
                        "of other modules that bias \"all\" saves are not supported: train the adapter with bias "
                        "\"lora_only\" or \"none\"");
        it->second.bias = t;
    }
    std::vector<PeftModuleShapes> out;
    for (auto& [name, m] : byModule) {
        // No model has module paths this long, and std::regex (the rank_pattern match) recurses per character.
        if (name.size() > kLongestModuleName)
            throw Error(file + ": tensor '" + (m.a.key.empty() ? m.b.key : m.a.key).substr(0, 120) + "...' names a module of "
                        + std::to_string(name.size()) + " characters, which no model has");
        if (const TargetMatch match = matchTarget(config, name); match != TargetMatch::Targeted)
            throw Error(file + ": tensor '" + (m.a.key.empty() ? m.b.key : m.a.key) + "' adapts " + name + ", which "
                        + kPeftConfigFile + " does not target: " + untargetedReason(config, name, match)
                        + ". PEFT leaves such a module unchanged (it ignores the tensor), so applying it would give other "
                          "outputs than PEFT's; remove the module's tensors from the file or add it to the config's targets");
        if (m.a.key.empty() || m.b.key.empty())
            throw Error(file + ": module '" + name + "' has only one of lora_A and lora_B ('"
                        + (m.a.key.empty() ? m.b.key : m.a.key) + "')");
        if (m.a.shape[0] != m.b.shape[1])
            throw Error(file + ": " + name + " has lora_A " + shapeText(m.a.shape) + " and lora_B " + shapeText(m.b.shape)
                        + ", which do not pair up (A [r, in], B [out, r])");
        const int configRank = rankFor(config, name);
        if (m.rank() != configRank)
            throw Error(file + ": " + name + " has rank " + std::to_string(m.rank()) + " but " + kPeftConfigFile
                        + " says r = " + std::to_string(configRank));
        checkModuleScale(config, m, file);
        out.push_back(std::move(m));
    }
    return out;
}

void checkLoraFitsLayer(const PeftModuleShapes& module, int64_t inFeatures, int64_t outFeatures, const std::string& file,
                        const std::string& where)
{
    auto refuse = [&](const PeftTensorShape& t) {
        throw Error(file + ": tensor '" + t.key + "' has shape " + shapeText(t.shape) + ", but " + module.module + where
                    + " has " + std::to_string(inFeatures) + " inputs and " + std::to_string(outFeatures) + " outputs");
    };
    if (module.inFeatures() != inFeatures)
        refuse(module.a);
    if (module.outFeatures() != outFeatures)
        refuse(module.b);
    if (!module.bias.key.empty() && module.bias.shape[0] != outFeatures)
        refuse(module.bias);
}

bool isAdapterDtype(models::Dtype dtype)
{
    return dtype == models::Dtype::F16 || dtype == models::Dtype::BF16 || dtype == models::Dtype::F32
        || dtype == models::Dtype::F64;
}

std::string adapterDtypeError(const std::string& file, const std::string& key, const std::string& dtypeName)
{
    return file + ": tensor '" + key + "' is not floating point (dtype " + dtypeName + "; expected F16, BF16, F32 or F64)";
}

std::string adapterValuesError(const std::string& file, const std::string& key)
{
    return models::nonFiniteTensorMessage(file, key);
}

} // namespace rslora::engine
