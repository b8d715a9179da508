// Fusion method names (see FusionPlan.h).
#include "engine/fusion/FusionPlan.h"

#include "common/Error.h"

#include <utility>

namespace rslora::engine::fusion {

namespace {

// The one table of method names.
const std::vector<std::pair<FusionMethod, const char*>>& methodTable()
{
    static const std::vector<std::pair<FusionMethod, const char*>> table = {
        {FusionMethod::Exact, "exact"},
        {FusionMethod::Svd, "svd"},
        {FusionMethod::Ties, "ties"},
        {FusionMethod::DareLinear, "dare_linear"},
        {FusionMethod::DareTies, "dare_ties"},
        {FusionMethod::MagnitudePrune, "magnitude_prune"},
    };
    return table;
}

} // namespace

const std::vector<FusionMethod>& fusionMethods()
{
    static const std::vector<FusionMethod> all = [] {
        std::vector<FusionMethod> v;
        for (const auto& [m, name] : methodTable())
            v.push_back(m);
        return v;
    }();
    return all;
}

std::string fusionMethodName(FusionMethod method)
{
    for (const auto& [m, name] : methodTable())
        if (m == method)
            return name;
    return "unknown";
}

std::string fusionMethodList()
{
    std::string out;
    for (const auto& [m, name] : methodTable())
        out += (out.empty() ? "" : "|") + std::string(name);
    return out;
}

FusionMethod parseFusionMethod(const std::string& name)
{
    for (const auto& [m, n] : methodTable())
        if (name == n)
            return m;
    throw Error("unknown fusion method '" + name + "' (expected one of " + fusionMethodList() + ")");
}

bool isDenseMethod(FusionMethod method)
{
    return method != FusionMethod::Exact && method != FusionMethod::Svd;
}

bool usesDensity(FusionMethod method)
{
    return method == FusionMethod::Ties || method == FusionMethod::MagnitudePrune;
}

bool usesDrop(FusionMethod method)
{
    return method == FusionMethod::DareLinear || method == FusionMethod::DareTies;
}

} // namespace rslora::engine::fusion
