// JSON views of the store's records, for `rslora ... --json` and any other machine-readable output.
// Times are seconds since the Unix epoch; NaN and Inf become null (JSON has neither).
#pragma once

#include "storage/Queries.h"
#include "storage/Records.h"

#include <nlohmann/json.hpp>

namespace rslora::storage {

nlohmann::ordered_json toJson(const RunRecord& run);
nlohmann::ordered_json toJson(const LatestMetric& metric);
nlohmann::ordered_json toJson(const AdapterRecord& adapter);
nlohmann::ordered_json toJson(const LineageEdge& edge);
nlohmann::ordered_json toJson(const EvaluationRecord& evaluation);
nlohmann::ordered_json toJson(const ArtifactRecord& artifact);
nlohmann::ordered_json toJson(const MetricSeries& series);
nlohmann::ordered_json toJson(const AdapterGraph& graph);
// A finite number, or null.
nlohmann::ordered_json jsonNumber(double value);

} // namespace rslora::storage
