// The fused adapter folder and its record (see FusedAdapterFolder.h).
#include "engine/fusion/FusedAdapterFolder.h"

#include "common/Error.h"
#include "common/Sha256.h"

namespace rslora::engine::fusion {

using nlohmann::ordered_json;

ordered_json fusionRecord(const FusionPlan& plan, const FusionReport& report, const std::vector<FusionSource>& sources)
{
    ordered_json params = ordered_json::object();
    if (plan.method != FusionMethod::Exact) {
        if (plan.energy)
            params["energy"] = *plan.energy;
        else
            params["rank"] = plan.rank ? *plan.rank : report.rank;
    }
    if (usesDensity(plan.method))
        params["density"] = plan.density;
    if (usesDrop(plan.method)) {
        params["drop"] = plan.drop;
        params["seed"] = plan.seed;
    }
    ordered_json src = ordered_json::array();
    for (const auto& s : sources) {
        ordered_json j = {{"label", s.label}, {"path", s.path.string()}, {"weight", s.weight}};
        if (s.versionId)
            j["version_id"] = *s.versionId;
        if (!s.uuid.empty())
            j["uuid"] = s.uuid;
        j["sha256"] = s.sha256;
        src.push_back(j);
    }
    ordered_json modules = ordered_json::array();
    for (const auto& m : report.modules)
        modules.push_back({{"module", m.module}, {"rank", m.rank}, {"exact_rank", m.exactRank},
                           {"relative_error", m.relativeError}, {"norm", m.norm}, {"zero", m.zero},
                           {"cancelled", m.cancelled}});
    ordered_json weights = ordered_json::array();
    for (double w : plan.weights)
        weights.push_back(w);
    return {{"format", "rslora-fusion/1"},
            {"method", fusionMethodName(plan.method)},
            {"weights", weights},
            {"parameters", params},
            {"sources", src},
            {"rank", report.rank},
            {"exact_rank", report.exactRank},
            {"relative_error", report.relativeError},
            {"zero_modules", report.zeroModules},
            {"cancelled_modules", report.cancelledModules},
            {"modules", modules},
            // Trained biases (bias "lora_only") were fused against this base model's biases.
            {"bias_base_model", report.trainedBiases > 0 ? ordered_json(plan.baseModelDir.string()) : ordered_json(nullptr)},
            {"trained_biases", report.trainedBiases}};
}

void writeFusedAdapter(const FusionResult& result, const FusionPlan& plan, std::vector<FusionSource> sources,
                       const std::filesystem::path& dir)
{
    if (sources.size() != plan.weights.size())
        throw Error("the fusion record needs one source per weight: " + std::to_string(sources.size()) + " sources, "
                    + std::to_string(plan.weights.size()) + " weights");
    for (auto& s : sources)
        if (s.sha256.empty() && !s.path.empty() && std::filesystem::is_directory(s.path))
            s.sha256 = Sha256::directoryHex(s.path);
    const std::string record = fusionRecord(plan, result.report, sources).dump(2) + "\n";
    writeAdapterFactors(result.adapter, dir, result.adapter.baseModelNameOrPath, {{kFusionRecordFile, record}});
}

} // namespace rslora::engine::fusion
