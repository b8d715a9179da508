// Fusion of adapters (see Fusion.h; definitions in DESIGN.md §4, PEFT's faults in reference/peft.md §7.1).
#include "engine/fusion/Fusion.h"

#include "engine/AllocatorTuning.h"
#include "engine/ModuleSelection.h"
#include "engine/fusion/BiasFusion.h"
#include "engine/fusion/SvdCompression.h"
#include "engine/fusion/TaskArithmetic.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace rslora::engine::fusion {

namespace fs = std::filesystem;

namespace {

std::string describe(size_t i, const AdapterFactors& a)
{
    return "adapter " + std::to_string(i + 1) + " (" + (a.label.empty() ? a.dir.string() : a.label) + ")";
}

std::string number(double v)
{
    std::ostringstream s;
    s << v;
    return s.str();
}

// "adapter 1 (a) weighted 1 and adapter 2 (b) weighted -1".
std::string weightedSources(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters)
{
    std::string out;
    for (size_t i = 0; i < adapters.size(); ++i)
        out += (i == 0 ? "" : (i + 1 == adapters.size() ? " and " : ", ")) + describe(i, adapters[i]) + " weighted "
               + number(plan.weights[i]);
    return out;
}

} // namespace

void checkSameBaseModel(const std::vector<std::string>& baseFingerprints, const std::vector<AdapterFactors>& adapters)
{
    const auto& fp = baseFingerprints;
    if (!fp.empty() && fp.size() != adapters.size())
        throw Error(std::to_string(fp.size()) + " base model fingerprints for " + std::to_string(adapters.size())
                    + " adapters: give one per adapter (\"\" for a folder outside the store)");
    auto fingerprint = [&](size_t i) { return fp.empty() ? std::string() : fp[i]; };
    for (size_t i = 1; i < adapters.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            const std::string fi = fingerprint(i), fj = fingerprint(j);
            if (!fi.empty() && !fj.empty()) {
                if (fi != fj)
                    throw Error(describe(i, adapters[i]) + " was trained on base model " + fi.substr(0, 12) + "… but "
                                + describe(j, adapters[j]) + " on " + fj.substr(0, 12)
                                + "…: adapters of different base models cannot be fused");
                continue;
            }
            const std::string& ni = adapters[i].baseModelNameOrPath;
            const std::string& nj = adapters[j].baseModelNameOrPath;
            if (!ni.empty() && !nj.empty() && ni != nj && modelFolderName(ni) != modelFolderName(nj))
                throw Error(describe(i, adapters[i]) + " was trained on base model '" + ni + "' but " + describe(j, adapters[j])
                            + " on '" + nj + "' (base_model_name_or_path): adapters of different base models cannot be fused");
        }
    }
    std::map<std::string, std::pair<size_t, const ModuleFactors*>> seen;
    for (size_t i = 0; i < adapters.size(); ++i) {
        for (const auto& m : adapters[i].modules) {
            auto [it, inserted] = seen.emplace(m.module, std::make_pair(i, &m));
            const ModuleFactors& first = *it->second.second;
            if (!inserted && (first.outFeatures() != m.outFeatures() || first.inFeatures() != m.inFeatures()))
                throw Error(describe(i, adapters[i]) + " adapts " + m.module + " as " + std::to_string(m.outFeatures()) + "×"
                            + std::to_string(m.inFeatures()) + " (out×in) but " + describe(it->second.first, adapters[it->second.first])
                            + " as " + std::to_string(first.outFeatures()) + "×" + std::to_string(first.inFeatures())
                            + ": adapters of different base models cannot be fused");
        }
    }
}

