// Pipeline configs: reading, per-stage training configs, and the check before training (see
// PipelineConfig.h).
#include "engine/pipeline/PipelineConfig.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/ConfigPaths.h"
#include "engine/ModuleSelection.h"
#include "engine/TrainingRun.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>

namespace rslora::engine::pipeline {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kTopKeys{keys::kPipeline, keys::kBase, keys::kStages};
const std::vector<std::string> kPipelineKeys{keys::kName, keys::kOutputDir};
const std::vector<std::string> kStageKeys{keys::kName,          keys::kObjective, keys::kData,      keys::kOverrides,
                                          keys::kMergeIntoBase, keys::kFrom,      keys::kCurriculum};
const std::vector<std::string> kObjectives{"sft", "dpo"};

// Deep merge of `over` into `into` (objects merge, everything else replaces).
void mergeInto(json& into, const json& over)
{
    for (auto it = over.begin(); it != over.end(); ++it) {
        if (it->is_object() && into.contains(it.key()) && into[it.key()].is_object())
            mergeInto(into[it.key()], *it);
        else
            into[it.key()] = *it;
    }
}

// Overrides as {section: {key: value}}; "section.key: value" is accepted too.
json normalizeOverrides(const json& overrides)
{
    json out = json::object();
    for (auto it = overrides.begin(); it != overrides.end(); ++it) {
        const auto dot = it.key().find('.');
        if (dot != std::string::npos)
            out[it.key().substr(0, dot)][it.key().substr(dot + 1)] = *it;
        else
            out[it.key()] = *it;
    }
    return out;
}

// Whether this build's trainer knows training.objective (preference training).
bool trainerKnowsObjective()
{
    static const bool known = TrainConfig().toJson()["training"].contains("objective");
    return known;
}

} // namespace

std::optional<VersionReference> parseVersionReference(const std::string& text)
{
    static const std::regex re(R"(^(.+)@v([0-9]{1,15})$)");
    std::smatch m;
    if (!std::regex_match(text, m, re))
        return std::nullopt;
    return VersionReference{m[1].str(), std::stoll(m[2].str())};
}

bool PipelineConfig::isPipeline(const json& j)
{
    return j.is_object() && j.contains(keys::kStages);
}

bool PipelineConfig::isPipelineFile(const std::string& path)
{
    const std::string text = readFile(path);
    if (isYamlPath(path)) {
        try {
            return isPipeline(yamlToJson(text, path));
        } catch (const Error&) {
            return false;
        }
    }
    const json j = json::parse(text, nullptr, false);
    return !j.is_discarded() && isPipeline(j);
}

PipelineConfig PipelineConfig::load(const std::string& path)
{
    const std::string text = readFile(path);
    const std::string stem = fs::path(path).stem().string();
    const std::string folder = fs::absolute(path).parent_path().string();
    if (isYamlPath(path)) {
        const YamlDocument doc = readYaml(text, path);
        PipelineConfig c = fromJson(doc.value, stem, folder, &doc);
        c.file = path;
        return c;
    }
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        throw Error(path + ": not valid JSON (" + e.what() + ")");
    }
    PipelineConfig c = fromJson(j, stem, folder);
    c.file = path;
    return c;
}

