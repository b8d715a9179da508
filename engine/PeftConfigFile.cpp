// adapter_config.json, PEFT tensor keys and the shape rules of adapter files (see PeftConfigFile.h;
// format facts from reference/peft.md §1, §2, §8).
#include "engine/PeftConfigFile.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "common/UserRegex.h"
#include "engine/ModuleSelection.h"
#include "models/FiniteValues.h"
#include "models/StrictJson.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>

namespace rslora::engine {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Python's json (PEFT's writer and reader) writes and reads NaN, Infinity and -Infinity for floats
// that are not finite; JSON has no such values. The key before the first such literal, for a message
// that names it instead of the parser's position; empty when there is none.
std::string nonFiniteLiteralKey(const std::string& text, std::string* literal)
{
    std::string lastKey, current;
    bool inString = false, escaped = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"') {
                inString = false;
                const size_t next = text.find_first_not_of(" \t\r\n", i + 1);
                if (next != std::string::npos && text[next] == ':')
                    lastKey = current;
            } else
                current += c;
            continue;
        }
        if (c == '"') {
            inString = true;
            current.clear();
            continue;
        }
        for (const char* word : {"NaN", "Infinity", "-Infinity"})
            if (text.compare(i, std::strlen(word), word) == 0) {
                *literal = word;
                return lastKey.empty() ? std::string("(a value)") : lastKey;
            }
    }
    return {};
}


// Ranks beyond this are no adapter any model here could hold; it also keeps int conversions exact.
constexpr int64_t kMaxRank = 1 << 20;
// LoraConfig's defaults (reference/peft.md §1.1): PEFT's minimal config names neither (§8.2).
constexpr int kPeftDefaultRank = 8;
constexpr double kPeftDefaultAlpha = 8.0;
// Longer module paths are refused before any pattern is matched against them.
constexpr size_t kLongestModuleName = 1000;

// init_lora_weights values that only decide how A and B start (reference/peft.md §1.2, §2.5-2.7): the
// saved factors are the whole adapter, so they apply to the original base as they are.
const char* const kInitOnlyValues[] = {"gaussian", "eva", "orthogonal", "mica"};

constexpr const char* kConvertHint =
    "save it from PEFT as a plain LoRA against the original weights instead: "
    "save_pretrained(..., path_initial_model_for_weight_conversion=<the adapter saved right after init>) "
    "writes a LoRA of rank 2r that loads here";
// Values with which PEFT also changes the base weight, when it creates the adapter and again when it
// loads it (reference/peft.md §2.1-2.4, §2.8): the factors fit that changed weight, never the
// original one this program applies them to, so the outputs would be silently wrong.
struct BaseChangingInit {
    const char* value;
    bool prefix; // "pissa_niter_<n>"
    const char* fix;
};
const BaseChangingInit kBaseChangingInits[] = {
    {"pissa", false, kConvertHint},
    {"pissa_niter_", true, kConvertHint},
    {"olora", false, kConvertHint},
    {"corda", false, kConvertHint},
    {"lora_ga", false, kConvertHint},
    {"loftq", false,
     "LoftQ factors fit the quantized weights PEFT puts in place of the original ones and PEFT cannot "
     "convert them; merge the adapter in PEFT (merge_and_unload) and use the merged model"},
};

// Keys that change what the adapter computes and that this program does not implement: refused when
// set to anything but their "off" value (null, false, an empty list or object). Other unknown keys
// are harmless (targeting, bookkeeping) and pass.
struct UnsupportedKey {
    const char* key;
    const char* what;
};
const UnsupportedKey kUnsupportedKeys[] = {
    {"lora_bias", "a trained bias on lora_B"},
    {"modules_to_save", "whole modules trained and saved beside the adapter"},
    {"layer_replication", "decoder layers replicated before adapting"},
    {"alora_invocation_tokens", "activated LoRA (applied only after its invocation tokens)"},
    {"use_qalora", "QA-LoRA (pooled inputs for a quantized base)"},
    {"trainable_token_indices", "trained rows of the token embeddings"},
    {"target_parameters", "LoRA on bare parameters (such as MoE expert weights)"},
    // LoRA variants that replace the adapted layer's forward (reference/peft.md §8.2); VeLoRA
    // (velora_config) is not among them: it only changes what backward keeps, the adapter is plain LoRA.
    {"kasa_config", "KaSA (the base weight's smallest singular directions removed, a trained diagonal between A and B)"},
    {"use_bdlora", "block-diagonal LoRA (factors split into blocks for tensor-parallel serving)"},
    {"arrow_config", "Arrow (tokens routed among several LoRA experts)"},
    {"monteclora_config", "MonteCLoRA (factors sampled around learned means)"},
};

bool isOff(const json& v)
{
    return v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_array() || v.is_object()) && v.empty());
}

