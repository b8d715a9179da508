// Group statistics of a sweep and their CSV, JSON and text forms.
#include "engine/sweep/SweepSummary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace rslora::engine {

namespace {

std::string number(double v)
{
    if (std::isnan(v))
        return "";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

nlohmann::json jsonNumber(double v)
{
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

// RFC 4180: quoted when it holds a comma, quote or line break.
std::string csvField(const std::string& s)
{
    if (s.find_first_of(",\"\r\n") == std::string::npos)
        return s;
    std::string q = "\"";
    for (char c : s)
        q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

std::string valueText(const nlohmann::json& v)
{
    return v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

const std::vector<SweepMetric>& sweepMetrics()
{
    static const std::vector<SweepMetric> list{
        {"mc/accuracy", "MC accuracy", true},
        {"exact_match/accuracy", "exact match", true},
        {"preference/accuracy", "preference acc.", true},
        {"eval/loss", "val loss", false},
        {"train/loss", "train loss", false},
        // Adapter diagnostics (evaluate: diagnostics): how far the adapter is from what its init promises.
        {"diag/std_a_deviation", "|std(A)/expected - 1|", false},
        {"diag/output_std_change", "output std change", false},
    };
    return list;
}

const SweepMetric* SweepSummary::metric(const std::string& key) const
{
    for (const auto& m : sweepMetrics())
        if (key == m.key)
            return &m;
    return nullptr;
}

SweepSummary SweepSummary::compute(const std::vector<SweepRunResult>& runs)
{
    SweepSummary s;
    std::map<int, std::map<std::string, std::vector<double>>> values;
    std::set<std::string> present;
    for (const auto& r : runs) {
        auto row = std::find_if(s.rows.begin(), s.rows.end(),
                                [&](const SweepGroupRow& g) { return g.combinationIndex == r.combinationIndex; });
        if (row == s.rows.end()) {
            SweepGroupRow g;
            g.combinationIndex = r.combinationIndex;
            g.combination = r.combination;
            SweepPoint p;
            p.combination = r.combination;
            g.label = p.combinationLabel();
            s.rows.push_back(g);
            row = s.rows.end() - 1;
        }
        ++row->runs;
        if (r.missing) {
            ++row->missing;
            ++s.missing;
            row->missingRuns.push_back("seed " + std::to_string(r.seed));
            continue;
        }
        if (r.failed) {
            ++row->failed;
            row->failures.push_back("run #" + std::to_string(r.runId) + ": " + (r.error.empty() ? std::string("no message") : r.error));
        }
        if (!r.finished)
            continue;
        ++row->finished;
        for (const auto& [k, v] : r.metrics) {
            values[r.combinationIndex][k].push_back(v);
            present.insert(k);
        }
    }
    std::sort(s.rows.begin(), s.rows.end(),
              [](const SweepGroupRow& a, const SweepGroupRow& b) { return a.combinationIndex < b.combinationIndex; });
    for (const auto& m : sweepMetrics()) {
        if (!present.count(m.key))
            continue;
        s.metricKeys.push_back(m.key);
        SweepGroupRow* best = nullptr;
        for (auto& row : s.rows) {
            auto it = values[row.combinationIndex].find(m.key);
            if (it == values[row.combinationIndex].end())
                continue;
            SweepMetricCell& cell = row.cells[m.key];
            cell.summary = summarize(it->second);
            if (cell.summary.n == 0)
                continue;
            const double bestMean = best ? best->cells[m.key].summary.mean : 0.0;
            if (!best || (m.higherIsBetter ? cell.summary.mean > bestMean : cell.summary.mean < bestMean))
                best = &row;
        }
        if (!best)
            continue;
        SweepMetricCell& bestCell = best->cells[m.key];
        bestCell.best = true;
        bestCell.vsBest = {std::nan(""), std::nan(""), std::nan("")};
        for (auto& row : s.rows) {
            if (&row == best || !row.cells.count(m.key))
                continue;
            row.cells[m.key].vsBest = welchTTest(bestCell.summary, row.cells[m.key].summary);
        }
    }
    if (!s.metricKeys.empty())
        s.primaryMetric = s.metricKeys.front();
    return s;
}

std::string SweepSummary::toCsv() const
{
    std::vector<std::string> keys;
    for (const auto& row : rows)
        for (const auto& [k, v] : row.combination)
            if (std::find(keys.begin(), keys.end(), k) == keys.end())
                keys.push_back(k);
    std::string out;
    for (const auto& k : keys)
        out += csvField(k) + ",";
    out += "runs,finished";
    for (const auto& m : metricKeys)
        out += "," + csvField(m + " mean") + "," + csvField(m + " std") + "," + csvField(m + " n") + ","
               + csvField(m + " best") + "," + csvField(m + " p_vs_best");
    out += "\n";
    for (const auto& row : rows) {
        for (const auto& k : keys) {
            std::string v;
            for (const auto& [ck, cv] : row.combination)
                if (ck == k)
                    v = valueText(cv);
            out += csvField(v) + ",";
        }
        out += std::to_string(row.runs) + "," + std::to_string(row.finished);
        for (const auto& m : metricKeys) {
            auto it = row.cells.find(m);
            if (it == row.cells.end()) {
                out += ",,,0,,";
                continue;
            }
            const auto& c = it->second;
            out += "," + number(c.summary.mean) + "," + number(c.summary.std) + "," + std::to_string(c.summary.n) + ","
                   + (c.best ? "1" : "0") + "," + number(c.vsBest.p);
        }
        out += "\n";
    }
    return out;
}

nlohmann::json SweepSummary::toJson() const
{
    nlohmann::json j;
    j["metrics"] = metricKeys;
    j["primary_metric"] = primaryMetric;
    nlohmann::json rowsJson = nlohmann::json::array();
    for (const auto& row : rows) {
        nlohmann::json r;
        nlohmann::json combo = nlohmann::json::object();
        for (const auto& [k, v] : row.combination)
            combo[k] = v;
        r["combination"] = combo;
        r["label"] = row.label;
        r["runs"] = row.runs;
        r["finished"] = row.finished;
        r["failed"] = row.failed;
        r["failures"] = row.failures;
        r["missing"] = row.missing;
        r["missing_runs"] = row.missingRuns;
        nlohmann::json cells = nlohmann::json::object();
        for (const auto& [k, c] : row.cells)
            cells[k] = {{"mean", jsonNumber(c.summary.mean)}, {"std", jsonNumber(c.summary.std)}, {"n", c.summary.n},
                        {"best", c.best}, {"p_vs_best", jsonNumber(c.vsBest.p)}, {"t", jsonNumber(c.vsBest.t)},
                        {"df", jsonNumber(c.vsBest.df)}};
        r["metrics"] = cells;
        rowsJson.push_back(r);
    }
    j["groups"] = rowsJson;
    j["missing"] = missing;
    return j;
}

std::string SweepSummary::toText() const
{
    // Column widths from the content; "mean ± std (n)" cells with * on the best.
    std::vector<std::vector<std::string>> table;
    std::vector<std::string> header{"group", "runs"};
    for (const auto& m : metricKeys)
        header.push_back(metric(m) ? metric(m)->title : m);
    if (!primaryMetric.empty())
        header.push_back("p vs best");
    table.push_back(header);
    for (const auto& row : rows) {
        std::vector<std::string> line{row.label, std::to_string(row.finished) + "/" + std::to_string(row.runs)
                                                     + (row.failed ? ", " + std::to_string(row.failed) + " failed" : "")
                                                     + (row.missing ? ", " + std::to_string(row.missing) + " missing" : "")};
        for (const auto& m : metricKeys) {
            auto it = row.cells.find(m);
            if (it == row.cells.end() || it->second.summary.n == 0) {
                line.push_back("-");
                continue;
            }
            const auto& c = it->second;
            char buf[96];
            if (std::isnan(c.summary.std))
                std::snprintf(buf, sizeof buf, "%.4f (n=%d)%s", c.summary.mean, c.summary.n, c.best ? " *" : "");
            else
                std::snprintf(buf, sizeof buf, "%.4f ± %.4f (n=%d)%s", c.summary.mean, c.summary.std, c.summary.n,
                              c.best ? " *" : "");
            line.push_back(buf);
        }
        if (!primaryMetric.empty()) {
            auto it = row.cells.find(primaryMetric);
            if (it == row.cells.end())
                line.push_back("-");
            else if (it->second.best)
                line.push_back("best");
            else if (std::isnan(it->second.vsBest.p))
                line.push_back("n<2");
            else {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%.3g", it->second.vsBest.p);
                line.push_back(buf);
            }
        }
        table.push_back(line);
    }
    // Display width: "±" is two bytes but one column.
    auto width = [](const std::string& s) {
        size_t w = 0;
        for (unsigned char c : s)
            w += (c & 0xC0) != 0x80;
        return w;
    };
    std::vector<size_t> widths(header.size(), 0);
    for (const auto& line : table)
        for (size_t i = 0; i < line.size(); ++i)
            widths[i] = std::max(widths[i], width(line[i]));
    std::string out;
    for (const auto& line : table) {
        for (size_t i = 0; i < line.size(); ++i)
            out += line[i] + (i + 1 < line.size() ? std::string(widths[i] - width(line[i]) + 2, ' ') : "");
        out += "\n";
    }
    if (!primaryMetric.empty())
        out += "* best mean per metric; p: Welch's t-test (two-sided) of " + primaryMetric
               + " against the best group; std is the sample std over seeds\n";
    for (const auto& row : rows)
        for (const auto& f : row.failures)
            out += "failed: " + row.label + ", " + f + "\n";
    if (missing > 0)
        out += missingText() + "\n";
    return out;
}

std::string SweepSummary::missingText() const
{
    if (missing == 0)
        return "";
    std::string out = std::to_string(missing) + (missing == 1 ? " run of the sweep is" : " runs of the sweep are")
                      + " no longer in the store (deleted), so the statistics leave out:";
    std::string sep = " ";
    for (const auto& row : rows)
        for (const auto& m : row.missingRuns) {
            out += sep + row.label + " " + m;
            sep = "; ";
        }
    return out;
}

} // namespace rslora::engine