PipelineConfig PipelineConfig::fromJson(const json& j, const std::string& defaultName, const std::string& folder,
                                        const YamlDocument* positions)
{
    PipelineConfig c;
    c.name = defaultName;
    if (positions)
        c.m_positions = *positions;
    auto problem = [&c](const std::string& pointer, const std::string& msg) {
        const std::string at = c.where(pointer);
        c.m_readProblems.push_back(msg + (at.empty() ? "" : " (" + at + ")"));
    };
    if (!j.is_object())
        throw Error("a pipeline config must be a mapping with 'base' and 'stages', found " + std::string(j.type_name()));
    // Top-level keys starting with "x-" hold anchors for the rest of the file and are ignored.
    for (auto it = j.begin(); it != j.end(); ++it)
        if (std::find(kTopKeys.begin(), kTopKeys.end(), it.key()) == kTopKeys.end() && it.key().rfind("x-", 0) != 0)
            problem("/" + it.key(), "pipeline: " + unknownKeyMessage(it.key(), kTopKeys));

    if (auto p = j.find(keys::kPipeline); p != j.end()) {
        if (!p->is_object()) {
            problem("/pipeline", "pipeline: 'pipeline' must be a mapping (name, output_dir)");
        } else {
            for (auto it = p->begin(); it != p->end(); ++it) {
                if (std::find(kPipelineKeys.begin(), kPipelineKeys.end(), it.key()) == kPipelineKeys.end())
                    problem("/pipeline/" + it.key(), "pipeline: " + unknownKeyMessage(it.key(), kPipelineKeys));
                else if (!it->is_string())
                    problem("/pipeline/" + it.key(), "pipeline." + it.key() + " must be a string, found " + it->dump());
            }
            c.name = p->value(keys::kName, c.name);
            c.outputDir = resolveConfigPath(p->value(keys::kOutputDir, std::string()), folder);
        }
    }

    // The base: a mapping, or the path of a training config file.
    if (auto b = j.find(keys::kBase); b == j.end()) {
        problem("", "pipeline: 'base' is missing: give the training config the stages start from");
    } else if (b->is_string()) {
        const std::string basePath = resolveConfigPath(b->get<std::string>(), folder);
        if (!fs::exists(basePath)) {
            problem("/base", "pipeline: base config '" + basePath + "' does not exist");
        } else {
            const std::string text = readFile(basePath);
            if (isYamlPath(basePath))
                c.base = yamlToJson(text, basePath);
            else
                try {
                    c.base = json::parse(text);
                } catch (const json::parse_error& e) {
                    throw Error(basePath + ": not valid JSON (" + e.what() + ")");
                }
            resolveConfigPaths(c.base, configFolder(basePath));
        }
    } else if (b->is_object()) {
        c.base = *b;
        resolveConfigPaths(c.base, folder);
    } else {
        problem("/base", "pipeline: 'base' must be a training config (a mapping) or the path of one, found " + b->dump());
    }
    if (c.outputDir.empty() && c.base.is_object())
        c.outputDir = c.base.value("/output/dir"_json_pointer, std::string());

    auto s = j.find(keys::kStages);
    if (s == j.end() || !s->is_array() || s->empty()) {
        problem("/stages", "pipeline: 'stages' must be a non-empty list of stages (name, data, ...)");
        return c;
    }
    for (size_t i = 0; i < s->size(); ++i) {
        const json& st = (*s)[i];
        const std::string ptr = "/stages/" + std::to_string(i);
        StageSpec spec;
        spec.name = "stage" + std::to_string(i + 1);
        if (!st.is_object()) {
            problem(ptr, "stage " + std::to_string(i + 1) + ": must be a mapping (name, objective, data, ...), found " + st.dump());
            c.stages.push_back(spec);
            continue;
        }
        if (auto n = st.find(keys::kName); n != st.end() && n->is_string())
            spec.name = n->get<std::string>();
        const std::string label = "stage '" + spec.name + "'";
        for (auto it = st.begin(); it != st.end(); ++it)
            if (std::find(kStageKeys.begin(), kStageKeys.end(), it.key()) == kStageKeys.end())
                problem(ptr + "/" + it.key(), label + ": " + unknownKeyMessage(it.key(), kStageKeys));
        auto str = [&](const char* key, std::string& out) {
            auto v = st.find(key);
            if (v == st.end() || v->is_null())
                return;
            if (v->is_string())
                out = v->get<std::string>();
            else
                problem(ptr + "/" + key, label + ": '" + key + "' must be a string, found " + v->dump());
        };
        if (auto n = st.find(keys::kName); n != st.end() && !n->is_string())
            problem(ptr + "/name", label + ": 'name' must be a string, found " + n->dump());
        str(keys::kObjective, spec.objective);
        str(keys::kFrom, spec.from);
        if (auto d = st.find(keys::kData); d != st.end() && !d->is_null()) {
            if (d->is_string())
                spec.data = {{"train", resolveConfigPath(d->get<std::string>(), folder)}};
            else if (d->is_object()) {
                spec.data = *d;
                json wrapped = {{"data", spec.data}};
                resolveConfigPaths(wrapped, folder);
                spec.data = wrapped["data"];
            } else
                problem(ptr + "/data", label + ": 'data' must be the training file or a mapping (train, validation, ...), found " + d->dump());
        }
        if (auto o = st.find(keys::kOverrides); o != st.end() && !o->is_null()) {
            if (o->is_object()) {
                spec.overrides = normalizeOverrides(*o);
                resolveConfigPaths(spec.overrides, folder);
            } else
                problem(ptr + "/overrides", label + ": 'overrides' must be a mapping of config keys (training: {max_steps: 50}), found " + o->dump());
        }
        if (auto m = st.find(keys::kMergeIntoBase); m != st.end() && !m->is_null()) {
            if (m->is_boolean())
                spec.mergeIntoBase = m->get<bool>();
            else
                problem(ptr + "/merge_into_base", label + ": 'merge_into_base' must be true or false, found " + m->dump());
        }
        if (auto cu = st.find(keys::kCurriculum); cu != st.end() && !cu->is_null()) {
            if (!cu->is_object()) {
                problem(ptr + "/curriculum", label + ": 'curriculum' must be a mapping {schedule: linear|cosine, floor: 0.3}, found " + cu->dump());
            } else {
                spec.curriculum.schedule = CurriculumSchedule::Linear;
                for (auto it = cu->begin(); it != cu->end(); ++it) {
                    const std::string kp = ptr + "/curriculum/" + it.key();
                    if (it.key() == keys::kSchedule) {
                        try {
                            spec.curriculum.schedule = parseCurriculumSchedule(it->is_string() ? it->get<std::string>() : it->dump());
                        } catch (const Error& e) {
                            problem(kp, label + ": curriculum.schedule: " + e.what());
                        }
                    } else if (it.key() == keys::kFloor) {
                        if (it->is_number())
                            spec.curriculum.floor = it->get<double>();
                        else
                            problem(kp, label + ": curriculum.floor must be a number in [0, 1], found " + it->dump());
                    } else {
                        problem(kp, label + ": curriculum: " + unknownKeyMessage(it.key(), {keys::kSchedule, keys::kFloor}));
                    }
                }
            }
        }
        c.stages.push_back(spec);
    }
    return c;
}

