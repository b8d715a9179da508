// The Sweeps view: one group of runs at a time. A table grouped by the swept values with mean ± std
// and n over seeds for each metric, the best group marked and Welch's p-value of each other group
// against it; the curves of each group as their mean with a ± std band; CSV export; stop, resume
// and delete the whole group. Fed by the application (no store access here).
#pragma once

#include "engine/sweep/SweepSummary.h"

#include <QList>
#include <QPair>
#include <QVector>
#include <QWidget>

class QComboBox;
class QCPItemText;
class QCustomPlot;
class QLabel;
class QPushButton;
class QTableWidget;

namespace rslora::ui {

class PlotLegend;

// One group's curve: mean over its runs at each step, and the sample std there (NaN with one run).
struct SweepBand {
    QString label;
    QVector<double> steps, mean, std;
};

class SweepResultsView : public QWidget {
    Q_OBJECT
public:
    explicit SweepResultsView(QWidget* parent = nullptr);

    // (group id, label), newest first; keeps the chosen group when it is still there.
    void setGroups(const QList<QPair<qint64, QString>>& groups);
    qint64 currentGroup() const;
    void selectGroup(qint64 id);
    // The statistics of the chosen group; `status` says how many runs finished, which run.
    void setSummary(const engine::SweepSummary& summary, const QString& status);
    const engine::SweepSummary& summary() const { return m_summary; }
    // The curves of the chosen metric, one band per group.
    void setBands(const QList<SweepBand>& bands);
    QString curveMetric() const;
    // Writes the table's statistics as CSV (replaced whole or not at all); false with *error.
    bool exportCsv(const QString& path, QString* error = nullptr) const;
    // The file name Export CSV… suggests: the chosen sweep's label made safe for a file name.
    QString suggestedCsvName() const;
    // "0.7500 ± 0.0500 (n=3)"; "—" without a value.
    static QString cellText(const engine::SampleSummary& s);

    QComboBox* groupBox() const { return m_groups; }
    QComboBox* metricBox() const { return m_metric; }
    QTableWidget* table() const { return m_table; }
    QCustomPlot* plot() const { return m_plot; }
    // What the chart says when it has no curve to draw ("" while it has curves).
    QString emptyChartText() const;
    QLabel* statusLabel() const { return m_status; }
    // Under the table: which runs of the sweep were deleted from the store (hidden when none was).
    QLabel* missingLabel() const { return m_missing; }
    QPushButton* stopButton() const { return m_stop; }
    QPushButton* resumeButton() const { return m_resume; }
    QPushButton* deleteButton() const { return m_delete; }

Q_SIGNALS:
    void groupChanged(qint64 groupId);
    void curveMetricChanged();
    void stopRequested(qint64 groupId);
    void resumeRequested(qint64 groupId);
    void deleteRequested(qint64 groupId);
    // Export CSV… wrote a file (status-bar text).
    void exported(const QString& text);

private:
    void showStatus(const QString& text);

    QComboBox* m_groups = nullptr;
    QComboBox* m_metric = nullptr;
    QLabel* m_status = nullptr;
    QLabel* m_missing = nullptr;
    QPushButton* m_stop = nullptr;
    QPushButton* m_resume = nullptr;
    QPushButton* m_delete = nullptr;
    QPushButton* m_export = nullptr;
    QTableWidget* m_table = nullptr;
    QCustomPlot* m_plot = nullptr;
    QCPItemText* m_emptyText = nullptr;
    PlotLegend* m_legend = nullptr;
    engine::SweepSummary m_summary;
};

} // namespace rslora::ui
