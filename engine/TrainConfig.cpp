// TrainConfig JSON round-trip through one field table (validate() is in TrainConfigValidation.cpp).
#include "engine/TrainConfig.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "engine/ConfigPaths.h"
#include "engine/ConfigYaml.h"
#include "engine/ModuleSelection.h"
#include "models/StrictJson.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <filesystem>
#include <set>

namespace rslora::engine {

using nlohmann::json;

namespace {

template <typename E>
struct EnumEntry {
    E value;
    const char* name;
};

const EnumEntry<ScalingMode> kScaling[] = {{ScalingMode::AlphaOverR, "alpha/r"},
                                           {ScalingMode::AlphaOverSqrtR, "alpha/sqrt(r)"}};
const EnumEntry<InitMode> kInit[] = {{InitMode::Lora, "lora"},
                                     {InitMode::Gaussian, "gaussian"},
                                     {InitMode::Rescaled, "rescaled"},
                                     {InitMode::Spectral, "spectral"}};
const EnumEntry<Parameterization> kParam[] = {{Parameterization::Full, "full"},
                                              {Parameterization::RandomSubspace, "random_subspace"}};
const EnumEntry<BiasMode> kBias[] = {{BiasMode::None, "none"}, {BiasMode::LoraOnly, "lora_only"}};
const EnumEntry<RankAllocation> kAlloc[] = {{RankAllocation::Uniform, "uniform"},
                                            {RankAllocation::Pattern, "pattern"},
                                            {RankAllocation::Sensitivity, "sensitivity"}};
const EnumEntry<LrSchedule> kSchedule[] = {{LrSchedule::Constant, "constant"},
                                           {LrSchedule::Linear, "linear"},
                                           {LrSchedule::Cosine, "cosine"}};
const EnumEntry<TrainMode> kMode[] = {{TrainMode::Lora, "lora"}, {TrainMode::Full, "full"}};
const EnumEntry<TrainObjective> kObjective[] = {{TrainObjective::Sft, "sft"}, {TrainObjective::Dpo, "dpo"}};
const EnumEntry<DpoLossType> kDpoLoss[] = {{DpoLossType::Sigmoid, "sigmoid"},
                                           {DpoLossType::Ipo, "ipo"},
                                           {DpoLossType::Simpo, "simpo"}};
const EnumEntry<DpoReference> kDpoReference[] = {{DpoReference::Base, "base"}, {DpoReference::Stack, "stack"}};

template <typename E, size_t N>
const char* enumName(const EnumEntry<E> (&table)[N], E v)
{
    for (const auto& e : table)
        if (e.value == v)
            return e.name;
    return "?";
}

template <typename E, size_t N>
E enumParse(const EnumEntry<E> (&table)[N], const std::string& s, const std::string& where)
{
    std::string allowed;
    for (const auto& e : table) {
        if (s == e.name)
            return e.value;
        allowed += std::string(allowed.empty() ? "" : ", ") + "'" + e.name + "'";
    }
    // Accept the short spelling of the rsLoRA scaling too.
    if (s == "sqrt" || s == "rslora")
        for (const auto& e : table)
            if (std::string(e.name) == "alpha/sqrt(r)")
                return e.value;
    throw Error(where + ": unknown value '" + s + "' (expected one of " + allowed + ")");
}

// Reads and writes one field; overloads per member type.
struct Writer {
    json& out;
    void operator()(const char* section, const char* key, const std::string& v) { out[section][key] = v; }
    void operator()(const char* section, const char* key, int v) { out[section][key] = v; }
    void operator()(const char* section, const char* key, int64_t v) { out[section][key] = v; }
    void operator()(const char* section, const char* key, uint64_t v) { out[section][key] = v; }
    void operator()(const char* section, const char* key, double v) { out[section][key] = v; }
    void operator()(const char* section, const char* key, bool v) { out[section][key] = v; }
    void operator()(const char* section, const char* key, const std::vector<std::string>& v) { out[section][key] = v; }
    void operator()(const char* section, const char* key, const std::vector<int>& v) { out[section][key] = v; }
    template <typename T>
    void operator()(const char* section, const char* key, const PatternTable<T>& v)
    {
        json o = json::object();
        for (const auto& [k, x] : v)
            o[k] = x;
        out[section][key] = o;
    }
    template <typename E, size_t N>
    void en(const char* section, const char* key, const EnumEntry<E> (&t)[N], E v) { out[section][key] = enumName(t, v); }
};

// Whether a JSON value converts to T without leaving T's range (the JSON library would truncate a
// float or an out-of-range integer into an int: undefined behaviour, found by the train_config
// fuzz campaign). Values of other types are left to the conversion, which refuses them.
template <typename T>
bool representable(const json&)
{
    return true;
}

template <>
bool representable<int>(const json& v)
{
    if (!v.is_number())
        return true;
    if (!v.is_number_integer())
        return false; // 2.5 is no integer, and 1e30 fits no int
    if (v.is_number_unsigned())
        return v.get<uint64_t>() <= uint64_t(std::numeric_limits<int>::max());
    const int64_t i = v.get<int64_t>();
    return i >= std::numeric_limits<int>::min() && i <= std::numeric_limits<int>::max();
}

template <>
bool representable<std::vector<int>>(const json& v)
{
    return !v.is_array() || std::all_of(v.begin(), v.end(), [](const json& e) { return representable<int>(e); });
}

struct Reader {
    const json& in;
    const KeyLocator* locate; // positions for messages (a YAML file's), or null
    std::set<std::string> seen; // "section.key"