json PipelineConfig::toJson() const
{
    json j;
    j[keys::kPipeline] = {{keys::kName, name}};
    if (!outputDir.empty())
        j[keys::kPipeline][keys::kOutputDir] = outputDir;
    j[keys::kBase] = base;
    j[keys::kStages] = json::array();
    for (const auto& s : stages) {
        json st = {{keys::kName, s.name}, {keys::kObjective, s.objective}};
        if (!s.data.empty())
            st[keys::kData] = s.data;
        if (!s.overrides.empty())
            st[keys::kOverrides] = s.overrides;
        if (s.mergeIntoBase)
            st[keys::kMergeIntoBase] = true;
        if (!s.from.empty())
            st[keys::kFrom] = s.from;
        if (s.curriculum.enabled())
            st[keys::kCurriculum] = {{keys::kSchedule, curriculumScheduleName(s.curriculum.schedule)},
                                     {keys::kFloor, s.curriculum.floor}};
        j[keys::kStages].push_back(st);
    }
    return j;
}

void PipelineConfig::save(const std::string& path) const
{
    writeFileAtomic(path, toJson().dump(2) + "\n");
}

std::string PipelineConfig::where(const std::string& pointer) const
{
    return m_positions.where(pointer);
}

std::string PipelineConfig::stageLabel(size_t i) const
{
    const std::string at = where("/stages/" + std::to_string(i));
    return "stage '" + stages[i].name + "'" + (at.empty() ? "" : " (" + at + ")");
}

