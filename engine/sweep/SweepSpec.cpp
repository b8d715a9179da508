// Sweep grids and lists, their `sweep:` block and `--vary` reading, and the expansion into runs.
#include "engine/sweep/SweepSpec.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "engine/ConfigPaths.h"
#include "engine/ConfigYaml.h"
#include "engine/ModuleSelection.h"
#include "models/StrictJson.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <optional>

namespace rslora::engine {

namespace {

const char* kSeedKey = "training.seed";
const std::vector<std::string> kSweepKeys{"vary", "list", "seeds", "evaluate"};
const std::vector<std::string> kEvaluationFiles{"exact_match", "multiple_choice", "preference"};
const std::vector<std::string> kEvaluationKeys{"exact_match", "multiple_choice", "preference", "max_new_tokens", "limit",
                                                "diagnostics"};

std::string valueText(const nlohmann::json& v)
{
    return v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// An integer training.seed takes: 0 to 2^64 - 1 (above 2^63 - 1 the JSON value is unsigned).
bool isSeed(const nlohmann::json& v)
{
    return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

// A swept value: any JSON a config key takes, but no NaN or infinity (YAML's .nan/.inf), which no
// key accepts and which would not even equal itself when the sweep is stored and read back.
const nlohmann::json& sweptValue(const nlohmann::json& v, const std::string& where)
{
    if (v.is_number_float() && !std::isfinite(v.get<double>())) {
        // Named as written: JSON has no spelling for them (it would print "null").
        const double x = v.get<double>();
        const std::string shown = std::isnan(x) ? "NaN (.nan)" : x > 0 ? "infinity (.inf)" : "-infinity (-.inf)";
        throw Error(where + ": " + shown + " is not a value a config key takes");
    }
    if (v.is_structured())
        for (const auto& item : v)
            sweptValue(item, where);
    return v;
}

// {"adapter.r": [...]} and {"adapter": {"r": [...]}} both name the key adapter.r.
void readVaryBlock(const nlohmann::json& vary, std::vector<SweepAxis>& axes)
{
    if (!vary.is_object())
        throw Error("sweep.vary: expected a mapping of config keys to lists of values, found " + jsonValueText(vary));
    for (auto it = vary.begin(); it != vary.end(); ++it) {
        if (it.key().find('.') == std::string::npos && it->is_object()) {
            for (auto kt = it->begin(); kt != it->end(); ++kt) {
                nlohmann::json one = nlohmann::json::object();
                one[it.key() + "." + kt.key()] = *kt;
                readVaryBlock(one, axes);
            }
            continue;
        }
        SweepAxis axis{parseConfigKey(it.key(), "sweep.vary"), {}};
        if (!it->is_array() || it->empty())
            throw Error("sweep.vary." + it.key() + ": expected a non-empty list of values, found " + jsonValueText(*it));
        for (const auto& v : *it)
            axis.values.push_back(sweptValue(v, "sweep.vary." + it.key()));
        axes.push_back(std::move(axis));
    }
}

} // namespace

std::string SweepPoint::combinationLabel() const
{
    if (combination.empty())
        return "(base config)";
    std::string s;
    for (const auto& [k, v] : combination)
        s += (s.empty() ? "" : ", ") + k + "=" + valueText(v);
    return s;
}

SweepSpec SweepSpec::fromJson(const nlohmann::json& block)
{
    SweepSpec spec;
    if (block.is_null())
        return spec;
    if (!block.is_object())
        throw Error("sweep: expected a mapping with vary, list and seeds, found " + jsonValueText(block));
    // "axes" is the stored form of vary (toJson), read back from the store.
    for (auto it = block.begin(); it != block.end(); ++it)
        if (std::find(kSweepKeys.begin(), kSweepKeys.end(), it.key()) == kSweepKeys.end() && it.key() != "axes")
            throw Error("sweep: " + unknownKeyMessage(it.key(), kSweepKeys));
    if (block.contains("vary"))
        readVaryBlock(block["vary"], spec.axes);
    // The stored form (toJson): axes as [[key, values], ...] in order.
    if (block.contains("axes")) {
        const auto& axes = block["axes"];
        if (!axes.is_array())
            throw Error("sweep.axes: expected a list of [key, values] pairs, found " + jsonValueText(axes));
        for (const auto& a : axes) {
            if (!a.is_array() || a.size() != 2 || !a[0].is_string() || !a[1].is_array() || a[1].empty())
                throw Error("sweep.axes: expected [key, [values...]], found " + jsonValueText(a));
            SweepAxis axis{parseConfigKey(a[0].get<std::string>(), "sweep.axes"), {}};
            for (const auto& v : a[1])
                axis.values.push_back(sweptValue(v, "sweep.axes." + a[0].get<std::string>()));
            spec.axes.push_back(std::move(axis));
        }
    }
    if (block.contains("evaluate")) {
        const auto& ev = block["evaluate"];
        if (!ev.is_object())
            throw Error("sweep.evaluate: expected a mapping (exact_match, multiple_choice, preference, max_new_tokens, "
                        "limit, diagnostics), found " + jsonValueText(ev));
        for (auto it = ev.begin(); it != ev.end(); ++it)
            spec.setEvaluation(it.key(), *it);
    }
    if (block.contains("list")) {
        const auto& list = block["list"];
        if (!list.is_array() || list.empty())
            throw Error("sweep.list: expected a non-empty list of {key: value} mappings, found " + jsonValueText(list));
        if (!spec.axes.empty())
            throw Error("sweep: give either vary (a grid) or list (explicit combinations), not both");
        for (size_t i = 0; i < list.size(); ++i) {
            // The stored form: [[key, value], ...].
            if (list[i].is_array() && !list[i].empty()) {
                SweepCombination c;
                for (const auto& kv : list[i]) {
                    if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string())
                        throw Error("sweep.list[" + std::to_string(i) + "]: expected [key, value] pairs, found " + jsonValueText(kv));
                    c.emplace_back(parseConfigKey(kv[0].get<std::string>(), "sweep.list").dotted(),
                                   sweptValue(kv[1], "sweep.list[" + std::to_string(i) + "]"));
                }
                spec.combinations.push_back(std::move(c));
                continue;
            }
            if (!list[i].is_object() || list[i].empty())
                throw Error("sweep.list[" + std::to_string(i) + "]: expected a mapping of config keys to values, found "
                            + jsonValueText(list[i]));
            SweepCombination c;
            for (auto it = list[i].begin(); it != list[i].end(); ++it)
                c.emplace_back(parseConfigKey(it.key(), "sweep.list[" + std::to_string(i) + "]").dotted(),
                               sweptValue(*it, "sweep.list[" + std::to_string(i) + "]." + it.key()));
            spec.combinations.push_back(std::move(c));
        }
    }
    if (block.contains("seeds")) {
        const auto& s = block["seeds"];
        if (s.is_number_integer() && s.get<int64_t>() >= 1 && s.get<int64_t>() <= kMaxSeeds)
            spec.seeds = s.get<int>();
        else if (s.is_array() && !s.empty()) {
            if (s.size() > size_t(kMaxSeeds))
                throw Error("sweep.seeds: at most " + std::to_string(kMaxSeeds) + " seeds, found a list of "
                            + std::to_string(s.size()));
            for (const auto& x : s) {
                if (!isSeed(x))
                    throw Error("sweep.seeds: expected integers from 0 to 18446744073709551615, found " + jsonValueText(x));
                spec.seedList.push_back(x.get<uint64_t>());
            }
        } else
            throw Error("sweep.seeds: expected a count from 1 to 1000 or a list of seeds, found " + jsonValueText(s));
    }
    return spec;
}

nlohmann::json SweepSpec::toJson() const
{
    nlohmann::json j = nlohmann::json::object();
    if (!axes.empty()) {
        // An array of [key, values] keeps the axis order (a JSON object would sort it).
        nlohmann::json vary = nlohmann::json::array();
        for (const auto& a : axes)
            vary.push_back({a.key.dotted(), a.values});
        j["axes"] = vary;
    }
    if (!combinations.empty()) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& c : combinations) {
            nlohmann::json one = nlohmann::json::array();
            for (const auto& [k, v] : c)
                one.push_back({k, v});
            list.push_back(one);
        }
        j["list"] = list;
    }
    if (seedList.empty())
        j["seeds"] = seeds;
    else
        j["seeds"] = seedList;
    if (!evaluate.empty())
        j["evaluate"] = evaluate;
    return j;
}

