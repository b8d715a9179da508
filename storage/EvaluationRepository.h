// Evaluation results: one value per adapter x dataset x metric (re-evaluating replaces it).
#pragma once

#include "storage/Records.h"

#include <optional>
#include <string>
#include <vector>

namespace rslora::storage {

class Database;

class EvaluationRepository {
public:
    explicit EvaluationRepository(Database& db) : m_db(db) {}

    // Inserts or replaces the value of (adapter, dataset, metric); returns its id. NaN is kept.
    int64_t record(EvaluationRecord evaluation);
    std::vector<EvaluationRecord> forAdapter(int64_t adapterId);
    // Every evaluation of `metric` (on `dataset` when given), for comparing adapters.
    std::vector<EvaluationRecord> forMetric(const std::string& metric, const std::string& dataset = {});
    std::optional<EvaluationRecord> get(int64_t adapterId, const std::string& dataset, const std::string& metric);

private:
    Database& m_db;
};

} // namespace rslora::storage
