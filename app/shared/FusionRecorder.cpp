// Fusion sources and the fused version in the store (see FusionRecorder.h).
#include "app/shared/FusionRecorder.h"

#include "storage/Store.h"
#include "storage/VersionFiles.h"

#include <map>
#include <set>
#include <sstream>

namespace rslora::app {

namespace fusion = engine::fusion;

std::vector<fusion::AdapterFactors> readFusionSources(const std::vector<ResolvedAdapter>& sources)
{
    std::vector<fusion::AdapterFactors> out;
    for (const auto& s : sources) {
        out.push_back(fusion::readAdapterFactors(s.path, fusion::TrainedBiasUse::Read));
        out.back().label = s.label;
    }
    return out;
}

std::vector<double> fusionWeights(const std::vector<ResolvedAdapter>& sources)
{
    std::vector<double> w;
    for (const auto& s : sources)
        w.push_back(s.weight);
    return w;
}

std::filesystem::path recordedBaseModel(const std::vector<ResolvedAdapter>& sources)
{
    for (const auto& s : sources)
        if (s.record && !s.record->baseModel.ref.empty())
            return s.record->baseModel.ref;
    return {};
}

std::vector<std::string> baseFingerprints(const std::vector<ResolvedAdapter>& sources)
{
    std::vector<std::string> f;
    for (const auto& s : sources)
        f.push_back(s.record ? s.record->baseModel.sha256 : std::string());
    return f;
}

std::vector<fusion::FusionSource> fusionSourceRecords(const std::vector<ResolvedAdapter>& sources)
{
    std::vector<fusion::FusionSource> out;
    for (const auto& s : sources) {
        fusion::FusionSource f;
        f.label = s.label;
        f.path = s.path;
        f.weight = s.weight;
        if (s.record) {
            f.versionId = s.record->id;
            f.uuid = s.record->uuid;
            f.sha256 = s.record->sha256;
        }
        out.push_back(f);
    }
    return out;
}

storage::AdapterRecord registerFusedAdapter(storage::Store& store, const std::filesystem::path& fusedDir,
                                            const fusion::FusionPlan& plan, const fusion::FusionResult& result,
                                            const std::vector<ResolvedAdapter>& sources,
                                            const FusionRegistration& registration)
{
    const std::string method = fusion::fusionMethodName(plan.method);
    storage::NewAdapter n;
    n.task = registration.task.empty() ? "fused" : registration.task;
    n.name = registration.name;
    n.notes = registration.notes;
    n.variant = method; // default names read <task>_<method>_v<N>_<date>
    n.stage = "merged";
    std::ostringstream summary;
    summary << method << " fusion of " << sources.size() << " adapter" << (sources.size() == 1 ? "" : "s") << " (weights";
    for (size_t i = 0; i < sources.size(); ++i)
        summary << (i ? ", " : " ") << sources[i].weight;
    summary << "), r " << result.report.rank << ", relative error " << result.report.relativeError;
    if (result.report.zeroModules > 0) // the adapters cancel there, or the method left nothing
        summary << ", " << result.report.zeroModules << " of " << result.report.modules.size() << " modules zero";
    n.method = summary.str();
    n.rank = result.report.rank;
    n.alpha = double(result.report.rank); // scale 1 at r: alpha = r
    std::set<std::string> targets;
    int64_t params = 0;
    for (const auto& m : result.adapter.modules) {
        const auto dot = m.module.rfind('.');
        targets.insert(dot == std::string::npos ? m.module : m.module.substr(dot + 1));
        params += m.rank() * (m.inFeatures() + m.outFeatures());
    }
    n.targets.assign(targets.begin(), targets.end());
    n.trainableParams = params;
    for (const auto& s : sources)
        if (s.record && n.baseModel.ref.empty() && n.baseModel.sha256.empty())
            n.baseModel = s.record->baseModel;
    if (n.baseModel.ref.empty() && n.baseModel.sha256.empty())
        n.baseModel.ref = result.adapter.baseModelNameOrPath;

    // One edge per stored parent; a version named twice contributes its summed weight.
    std::map<int64_t, double> parentWeights;
    std::vector<int64_t> order;
    for (const auto& s : sources)
        if (s.record) {
            if (!parentWeights.count(s.record->id))
                order.push_back(s.record->id);
            parentWeights[s.record->id] += s.weight;
        }
    std::vector<std::pair<int64_t, double>> parents;
    for (int64_t id : order)
        parents.emplace_back(id, parentWeights[id]);
    const nlohmann::ordered_json record = fusion::fusionRecord(plan, result.report, fusionSourceRecords(sources));
    const std::string details = nlohmann::ordered_json{{"parameters", record["parameters"]},
                                                       {"relative_error", result.report.relativeError},
                                                       {"rank", result.report.rank}}
                                    .dump();
    return storage::registerAdapterVersion(store, n, fusedDir,
                                           [&](const storage::AdapterRecord& child) {
                                               if (!parents.empty())
                                                   store.lineage().addMerge(child.id, parents, method, details);
                                           })
        .record;
}

} // namespace rslora::app