void SweepSpec::setEvaluation(const std::string& key, const nlohmann::json& value)
{
    if (std::find(kEvaluationFiles.begin(), kEvaluationFiles.end(), key) != kEvaluationFiles.end()) {
        if (!value.is_string() || value.get<std::string>().empty())
            throw Error("sweep.evaluate." + key + ": expected a file path, found " + jsonValueText(value));
    } else if (key == "max_new_tokens" || key == "limit") {
        // Read back as an int: a larger count would wrap (4294967296 would become 0, "all items").
        if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT_MAX))
            || value.get<int64_t>() < 0 || value.get<int64_t>() > INT_MAX)
            throw Error("sweep.evaluate." + key + ": expected an integer from 0 to " + std::to_string(INT_MAX) + ", found "
                        + jsonValueText(value));
    } else if (key == "diagnostics") {
        if (!value.is_boolean())
            throw Error("sweep.evaluate.diagnostics: expected true or false, found " + jsonValueText(value));
    } else {
        throw Error("sweep.evaluate: " + unknownKeyMessage(key, kEvaluationKeys));
    }
    evaluate[key] = value;
}

void SweepSpec::addVary(const std::string& text)
{
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq + 1 >= text.size())
        throw Error("--vary expects KEY=V1,V2,... (e.g. adapter.r=4,8,16), found '" + text + "'");
    SweepAxis axis{parseConfigKey(text.substr(0, eq), "--vary"), {}};
    for (const auto& part : splitTopLevel(text.substr(eq + 1))) {
        if (part.empty())
            throw Error("--vary " + axis.key.dotted() + ": an empty value in '" + text.substr(eq + 1) + "'");
        axis.values.push_back(sweptValue(parseConfigValue(part), "--vary " + axis.key.dotted()));
    }
    if (!combinations.empty())
        throw Error("--vary cannot be combined with the config's sweep.list");
    const std::string key = axis.key.dotted();
    for (const auto& [earlierKey, earlierText] : varied)
        if (earlierKey == key)
            throw Error(key + " is varied twice (--vary " + earlierText + " and --vary " + text + ")",
                        "give all its values in one --vary, e.g. " + key + "=4,8,16");
    auto same = std::find_if(axes.begin(), axes.end(), [&](const SweepAxis& a) { return a.key.dotted() == key; });
    if (same != axes.end())
        *same = std::move(axis);
    else
        axes.push_back(std::move(axis));
    varied.emplace_back(key, text);
}

