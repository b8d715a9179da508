// Pipeline configs: reading and the per-stage training configs (see PipelineConfig.h). No LibTorch:
// the check before training, which reads the model's config.json, is in PipelineChecks.cpp.
#include "engine/pipeline/PipelineConfig.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "engine/ConfigPaths.h"
#include "engine/ModuleSelection.h"
#include "models/StrictJson.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace rslora::engine::pipeline {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kTopKeys{keys::kPipeline, keys::kBase, keys::kStages};
const std::vector<std::string> kPipelineKeys{keys::kName, keys::kOutputDir};
const std::vector<std::string> kStageKeys{keys::kName,          keys::kObjective, keys::kData,      keys::kOverrides,
                                          keys::kMergeIntoBase, keys::kFrom,      keys::kCurriculum};

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
// Returns "" or the problem (a section given both as a value and with keys).
json normalizeOverrides(const json& overrides, std::string& problem)
{
    json out = json::object();
    for (auto it = overrides.begin(); it != overrides.end(); ++it) {
        const auto dot = it.key().find('.');
        const std::string section = dot == std::string::npos ? it.key() : it.key().substr(0, dot);
        json& into = out[section];
        if (dot == std::string::npos && !into.is_null() && !(into.is_object() && it->is_object())) {
            problem = "'" + section + "' is given twice (as '" + section + "' and with dotted keys)";
            continue;
        }
        if (dot == std::string::npos) {
            if (into.is_object())
                into.update(*it); // dotted keys given before the section: both kept
            else
                into = *it;
        } else if (into.is_null() || into.is_object()) {
            into[it.key().substr(dot + 1)] = *it;
        } else {
            problem = "'" + it.key() + "' sets a key of '" + section + "', which is given as " + jsonValueText(into);
        }
    }
    return out;
}

} // namespace

