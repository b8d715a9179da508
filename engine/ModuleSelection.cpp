// Target-module matching and per-module rank/alpha resolution (see ModuleSelection.h).
#include "engine/ModuleSelection.h"

#include "common/Error.h"
#include "common/UserRegex.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <regex>
#include <sstream>

namespace rslora::engine {

namespace {

bool endsWithComponent(const std::string& name, const std::string& key)
{
    if (name == key)
        return true;
    return name.size() > key.size() && name.compare(name.size() - key.size(), key.size(), key) == 0
        && name[name.size() - key.size() - 1] == '.';
}

} // namespace

bool peftPatternMatches(const std::string& key, const std::string& name)
{
    try {
        const std::regex re = userRegex("(.*\\.)?(" + key + ")$");
        return std::regex_match(name, re);
    } catch (const std::regex_error&) {
        return false; // validate() reports the bad pattern
    }
}

namespace {

bool fullMatch(const std::string& pattern, const std::string& name)
{
    try {
        return std::regex_match(name, userRegex(pattern));
    } catch (const std::regex_error&) {
        return false; // the config readers report the bad pattern
    }
}

bool namedIn(const std::vector<std::string>& names, const std::string& moduleName)
{
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return endsWithComponent(moduleName, n); });
}

bool inLayers(const AdapterConfig& config, const std::string& moduleName)
{
    if (config.layersToTransform.empty())
        return true;
    const std::optional<int> layer = peftLayerIndex(moduleName, config.layersPattern);
    return layer && std::find(config.layersToTransform.begin(), config.layersToTransform.end(), *layer)
        != config.layersToTransform.end();
}

} // namespace

std::optional<int> peftLayerIndex(const std::string& moduleName, const std::vector<std::string>& layersPattern)
{
    // re.match(r".*\.[^.]*\.(\d+)\.", name), or rf".*\.{pattern}\.(\d+)\." per pattern: greedy, so the
    // last run of digits that fits wins; it must be a whole part with a part before the list's name
    // and a part after it (a module inside the layer).
    std::vector<size_t> starts{0};
    for (size_t dot = moduleName.find('.'); dot != std::string::npos; dot = moduleName.find('.', dot + 1))
        starts.push_back(dot + 1);
    for (size_t i = starts.size() - 1; i-- > 2;) {
        const std::string digits = moduleName.substr(starts[i], starts[i + 1] - 1 - starts[i]);
        if (digits.empty() || digits.size() > 9
            || !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c) != 0; }))
            continue;
        const std::string before = moduleName.substr(0, starts[i] - 1); // "<...>.<list name>"
        if (!layersPattern.empty()
            && std::none_of(layersPattern.begin(), layersPattern.end(),
                            [&](const std::string& p) { return fullMatch(".*\\.(" + p + ")", before); }))
            continue;
        return std::stoi(digits);
    }
    return std::nullopt;
}

const std::vector<std::string>& peftDefaultTargets()
{
    static const std::vector<std::string> names{"q_proj", "v_proj"};
    return names;
}

TargetMatch matchTarget(const AdapterConfig& config, const std::string& moduleName)
{
    if (!config.excludeRegex.empty() ? fullMatch(config.excludeRegex, moduleName) : namedIn(config.excludeModules, moduleName))
        return TargetMatch::Excluded;
    // PEFT fills a missing target_modules in from the model type before it adapts anything, and
    // leaves the tensors of other modules unused.
    if (config.targetsFromWeights && !namedIn(peftDefaultTargets(), moduleName))
        return TargetMatch::NotATarget;
    if (config.targetsFromWeights)
        return inLayers(config, moduleName) ? TargetMatch::Targeted : TargetMatch::OutsideLayers;
    if (!config.targetRegex.empty()) {
        if (!fullMatch(config.targetRegex, moduleName))
            return TargetMatch::NotATarget;
        return inLayers(config, moduleName) ? TargetMatch::Targeted : TargetMatch::OutsideLayers;
    }
    // A name given in full is adapted whatever layers_to_transform says.
    if (std::find(config.targetModules.begin(), config.targetModules.end(), moduleName) != config.targetModules.end())
        return TargetMatch::Targeted;
    const bool allLinear = std::find(config.targetModules.begin(), config.targetModules.end(), "all-linear") != config.targetModules.end();
    if (!namedIn(config.targetModules, moduleName) && !(allLinear && namedIn(llamaProjectionNames(), moduleName)))
        return TargetMatch::NotATarget;
    return inLayers(config, moduleName) ? TargetMatch::Targeted : TargetMatch::OutsideLayers;
}

bool isTargeted(const AdapterConfig& config, const ModuleFacts& module)
{
    return matchTarget(config, module.name) == TargetMatch::Targeted;
}

int rankFor(const AdapterConfig& config, const std::string& moduleName)
{
    for (const auto& [pattern, rank] : config.rankPattern)
        if (peftPatternMatches(pattern, moduleName))
            return rank;
    return config.rank;
}

double alphaFor(const AdapterConfig& config, const std::string& moduleName)
{
    for (const auto& [pattern, alpha] : config.alphaPattern)
        if (peftPatternMatches(pattern, moduleName))
            return alpha;
    return config.alpha;
}

double adapterScale(ScalingMode mode, int rank, double alpha)
{
    if (rank <= 0)
        throw Error("adapter rank must be >= 1, found " + std::to_string(rank));
    return mode == ScalingMode::AlphaOverSqrtR ? alpha / std::sqrt(double(rank)) : alpha / double(rank);
}

bool fitsFloat32(double v)
{
    return std::isfinite(v) && std::abs(v) <= double(std::numeric_limits<float>::max());
}

std::string float32MaxText()
{
    std::ostringstream s;
    s << std::numeric_limits<float>::max();
    return s.str();
}

std::vector<ModulePlan> planModules(const AdapterConfig& config, const std::vector<ModuleFacts>& modules)
{
    std::vector<ModulePlan> plans;
    for (const auto& m : modules) {
        if (!isTargeted(config, m))
            continue;
        ModulePlan p;
        p.module = m;
        // Patterns are honoured whatever the allocation; `sensitivity` writes its table into them.
        p.rank = rankFor(config, m.name);
        p.alpha = alphaFor(config, m.name);
        p.scale = adapterScale(config.scaling, std::max(1, p.rank), p.alpha);
        plans.push_back(std::move(p));
    }
    return plans;
}

size_t editDistance(const std::string& a, const std::string& b)
{
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string closestName(const std::string& word, const std::vector<std::string>& candidates)
{
    std::string best;
    size_t bestDistance = std::max<size_t>(2, word.size() / 3) + 1;
    for (const auto& c : candidates) {
        const size_t d = editDistance(word, c);
        if (d < bestDistance) {
            bestDistance = d;
            best = c;
        }
    }
    return best;
}

std::string unknownKeyMessage(const std::string& key, const std::vector<std::string>& known)
{
    std::string msg = "unknown key '" + key + "'";
    const std::string guess = closestName(key, known);
    if (!guess.empty())
        msg += " (did you mean '" + guess + "'?)";
    std::string list;
    for (const auto& k : known)
        list += (list.empty() ? "" : ", ") + k;
    return msg + "; the keys are " + list;
}

} // namespace rslora::engine
