// The live charts of a run: loss (train and eval), learning rate, global gradient norm, tokens/s,
// the A/B balance heat map and one module's balance line, and for preference training the rewards,
// margin and accuracy, with shared view controls. Points are
// appended as they arrive; a ~25 Hz timer replots only the charts that changed.
#pragma once

#include "ui/CurveSeries.h"

#include <QHash>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QTimer;

namespace rslora::ui {

class BalanceHeatMap;
class CurvePlot;

class ChartsPanel : public QWidget {
    Q_OBJECT
public:
    explicit ChartsPanel(QWidget* parent = nullptr);

    // Metric keys as the engine and the store name them: "train/loss", "eval/loss", "train/lr",
    // "train/grad_norm", "train/tokens_per_s", and preference training's "dpo/..." and
    // "eval/dpo_..." (their row of charts appears with the first). Unknown keys are ignored (returns false).
    bool addMetric(const QString& key, const CurvePoint& point);
    // Every key addMetric() draws.
    static QStringList chartedKeys();
    // Per-module balance ratios (EMA ρ̄) at a step.
    void addBalance(const CurvePoint& at, const QStringList& modules, const QVector<double>& ratios);
    void clear();
    // Marks steps on every curve chart (a pipeline's stage boundaries).
    void setStepMarks(const QVector<QPair<double, QString>>& marks);

    void setSmoothing(double weight);
    void setLogY(bool on);
    void setXAxis(XAxis axis);
    // Writes <chart>.png, .pdf and .csv for every chart into a folder, replacing files of those names;
    // false with *error on failure, and when no chart has a point (nothing is written then).
    bool exportAll(const QString& folder, QString* error = nullptr);
    // What Export… does once a folder is chosen: says when there is nothing to export, asks before
    // replacing files an earlier export left there (not with RSLORA_NO_DIALOGS set), and says why an
    // export failed. True when the charts were written.
    bool exportTo(const QString& folder);
    // Whether any chart (or the heat map) has a point.
    bool hasData() const;
    // The files of an export already in `folder` ("loss.csv", ...).
    QStringList existingExportFiles(const QString& folder) const;
    // Replots what changed now (the timer does this on its own).
    void replotNow();

    CurvePlot* chart(const QString& id) const { return m_charts.value(id); }
    QStringList chartIds() const { return m_chartOrder; }
    BalanceHeatMap* heatMap() const { return m_heatMap; }
    QComboBox* moduleChooser() const { return m_moduleChooser; }
    QSlider* smoothingSlider() const { return m_smoothing; }
    // Longest replot of one tick, for the UI-latency benchmark.
    double lastTickMs() const { return m_lastTickMs; }

Q_SIGNALS:
    // After a successful exportAll(): what was written and where, for the status bar.
    void exported(const QString& summary);

private:
    CurvePlot* addChart(const QString& id, const QString& title, const QString& yLabel);
    // The charts an export writes, by id (the preference row only when shown).
    QStringList exportedCharts() const;
    QString nothingToExport() const;
    void showBalanceOf(const QString& module);

    QHash<QString, CurvePlot*> m_charts;
    QStringList m_chartOrder;
    BalanceHeatMap* m_heatMap = nullptr;
    QWidget* m_preferenceRow = nullptr;
    QComboBox* m_moduleChooser = nullptr;
    QSlider* m_smoothing = nullptr;
    QLabel* m_smoothingLabel = nullptr;
    QCheckBox* m_logY = nullptr;
    QCheckBox* m_clip = nullptr;
    QComboBox* m_xAxis = nullptr;
    QTimer* m_timer = nullptr;
    // Balance history per module so the line chart can switch modules without losing points.
    QHash<QString, QVector<CurvePoint>> m_balanceHistory;
    double m_lastTickMs = 0;
};

} // namespace rslora::ui
