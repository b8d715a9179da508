#include "app/gui/StoredRunFeed.h"

#include "ui/ChartsPanel.h"

#include "storage/Store.h"

#include <QStringList>
#include <map>

namespace rslora::app {

int StoredRunFeed::poll(ui::ChartsPanel& charts) {
    storage::SeriesQuery q;
    q.minStep = m_lastStep + 1;
    if (m_maxStep)
        q.maxStep = *m_maxStep;
    auto read = [&](const std::string& key) { return m_store.metrics().series(m_runId, key, q); };
    const storage::MetricSeries loss = read("train/loss");
    if (m_t0 < 0 && loss.size() > 0)
        m_t0 = loss.wallTimes.front();
    // Per-step x quantities, so the charts can switch the x axis for stored runs too.
    std::map<int64_t, std::pair<double, double>> epochTokens;
    const storage::MetricSeries epoch = read("train/epoch"), tokens = read("train/tokens_seen");
    for (size_t i = 0; i < epoch.size(); ++i)
        epochTokens[epoch.steps[i]].first = epoch.values[i];
    for (size_t i = 0; i < tokens.size(); ++i)
        epochTokens[tokens.steps[i]].second = tokens.values[i];
    auto point = [&](int64_t step, double wall, double value) {
        ui::CurvePoint p;
        p.step = static_cast<double>(step + m_stepOffset);
        auto it = epochTokens.find(step);
        if (it != epochTokens.end()) {
            p.epoch = it->second.first;
            p.tokens = it->second.second;
        }
        p.wallTime = m_t0 >= 0 ? wall - m_t0 : 0;
        p.value = value;
        return p;
    };
    int64_t newest = m_lastStep;
    for (const QString& chartKey : ui::ChartsPanel::chartedKeys()) {
        const std::string key = chartKey.toStdString();
        const storage::MetricSeries s = key == "train/loss" ? loss : read(key);
        for (size_t i = 0; i < s.size(); ++i) {
            charts.addMetric(chartKey, point(s.steps[i], s.wallTimes[i], s.values[i]));
            newest = std::max(newest, s.steps[i]);
        }
    }
    // Balance ratios per module: the balancer's average when it ran, else the raw ratio.
    std::vector<std::string> ratioKeys;
    bool haveEma = false;
    for (const std::string& k : m_store.metrics().keys(m_runId))
        haveEma = haveEma || k.rfind("grad_ratio_ema/", 0) == 0;
    const std::string prefix = haveEma ? "grad_ratio_ema/" : "grad_ratio/";
    for (const std::string& k : m_store.metrics().keys(m_runId))
        if (k.rfind(prefix, 0) == 0)
            ratioKeys.push_back(k);
    if (!ratioKeys.empty()) {
        QStringList modules;
        std::map<int64_t, std::pair<double, QVector<double>>> columns;
        for (size_t m = 0; m < ratioKeys.size(); ++m) {
            modules << QString::fromStdString(ratioKeys[m].substr(prefix.size()));
            const storage::MetricSeries s = read(ratioKeys[m]);
            for (size_t i = 0; i < s.size(); ++i) {
                auto& col = columns[s.steps[i]];
                col.first = s.wallTimes[i];
                col.second.resize(static_cast<int>(ratioKeys.size()), qQNaN());
                col.second[static_cast<int>(m)] = s.values[i];
            }
        }
        for (auto& [step, col] : columns) {
            col.second.resize(modules.size(), qQNaN());
            charts.addBalance(point(step, col.first, 0), modules, col.second);
        }
    }
    const int added = static_cast<int>(newest - m_lastStep);
    m_lastStep = newest;
    return std::max(0, added);
}

} // namespace rslora::app
