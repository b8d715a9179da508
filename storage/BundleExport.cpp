// exportRun(): a stored run as a bundle folder (the format importBundle() reads).
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "storage/Csv.h"
#include "storage/RunBundle.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <cmath>
#include <fstream>

namespace fs = std::filesystem;

namespace rslora::storage {
namespace {

void appendJsonNumber(std::string& out, double v) {
    // JSON has no NaN or Inf: those are written as the strings "nan", "inf", "-inf".
    if (std::isfinite(v))
        out += formatDouble(v);
    else
        out += "\"" + formatDouble(v) + "\"";
}

std::string jsonString(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out + "\"";
}

void writeMetricsJson(Store& store, int64_t runId, const fs::path& file) {
    std::string out = "{";
    bool firstKey = true;
    for (const std::string& key : store.metrics().keys(runId)) {
        MetricSeries s = store.metrics().series(runId, key);
        out += firstKey ? "\n  " : ",\n  ";
        firstKey = false;
        out += jsonString(key) + ": {\"step\": [";
        for (size_t i = 0; i < s.size(); ++i)
            out += (i ? "," : "") + std::to_string(s.steps[i]);
        out += "], \"wall_time\": [";
        for (size_t i = 0; i < s.size(); ++i) {
            out += i ? "," : "";
            appendJsonNumber(out, s.wallTimes[i]);
        }
        out += "], \"value\": [";
        for (size_t i = 0; i < s.size(); ++i) {
            out += i ? "," : "";
            appendJsonNumber(out, s.values[i]);
        }
        out += "]}";
    }
    out += "\n}\n";
    writeFileAtomic(file, out);
}

} // namespace

ExportResult exportRun(Store& store, int64_t runId, const fs::path& dir, const ExportOptions& options) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec)))
        throw rslora::Error("cannot export to " + dir.string() + ": it exists and is not an empty folder",
                            "choose a new folder name");
    ExportResult result;
    // One read transaction: the run, its metrics and adapters from the same snapshot.
    Transaction snapshot(store.database(), Transaction::Mode::Deferred);
    RunRecord run = store.runs().require(runId);
    std::string project;
    if (auto p = store.runs().project(run.projectId); p && p->name != "default")
        project = p->name;

    if (fs::exists(dir, ec))
        fs::remove(dir, ec); // empty: AtomicDirectory wants to create it itself
    AtomicDirectory out(dir);
    {
        RunBundleWriter writer(out.stagingPath());
        writer.writeRun(run, store.runs().tags(runId), store.runs().params(runId), project);
        std::vector<MetricPoint> batch;
        store.metrics().forEach(runId, [&](const MetricPoint& p) {
            batch.push_back(p);
            if (batch.size() >= 20000) {
                writer.appendMetrics(batch);
                result.metrics += batch.size();
                batch.clear();
            }
        });
        writer.appendMetrics(batch);
        result.metrics += batch.size();

        if (options.includeAdapters) {
            AdapterFilter f;
            f.sourceRunId = runId;
            for (const AdapterRecord& a : store.adapters().list(f)) {
                if (a.path.empty() || !fs::is_directory(a.path)) {
                    result.warnings.push_back("adapter \"" + a.name + "\" left out: its folder " + a.path +
                                              " is missing");
                    continue;
                }
                BundleAdapter b;
                b.record = a;
                b.tags = store.adapters().tags(a.id);
                for (const LineageEdge& e : store.lineage().parents(a.id)) {
                    auto parent = store.adapters().get(e.parentId);
                    if (parent)
                        b.parents.push_back({parent->uuid, e.kind, e.weight, e.method, e.detailsJson});
                }
                for (const EvaluationRecord& e : store.evaluations().forAdapter(a.id))
                    b.evaluations.push_back({e.dataset, e.datasetSha256, e.metric, e.value});
                b.record.sha256.clear(); // hashed from the copy, so the bundle always verifies
                writer.addAdapter(std::move(b), a.path);
                const std::string& copied = writer.contents().adapters.back().record.sha256;
                if (!a.sha256.empty() && copied != a.sha256)
                    result.warnings.push_back("adapter \"" + a.name + "\": its files changed since they were recorded "
                                              "(sha256 " + a.sha256 + ", now " + copied + ")");
                ++result.adapters;
            }
        }
        writer.sync();
    }
    if (options.metricsJson)
        writeMetricsJson(store, runId, out.stagingPath() / "metrics.json");
    snapshot.commit();
    out.commit();
    return result;
}

} // namespace rslora::storage
