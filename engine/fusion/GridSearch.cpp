// Grid search over fusion weights (see GridSearch.h).
#include "engine/fusion/GridSearch.h"
#include "engine/fusion/ActiveSetGuard.h"

#include "common/Error.h"
#include "common/Sha256.h"
#include "engine/AdapterSet.h"
#include "engine/Evaluator.h"
#include "engine/PeftAdapterIO.h"
#include "engine/PeftConfigFile.h"
#include "engine/fusion/Fusion.h"
#include "engine/fusion/ModelExport.h"
#include "engine/TrainingRun.h"
#include "models/ModelLoader.h"
#include "models/data/SampleBuilder.h"
#include "models/tokenizer/Tokenizer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <sstream>

namespace rslora::engine::fusion {

namespace fs = std::filesystem;

namespace {

const char* const kMetricNames[] = {"loss", "exact_match", "multiple_choice"};

std::string fmt(double v)
{
    std::ostringstream o;
    o << std::setprecision(6) << v;
    return o.str();
}

double parseNumber(const std::string& text, const std::string& what, const std::string& spec)
{
    size_t used = 0;
    double v = 0.0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (text.empty() || used != text.size())
        throw Error(what + ": '" + text + "' in '" + spec + "' is not a number",
                    "give START:STOP:STEP (e.g. -1:2:0.25), a list (0,0.5,1) or one value");
    if (!std::isfinite(v))
        throw Error(what + ": '" + text + "' in '" + spec + "' is not a finite number");
    return v;
}

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> parts;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            parts.push_back(cur);
            cur.clear();
        } else if (c != ' ') {
            cur += c;
        }
    }
    parts.push_back(cur);
    return parts;
}

bool better(GridMetric metric, double a, double b)
{
    if (std::isnan(a))
        return false;
    if (std::isnan(b))
        return true;
    return lowerIsBetter(metric) ? a < b : a > b;
}

} // namespace

GridMetric parseGridMetric(const std::string& name)
{
    for (int i = 0; i < 3; ++i)
        if (name == kMetricNames[i])
            return GridMetric(i);
    throw Error("unknown metric '" + name + "': expected loss, exact_match or multiple_choice");
}

const char* gridMetricName(GridMetric metric)
{
    return kMetricNames[int(metric)];
}

bool lowerIsBetter(GridMetric metric)
{
    return metric == GridMetric::Loss;
}

std::vector<double> weightRange(double start, double stop, double step, const std::string& what)
{
    if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
        throw Error(what + ": start, stop and step must be finite numbers");
    if (step <= 0.0)
        throw Error(what + ": the step must be greater than 0, found " + fmt(step));
    if (stop < start)
        throw Error(what + ": the range " + fmt(start) + ":" + fmt(stop) + ":" + fmt(step)
                    + " is empty (stop is below start)");
    // Count the steps once, with a tolerance, so that 0:1:0.1 ends at 1 and not at 0.9999999.
    // Counted in double first: a step far below the span gives more values than an integer holds (the
    // conversion was undefined, and 0:1:1e-300 came out as "no weight values").
    const double span = (stop - start) / step;
    const double count = std::floor(span + 1e-9) + 1;
    if (!(count <= 100000.0))
        throw Error(what + ": the range " + fmt(start) + ":" + fmt(stop) + ":" + fmt(step) + " has " + fmt(count)
                    + " values; use a larger step");
    const auto n = int64_t(count);
    std::vector<double> v;
    for (int64_t k = 0; k < n; ++k) {
        double x = start + double(k) * step;
        // Snap values that rounding moved off a short decimal (0.30000000000000004 → 0.3).
        const double r = std::round(x * 1e9) / 1e9;
        if (std::abs(r - x) < 1e-12 * std::max(1.0, std::abs(x)))
            x = r;
        v.push_back(x);
    }
    return v;
}