    const json* find(const char* section, const char* key)
    {
        seen.insert(std::string(section) + "." + key);
        auto s = in.find(section);
        if (s == in.end() || !s->is_object())
            return nullptr;
        auto k = s->find(key);
        return k == s->end() || k->is_null() ? nullptr : &*k;
    }
    std::string where(const char* section, const char* key) const
    {
        const std::string at = locate ? (*locate)(section, key) : std::string();
        return std::string("config key '") + section + "." + key + "'" + (at.empty() ? "" : " (" + at + ")");
    }
    template <typename T>
    T get(const json& v, const char* section, const char* key, const char* expected)
    {
        try {
            if (!representable<T>(v))
                throw Error(where(section, key) + ": expected " + expected + ", found " + jsonValueText(v));
            return v.get<T>();
        } catch (const json::exception&) {
            throw Error(where(section, key) + ": expected " + expected + ", found " + jsonValueText(v));
        }
    }
    void operator()(const char* s, const char* k, std::string& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_string())
                throw Error(where(s, k) + ": expected a string, found " + jsonValueText(*j));
            v = j->get<std::string>();
        }
    }
    void operator()(const char* s, const char* k, int& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_number_integer())
                throw Error(where(s, k) + ": expected an integer, found " + jsonValueText(*j));
            if (!representable<int>(*j))
                throw Error(where(s, k) + ": expected an integer from " + std::to_string(std::numeric_limits<int>::min()) + " to " +
                            std::to_string(std::numeric_limits<int>::max()) + ", found " + jsonValueText(*j));
            v = j->get<int>();
        }
    }
    void operator()(const char* s, const char* k, int64_t& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_number_integer())
                throw Error(where(s, k) + ": expected an integer, found " + jsonValueText(*j));
            // An unsigned value beyond int64_t's range would wrap to a negative one.
            if (j->is_number_unsigned() && j->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
                throw Error(where(s, k) + ": expected an integer up to " + std::to_string(std::numeric_limits<int64_t>::max()) +
                            ", found " + jsonValueText(*j));
            v = j->get<int64_t>();
        }
    }
    void operator()(const char* s, const char* k, uint64_t& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_number_integer() || (j->is_number_integer() && !j->is_number_unsigned() && j->get<int64_t>() < 0))
                throw Error(where(s, k) + ": expected a non-negative integer, found " + jsonValueText(*j));
            v = j->get<uint64_t>();
        }
    }
    void operator()(const char* s, const char* k, double& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_number())
                throw Error(where(s, k) + ": expected a number, found " + jsonValueText(*j));
            v = j->get<double>();
        }
    }
    void operator()(const char* s, const char* k, bool& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_boolean())
                throw Error(where(s, k) + ": expected true or false, found " + jsonValueText(*j));
            v = j->get<bool>();
        }
    }
    void operator()(const char* s, const char* k, std::vector<std::string>& v)
    {
        if (auto* j = find(s, k)) {
            if (j->is_string())
                v = {j->get<std::string>()}; // PEFT allows a single string
            else
                v = get<std::vector<std::string>>(*j, s, k, "a list of strings");
        }
    }
    void operator()(const char* s, const char* k, std::vector<int>& v)
    {
        if (auto* j = find(s, k)) {
            if (j->is_number_integer())
                v = {get<int>(*j, s, k, "an integer")};
            else
                v = get<std::vector<int>>(*j, s, k, "a list of integers");
        }
    }
    template <typename T>
    void operator()(const char* s, const char* k, PatternTable<T>& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_object())
                throw Error(where(s, k) + ": expected an object mapping patterns to values, found " + jsonValueText(*j));
            v.clear();
            for (auto it = j->begin(); it != j->end(); ++it)
                v.emplace_back(it.key(), get<T>(it.value(), s, k, "numbers as values"));
        }
    }
    template <typename E, size_t N>
    void en(const char* s, const char* k, const EnumEntry<E> (&t)[N], E& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_string())
                throw Error(where(s, k) + ": expected a string, found " + jsonValueText(*j));
            v = enumParse(t, j->get<std::string>(), where(s, k));
        }
    }
};

