// Target-module matching and per-module rank/alpha resolution (see ModuleSelection.h).
#include "engine/ModuleSelection.h"

#include "common/Error.h"
#include "common/UserRegex.h"

#include <algorithm>
#include <cmath>
#include <regex>

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

bool isTargeted(const AdapterConfig& config, const ModuleFacts& module)
{
    if (!config.layersToTransform.empty()) {
        if (module.layer < 0)
            return false;
        if (std::find(config.layersToTransform.begin(), config.layersToTransform.end(), module.layer)
            == config.layersToTransform.end())
            return false;
    }
    if (!config.targetRegex.empty()) {
        try {
            return std::regex_match(module.name, userRegex(config.targetRegex));
        } catch (const std::regex_error&) {
            return false;
        }
    }
    for (const auto& target : config.targetModules) {
        if (target == "all-linear") {
            // PEFT's all-linear leaves the output head alone.
            if (module.layer >= 0)
                return true;
            continue;
        }
        if (endsWithComponent(module.name, target))
            return true;
    }
    return false;
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