std::string lowercase(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

class ConfigFields {
public:
    ConfigFields(const json& object, std::string source) : m_object(object), m_source(std::move(source)) {}

    const json& operator()(const char* key) const
    {
        static const json null;
        auto it = m_object.find(key);
        return it == m_object.end() ? null : *it;
    }

    [[noreturn]] void fail(const std::string& key, const std::string& what, const json& value) const
    {
        throw Error(m_source + ": \"" + key + "\" " + what + ", found " + jsonValueText(value));
    }

    int rank(const std::string& key, const json& v) const
    {
        if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxRank)
            fail(key, "must be a positive integer rank", v);
        return static_cast<int>(v.get<int64_t>());
    }

    double finite(const std::string& key, const json& v) const
    {
        if (!v.is_number() || !std::isfinite(v.get<double>()))
            fail(key, "must be a finite number", v);
        return v.get<double>();
    }

    // lora_alpha and alpha_pattern values: the scale alpha / r (or / sqrt r) multiplies float32 values
    // wherever the adapter is applied, so it must be a positive float32 number.
    double alpha(const std::string& key, const json& v) const
    {
        const double a = finite(key, v);
        if (a <= 0)
            fail(key, "must be greater than 0 (an alpha of 0 makes the adapter change nothing, a negative one reverses "
                      "it: to subtract an adapter, give it a negative weight where it is applied)", v);
        if (!fitsFloat32(a))
            fail(key, "must fit float32 (at most " + float32MaxText() + "), since the adapter's scale is applied in float32", v);
        return a;
    }

    std::string string(const std::string& key, const json& v) const
    {
        if (!v.is_string())
            fail(key, "must be a string", v);
        return v.get<std::string>();
    }

    const std::string& source() const { return m_source; }

private:
    const json& m_object;
    std::string m_source;
};

void checkInitLoraWeights(const ConfigFields& field)
{
    const json& init = field("init_lora_weights");
    if (init.is_null() || init.is_boolean())
        return;
    if (!init.is_string())
        field.fail("init_lora_weights", "must be true, false or the name of an init", init);
    const std::string value = init.get<std::string>();
    for (const char* ok : kInitOnlyValues)
        if (value == ok)
            return;
    for (const auto& b : kBaseChangingInits) {
        if (b.prefix ? value.rfind(b.value, 0) == 0 : value == b.value)
            throw Error(field.source() + ": \"init_lora_weights\" is " + jsonValueText(init) + ": PEFT changes the base weight when it "
                        "loads such an adapter, so its factors would give wrong outputs on the original model; " + b.fix);
    }
    std::string known = "true, false";
    for (const char* ok : kInitOnlyValues)
        known += std::string(", \"") + ok + "\"";
    throw Error(field.source() + ": \"init_lora_weights\" is " + jsonValueText(init) + ", an init this program does not know, so it "
                "cannot tell whether PEFT changes the base weight for it; expected " + known);
}

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

std::string regexField(const ConfigFields& field, const char* key, const json& v)
{
    const std::string pattern = v.get<std::string>();
    if (const std::string why = userRegexProblem(pattern); !why.empty())
        field.fail(key, "is a regex (a string, matched against whole module names) that cannot be used: " + why, v);
    return pattern;
}

std::vector<std::string> stringList(const ConfigFields& field, const std::string& key, const json& v)
{
    std::vector<std::string> out;
    for (const auto& item : v)
        out.push_back(field.string(key + "[]", item));
    return out;
}