namespace {

// a·b for non-negative counts, saturating at `cap`.
int64_t saturatingProduct(int64_t a, int64_t b, int64_t cap)
{
    if (a == 0 || b == 0)
        return 0;
    return a > cap / b ? cap : std::min(cap, a * b);
}

} // namespace

int SweepSpec::combinationCount() const
{
    constexpr int64_t cap = std::numeric_limits<int>::max();
    if (!combinations.empty())
        return int(std::min<int64_t>(int64_t(combinations.size()), cap));
    int64_t n = 1;
    for (const auto& a : axes)
        n = saturatingProduct(n, int64_t(a.values.size()), cap);
    return int(n);
}

int64_t SweepSpec::runCount() const
{
    return saturatingProduct(combinationCount(), seedCount(), std::numeric_limits<int64_t>::max());
}

void SweepSpec::refuseRepeats() const
{
    const char* why = ": its runs would be copies of each other, counted as independent samples";
    for (size_t i = 0; i < seedList.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (seedList[i] == seedList[j])
                throw Error("sweep.seeds: seed " + std::to_string(seedList[i]) + " is listed twice" + why);
    for (size_t a = 0; a < axes.size(); ++a) {
        const std::string key = axes[a].key.dotted();
        for (size_t b = 0; b < a; ++b)
            if (axes[b].key.dotted() == key)
                throw Error("sweep.vary: " + key + " is given twice (as a dotted key and in a nested block?); give its values once");
        const auto& values = axes[a].values;
        for (size_t i = 0; i < values.size(); ++i)
            for (size_t j = 0; j < i; ++j)
                if (values[i] == values[j])
                    throw Error("sweep.vary." + key + ": the value " + valueText(values[i]) + " is listed twice" + why);
    }
    std::vector<SweepCombination> seen;
    for (size_t i = 0; i < combinations.size(); ++i) {
        SweepCombination c = combinations[i];
        std::sort(c.begin(), c.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
        for (size_t k = 1; k < c.size(); ++k)
            if (c[k].first == c[k - 1].first)
                throw Error("sweep.list[" + std::to_string(i) + "]: " + c[k].first + " is given twice");
        for (size_t j = 0; j < seen.size(); ++j)
            if (seen[j] == c)
                throw Error("sweep.list[" + std::to_string(i) + "] repeats sweep.list[" + std::to_string(j) + "]" + why);
        seen.push_back(std::move(c));
    }
}

void SweepSpec::checkSize() const
{
    refuseRepeats();
    if (seeds < 1)
        throw Error("--seeds: expected at least 1, found " + std::to_string(seeds));
    if (runCount() > kMaxRuns) {
        const bool saturated = combinationCount() == std::numeric_limits<int>::max();
        throw Error("the sweep asks for " + std::string(saturated ? "over " : "") + std::to_string(runCount()) + " runs ("
                        + std::to_string(combinationCount()) + (saturated ? "+" : "") + " combinations × "
                        + std::to_string(seedCount()) + " seeds); a sweep holds at most " + std::to_string(kMaxRuns) + " runs",
                    "vary fewer keys or fewer values, or split it into several sweeps");
    }
    const bool seedAxis = std::any_of(axes.begin(), axes.end(), [](const SweepAxis& a) { return a.key.dotted() == kSeedKey; });
    const bool seedListed = std::any_of(combinations.begin(), combinations.end(), [](const SweepCombination& c) {
        return std::any_of(c.begin(), c.end(), [](const auto& kv) { return kv.first == kSeedKey; });
    });
    if ((seedAxis || seedListed) && seedCount() > 1)
        throw Error("the sweep varies training.seed and also asks for " + std::to_string(seedCount())
                        + " seeds per combination",
                    "vary training.seed or use --seeds, not both");
}

std::vector<SweepPoint> SweepSpec::expand(const nlohmann::json& baseConfig) const
{
    if (!baseConfig.is_object())
        throw Error("a sweep needs a training config object, found " + std::string(baseConfig.type_name()));
    checkSize();
    // Every combination, the first axis varying slowest (as a nested loop reads).
    std::vector<SweepCombination> combos = combinations;
    if (combos.empty()) {
        combos.push_back({});
        for (const auto& axis : axes) {
            std::vector<SweepCombination> next;
            for (const auto& c : combos)
                for (const auto& v : axis.values) {
                    SweepCombination d = c;
                    d.emplace_back(axis.key.dotted(), v);
                    next.push_back(std::move(d));
                }
            combos = std::move(next);
        }
    }
    uint64_t baseSeed = 42;
    if (auto t = baseConfig.find("training"); t != baseConfig.end() && t->is_object())
        if (auto s = t->find("seed"); s != t->end() && isSeed(*s))
            baseSeed = s->get<uint64_t>();
    // The seeds count up from the config's: past 2^64 - 1 they would wrap around to 0.
    if (seedList.empty() && seeds > 1 && baseSeed > std::numeric_limits<uint64_t>::max() - uint64_t(seeds - 1))
        throw Error("training.seed " + std::to_string(baseSeed) + " with " + std::to_string(seeds)
                        + " seeds: the seeds would count past 18446744073709551615 (2^64 - 1)",
                    "give a smaller training.seed, or list the seeds (sweep: seeds: [...])");
    std::string outputDir;
    if (auto o = baseConfig.find("output"); o != baseConfig.end() && o->is_object())
        if (auto d = o->find("dir"); d != o->end() && d->is_string())
            outputDir = d->get<std::string>();

    std::vector<SweepPoint> points;
    for (int s = 0; s < seedCount(); ++s)
        for (size_t c = 0; c < combos.size(); ++c) {
            SweepPoint p;
            p.position = int(points.size());
            p.combinationIndex = int(c);
            p.seedIndex = s;
            p.combination = combos[c];
            p.config = baseConfig;
            p.seed = seedList.empty() ? baseSeed + uint64_t(s) : seedList[size_t(s)];
            setConfigValue(p.config, {"training", "seed"}, p.seed);
            for (const auto& [k, v] : p.combination) {
                setConfigValue(p.config, parseConfigKey(k, "sweep"), v);
                if (k == kSeedKey && isSeed(v))
                    p.seed = v.get<uint64_t>();
            }
            if (!outputDir.empty())
                setConfigValue(p.config, {"output", "dir"}, outputDir + "/run-" + std::to_string(p.position));
            points.push_back(std::move(p));
        }
    return points;
}

namespace {

// "line:column" of a top-level key of a JSON text: where `"key"` is followed by a colon (a value
// spelled the same is followed by a comma or a bracket); empty when not found.
std::string jsonKeyPosition(const std::string& text, const std::string& key)
{
    const std::string quoted = nlohmann::json(key).dump();
    for (size_t at = text.find(quoted); at != std::string::npos; at = text.find(quoted, at + 1)) {
        const size_t next = text.find_first_not_of(" \t\r\n", at + quoted.size());
        if (next == std::string::npos || text[next] != ':')
            continue;
        const size_t lineStart = text.rfind('\n', at);
        const size_t line = size_t(std::count(text.begin(), text.begin() + std::ptrdiff_t(at), '\n')) + 1;
        return std::to_string(line) + ":" + std::to_string(at - (lineStart == std::string::npos ? 0 : lineStart + 1) + 1);
    }
    return "";
}

// Top-level "x-" keys hold YAML anchors in pipeline files, which set them aside. In a sweep's config
// such a key would reach every run's training config and be refused there as unknown, blamed on the
// first combination: refused here once, naming the key and where it stands.
void refuseAnchorKeys(const nlohmann::json& j, const std::string& path, const std::string& text, const YamlDocument* yaml)
{
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key().rfind("x-", 0) != 0)
            continue;
        std::string where;
        if (yaml) {
            if (auto p = yaml->positions.find("/" + it.key()); p != yaml->positions.end())
                where = std::to_string(p->second.line) + ":" + std::to_string(p->second.column);
        } else {
            where = jsonKeyPosition(text, it.key());
        }
        throw Error(path + (where.empty() ? "" : ":" + where) + ": top-level key '" + it.key()
                        + "' is not a config section (only pipeline files set x- keys aside for anchors)",
                    "anchor the values where they are first used (e.g. training: &common {...}) and merge them with "
                    "<<: *common, or delete the key");
    }
}

} // namespace

