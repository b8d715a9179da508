// The store record of a merged model: artifacts of the versions merged, on their runs.
#include "app/shared/MergedModelRecord.h"

#include "models/ModelFingerprint.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <nlohmann/json.hpp>

namespace rslora::app {

namespace fs = std::filesystem;

std::vector<int64_t> recordMergedModel(storage::Store& store, const engine::fusion::MergeReport& report,
                                       const fs::path& modelDir, const std::vector<MergedSource>& sources) {
    std::vector<int64_t> ids;
    bool anyStored = false;
    for (const MergedSource& s : sources)
        anyStored = anyStored || s.adapterId.has_value();
    if (!anyStored)
        return ids;

    const std::string outPath = fs::absolute(report.outDir).string();
    nlohmann::ordered_json sourceJson = nlohmann::ordered_json::array();
    for (const MergedSource& s : sources) {
        nlohmann::ordered_json j = {{"label", s.label}, {"path", s.path}, {"weight", s.weight}};
        if (s.adapterId)
            j["adapter_id"] = *s.adapterId;
        sourceJson.push_back(j);
    }
    int64_t sizeBytes = 0;
    for (const auto& e : fs::recursive_directory_iterator(report.outDir))
        if (e.is_regular_file())
            sizeBytes += static_cast<int64_t>(e.file_size());
    const storage::ContentRef base{fs::absolute(modelDir).string(), models::modelFingerprint(modelDir)};

    storage::Transaction tx(store.database());
    std::optional<int64_t> mergeRun;
    for (const MergedSource& s : sources) {
        if (!s.adapterId)
            continue;
        const storage::AdapterRecord version = store.adapters().require(*s.adapterId);
        int64_t runId = 0;
        if (version.sourceRunId) {
            runId = *version.sourceRunId;
        } else {
            if (!mergeRun) {
                storage::RunRecord run;
                run.name = "merge into " + fs::path(outPath).filename().string();
                run.status = storage::RunStatus::Finished;
                run.baseModel = base;
                run.configJson = nlohmann::ordered_json{{"merge", {{"model", base.ref}, {"dtype", report.dtype},
                                                                   {"out", outPath}, {"adapters", sourceJson}}}}
                                     .dump();
                run.notes = "merged model export";
                mergeRun = store.runs().create(run);
                store.runs().setTag(*mergeRun, "merge");
            }
            runId = *mergeRun;
        }
        storage::ArtifactRecord a;
        a.runId = runId;
        a.adapterId = version.id;
        a.kind = "merged";
        a.path = outPath;
        a.sizeBytes = sizeBytes;
        a.detailsJson = nlohmann::ordered_json{{"weight", s.weight},
                                               {"dtype", report.dtype},
                                               {"base_model", base.ref},
                                               {"base_model_sha256", base.sha256},
                                               {"tensors", report.tensors},
                                               {"shards", report.shards},
                                               {"sources", sourceJson}}
                            .dump();
        ids.push_back(store.artifacts().add(a));
    }
    tx.commit();
    return ids;
}

} // namespace rslora::app