std::optional<VersionReference> parseVersionReference(const std::string& text)
{
    // NAME@vN with N of 1 to 15 digits, scanned by hand (std::regex recursed once per character of
    // NAME). NAME is everything before the last "@v", on one line.
    const std::size_t at = text.rfind("@v");
    if (at == std::string::npos || at == 0)
        return std::nullopt;
    const std::string name = text.substr(0, at), number = text.substr(at + 2);
    if (number.empty() || number.size() > 15 || name.find_first_of("\r\n") != std::string::npos ||
        !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    return VersionReference{name, std::stoll(number)};
}

bool PipelineConfig::isPipeline(const json& j)
{
    return j.is_object() && std::any_of(kTopKeys.begin(), kTopKeys.end(), [&j](const std::string& k) { return j.contains(k); });
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
    // Duplicate keys are refused naming the key (models/StrictJson.h), as in training configs.
    const json j = models::parseJsonStrict(text, path);
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
                    problem("/pipeline/" + it.key(), "pipeline." + it.key() + " must be a string, found " + jsonValueText(*it));
            }
            // A value of another type is listed above; the default stands in for it.
            auto text = [&p](const char* key, const std::string& fallback) {
                const auto it = p->find(key);
                return it != p->end() && it->is_string() ? it->get<std::string>() : fallback;
            };
            c.name = text(keys::kName, c.name);
            c.outputDir = resolveConfigPath(text(keys::kOutputDir, std::string()), folder);
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
                c.base = models::parseJsonStrict(text, basePath);
            resolveConfigPaths(c.base, configFolder(basePath));
        }
    } else if (b->is_object()) {
        c.base = *b;
        resolveConfigPaths(c.base, folder);
    } else {
        problem("/base", "pipeline: 'base' must be a training config (a mapping) or the path of one, found " + jsonValueText(*b));
    }
    // The base's output.dir when it is a string (another type is the stage configs' problem).
    if (c.outputDir.empty() && c.base.is_object())
        if (const auto o = c.base.find("output"); o != c.base.end() && o->is_object())
            if (const auto d = o->find("dir"); d != o->end() && d->is_string())
                c.outputDir = d->get<std::string>();

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
            problem(ptr, "stage " + std::to_string(i + 1) + ": must be a mapping (name, objective, data, ...), found " + jsonValueText(st));
            spec.readable = false;
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
                problem(ptr + "/" + key, label + ": '" + key + "' must be a string, found " + jsonValueText(*v));
        };
        if (auto n = st.find(keys::kName); n != st.end() && !n->is_string())
            problem(ptr + "/name", label + ": 'name' must be a string, found " + jsonValueText(*n));
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
                problem(ptr + "/data", label + ": 'data' must be the training file or a mapping (train, validation, ...), found " + jsonValueText(*d));
        }
        if (auto o = st.find(keys::kOverrides); o != st.end() && !o->is_null()) {
            if (o->is_object()) {
                std::string clash;
                spec.overrides = normalizeOverrides(*o, clash);
                if (!clash.empty())
                    problem(ptr + "/overrides", label + ": overrides: " + clash);
                resolveConfigPaths(spec.overrides, folder);
            } else
                problem(ptr + "/overrides", label + ": 'overrides' must be a mapping of config keys (training: {max_steps: 50}), found " + jsonValueText(*o));
        }
        if (auto m = st.find(keys::kMergeIntoBase); m != st.end() && !m->is_null()) {
            if (m->is_boolean())
                spec.mergeIntoBase = m->get<bool>();
            else
                problem(ptr + "/merge_into_base", label + ": 'merge_into_base' must be true or false, found " + jsonValueText(*m));
        }
        if (auto cu = st.find(keys::kCurriculum); cu != st.end() && !cu->is_null()) {
            if (!cu->is_object()) {
                problem(ptr + "/curriculum", label + ": 'curriculum' must be a mapping {schedule: linear|cosine, floor: 0.3}, found " + jsonValueText(*cu));
            } else {
                spec.curriculum.schedule = CurriculumSchedule::Linear;
                for (auto it = cu->begin(); it != cu->end(); ++it) {
                    const std::string kp = ptr + "/curriculum/" + it.key();
                    if (it.key() == keys::kSchedule) {
                        try {
                            spec.curriculum.schedule = parseCurriculumSchedule(it->is_string() ? it->get<std::string>() : jsonValueText(*it));
                        } catch (const Error& e) {
                            problem(kp, label + ": curriculum.schedule: " + e.what());
                        }
                    } else if (it.key() == keys::kFloor) {
                        if (it->is_number())
                            spec.curriculum.floor = it->get<double>();
                        else
                            problem(kp, label + ": curriculum.floor must be a number in [0, 1], found " + jsonValueText(*it));
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
        if (!key.empty() && m_setOnCommandLine.count(section + "." + key))
            return "--set " + section + "." + key;
        return where("/base/" + section + (key.empty() ? "" : "/" + key));
    };
}

void PipelineConfig::setBaseValue(const std::string& section, const std::string& key, const json& value)
{
    const std::string text = section + "." + key + "=" + jsonValueText(value);
    if (section.empty() || key.empty())
        throw Error("--set expects section.key=value, found '" + text + "'");
    if (!base.is_object())
        base = json::object();
    json& into = base[section];
    if (!into.is_null() && !into.is_object())
        throw Error("--set " + section + "." + key + ": '" + section + "' in the base config is not a mapping of keys, found "
                    + jsonValueText(into));
    into[key] = value;
    m_setOnCommandLine.insert(section + "." + key);
}

TrainConfig PipelineConfig::stageConfig(size_t i) const
{
    const StageSpec& s = stages.at(i);
    json j = base.is_object() ? base : json::object();
    // The sections the stage writes into must be mappings (a base or override that sets one to a
    // value would otherwise fail inside the JSON library).
    auto section = [&](const char* name) -> json& {
        json& v = j[name];
        if (!v.is_null() && !v.is_object())
            throw Error("'" + std::string(name) + "' must be a mapping of keys, found " + jsonValueText(v));
        return v;
    };
    if (!s.data.empty())
        mergeInto(section("data"), s.data);
    mergeInto(j, s.overrides);
    for (const char* name : {"data", "adapter", "training", "output"})
        if (j.contains(name))
            (void)section(name);
    j["adapter"]["name"] = s.name;
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

} // namespace rslora::engine::pipeline