namespace {

void checkFinite(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters)
{
    for (size_t i = 0; i < adapters.size(); ++i) {
        if (!std::isfinite(plan.weights[i]))
            throw Error("the weight of " + describe(i, adapters[i]) + " is " + number(plan.weights[i]) + " (must be a finite number)");
        if (!fitsFloat32(plan.weights[i]))
            throw Error("the weight of " + describe(i, adapters[i]) + " is " + number(plan.weights[i]) + ", which does not fit "
                        "float32 (at most " + float32MaxText() + "), the fused adapter's type; give a smaller weight");
        for (const auto& m : adapters[i].modules) {
            if (!std::isfinite(m.scale))
                throw Error(describe(i, adapters[i]) + ": " + m.module + " has a non-finite scale " + number(m.scale));
            if (!fitsFloat32(plan.weights[i] * m.scale))
                throw Error(describe(i, adapters[i]) + ": " + m.module + ": its weight " + number(plan.weights[i]) + " times its scale "
                            + number(m.scale) + " is " + number(plan.weights[i] * m.scale) + ", which does not fit float32 (at most "
                            + float32MaxText() + "); give the adapter a smaller weight");
            if (!torch::isfinite(m.A).all().item<bool>() || !torch::isfinite(m.B).all().item<bool>())
                throw Error(describe(i, adapters[i]) + ": " + m.module + " holds NaN or infinite values in lora_"
                            + (torch::isfinite(m.A).all().item<bool>() ? "B" : "A"));
        }
    }
}

// One module of the union and the adapters that have it.
struct ModuleSources {
    std::string module;
    std::vector<size_t> adapters;
    std::vector<const ModuleFactors*> factors;
};

std::vector<ModuleSources> unionOfModules(const std::vector<AdapterFactors>& adapters)
{
    std::map<std::string, ModuleSources> byName;
    for (size_t i = 0; i < adapters.size(); ++i)
        for (const auto& m : adapters[i].modules) {
            auto& s = byName[m.module];
            s.module = m.module;
            s.adapters.push_back(i);
            s.factors.push_back(&m);
        }
    std::vector<ModuleSources> out;
    for (auto& [name, s] : byName)
        out.push_back(std::move(s));
    return out;
}

int64_t moduleExactRank(FusionMethod method, const ModuleSources& s)
{
    const int64_t full = std::min(s.factors.front()->outFeatures(), s.factors.front()->inFeatures());
    if (isDenseMethod(method))
        return full;
    int64_t r = 0;
    for (const auto* f : s.factors)
        r += f->rank();
    // exact concatenates all Σ rᵢ directions; a compression cannot find more than min(out, in).
    return method == FusionMethod::Exact ? r : std::min(r, full);
}

// ‖B A‖²_F from the factors: Σ (BᵀB) ⊙ (A Aᵀ), without forming B A.
double factorEnergy(const torch::Tensor& B, const torch::Tensor& A)
{
    return (torch::mm(B.t(), B) * torch::mm(A, A.t())).sum().item<double>();
}

int64_t largestSourceRank(const std::vector<AdapterFactors>& adapters)
{
    int64_t r = 0;
    for (const auto& a : adapters)
        r = std::max(r, a.maxRank());
    return r;
}

} // namespace

int64_t exactRankOf(FusionMethod method, const std::vector<AdapterFactors>& adapters)
{
    int64_t r = 0;
    for (const auto& s : unionOfModules(adapters))
        r = std::max(r, moduleExactRank(method, s));
    return r;
}

void validateFusion(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters)
{
    if (adapters.empty())
        throw Error("nothing to fuse: name at least one adapter");
    if (plan.weights.size() != adapters.size())
        throw Error(std::to_string(plan.weights.size()) + " fusion weight" + (plan.weights.size() == 1 ? "" : "s") + " for "
                    + std::to_string(adapters.size()) + " adapter" + (adapters.size() == 1 ? "" : "s")
                    + ": give exactly one weight per adapter");
    for (size_t i = 0; i < adapters.size(); ++i)
        if (adapters[i].modules.empty())
            throw Error(describe(i, adapters[i]) + " has no adapted modules");
    checkFinite(plan, adapters);
    if (std::all_of(plan.weights.begin(), plan.weights.end(), [](double w) { return w == 0.0; }))
        throw Error("every fusion weight is 0: the fused adapter would change nothing; give at least one adapter a "
                    "weight other than 0");
    checkSameBaseModel(plan.baseFingerprints, adapters);
    if (usesDensity(plan.method) && !(plan.density > 0.0 && plan.density <= 1.0))
        throw Error("density " + number(plan.density) + " is outside (0, 1]: it is the share of each delta's entries that "
                    + fusionMethodName(plan.method) + " keeps");
    if (usesDrop(plan.method) && !(plan.drop >= 0.0 && plan.drop < 1.0))
        throw Error("drop " + number(plan.drop) + " is outside [0, 1): it is the probability that " + fusionMethodName(plan.method)
                    + " drops an entry (1 would drop everything)");
    if (plan.method == FusionMethod::Exact)
        return; // keeps every direction: a rank or energy target does not apply
    if (plan.rank && plan.energy)
        throw Error("give either a target rank or an energy fraction, not both");
    if (plan.energy && !(*plan.energy > 0.0 && *plan.energy <= 1.0))
        throw Error("energy " + number(*plan.energy) + " is outside (0, 1]: it is the fraction of ‖ΔW‖² each module keeps");
    if (plan.rank) {
        const int64_t exact = exactRankOf(plan.method, adapters);
        if (*plan.rank < 1)
            throw Error("target rank " + std::to_string(*plan.rank) + " is below 1");
        if (*plan.rank > exact)
            throw Error("target rank " + std::to_string(*plan.rank) + " is above the exact rank " + std::to_string(exact) + " of "
                        + fusionMethodName(plan.method) + " over these adapters"
                        + (isDenseMethod(plan.method) ? " (min(out, in) of the largest module)" : " (Σ rᵢ, at most min(out, in), of the largest module)"));
    }
}

