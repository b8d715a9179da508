#include "storage/EvaluationRepository.h"

#include "storage/Database.h"
#include "storage/Naming.h"

namespace rslora::storage {
namespace {

#define RSLORA_EVAL_COLUMNS \
    "id, adapter_id, run_id, dataset, dataset_sha256, metric, value, created_at, details_json"

EvaluationRecord readEvaluation(const Statement& s) {
    EvaluationRecord e;
    e.id = s.getInt(0);
    e.adapterId = s.getInt(1);
    e.runId = s.getOptInt(2);
    e.dataset = s.getText(3);
    e.datasetSha256 = s.getText(4);
    e.metric = s.getText(5);
    e.value = s.getDouble(6); // NULL -> NaN
    e.createdAt = s.getDouble(7);
    e.detailsJson = s.getText(8);
    return e;
}

} // namespace

int64_t EvaluationRepository::record(EvaluationRecord e) {
    {
        auto st = m_db.cached(
            "INSERT INTO evaluations (adapter_id, run_id, dataset, dataset_sha256, metric, value, created_at, "
            "details_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (adapter_id, dataset, metric) DO UPDATE SET "
            "run_id = excluded.run_id, dataset_sha256 = excluded.dataset_sha256, value = excluded.value, "
            "created_at = excluded.created_at, details_json = excluded.details_json");
        st->bindAll(e.adapterId, e.runId, e.dataset, e.datasetSha256, e.metric, e.value,
                    e.createdAt > 0 ? e.createdAt : nowSeconds(), e.detailsJson);
        st->run();
    }
    auto id = m_db.cached("SELECT id FROM evaluations WHERE adapter_id = ? AND dataset = ? AND metric = ?");
    id->bindAll(e.adapterId, e.dataset, e.metric);
    id->step();
    return id->getInt(0);
}

std::vector<EvaluationRecord> EvaluationRepository::forAdapter(int64_t adapterId) {
    auto st = m_db.cached("SELECT " RSLORA_EVAL_COLUMNS " FROM evaluations WHERE adapter_id = ? ORDER BY dataset, metric");
    st->bind(1, adapterId);
    std::vector<EvaluationRecord> out;
    while (st->step())
        out.push_back(readEvaluation(*st));
    return out;
}

std::vector<EvaluationRecord> EvaluationRepository::forMetric(const std::string& metric, const std::string& dataset) {
    auto st = m_db.cached("SELECT " RSLORA_EVAL_COLUMNS " FROM evaluations WHERE metric = ?1 AND (?2 = '' OR dataset = ?2) "
                          "ORDER BY dataset, adapter_id");
    st->bindAll(metric, dataset);
    std::vector<EvaluationRecord> out;
    while (st->step())
        out.push_back(readEvaluation(*st));
    return out;
}

std::optional<EvaluationRecord> EvaluationRepository::get(int64_t adapterId, const std::string& dataset,
                                                          const std::string& metric) {
    auto st = m_db.cached("SELECT " RSLORA_EVAL_COLUMNS " FROM evaluations WHERE adapter_id = ? AND dataset = ? AND metric = ?");
    st->bindAll(adapterId, dataset, metric);
    if (!st->step())
        return std::nullopt;
    return readEvaluation(*st);
}

} // namespace rslora::storage