std::vector<double> parseWeightValues(const std::string& spec, const std::string& what)
{
    if (spec.find_first_not_of(' ') == std::string::npos)
        throw Error(what + ": no weights given", "give START:STOP:STEP (e.g. -1:2:0.25), a list (0,0.5,1) or one value");
    if (spec.find(':') != std::string::npos) {
        const auto parts = split(spec, ':');
        if (parts.size() != 3)
            throw Error(what + ": '" + spec + "' must be START:STOP:STEP (three numbers)");
        return weightRange(parseNumber(parts[0], what, spec), parseNumber(parts[1], what, spec),
                           parseNumber(parts[2], what, spec), what + " '" + spec + "'");
    }
    std::vector<double> v;
    for (const auto& p : split(spec, ','))
        v.push_back(parseNumber(p, what, spec));
    return v;
}

size_t GridSpec::pointCount() const
{
    if (values.empty())
        return 0;
    size_t n = 1;
    for (const auto& axis : values) {
        // Saturate instead of overflowing: any count above the limit is refused anyway.
        if (axis.empty())
            return 0;
        n = n > (size_t(1) << 40) / axis.size() ? (size_t(1) << 40) : n * axis.size();
    }
    return n;
}

void checkGridSpec(const GridSpec& spec)
{
    const size_t n = spec.adapters.size();
    if (n < kMinGridAdapters || n > kMaxGridAdapters)
        throw Error("a weight grid takes 2 or 3 adapters, found " + std::to_string(n),
                    n > kMaxGridAdapters ? "search the weights of fewer adapters at a time" : "give a second --adapter");
    for (size_t i = 0; i < n; ++i)
        for (size_t j = i + 1; j < n; ++j)
            if (spec.adapters[i] == spec.adapters[j])
                throw Error("adapter '" + spec.adapters[i] + "' is given twice in the grid");
    if (!spec.labels.empty() && spec.labels.size() != n)
        throw Error("the grid has " + std::to_string(n) + " adapters but " + std::to_string(spec.labels.size()) + " labels");
    if (spec.values.size() != n)
        throw Error("the grid has " + std::to_string(n) + " adapters but " + std::to_string(spec.values.size())
                    + " weight axes: give one weight spec for all or one per adapter");
    for (size_t i = 0; i < n; ++i) {
        const std::string& label = spec.labels.empty() ? spec.adapters[i] : spec.labels[i];
        if (spec.values[i].empty())
            throw Error("the grid is empty: adapter " + std::to_string(i + 1) + " (" + label + ") has no weight values");
        for (double v : spec.values[i])
            if (!std::isfinite(v))
                throw Error("adapter " + std::to_string(i + 1) + " (" + label + "): weight " + fmt(v) + " is not finite");
    }
    const size_t points = spec.pointCount();
    if (points > spec.maxPoints) {
        std::string sizes;
        for (const auto& axis : spec.values)
            sizes += (sizes.empty() ? "" : " x ") + std::to_string(axis.size());
        throw Error("the grid has " + (points >= (size_t(1) << 40) ? std::string("too many") : std::to_string(points))
                        + " points (" + sizes + "), more than the limit of " + std::to_string(spec.maxPoints),
                    "use a coarser step or fewer values; each point is one pass over the validation data");
    }
}

std::vector<size_t> GridResult::varyingAxes() const
{
    std::vector<size_t> v;
    for (size_t i = 0; i < values.size(); ++i)
        if (values[i].size() > 1)
            v.push_back(i);
    return v;
}

size_t GridResult::flatIndex(const std::vector<size_t>& index) const
{
    if (index.size() != values.size())
        throw Error("grid index has " + std::to_string(index.size()) + " positions, the grid " + std::to_string(values.size()) + " axes");
    size_t flat = 0;
    for (size_t i = 0; i < values.size(); ++i) {
        if (index[i] >= values[i].size())
            throw Error("grid index " + std::to_string(index[i]) + " is outside axis " + std::to_string(i) + " of "
                        + std::to_string(values[i].size()) + " values");
        flat = flat * values[i].size() + index[i];
    }
    return flat;
}