// target_modules, exclude_modules, layers_to_transform and layers_pattern, read as PEFT's LoraConfig
// reads them (a list names modules, a string is a regex over whole names, except "all-linear"), with
// the combinations LoraConfig refuses refused too.
void readTargeting(const ConfigFields& field, AdapterConfig& config)
{
    const json& targets = field("target_modules");
    config.targetModules.clear();
    if (targets.is_array()) {
        config.targetModules = stringList(field, "target_modules", targets);
    } else if (targets.is_string()) {
        // PEFT's shorthand for every linear layer but the output head; any other string is a regex.
        if (lowercase(targets.get<std::string>()) == "all-linear")
            config.targetModules = {"all-linear"};
        else
            config.targetRegex = regexField(field, "target_modules", targets);
    } else if (targets.is_null()) {
        config.targetsFromWeights = true;
    } else {
        field.fail("target_modules", "must be a list of module names or a regex string", targets);
    }
    const json& exclude = field("exclude_modules");
    if (exclude.is_array())
        config.excludeModules = stringList(field, "exclude_modules", exclude);
    else if (exclude.is_string() && !exclude.get<std::string>().empty())
        config.excludeRegex = regexField(field, "exclude_modules", exclude);
    else if (!exclude.is_null() && !exclude.is_string())
        field.fail("exclude_modules", "must be a list of module names or a regex string", exclude);

    const json& layers = field("layers_to_transform");
    auto layerIndex = [&](const json& v) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > std::numeric_limits<int>::max())
            field.fail("layers_to_transform", "must hold non-negative layer indices", v);
        return static_cast<int>(v.get<int64_t>());
    };
    if (layers.is_array()) {
        for (const auto& l : layers)
            config.layersToTransform.push_back(layerIndex(l));
    } else if (!layers.is_null()) {
        config.layersToTransform = {layerIndex(layers)};
    }
    const json& pattern = field("layers_pattern");
    if (pattern.is_string() && !pattern.get<std::string>().empty())
        config.layersPattern = {regexField(field, "layers_pattern", pattern)};
    else if (pattern.is_array())
        for (const std::string& p : stringList(field, "layers_pattern", pattern))
            if (const std::string why = userRegexProblem(p); !why.empty())
                field.fail("layers_pattern", "holds a regex that cannot be used: " + why, pattern);
            else
                config.layersPattern.push_back(p);
    else if (!pattern.is_null() && !pattern.is_string())
        field.fail("layers_pattern", "must be the name of the layer list (a string) or a list of them", pattern);

    // PEFT's LoraConfig raises on these, so no adapter PEFT saved has them; reading them some way
    // would apply a file PEFT cannot load.
    if (targets.is_string() && !layers.is_null())
        field.fail("layers_to_transform", "cannot be used with a string target_modules (PEFT refuses this config: a "
                                          "regex selects layers itself); write the layers into the regex", layers);
    if (targets.is_string() && !pattern.is_null())
        field.fail("layers_pattern", "cannot be used with a string target_modules (PEFT refuses this config)", pattern);
    if (!config.layersPattern.empty() && config.layersToTransform.empty())
        field.fail("layers_pattern", "is set without layers_to_transform (PEFT refuses this config); give the layers "
                                     "to adapt or remove layers_pattern", pattern);
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

AdapterConfig parsePeftAdapterConfig(const std::string& text, const std::string& source, const std::string& adapterName)
{
    json pc;
    try {
        pc = models::parseJsonStrict(text, source);
    } catch (const Error&) {
        std::string literal;
        const std::string key = nonFiniteLiteralKey(text, &literal);
        if (!key.empty())
            throw Error(source + ": \"" + key + "\" is " + literal + ", which is not a number JSON has (Python's json "
                        "writes it for a float that is not finite); \"" + key + "\" must be a finite number",
                        "write the value the adapter was trained with");
        throw;
    }
    if (!pc.is_object())
        throw Error(source + ": expected a JSON object, found " + std::string(pc.type_name()));
    const ConfigFields field(pc, source);
    // PEFT picks the config class by peft_type (PeftModel.from_pretrained fails without it), so a file
    // without it is no adapter PEFT would load, whatever its other keys say.
    if (field("peft_type").is_null())
        throw Error(source + ": \"peft_type\" is " + (pc.contains("peft_type") ? "null" : "missing")
                        + "; PEFT needs it to tell which kind of adapter the folder holds (a LoRA adapter has \"peft_type\": \"LORA\")",
                    "add \"peft_type\": \"LORA\" to the file if it describes a LoRA adapter");
    if (field.string("peft_type", field("peft_type")) != "LORA")
        throw Error(source + ": peft_type '" + field("peft_type").get<std::string>() + "' is not supported (expected 'LORA')");
    if (!field("use_dora").is_null() && !field("use_dora").is_boolean())
        field.fail("use_dora", "must be true or false", field("use_dora"));
    if (field("use_dora").is_boolean() && field("use_dora").get<bool>())
        throw Error(source + ": DoRA adapters (use_dora: true) are not supported");
    checkInitLoraWeights(field);
    for (const auto& u : kUnsupportedKeys) {
        const json& v = field(u.key);
        if (!isOff(v))
            throw Error(source + ": \"" + u.key + "\" is " + jsonValueText(v) + " (" + u.what
                        + "), which is not supported here; train and save the adapter without it");
    }

    AdapterConfig config;
    config.name = adapterName;
    config.rank = field("r").is_null() ? kPeftDefaultRank : field.rank("r", field("r"));
    config.alpha = field("lora_alpha").is_null() ? kPeftDefaultAlpha : field.alpha("lora_alpha", field("lora_alpha"));
    if (!field("use_rslora").is_null() && !field("use_rslora").is_boolean())
        field.fail("use_rslora", "must be true or false", field("use_rslora"));
    config.scaling = field("use_rslora").is_boolean() && field("use_rslora").get<bool>() ? ScalingMode::AlphaOverSqrtR
                                                                                         : ScalingMode::AlphaOverR;
    // PEFT tries the patterns in the file's order (its dict keeps it) and takes the first that matches;
    // the parsed object above is sorted by key, so the order is taken from the text again (it parsed,
    // so it parses).
    const nlohmann::ordered_json inFileOrder = nlohmann::ordered_json::parse(text);
    for (const char* key : {"rank_pattern", "alpha_pattern"}) {
        const json& table = field(key);
        if (table.is_null())
            continue;
        if (!table.is_object())
            field.fail(key, "must be an object of module pattern → value", table);
        for (const auto& item : inFileOrder.at(key).items()) {
            const std::string& pattern = item.key();
            const std::string where = std::string(key) + "." + pattern;
            // A key is a regex, matched as PEFT matches it; one that cannot be compiled would match no
            // module and its value would be dropped without a word (PEFT itself raises on it).
            if (const std::string why = userRegexProblem("(.*\\.)?(" + pattern + ")$"); !why.empty())
                throw Error(source + ": \"" + key + "\" key \"" + pattern + "\" is a module pattern (a regex, matched as PEFT "
                            "matches it: (.*\\.)?(<key>)$) that cannot be used here: " + why + "; its " +
                            (std::string(key) == "rank_pattern" ? "rank" : "alpha") + " would apply to no module",
                            "write the pattern as a plain module name or suffix (such as \"q_proj\" or "
                            "\"model.layers.0.self_attn.q_proj\") or an ECMAScript regex");
            if (std::string(key) == "rank_pattern")
                config.rankPattern.emplace_back(pattern, field.rank(where, table.at(pattern)));
            else
                config.alphaPattern.emplace_back(pattern, field.alpha(where, table.at(pattern)));
        }
    }
    if (!field("lora_dropout").is_null()) {
        config.dropout = field.finite("lora_dropout", field("lora_dropout"));
        if (config.dropout < 0 || config.dropout >= 1)
            field.fail("lora_dropout", "must lie in [0, 1)", field("lora_dropout"));
    }
    if (!field("bias").is_null()) {
        const auto b = field.string("bias", field("bias"));
        // "all" trains every bias of the model and saves them all; the biases of adapted modules are
        // what "lora_only" holds, and a bias of any other module is refused by name where the tensors
        // are paired (a model without biases, such as Llama, saves none: the adapter is plain LoRA).
        if (b == "lora_only" || b == "all")
            config.bias = BiasMode::LoraOnly;
        else if (b != "none")
            throw Error(source + ": bias '" + b + "' is not supported (expected 'none', 'lora_only' or 'all')");
    }
    readTargeting(field, config);
    return config;
}

