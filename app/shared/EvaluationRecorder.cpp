// Evaluation reports into the store's evaluations table.
#include "app/shared/EvaluationRecorder.h"

#include "common/Sha256.h"
#include "engine/Evaluator.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

namespace rslora::app {

namespace {

std::string fileSha256(const std::string& path)
{
    try {
        return Sha256::fileHex(path);
    } catch (const std::exception&) {
        return {}; // the report was made from it, so this is a file removed since: keep the value
    }
}

} // namespace

int EvaluationRecorder::record(storage::Store& store, int64_t adapterId, std::optional<int64_t> runId,
                               const engine::EvalRequest& request, const engine::EvalReport& report)
{
    int stored = 0;
    storage::Transaction tx(store.database());
    auto put = [&](const std::string& dataset, const std::string& metric, double value, const nlohmann::json& details) {
        storage::EvaluationRecord e;
        e.adapterId = adapterId;
        e.runId = runId;
        // Diagnostics describe the adapter itself: no dataset file.
        e.dataset = dataset.empty() ? "(adapter)" : std::filesystem::path(dataset).filename().string();
        e.datasetSha256 = dataset.empty() ? std::string() : fileSha256(dataset);
        e.metric = metric;
        e.value = value;
        nlohmann::json d = details;
        if (!dataset.empty())
            d["path"] = dataset;
        if (request.limit > 0)
            d["limit"] = request.limit;
        e.detailsJson = d.dump();
        store.evaluations().record(e);
        ++stored;
    };
    if (report.loss) {
        const nlohmann::json d{{"tokens", report.loss->tokens}};
        put(request.lossData, "eval/loss", report.loss->loss, d);
        put(request.lossData, "eval/perplexity", report.loss->perplexity, d);
    }
    auto accuracy = [&](const std::string& dataset, const char* metric, const engine::AccuracyResult& a) {
        nlohmann::json d{{"correct", a.correct}, {"total", a.total}};
        if (!a.items.empty()) {
            nlohmann::json items = nlohmann::json::array();
            for (const auto& it : a.items)
                items.push_back({{"index", it.index}, {"correct", it.correct}, {"expected", it.expected}, {"got", it.got}});
            d["items"] = items;
        }
        put(dataset, metric, a.accuracy(), d);
    };
    if (report.exactMatch)
        accuracy(request.exactMatchData, "exact_match/accuracy", *report.exactMatch);
    if (report.multipleChoice)
        accuracy(request.multipleChoiceData, "mc/accuracy", *report.multipleChoice);
    if (report.preference) {
        const auto& p = *report.preference;
        const nlohmann::json d{{"pairs", p.pairs}, {"beta", request.dpo.beta}};
        put(request.preferenceData, "preference/accuracy", p.accuracy(), d);
        put(request.preferenceData, "preference/loss", p.loss(), d);
        put(request.preferenceData, "preference/margin", p.margin(), d);
    }
    if (!report.diagnostics.empty()) {
        // Stored against the adapter itself: std(A) against its init's expected value, and
        // the change of the adapted layers' output std (the v_proj layers when adapted, else all).
        double deviation = 0.0, change = 0.0;
        int withExpected = 0, vProj = 0, all = 0;
        double changeAll = 0.0;
        nlohmann::json modules = nlohmann::json::array();
        for (const auto& d : report.diagnostics) {
            modules.push_back({{"module", d.module}, {"std_a", d.stdA}, {"expected_std_a", d.expectedStdA},
                               {"output_std_base", d.outputStdBase}, {"output_std_adapted", d.outputStdAdapted}});
            if (d.expectedStdA > 0.0) {
                deviation += std::fabs(d.stdA / d.expectedStdA - 1.0);
                ++withExpected;
            }
            if (d.outputStdBase > 0.0) {
                const double c = std::fabs(d.outputStdAdapted / d.outputStdBase - 1.0);
                changeAll += c;
                ++all;
                if (d.module.size() >= 6 && d.module.compare(d.module.size() - 6, 6, "v_proj") == 0) {
                    change += c;
                    ++vProj;
                }
            }
        }
        if (withExpected > 0)
            put({}, "diag/std_a_deviation", deviation / withExpected, {{"modules", modules}, {"averaged_over", withExpected}});
        if (all > 0)
            put({}, "diag/output_std_change", vProj > 0 ? change / vProj : changeAll / all,
                   {{"modules", modules}, {"layers", vProj > 0 ? "v_proj" : "all adapted"}, {"averaged_over", vProj > 0 ? vProj : all}});
    }
    tx.commit();
    return stored;
}

} // namespace rslora::app