nlohmann::ordered_json GridResult::toJson() const
{
    auto pointJson = [&](const GridPoint& p) {
        nlohmann::ordered_json j;
        j["weights"] = p.weights;
        j["score"] = std::isnan(p.score.value) ? nlohmann::ordered_json() : nlohmann::ordered_json(p.score.value);
        j[metric == GridMetric::Loss ? "tokens" : "items"] = p.score.count;
        if (metric == GridMetric::Loss)
            j["perplexity"] = std::isfinite(p.score.perplexity) ? nlohmann::ordered_json(p.score.perplexity) : nlohmann::ordered_json();
        return j;
    };
    nlohmann::ordered_json j;
    j["metric"] = gridMetricName(metric);
    j["lower_is_better"] = lowerIsBetter(metric);
    j["adapters"] = adapters;
    if (!adapterPaths.empty())
        j["adapter_paths"] = adapterPaths;
    j["axes"] = values;
    if (!dataset.empty()) {
        j["dataset"] = dataset;
        j["dataset_sha256"] = datasetSha256;
    }
    j["points"] = nlohmann::ordered_json::array();
    for (const auto& p : points)
        j["points"].push_back(pointJson(p));
    if (!points.empty())
        j["best"] = pointJson(bestPoint());
    return j;
}

std::string GridResult::toText() const
{
    std::ostringstream o;
    const std::string count = metric == GridMetric::Loss ? "tokens" : "items";
    std::vector<size_t> widths;
    for (const auto& a : adapters) {
        widths.push_back(std::max<size_t>(8, a.size() + 2));
        o << std::left << std::setw(int(widths.back())) << a;
    }
    o << std::left << std::setw(14) << gridMetricName(metric) << count << "\n";
    for (size_t k = 0; k < points.size(); ++k) {
        const auto& p = points[k];
        for (size_t i = 0; i < p.weights.size(); ++i)
            o << std::left << std::setw(int(widths[i])) << fmt(p.weights[i]);
        o << std::left << std::setw(14) << fmt(p.score.value) << p.score.count << (k == best ? "  <- best" : "") << "\n";
    }
    if (!points.empty()) {
        const auto& b = bestPoint();
        o << "best (" << (lowerIsBetter(metric) ? "lowest " : "highest ") << gridMetricName(metric) << "): ";
        for (size_t i = 0; i < b.weights.size(); ++i)
            o << (i ? ", " : "") << adapters[i] << " = " << fmt(b.weights[i]);
        o << "  ->  " << fmt(b.score.value) << "\n";
    }
    return o.str();
}

GridResult runGrid(AdapterSet& set, const GridSpec& spec, const GridScorer& score, const GridProgress& progress)
{
    checkGridSpec(spec);
    const auto names = set.adapterNames();
    for (const auto& a : spec.adapters)
        if (std::find(names.begin(), names.end(), a) == names.end())
            throw Error("the adapter set has no adapter named '" + a + "'");
    GridResult r;
    r.adapters = spec.labels.empty() ? spec.adapters : spec.labels;
    r.values = spec.values;
    r.metric = spec.metric;
    const size_t total = spec.pointCount();
    r.points.reserve(total);
    ActiveSetGuard restore(set);
    std::vector<size_t> index(spec.values.size(), 0);
    for (size_t k = 0; k < total; ++k) {
        GridPoint p;
        p.index = index;
        std::vector<ActiveAdapter> active;
        for (size_t i = 0; i < index.size(); ++i) {
            p.weights.push_back(spec.values[i][index[i]]);
            active.push_back({spec.adapters[i], p.weights.back()});
        }
        set.setActive(active);
        p.score = score();
        if (k == 0 || better(spec.metric, p.score.value, r.points[r.best].score.value))
            r.best = k;
        r.points.push_back(std::move(p));
        if (progress && !progress(int(k + 1), int(total)))
            throw Error("grid search cancelled after " + std::to_string(k + 1) + " of " + std::to_string(total) + " points");
        // Next position: the last axis moves fastest.
        for (size_t i = index.size(); i-- > 0;) {
            if (++index[i] < spec.values[i].size())
                break;
            index[i] = 0;
        }
    }
    // A score that is not a number (weights large enough to overflow the model's float32 output) is
    // never the best; when no point has one, there is no best point to print or record.
    if (!std::isfinite(r.points[r.best].score.value)) {
        std::string weights;
        for (size_t i = 0; i < r.adapters.size(); ++i)
            weights += (i ? ", " : "") + r.adapters[i] + " = " + fmt(r.points[0].weights[i]);
        throw Error(std::string("no point of the grid gave a finite ") + gridMetricName(spec.metric) + " (the first, " + weights +
                        "): the weights make the model's outputs overflow float32; use smaller weights",
                    "nothing was recorded");
    }
    return r;
}