KeyLocator PipelineConfig::stageLocator(size_t i) const
{
    // A key's value comes from the stage's overrides, else its data, else the base.
    return [this, i](const std::string& section, const std::string& key) {
        const StageSpec& s = stages[i];
        const std::string stage = "/stages/" + std::to_string(i);
        if (s.overrides.contains(section) && (key.empty() || (s.overrides[section].is_object() && s.overrides[section].contains(key)))) {
            const std::string dotted = where(stage + "/overrides/" + section + "." + key);
            const std::string nested = where(stage + "/overrides/" + section + (key.empty() ? "" : "/" + key));
            return m_positions.positions.count(stage + "/overrides/" + section + "." + key) ? dotted : nested;
        }
        if (section == "data" && !key.empty() && s.data.contains(key))
            return where(stage + "/data/" + key);
        return where("/base/" + section + (key.empty() ? "" : "/" + key));
    };
}

TrainConfig PipelineConfig::stageConfig(size_t i) const
{
    const StageSpec& s = stages.at(i);
    json j = base.is_object() ? base : json::object();
    if (!s.data.empty())
        mergeInto(j["data"], s.data);
    mergeInto(j, s.overrides);
    j["adapter"]["name"] = s.name;
    if (trainerKnowsObjective())
        j["training"]["objective"] = s.objective;
    j["adapter"]["stack_on"] = json::array();
    j["output"]["dir"] = stageFolder(i);
    const KeyLocatorScope scope(stageLocator(i));
    return TrainConfig::fromJson(j);
}

std::string PipelineConfig::stageFolder(size_t i) const
{
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%02zu-", i + 1);
    return (fs::path(outputDir) / (prefix + stages.at(i).name)).string();
}