// The field table: section, key, member. Both directions walk it, so they cannot drift apart.
template <typename C, typename V>
void visitFields(C& c, V& v)
{
    v("model", "path", c.modelPath);
    v("model", "device", c.device);
    v("model", "dtype", c.dtype);
    v("model", "adapter_dtype", c.adapterDtype);
    v("model", "threads", c.threads);
    v("model", "quantization", c.quantization);

    v("data", "train", c.trainData);
    v("data", "validation", c.validationData);
    v("data", "validation_split", c.validationSplit);
    v("data", "max_seq_len", c.maxSeqLen);
    v("data", "chat_template", c.chatTemplate);
    v("data", "shuffle", c.shuffle);

    auto& a = c.adapter;
    v("adapter", "name", a.name);
    v("adapter", "target_modules", a.targetModules);
    v("adapter", "target_regex", a.targetRegex);
    v("adapter", "layers_to_transform", a.layersToTransform);
    v("adapter", "r", a.rank);
    v("adapter", "lora_alpha", a.alpha);
    v("adapter", "rank_pattern", a.rankPattern);
    v("adapter", "alpha_pattern", a.alphaPattern);
    v.en("adapter", "scaling", kScaling, a.scaling);
    v.en("adapter", "init", kInit, a.init);
    v("adapter", "init_sigma", a.initSigma);
    v("adapter", "randomized_svd", a.randomizedSvd);
    v("adapter", "svd_iterations", a.svdIterations);
    v("adapter", "lora_dropout", a.dropout);
    v.en("adapter", "bias", kBias, a.bias);
    v.en("adapter", "parameterization", kParam, a.parameterization);
    v("adapter", "subspace_dim", a.subspaceDim);
    v("adapter", "projection_seed", a.projectionSeed);
    v("adapter", "balance_gradients", a.balancing.enabled);
    v("adapter", "balance_beta", a.balancing.beta);
    v("adapter", "balance_band", a.balancing.band);
    v("adapter", "balance_target", a.balancing.target);
    v("adapter", "loraplus_lr_ratio", a.loraPlusRatio);
    v.en("adapter", "rank_allocation", kAlloc, a.allocation);
    v("adapter", "sensitivity_probe_batches", a.sensitivity.probeBatches);
    v("adapter", "sensitivity_beta", a.sensitivity.beta);
    v("adapter", "sensitivity_candidate_ranks", a.sensitivity.candidateRanks);
    v("adapter", "parameter_budget", a.sensitivity.parameterBudget);
    v("adapter", "init_seed", a.initSeed);
    v("adapter", "stack_on", a.stackOn);

    v.en("training", "mode", kMode, c.mode);
    v.en("training", "objective", kObjective, c.objective);
    v("training", "learning_rate", c.learningRate);
    v("training", "weight_decay", c.weightDecay);
    v("training", "beta1", c.beta1);
    v("training", "beta2", c.beta2);
    v("training", "eps", c.eps);
    v.en("training", "lr_schedule", kSchedule, c.schedule);
    v("training", "warmup_steps", c.warmupSteps);
    v("training", "min_lr_ratio", c.minLrRatio);
    v("training", "batch_size", c.batchSize);
    v("training", "gradient_accumulation", c.gradAccumulation);
    v("training", "clip_norm", c.clipNorm);
    v("training", "epochs", c.epochs);
    v("training", "max_steps", c.maxSteps);
    v("training", "seed", c.seed);
    v("training", "log_every", c.logEvery);
    v("training", "eval_every", c.evalEvery);
    v("training", "save_every", c.saveEvery);
    v("training", "loss_chunk_tokens", c.lossChunkTokens);
    v("training", "gradient_checkpointing", c.gradientCheckpointing);
    v("training", "allreduce_dtype", c.allreduceDtype);
    v("training", "allreduce_bucket_mb", c.allreduceBucketMb);

    v("dpo", "beta", c.dpo.beta);
    v.en("dpo", "loss_type", kDpoLoss, c.dpo.lossType);
    v("dpo", "label_smoothing", c.dpo.labelSmoothing);
    v("dpo", "simpo_gamma", c.dpo.simpoGamma);
    v("dpo", "rpo_alpha", c.dpo.rpoAlpha);
    v.en("dpo", "reference", kDpoReference, c.dpo.reference);
    v("dpo", "cache_reference", c.dpo.cacheReference);

    v("output", "dir", c.outputDir);
}