class GridData {
public:
    GridMetric metric = GridMetric::Loss;
    GridDataOptions options;
    std::vector<TrainExample> examples;
    std::vector<ExactMatchItem> exactItems;
    std::vector<ChoiceItem> choiceItems;
    std::optional<models::Tokenizer> tokenizer;
};

std::shared_ptr<const GridData> loadGridData(GridMetric metric, const std::string& path, const std::string& modelDir,
                                             const GridDataOptions& options)
{
    if (!fs::is_regular_file(path))
        throw Error("validation data '" + path + "' does not exist or is not a file");
    auto d = std::make_shared<GridData>();
    d->metric = metric;
    d->options = options;
    const std::string what = std::string("validation data for metric ") + gridMetricName(metric) + ": ";
    auto limited = [&](auto& v) {
        if (options.limit > 0 && v.size() > size_t(options.limit))
            v.resize(size_t(options.limit));
    };
    try {
        switch (metric) {
        case GridMetric::Loss: {
            TrainConfig c;
            c.modelPath = modelDir;
            c.maxSeqLen = options.maxSeqLen;
            c.chatTemplate = options.chatTemplate;
            d->examples = loadExamples(path, c);
            limited(d->examples);
            int64_t supervised = 0;
            for (const auto& e : d->examples)
                supervised += supervisedTokens(e, options.maxSeqLen);
            if (supervised == 0)
                throw Error(path + ": no supervised tokens to compute a loss on"
                            + std::string(d->examples.empty() ? " (no records)" : ""));
            break;
        }
        case GridMetric::ExactMatch: {
            d->tokenizer = models::Tokenizer::load(modelDir);
            models::SampleBuilderOptions opts;
            opts.maxLength = size_t(options.maxSeqLen);
            if (!options.chatTemplate.empty())
                opts.templateName = options.chatTemplate;
            const models::SampleBuilder builder(*d->tokenizer, opts);
            d->exactItems = loadExactMatchItems(path, &builder);
            limited(d->exactItems);
            if (d->exactItems.empty())
                throw Error(path + ": no records to score");
            break;
        }
        case GridMetric::MultipleChoice:
            d->choiceItems = loadChoiceItems(path);
            limited(d->choiceItems);
            if (d->choiceItems.empty())
                throw Error(path + ": no records to score");
            d->tokenizer = models::Tokenizer::load(modelDir);
            break;
        }
    } catch (const Error& e) {
        throw Error(what + e.what(), e.hint());
    }
    return d;
}

GridScorer makeGridScorer(std::shared_ptr<const GridData> data, models::CausalLM& model)
{
    if (!data)
        throw Error("no validation data for the grid");
    return [data, &model]() {
        GridScore s;
        const auto& o = data->options;
        switch (data->metric) {
        case GridMetric::Loss: {
            const EvalStats e = evaluateLoss(model, data->examples, o.batchSize, o.maxSeqLen);
            s.value = e.loss;
            s.count = e.tokens;
            s.perplexity = e.perplexity;
            break;
        }
        case GridMetric::ExactMatch: {
            const AccuracyResult a = exactMatch(model, *data->tokenizer, data->exactItems, o.maxNewTokens, o.batchSize, 0);
            s.value = a.accuracy();
            s.count = a.total;
            break;
        }
        case GridMetric::MultipleChoice: {
            const AccuracyResult a = multipleChoice(model, *data->tokenizer, data->choiceItems);
            s.value = a.accuracy();
            s.count = a.total;
            break;
        }
        }
        return s;
    };
}