std::vector<std::string> PipelineConfig::problems(const std::function<std::string(const std::string&)>& checkFrom) const
{
    std::vector<std::string> out = m_readProblems;
    std::set<std::string> names;
    std::string firstModel; // every trained stage adapts the same base model
    static const std::regex nameRe("^[A-Za-z0-9_-]{1,40}$");
    static const std::regex reserved("^stage[0-9]+$");
    for (size_t i = 0; i < stages.size(); ++i) {
        const StageSpec& s = stages[i];
        const std::string ptr = "/stages/" + std::to_string(i);
        auto add = [&](const std::string& key, const std::string& msg) {
            const std::string at = where(key.empty() ? ptr : ptr + "/" + key);
            out.push_back("stage '" + s.name + "'" + (at.empty() ? "" : " (" + at + ")") + ": " + msg);
        };
        if (!std::regex_match(s.name, nameRe))
            add("name", "name '" + s.name + "' must be 1 to 40 letters, digits, '-' or '_'");
        else if (std::regex_match(s.name, reserved) && !(s.name == "stage" + std::to_string(i + 1)))
            add("name", "name '" + s.name + "' is reserved for the stacked stages; choose another");
        if (!names.insert(s.name).second)
            add("name", "name '" + s.name + "' is used by an earlier stage; stage names must differ");
        if (std::find(kObjectives.begin(), kObjectives.end(), s.objective) == kObjectives.end())
            add("objective", "objective '" + s.objective + "' is unknown (expected 'sft' or 'dpo')");
        else if (s.objective != "sft" && !trainerKnowsObjective())
            add("objective", "objective '" + s.objective + "' needs preference training (training.objective), which this build lacks");
        if (s.curriculum.enabled()) {
            if (!(s.curriculum.floor >= 0.0 && s.curriculum.floor <= 1.0))
                add("curriculum", "curriculum.floor must be in [0, 1], found " + std::to_string(s.curriculum.floor));
            if (i == 0)
                add("curriculum", "curriculum fusion decays the earlier stages' weights, but this is the first stage");
            else if (s.mergeIntoBase)
                add("curriculum", "curriculum fusion needs the earlier stages stacked; with merge_into_base they are merged into the base");
        }
        if (s.mergeIntoBase && i == 0)
            add("merge_into_base", "merge_into_base: there is no earlier stage to merge into the base");
        if (!s.trained()) {
            if (!parseVersionReference(s.from))
                add("from", "from '" + s.from + "' must name a stored version as task@vN (e.g. chat_sft@v3)");
            else if (checkFrom) {
                const std::string why = checkFrom(s.from);
                if (!why.empty())
                    add("from", "from '" + s.from + "': " + why);
            }
            if (!s.data.empty())
                add("data", "takes its adapter from '" + s.from + "' and trains nothing; remove 'data'");
            if (!s.overrides.empty())
                add("overrides", "takes its adapter from '" + s.from + "' and trains nothing; remove 'overrides'");
            if (s.curriculum.enabled())
                add("curriculum", "takes its adapter from '" + s.from + "' and trains nothing; remove 'curriculum'");
            continue;
        }
        TrainConfig cfg;
        try {
            cfg = stageConfig(i);
        } catch (const Error& e) {
            add("", e.what());
            continue;
        }
        if (firstModel.empty())
            firstModel = cfg.modelPath;
        else if (cfg.modelPath != firstModel)
            add("", "model.path '" + cfg.modelPath + "' differs from the earlier stages' '" + firstModel
                        + "'; the stages of a pipeline adapt one base model");
        if (cfg.mode != TrainMode::Lora)
            add("", "training.mode must be 'lora' in a pipeline: every stage trains an adapter");
        if (outputDir.empty())
            cfg.outputDir = "(the pipeline's own folder)";
        const ValidationFacts facts = modelFacts(cfg.modelPath);
        // The runner stacks the stages below onto every later stage that does not merge them into
        // the base, filling its adapter.stack_on only then: a 'stack' reference is checked here.
        for (const auto& e : validate(cfg, facts))
            if (i == 0 || e.rfind(kStackReferenceProblem, 0) != 0)
                add("", e);
        if (cfg.objective == TrainObjective::Dpo && cfg.dpo.reference == DpoReference::Stack && i > 0 && s.mergeIntoBase)
            add("dpo", "reference is 'stack' but the stages below are merged into the base (merge_into_base): "
                       "use reference 'base', which is then the merged model");
        if (!cfg.trainData.empty() && !fs::exists(cfg.trainData))
            add("", "data.train '" + cfg.trainData + "' does not exist" + [&] {
                const std::string at = stageLocator(i)("data", "train");
                return at.empty() ? std::string() : " (" + at + ")";
            }());
        if (!cfg.validationData.empty() && !fs::exists(cfg.validationData))
            add("", "data.validation '" + cfg.validationData + "' does not exist");
        if (!cfg.modelPath.empty() && !facts.haveModel)
            add("", "model.path '" + cfg.modelPath + "' is not a Hugging Face model folder (config.json is missing)");
    }
    return out;
}

void PipelineConfig::validateOrThrow(const std::function<std::string(const std::string&)>& checkFrom) const
{
    const auto errors = problems(checkFrom);
    if (errors.empty())
        return;
    const std::string head = (file.empty() ? "pipeline '" + name + "'" : file) + ": ";
    if (errors.size() == 1)
        throw Error(head + errors.front());
    std::string msg = head + std::to_string(errors.size()) + " problems, nothing was trained:";
    for (const auto& e : errors)
        msg += "\n  - " + e;
    throw Error(msg);
}

} // namespace rslora::engine::pipeline
