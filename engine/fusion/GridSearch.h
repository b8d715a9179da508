// Grid search over fusion weights: the base model loaded once, two or three adapters loaded once
// into one AdapterSet, and every point of the grid scored on validation data by switching the
// adapters' active weights (never by merging them into the base). Scores come from the Evaluator
// (loss, exact match, multiple choice), so a point's score is what `rslora eval` reports for the
// same weights. LibTorch stays out of this header so that front ends can draw results cheaply.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rslora::models {
class CausalLM;
}

namespace rslora::engine {
class AdapterSet;
}

namespace rslora::engine::fusion {

enum class GridMetric { Loss, ExactMatch, MultipleChoice };

// "loss", "exact_match", "multiple_choice"; anything else throws listing these names.
GridMetric parseGridMetric(const std::string& name);
const char* gridMetricName(GridMetric metric);
// Loss: lower is better; accuracies: higher is better.
bool lowerIsBetter(GridMetric metric);

inline constexpr size_t kMinGridAdapters = 2;
inline constexpr size_t kMaxGridAdapters = 3;
// A point costs one pass over the validation set; larger grids are refused with their size.
inline constexpr size_t kMaxGridPoints = 400;

// The values of one adapter's axis: "START:STOP:STEP" (STOP included when the steps reach it, up
// to rounding), "V1,V2,..." (a list, in the order given) or "V" (one value). Negative values are
// allowed. Throws naming `what` for a step ≤ 0, an empty range, a non-number, a non-finite value.
std::vector<double> parseWeightValues(const std::string& spec, const std::string& what);
std::vector<double> weightRange(double start, double stop, double step, const std::string& what);

struct GridSpec {
    std::vector<std::string> adapters;       // names of the adapters in the AdapterSet
    std::vector<std::string> labels;         // how the user named them (shown); empty: the names
    std::vector<std::vector<double>> values; // one axis per adapter
    GridMetric metric = GridMetric::Loss;
    size_t maxPoints = kMaxGridPoints;
    // Product of the axis sizes.
    size_t pointCount() const;
};

// Refuses fewer than 2 or more than 3 adapters, an axis count that differs from the adapter
// count, an empty axis, a non-finite value, duplicate adapters, and more than maxPoints points
// (saying how many).
void checkGridSpec(const GridSpec& spec);

// The score of one point: the metric's value and what it was computed over (supervised tokens
// for loss, items for the accuracies).
struct GridScore {
    double value = 0.0;
    int64_t count = 0;
    double perplexity = 0.0; // loss only
};

struct GridPoint {
    std::vector<double> weights; // one per adapter, in GridSpec order
    std::vector<size_t> index;   // position on each axis
    GridScore score;
};

struct GridResult {
    std::vector<std::string> adapters;       // labels, in GridSpec order
    std::vector<std::string> adapterPaths;   // folders read (filled by runGridSearch)
    std::vector<std::vector<double>> values; // the axes
    GridMetric metric = GridMetric::Loss;
    std::string dataset;                     // path of the validation data (filled by runGridSearch)
    std::string datasetSha256;
    // Row-major over the axes: the last adapter's axis varies fastest.
    std::vector<GridPoint> points;
    size_t best = 0; // index into points: lowest loss / highest accuracy (first one on ties)

    const GridPoint& bestPoint() const { return points.at(best); }
    // Axes with more than one value: one of them → draw a line, two → a heat map.
    std::vector<size_t> varyingAxes() const;
    // The point at a position on every axis.
    size_t flatIndex(const std::vector<size_t>& index) const;
    const GridPoint& at(const std::vector<size_t>& index) const { return points.at(flatIndex(index)); }

    // {"metric", "lower_is_better", "adapters", "adapter_paths", "axes", "dataset", "dataset_sha256",
    //  "points": [{"weights", "score", "count"(, "perplexity")}], "best": {...}}
    nlohmann::ordered_json toJson() const;
    // The table, one point per line, the best one marked, then the best point.
    std::string toText() const;
};

// (done, total) after each point; returning false cancels (runGrid then throws an Error saying
// so, and the adapters' active weights are restored).
using GridProgress = std::function<bool(int done, int total)>;
// Scores the model as it stands (with the active adapters it has now).
using GridScorer = std::function<GridScore()>;

// Scores every point of `spec` by setting the adapters' active weights on `set` and calling
// `score`; nothing is loaded or merged per point. The active set found on entry is restored on exit.
GridResult runGrid(AdapterSet& set, const GridSpec& spec, const GridScorer& score, const GridProgress& progress = {});

struct GridDataOptions {
    int batchSize = 8;
    int maxSeqLen = 512;
    int maxNewTokens = 32; // exact match
    int limit = 0;         // first N records only (0: all)
    std::string chatTemplate; // for SFT records; empty: the tokenizer's own
};

// Validation data read once for a metric (the records the metric needs, tokenized when needed).
class GridData;
// Reads `path` for `metric`, refusing a file that lacks what the metric needs (naming the line) or
// that holds nothing to score. `modelDir` gives the tokenizer when the records are text.
std::shared_ptr<const GridData> loadGridData(GridMetric metric, const std::string& path, const std::string& modelDir,
                                             const GridDataOptions& options = {});
// A scorer over `model` through the Evaluator's functions: evaluateLoss, exactMatch, multipleChoice.
GridScorer makeGridScorer(std::shared_ptr<const GridData> data, models::CausalLM& model);

struct GridAdapterRef {
    std::string path;  // PEFT folder
    std::string label; // shown; empty: the path
};

struct GridRequest {
    std::string modelPath;
    std::vector<GridAdapterRef> adapters;
    // Per adapter, the base model fingerprint its stored version records ("" for a folder), or none
    // at all. The search is refused, before anything is loaded, for adapters of different base
    // models and for a version recorded against another model than modelPath (as fuse and merge).
    std::vector<std::string> baseFingerprints;
    std::vector<std::vector<double>> values; // one axis per adapter
    GridMetric metric = GridMetric::Loss;
    std::string dataPath;
    GridDataOptions data;
    std::string device = "cpu";
    size_t maxPoints = kMaxGridPoints;
};

// The whole search: checks the grid, the adapters' base models and the data first, then loads the
// base once and every adapter once into one AdapterSet, and runs the grid.
GridResult runGridSearch(const GridRequest& request, const GridProgress& progress = {});

} // namespace rslora::engine::fusion