namespace {

// The checks of fuse and merge, before anything is loaded: the adapters share a base model, and the
// stored versions among them were trained on the model the grid loads. Scores of adapters applied to
// another model would be stored as evaluations of those versions.
void checkBaseModels(const GridRequest& req, const GridSpec& spec)
{
    if (!req.baseFingerprints.empty() && req.baseFingerprints.size() != req.adapters.size())
        throw Error(std::to_string(req.baseFingerprints.size()) + " base model fingerprints for "
                    + std::to_string(req.adapters.size()) + " adapters: give one per adapter (\"\" for a folder)");
    std::vector<AdapterFactors> named; // names and folders only: no tensors are needed for these checks
    std::vector<WeightedAdapter> recorded;
    for (size_t i = 0; i < req.adapters.size(); ++i) {
        AdapterFactors a;
        a.dir = req.adapters[i].path;
        a.label = spec.labels[i];
        a.baseModelNameOrPath = readPeftBaseModelName(req.adapters[i].path);
        WeightedAdapter w;
        w.factors.label = a.label;
        w.baseModelSha256 = req.baseFingerprints.empty() ? std::string() : req.baseFingerprints[i];
        named.push_back(std::move(a));
        recorded.push_back(std::move(w));
    }
    checkSameBaseModel(req.baseFingerprints, named);
    checkRecordedBaseModel(req.modelPath, recorded);
}

} // namespace

GridResult runGridSearch(const GridRequest& req, const GridProgress& progress)
{
    // Cheap refusals first: the grid, then the data, and only then the weights.
    GridSpec spec;
    for (size_t i = 0; i < req.adapters.size(); ++i) {
        spec.adapters.push_back("grid" + std::to_string(i));
        spec.labels.push_back(req.adapters[i].label.empty() ? req.adapters[i].path : req.adapters[i].label);
    }
    spec.values = req.values;
    spec.metric = req.metric;
    spec.maxPoints = req.maxPoints;
    checkGridSpec(spec);
    for (size_t i = 0; i < req.adapters.size(); ++i)
        if (!fs::is_directory(req.adapters[i].path))
            throw Error("adapter " + std::to_string(i + 1) + ": '" + req.adapters[i].path + "' is not a folder");
    // The set's names always differ; one folder named twice (by two paths or a version and its folder)
    // would only repeat an axis.
    for (size_t i = 0; i < req.adapters.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (fs::equivalent(req.adapters[i].path, req.adapters[j].path))
                throw Error("adapter '" + spec.labels[i] + "' is given twice in the grid (the folder " + req.adapters[i].path
                                + " is also adapter " + std::to_string(j + 1) + ", '" + spec.labels[j] + "')",
                            "a grid over one adapter twice only repeats its axis; give different adapters");
    checkBaseModels(req, spec);
    auto data = loadGridData(req.metric, req.dataPath, req.modelPath, req.data);

    models::LoadOptions lo;
    lo.device = models::parseDevice(req.device);
    auto model = models::loadCausalLM(req.modelPath, lo);
    AdapterSet set(*model);
    for (size_t i = 0; i < req.adapters.size(); ++i)
        loadPeftAdapter(set, req.adapters[i].path, spec.adapters[i]);
    GridResult r = runGrid(set, spec, makeGridScorer(data, *model), progress);
    for (const auto& a : req.adapters)
        r.adapterPaths.push_back(a.path);
    r.dataset = req.dataPath;
    r.datasetSha256 = Sha256::fileHex(req.dataPath);
    return r;
}

} // namespace rslora::engine::fusion