AdapterConfig readPeftAdapterConfig(const fs::path& dir, const std::string& adapterName)
{
    const fs::path configPath = dir / kPeftConfigFile;
    requirePeftConfigFile(dir);
    return parsePeftAdapterConfig(readFile(configPath), configPath.string(), adapterName);
}

void requirePeftConfigFile(const fs::path& dir)
{
    if (fs::is_regular_file(dir / kPeftConfigFile))
        return;
    std::string message = "'" + dir.string() + "' is not a PEFT adapter folder: " + std::string(kPeftConfigFile) + " is missing";
    // `rslora train` writes the adapter to <output.dir>/adapter; the output folder is what users pick.
    if (fs::is_regular_file(dir / "adapter" / kPeftConfigFile))
        message += "; it looks like a training run's output folder, whose adapter is '" + (dir / "adapter").string() + "'";
    throw Error(message);
}

void requirePeftWeightsFile(const fs::path& dir)
{
    if (fs::is_regular_file(dir / kPeftWeightsFile))
        return;
    std::string message = "'" + dir.string() + "' is not a PEFT adapter folder: " + kPeftWeightsFile + " is missing";
    // save_pretrained(..., safe_serialization=False) writes a pickle, which only Python can read (and
    // reading one may run code).
    if (fs::is_regular_file(dir / "adapter_model.bin"))
        message += "; the folder holds adapter_model.bin, PEFT's PyTorch pickle format, which is not read here: "
                   "save the adapter with save_pretrained(..., safe_serialization=True), or convert the file with "
                   "safetensors.torch.save_file(torch.load(\"adapter_model.bin\"), \"adapter_model.safetensors\")";
    throw Error(message);
}

std::string readPeftBaseModelName(const fs::path& dir)
{
    try {
        const json pc = json::parse(readFile(dir / kPeftConfigFile), nullptr, false);
        if (pc.is_object() && pc.contains("base_model_name_or_path") && pc["base_model_name_or_path"].is_string())
            return pc["base_model_name_or_path"].get<std::string>();
    } catch (const std::exception&) {
    }
    return {};
}

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
    throw Error(refused + " (expected <module>.lora_A.weight / <module>.lora_B.weight, optionally with the adapter's "
                "name before .weight)");
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
                        + "; a file holds one adapter (keys without an adapter name, or all with the same one)");
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