// Collects the key table once, for unknown-key suggestions.
struct KeyCollector {
    std::vector<std::pair<std::string, std::string>> keys;
    template <typename T>
    void operator()(const char* s, const char* k, T&) { keys.emplace_back(s, k); }
    template <typename E, size_t N>
    void en(const char* s, const char* k, const EnumEntry<E> (&)[N], E&) { keys.emplace_back(s, k); }
};

const std::vector<std::pair<std::string, std::string>>& allKeys()
{
    static const auto keys = [] {
        TrainConfig c;
        KeyCollector k;
        visitFields(c, k);
        return k.keys;
    }();
    return keys;
}

} // namespace

const char* scalingModeName(ScalingMode m) { return enumName(kScaling, m); }
const char* initModeName(InitMode m) { return enumName(kInit, m); }
const char* parameterizationName(Parameterization m) { return enumName(kParam, m); }
const char* biasModeName(BiasMode m) { return enumName(kBias, m); }
const char* rankAllocationName(RankAllocation m) { return enumName(kAlloc, m); }
const char* lrScheduleName(LrSchedule s) { return enumName(kSchedule, s); }
const char* trainModeName(TrainMode m) { return enumName(kMode, m); }
const char* trainObjectiveName(TrainObjective o) { return enumName(kObjective, o); }
const char* dpoLossTypeName(DpoLossType t) { return enumName(kDpoLoss, t); }
const char* dpoReferenceName(DpoReference r) { return enumName(kDpoReference, r); }

const std::vector<std::string>& llamaProjectionNames()
{
    static const std::vector<std::string> names{"q_proj", "k_proj", "v_proj", "o_proj",
                                                "gate_proj", "up_proj", "down_proj"};
    return names;
}

json TrainConfig::toJson() const
{
    json j = json::object();
    Writer w{j};
    visitFields(*this, w);
    return j;
}

