// TrainConfig JSON round-trip through one field table, plus validate().
#include "engine/TrainConfig.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "common/UserRegex.h"
#include "engine/ConfigPaths.h"
#include "engine/ConfigYaml.h"
#include "engine/ModuleSelection.h"
#include "engine/objectives/DpoLimits.h"
#include "models/StrictJson.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <filesystem>
#include <cmath>
#include <regex>
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
            if (!j->is_number_integer() || !representable<int>(*j))
                throw Error(where(s, k) + ": expected an integer, found " + jsonValueText(*j));
            v = j->get<int>();
        }
    }
    void operator()(const char* s, const char* k, int64_t& v)
    {
        if (auto* j = find(s, k)) {
            if (!j->is_number_integer())
                throw Error(where(s, k) + ": expected an integer, found " + jsonValueText(*j));
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
            auto guess = closestName(kt.key(), known);
            if (guess.empty())
                guess = closestName(kt.key(), flat);
            if (!guess.empty())
                msg = "unknown key '" + kt.key() + "' (did you mean '" + guess + "'?) in section '" + sec + "'";
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

std::vector<std::string> validate(const TrainConfig& c, const ValidationFacts& facts)
{
    std::vector<std::string> errors = c.unknownKeys;
    auto need = [&](bool ok, const std::string& msg) {
        if (!ok)
            errors.push_back(msg);
    };
    auto num = [](double v) {
        std::string s = std::to_string(v);
        while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.')
            s.pop_back();
        return s;
    };
    const AdapterConfig& a = c.adapter;

    need(!c.modelPath.empty(), "model.path is empty: name a Hugging Face model folder");
    need(!c.trainData.empty(), "data.train is empty: name a JSONL file of training samples");
    need(!c.outputDir.empty(), "output.dir is empty: name a folder for checkpoints and adapters");
    need(c.device == "cpu" || c.device == "cuda" || c.device.rfind("cuda:", 0) == 0,
         "model.device must be 'cpu', 'cuda' or 'cuda:N', found '" + c.device + "'");
    need(std::find(std::begin(kModelDtypes), std::end(kModelDtypes), c.dtype) != std::end(kModelDtypes),
         "model.dtype must be 'float32', 'bfloat16' or 'float16', found '" + c.dtype + "'");
    need(!(c.dtype == "float16" && c.device == "cpu"),
         "model.dtype 'float16' needs a CUDA device: LibTorch's CPU kernels have no float16 matrix product; "
         "use 'bfloat16' or 'float32' on the CPU");
    need(c.adapterDtype == "float32" || c.adapterDtype == c.dtype,
         "model.adapter_dtype must be 'float32' or the model.dtype ('" + c.dtype + "'), found '" + c.adapterDtype + "'");
    need(!(c.adapterDtype == "float16" && c.dtype == "float16"),
         "model.adapter_dtype 'float16' is not offered: float16 adapters lose AdamW's small updates; use 'float32'");
    need(c.quantization == "none" || c.quantization == "nf4" || c.quantization == "fp4",
         "model.quantization must be 'none', 'nf4' or 'fp4', found '" + c.quantization + "'");
    if (c.quantization != "none") {
        const std::string q = "model.quantization '" + c.quantization + "'";
        need(c.mode != TrainMode::Full, q + " keeps the base frozen in 4 bits; training.mode 'full' needs model.quantization 'none'");
        need(a.init != InitMode::Spectral,
             q + ": adapter.init 'spectral' needs the full-precision base weight; use lora, gaussian or rescaled, or model.quantization 'none'");
        need(a.allocation != RankAllocation::Sensitivity,
             q + ": adapter.rank_allocation 'sensitivity' needs gradients of the base weights; use uniform or pattern, or model.quantization 'none'");
    }
    need(c.threads >= 0, "model.threads must be >= 0 (0 = automatic), found " + std::to_string(c.threads));
    need(c.validationSplit >= 0.0 && c.validationSplit < 1.0,
         "data.validation_split must be in [0, 1), found " + num(c.validationSplit));
    need(c.maxSeqLen >= 2, "data.max_seq_len must be >= 2, found " + std::to_string(c.maxSeqLen));

    need(c.learningRate > 0 && std::isfinite(c.learningRate), "training.learning_rate must be > 0, found " + num(c.learningRate));
    need(c.weightDecay >= 0 && std::isfinite(c.weightDecay), "training.weight_decay must be >= 0, found " + num(c.weightDecay));
    need(c.beta1 >= 0 && c.beta1 < 1, "training.beta1 must be in [0, 1), found " + num(c.beta1));
    need(c.beta2 >= 0 && c.beta2 < 1, "training.beta2 must be in [0, 1), found " + num(c.beta2));
    need(c.eps > 0 && std::isfinite(c.eps), "training.eps must be > 0, found " + num(c.eps));
    // NaN would switch clipping off silently (every comparison with it is false); infinity means "no clipping" and is refused as such.
    need(std::isfinite(c.clipNorm), "training.clip_norm must be a number (<= 0: no clipping), found " + num(c.clipNorm));
    need(c.warmupSteps >= 0, "training.warmup_steps must be >= 0, found " + std::to_string(c.warmupSteps));
    need(c.minLrRatio >= 0 && c.minLrRatio <= 1, "training.min_lr_ratio must be in [0, 1], found " + num(c.minLrRatio));
    need(c.batchSize >= 1, "training.batch_size must be >= 1, found " + std::to_string(c.batchSize));
    need(c.gradAccumulation >= 1, "training.gradient_accumulation must be >= 1, found " + std::to_string(c.gradAccumulation));
    need(c.maxSteps > 0 || c.epochs >= 1, "training.epochs must be >= 1 when training.max_steps is 0, found " + std::to_string(c.epochs));
    need(c.maxSteps >= 0, "training.max_steps must be >= 0, found " + std::to_string(c.maxSteps));
    need(c.logEvery >= 1, "training.log_every must be >= 1, found " + std::to_string(c.logEvery));
    need(c.evalEvery >= 0, "training.eval_every must be >= 0, found " + std::to_string(c.evalEvery));
    need(c.saveEvery >= 0, "training.save_every must be >= 0, found " + std::to_string(c.saveEvery));
    need(c.lossChunkTokens >= 1, "training.loss_chunk_tokens must be >= 1, found " + std::to_string(c.lossChunkTokens));
    need(c.allreduceDtype == "float32" || c.allreduceDtype == "bfloat16" || c.allreduceDtype == "float16",
         "training.allreduce_dtype must be 'float32', 'bfloat16' or 'float16', found '" + c.allreduceDtype + "'");
    need(!(c.allreduceDtype == "bfloat16" && c.device == "cpu"),
         "training.allreduce_dtype 'bfloat16' needs NCCL (model.device 'cuda'): Gloo, the CPU's backend, has no bfloat16 "
         "all-reduce; use 'float16' or 'float32'");
    need(c.allreduceBucketMb >= 1 && c.allreduceBucketMb <= 4096,
         "training.allreduce_bucket_mb must be in [1, 4096], found " + std::to_string(c.allreduceBucketMb));

    if (c.objective == TrainObjective::Dpo) {
        const DpoConfig& d = c.dpo;
        need(c.mode == TrainMode::Lora,
             "training.objective 'dpo' needs training.mode 'lora': the reference is the frozen base the adapter trains on");
        const std::string scale = objectives::dpoScaleProblem(d.beta, d.lossType == DpoLossType::Ipo, d.lossType == DpoLossType::Simpo,
                                                              d.simpoGamma);
        need(scale.empty(), scale);
        need(std::isfinite(d.labelSmoothing) && d.labelSmoothing >= 0 && d.labelSmoothing < 0.5,
             "dpo.label_smoothing must be in [0, 0.5), found " + num(d.labelSmoothing));
        need(d.labelSmoothing == 0 || d.lossType != DpoLossType::Ipo,
             "dpo.label_smoothing applies to the sigmoid and simpo losses, not to dpo.loss_type 'ipo'; set it to 0");
        need(std::isfinite(d.simpoGamma) && d.simpoGamma >= 0, "dpo.simpo_gamma must be >= 0, found " + num(d.simpoGamma));
        need(std::isfinite(d.rpoAlpha) && d.rpoAlpha >= 0, "dpo.rpo_alpha must be >= 0, found " + num(d.rpoAlpha));
        need(d.reference != DpoReference::Stack || !a.stackOn.empty() || d.lossType == DpoLossType::Simpo,
             std::string(kStackReferenceProblem) + ": name the frozen earlier stages, or use 'base'");
    }

    if (c.mode == TrainMode::Lora) {
        need(a.rank >= 1, "adapter.r must be >= 1, found " + std::to_string(a.rank));
        need(a.alpha > 0 && std::isfinite(a.alpha), "adapter.lora_alpha must be > 0, found " + num(a.alpha));
        need(a.dropout >= 0 && a.dropout < 1, "adapter.lora_dropout must be in [0, 1), found " + num(a.dropout));
        need(a.initSigma > 0 && std::isfinite(a.initSigma), "adapter.init_sigma must be > 0, found " + num(a.initSigma));
        need(a.svdIterations >= 0, "adapter.svd_iterations must be >= 0, found " + std::to_string(a.svdIterations));
        need(a.subspaceDim >= 1, "adapter.subspace_dim must be >= 1, found " + std::to_string(a.subspaceDim));
        need(a.loraPlusRatio > 0 && std::isfinite(a.loraPlusRatio), "adapter.loraplus_lr_ratio must be > 0 (1 = off), found " + num(a.loraPlusRatio));
        need(a.balancing.beta >= 0 && a.balancing.beta < 1, "adapter.balance_beta must be in [0, 1), found " + num(a.balancing.beta));
        need(a.balancing.band > 1 && std::isfinite(a.balancing.band), "adapter.balance_band must be > 1, found " + num(a.balancing.band));
        need(a.balancing.target > 0 && std::isfinite(a.balancing.target), "adapter.balance_target must be > 0, found " + num(a.balancing.target));
        need(a.sensitivity.probeBatches >= 1, "adapter.sensitivity_probe_batches must be >= 1, found " + std::to_string(a.sensitivity.probeBatches));
        need(a.sensitivity.beta >= 0 && a.sensitivity.beta < 1, "adapter.sensitivity_beta must be in [0, 1), found " + num(a.sensitivity.beta));
        need(a.sensitivity.parameterBudget >= 0, "adapter.parameter_budget must be >= 0, found " + std::to_string(a.sensitivity.parameterBudget));
        need(!a.sensitivity.candidateRanks.empty(), "adapter.sensitivity_candidate_ranks is empty");
        for (int r : a.sensitivity.candidateRanks)
            need(r >= 1, "adapter.sensitivity_candidate_ranks holds " + std::to_string(r) + "; ranks must be >= 1");
        need(a.allocation != RankAllocation::Pattern || !a.rankPattern.empty() || !a.alphaPattern.empty(),
             "adapter.rank_allocation is 'pattern' but adapter.rank_pattern and adapter.alpha_pattern are empty");
        need(!a.name.empty() && a.name.find_first_of("./ ") == std::string::npos,
             "adapter.name must be non-empty without '.', '/' or spaces, found '" + a.name + "'");
        for (const auto& [p, r] : a.rankPattern) {
            need(r >= 1, "adapter.rank_pattern['" + p + "'] must be >= 1, found " + std::to_string(r));
            if (const std::string why = userRegexProblem(p); !why.empty())
                errors.push_back("adapter.rank_pattern key '" + p + "' is not a valid regex (" + why + ")");
        }
        for (const auto& [p, v] : a.alphaPattern) {
            need(v > 0, "adapter.alpha_pattern['" + p + "'] must be > 0, found " + num(v));
            if (const std::string why = userRegexProblem(p); !why.empty())
                errors.push_back("adapter.alpha_pattern key '" + p + "' is not a valid regex (" + why + ")");
        }
        for (const auto& stage : a.stackOn) {
            // A name the file system refuses (too long, a parent without permission) is a problem
            // of this field, not an exception.
            std::error_code ec;
            const bool found = std::filesystem::exists(std::filesystem::path(stage) / "adapter_config.json", ec);
            if (ec)
                errors.push_back("adapter.stack_on names '" + stage + "', which cannot be read (" + ec.message() + ")");
            else
                need(found, "adapter.stack_on names '" + stage + "', which is not a PEFT adapter folder (no adapter_config.json)");
        }
        if (!a.targetRegex.empty()) {
            if (const std::string why = userRegexProblem(a.targetRegex); !why.empty()) {
                // A pattern pasted by mistake can be very long: quote its start only, so the message
                // (and the form's field error, which cannot wrap inside it) stays readable.
                const std::string shown = a.targetRegex.size() > 80 ? a.targetRegex.substr(0, 60) + "..." : a.targetRegex;
                errors.push_back("adapter.target_regex '" + shown + "' is not a valid regex (" + why + ")");
            }
        } else {
            need(!a.targetModules.empty(), "adapter.target_modules is empty: name modules (q_proj, ..., down_proj), 'all-linear', or set adapter.target_regex");
        }

        // Target names against the model (or the Llama table when no model is at hand).
        std::vector<std::string> shortNames;
        if (facts.haveModel) {
            for (const auto& m : facts.modules)
                if (std::find(shortNames.begin(), shortNames.end(), m.shortName) == shortNames.end())
                    shortNames.push_back(m.shortName);
        } else {
            shortNames = llamaProjectionNames();
            shortNames.push_back("lm_head");
        }
        if (a.targetRegex.empty()) {
            for (const auto& t : a.targetModules) {
                if (t == "all-linear")
                    continue;
                bool known = std::find(shortNames.begin(), shortNames.end(), t) != shortNames.end();
                if (!known && facts.haveModel)
                    for (const auto& m : facts.modules)
                        known = known || m.name == t || (m.name.size() > t.size() && m.name.compare(m.name.size() - t.size(), t.size(), t) == 0 && m.name[m.name.size() - t.size() - 1] == '.');
                if (known)
                    continue;
                std::string list;
                for (const auto& s : shortNames)
                    list += (list.empty() ? "" : ", ") + s;
                std::string msg = "adapter.target_modules: unknown target module '" + t + "'";
                const auto guess = closestName(t, shortNames);
                if (!guess.empty())
                    msg += " (did you mean '" + guess + "'?)";
                errors.push_back(msg + "; the model's linear modules are " + list);
            }
        }
        if (facts.haveModel) {
            for (int l : a.layersToTransform)
                need(l >= 0 && l < facts.numLayers, "adapter.layers_to_transform holds layer " + std::to_string(l)
                         + " but the model has layers 0.." + std::to_string(facts.numLayers - 1));
            const auto plans = planModules(a, facts.modules);
            need(!plans.empty() || errors.size() > c.unknownKeys.size(),
                 std::string(a.targetRegex.empty() ? "adapter.target_modules" : "adapter.target_regex") + ": no module of the model matches the adapter's targets");
            for (const auto& p : plans) {
                const int64_t maxRank = std::min(p.module.inFeatures, p.module.outFeatures);
                // Keyed by the field the rank came from, so the form shows it there.
                const std::string field = p.rank == a.rank ? "adapter.r: " : "adapter.rank_pattern: ";
                need(p.rank <= maxRank, field + "rank " + std::to_string(p.rank) + " for " + p.module.name + " is larger than the layer allows (min(in, out) = "
                         + std::to_string(maxRank) + ")");
                if (p.rank > maxRank)
                    break; // one line is enough; every layer of that shape would repeat it
            }
        }
    }

    if (facts.haveData) {
        need(facts.train.samples > 0, "data.train: training data '" + facts.train.path + "' holds no samples");
        need(facts.train.samples == 0 || facts.train.supervisedTokens > 0,
             "data.train: every label in training data '" + facts.train.path + "' is masked: there is no response token to learn");
        // A split of fewer than two samples holds nothing out (validationCount): the run would train
        // without the evaluation the config asks for.
        need(!(c.validationData.empty() && c.validationSplit > 0 && facts.train.samples > 0 && facts.validation.samples == 0),
             "data.validation_split " + num(c.validationSplit) + " holds out no sample: training data '" + facts.train.path +
                 "' has " + std::to_string(facts.train.samples) + " sample" + (facts.train.samples == 1 ? "" : "s") +
                 " and a split needs at least 2; add samples, name a data.validation file, or set data.validation_split to 0");
        if (facts.haveValidation) {
            need(facts.validation.samples > 0, "data.validation: validation data '" + facts.validation.path + "' holds no samples");
            need(facts.validation.samples == 0 || facts.validation.supervisedTokens > 0,
                 "data.validation: every label in validation data '" + facts.validation.path + "' is masked");
        }
    }
    return errors;
}

void validateOrThrow(const TrainConfig& config, const ValidationFacts& facts)
{
    const auto errors = validate(config, facts);
    if (errors.empty())
        return;
    std::string msg = errors.size() == 1 ? errors.front() : "the training config has " + std::to_string(errors.size()) + " problems:";
    if (errors.size() > 1)
        for (const auto& e : errors)
            msg += "\n  - " + e;
    throw Error(msg);
}

} // namespace rslora::engine