std::pair<nlohmann::json, nlohmann::json> readSweepConfigFile(const std::string& path)
{
    const std::string text = readFile(path);
    nlohmann::json j;
    std::optional<YamlDocument> yaml;
    if (isYamlPath(path)) {
        yaml = readYaml(text, path);
        j = yaml->value;
    } else {
        // Duplicate keys are refused naming the key (models/StrictJson.h), as in training configs.
        j = models::parseJsonStrict(text, path);
    }
    if (!j.is_object())
        throw Error(path + ": a training config must be a mapping, found " + std::string(j.type_name()));
    nlohmann::json block;
    if (auto it = j.find("sweep"); it != j.end()) {
        block = *it;
        j.erase(it);
    }
    refuseAnchorKeys(j, path, text, yaml ? &*yaml : nullptr);
    // Relative paths in the file (the config's and the evaluation files) are taken from its folder.
    const std::string folder = configFolder(path);
    resolveConfigPaths(j, folder);
    if (block.is_object() && block.contains("evaluate") && block["evaluate"].is_object()) {
        nlohmann::json& ev = block["evaluate"];
        for (const auto& key : kEvaluationFiles)
            if (ev.contains(key) && ev[key].is_string())
                ev[key] = resolveConfigPath(ev[key].get<std::string>(), folder);
    }
    return {j, block};
}

} // namespace rslora::engine