TrainConfig TrainConfig::fromJson(const json& j)
{
    if (!j.is_object())
        throw Error("a training config must be a JSON object, found " + std::string(j.type_name()));
    TrainConfig c;
    const KeyLocator* locate = KeyLocatorScope::current();
    Reader r{j, locate, {}};
    auto at = [&](const std::string& section, const std::string& key) {
        const std::string where = locate ? (*locate)(section, key) : std::string();
        return where.empty() ? std::string() : " (" + where + ")";
    };
    visitFields(c, r);

    std::vector<std::string> sections, flat;
    for (const auto& [s, k] : allKeys()) {
        if (std::find(sections.begin(), sections.end(), s) == sections.end())
            sections.push_back(s);
        flat.push_back(k);
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string sec = it.key();
        if (std::find(sections.begin(), sections.end(), sec) == sections.end()) {
            std::string msg = "unknown key '" + sec + "'" + at(sec, "");
            auto guess = closestName(sec, sections);
            if (!guess.empty())
                msg += " (did you mean '" + guess + "'?)";
            else if (std::find(flat.begin(), flat.end(), sec) != flat.end())
                for (const auto& [s, k] : allKeys())
                    if (k == sec) {
                        msg += " (it belongs in the '" + s + "' section)";
                        break;
                    }
            c.unknownKeys.push_back(msg);
            continue;
        }
        if (!it->is_object()) {
            c.unknownKeys.push_back("section '" + sec + "'" + at(sec, "") + " must be an object, found " + jsonValueText(*it));
            continue;
        }
        std::vector<std::string> known;
        for (const auto& [s, k] : allKeys())
            if (s == sec)
                known.push_back(k);
        for (auto kt = it->begin(); kt != it->end(); ++kt) {
            if (std::find(known.begin(), known.end(), kt.key()) != known.end())
                continue;
            std::string msg = "unknown key '" + kt.key() + "' in section '" + sec + "'";
            // A key of another section, written exactly, is named with its section; a misspelling
            // gets the closest key of this section, else of any section (with that section's name).
            std::string home;
            for (const auto& [s, k] : allKeys())
                if (k == kt.key() && home.empty())
                    home = s;
            if (!home.empty()) {
                msg += " (it belongs in the '" + home + "' section)";
            } else if (auto guess = closestName(kt.key(), known); !guess.empty()) {
                msg = "unknown key '" + kt.key() + "' (did you mean '" + guess + "'?) in section '" + sec + "'";
            } else if (guess = closestName(kt.key(), flat); !guess.empty()) {
                for (const auto& [s, k] : allKeys())
                    if (k == guess) {
                        msg = "unknown key '" + kt.key() + "' in section '" + sec + "' (did you mean '" + guess + "' in the '" +
                              s + "' section?)";
                        break;
                    }
            }
            msg += at(sec, kt.key());
            c.unknownKeys.push_back(msg);
        }
    }
    return c;
}

TrainConfig TrainConfig::load(const std::string& path)
{
    const std::string text = readFile(path);
    json j;
    YamlDocument doc;
    KeyLocator locate;
    if (isYamlPath(path)) {
        doc = readYaml(text, path);
        j = doc.value;
        // An empty file (or one of comments only) is no config at all, rather than one whose every
        // section was left out; a list or a scalar is not a mapping of sections.
        if (j.is_null() || (j.is_object() && j.empty()))
            throw Error(path + " holds no settings (the YAML document is empty): a training config names at least model.path "
                        "and data.train",
                        "the workbench's \"Copy CLI command\" writes a complete config");
        if (!j.is_object())
            throw Error(path + ": a training config is a mapping of sections (model:, data:, training: ...), found a YAML " +
                        (j.is_array() ? std::string("list") : std::string("scalar")));
        locate = [&doc](const std::string& section, const std::string& key) {
            return doc.where("/" + section + (key.empty() ? "" : "/" + key));
        };
    } else {
        // Windows editors save "Unicode" text as UTF-16 with a byte order mark; the JSON reader would
        // report its first NUL byte as damage. (YAML reads UTF-16 and UTF-32 itself.)
        const auto startsWith = [&](const char* bom, std::size_t n) { return text.size() >= n && text.compare(0, n, bom, n) == 0; };
        const char* encoding = startsWith("\xFF\xFE\0\0", 4) || startsWith("\0\0\xFE\xFF", 4) ? "UTF-32"
                               : startsWith("\xFF\xFE", 2) || startsWith("\xFE\xFF", 2)           ? "UTF-16"
                                                                                                : nullptr;
        if (encoding)
            throw Error(path + " is " + encoding + " text (it starts with a " + encoding + " byte order mark); a JSON config is UTF-8",
                        "save the file as UTF-8");
        // A key written twice is refused naming it; nlohmann alone would keep one of the values silently.
        j = models::parseJsonStrict(text, path);
    }
    // Relative paths in the file are taken from its folder, wherever `rslora train` runs.
    resolveConfigPaths(j, configFolder(path));
    try {
        const KeyLocatorScope scope(locate);
        return fromJson(j);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what(), e.hint());
    }
}

void TrainConfig::save(const std::string& path) const
{
    writeFileAtomic(path, toJson().dump(2) + "\n");
}

} // namespace rslora::engine