FusionResult fuse(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters, const FusionProgress& progress)
{
    validateFusion(plan, adapters);
    // Trained biases first: they read the base model, whose refusals should come before the long part.
    std::map<std::string, torch::Tensor> biases = fuseTrainedBiases(plan, adapters);
    const std::vector<ModuleSources> modules = unionOfModules(adapters);
    const int total = int(modules.size());
    auto report = [&](int done) {
        if (progress && !progress(done, total))
            throw FusionCancelled("fusion cancelled after " + std::to_string(done) + " of " + std::to_string(total) + " modules");
    };
    report(0);
    if (isDenseMethod(plan.method))
        keepActivationMemoryResident(); // one module's dense buffers are reused, not faulted in again each time

    bool anyDouble = false;
    for (const auto& a : adapters)
        for (const auto& m : a.modules)
            anyDouble = anyDouble || m.A.scalar_type() == torch::kFloat64 || m.B.scalar_type() == torch::kFloat64;
    const auto outType = anyDouble ? torch::kFloat64 : torch::kFloat32;
    RankTarget target;
    target.rank = plan.rank.value_or(largestSourceRank(adapters));
    target.energy = plan.energy;

    FusionResult result;
    result.adapter.label = "fused (" + fusionMethodName(plan.method) + ")";
    for (const auto& a : adapters)
        if (result.adapter.baseModelNameOrPath.empty())
            result.adapter.baseModelNameOrPath = a.baseModelNameOrPath;
    double totalEnergy = 0, discardedEnergy = 0;
    for (int mi = 0; mi < total; ++mi) {
        const ModuleSources& s = modules[size_t(mi)];
        torch::NoGradGuard noGrad;
        // Each source's λᵢ sᵢ goes into its B; A stays as read.
        std::vector<torch::Tensor> As, Bs;
        for (size_t k = 0; k < s.factors.size(); ++k) {
            const ModuleFactors& f = *s.factors[k];
            As.push_back(f.A.to(torch::kFloat64));
            Bs.push_back(f.B.to(torch::kFloat64) * (plan.weights[s.adapters[k]] * f.scale));
        }
        double sourceNorms = 0; // Σ ‖λᵢ sᵢ Bᵢ Aᵢ‖_F: what a cancellation is measured against
        for (size_t k = 0; k < As.size(); ++k)
            sourceNorms += std::sqrt(std::max(0.0, factorEnergy(Bs[k], As[k])));
        ModuleReport mr;
        mr.module = s.module;
        mr.exactRank = moduleExactRank(plan.method, s);
        ModuleFactors out;
        out.module = s.module;
        double energy = 0, discarded = 0;
        double plainEnergy = -1; // ‖Σ λᵢ sᵢ Bᵢ Aᵢ‖², when it differs from the method's own result
        if (plan.method == FusionMethod::Exact) {
            out.A = torch::cat(As, 0);
            out.B = torch::cat(Bs, 1);
            energy = factorEnergy(out.B, out.A);
        } else {
            Compressed c;
            if (plan.method == FusionMethod::Svd) {
                c = compressFactors(torch::cat(Bs, 1), torch::cat(As, 0), target);
            } else {
                // Dense work in the sources' precision (float32 for files); the re-compression in float64.
                std::vector<torch::Tensor> weighted;
                for (size_t k = 0; k < As.size(); ++k)
                    weighted.push_back(torch::mm(Bs[k].to(outType), As[k].to(outType)));
                torch::Tensor plain = weighted.front().to(torch::kFloat64);
                for (size_t k = 1; k < weighted.size(); ++k)
                    plain = plain + weighted[k];
                plainEnergy = plain.square().sum().item<double>();
                plain = torch::Tensor();
                const torch::Tensor merged = mergeDeltas(plan.method, weighted, s.adapters, plan, s.module);
                weighted.clear();
                c = compressDense(merged, target, moduleSeed(plan.seed, s.module) ^ 0x5EEDull);
            }
            out.A = c.A;
            out.B = c.B;
            energy = c.totalEnergy;
            discarded = c.discardedEnergy;
        }
        const double tolerance = kCancelTolerance * sourceNorms;
        mr.zero = std::sqrt(std::max(0.0, energy)) <= tolerance;
        mr.cancelled = std::sqrt(std::max(0.0, plainEnergy < 0 ? energy : plainEnergy)) <= tolerance;
        if (mr.zero) {
            // Whatever directions the sum kept are rounding: the honest result is exact zeros.
            out.A = torch::zeros({1, s.factors.front()->inFeatures()}, torch::kFloat64);
            out.B = torch::zeros({s.factors.front()->outFeatures(), 1}, torch::kFloat64);
            energy = discarded = 0;
        }
        out.A = out.A.to(outType).contiguous();
        out.B = out.B.to(outType).contiguous();
        // Weights and scales that fit float32 can still sum to values that do not: refused here, before
        // anything is written (an adapter of inf / NaN factors would be stored and break every use).
        if (!torch::isfinite(out.A).all().item<bool>() || !torch::isfinite(out.B).all().item<bool>())
            throw Error("the fused " + s.module + " has values that are not finite in " + std::string(c10::toString(outType))
                        + " (the weighted sources overflow it); nothing was written: give the adapters smaller weights");
        mr.rank = out.rank();
        mr.norm = std::sqrt(std::max(0.0, energy));
        mr.relativeError = energy > 0 ? std::sqrt(discarded / energy) : 0.0;
        totalEnergy += std::max(0.0, energy);
        discardedEnergy += discarded;
        result.report.exactRank = std::max(result.report.exactRank, mr.exactRank);
        result.report.rank = std::max(result.report.rank, mr.rank);
        result.report.zeroModules += mr.zero ? 1 : 0;
        result.report.cancelledModules += mr.cancelled ? 1 : 0;
        result.report.modules.push_back(mr);
        result.adapter.modules.push_back(std::move(out));
        report(mi + 1);
    }
    result.report.relativeError = totalEnergy > 0 ? std::sqrt(discardedEnergy / totalEnergy) : 0.0;
    result.report.trainedBiases = int64_t(biases.size());
    if (total > 0 && result.report.zeroModules == total && biases.empty()) {
        const bool cancel = std::all_of(result.report.modules.begin(), result.report.modules.end(), [](const ModuleReport& m) {
            return !m.zero || m.cancelled;
        });
        if (cancel)
            throw Error("the adapters cancel: " + weightedSources(plan, adapters) + " sum to zero in every one of the "
                        + std::to_string(total) + " modules (within rounding: ‖Σ λᵢ sᵢ Bᵢ Aᵢ‖ is at most " + number(kCancelTolerance)
                        + " of Σ ‖λᵢ sᵢ Bᵢ Aᵢ‖), so the fused adapter would change nothing and nothing was written; check the "
                          "weights' signs (an adapter given with weights that sum to 0, or with its negation, cancels)");
        std::string why = usesDrop(plan.method) ? "drop " + number(plan.drop) + " dropped every entry; lower --drop"
                                                : "density " + number(plan.density) + " kept no entry; raise --density";
        throw Error(fusionMethodName(plan.method) + " left nothing: the fused ΔW is zero in every one of the " + std::to_string(total)
                    + " modules although the weighted adapters do not sum to zero (" + why
                    + "), so the fused adapter would change nothing and nothing was written");
    }
    result.adapter.biases = std::move(biases);
    return result;
}

} // namespace rslora::engine::fusion
