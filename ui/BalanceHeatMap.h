// Heat map of the per-module gradient balance ρ = ‖∇A‖/‖∇B‖ over training (module × step), drawn
// as log2 ρ so that balance (ρ = 1) is white and either factor dominating shows in colour.
#pragma once

#include <QList>
#include <QPair>
#include <QStringList>
#include <QVector>
#include <QWidget>

class QCustomPlot;
class QCPAbstractItem;
class QCPColorMap;
class QCPColorScale;
class QCPTextElement;

namespace rslora::ui {

class BalanceHeatMap : public QWidget {
    Q_OBJECT
public:
    explicit BalanceHeatMap(QWidget* parent = nullptr);

    // One column: the ratio of each module at a step. Module names fix the rows on first use, in
    // layer order (inLayerOrder); later columns must use the same modules (missing values may be NaN).
    void addColumn(double step, const QStringList& modules, const QVector<double>& ratios);
    // Dashed vertical lines at steps, labelled (a pipeline's stage boundaries), as the curves have them.
    void setStepMarks(const QVector<QPair<double, QString>>& marks);
    int stepMarkCount() const { return m_markItems.size(); }
    void clear();
    void replot();
    bool isDirty() const { return m_dirty; }
    int columnCount() const { return m_steps.size(); }
    // Row order: by layer number, then module, numbers compared as numbers (2 before 7 before 23).
    static QStringList inLayerOrder(QStringList modules);
    const QStringList& modules() const { return m_modules; }
    // log2 ρ in the cell drawn for (module row, column), for tests.
    double cell(int row, int column) const;
    bool exportPng(const QString& path, int width = 1200, int height = 700);
    bool exportPdf(const QString& path, int width = 1200, int height = 700);
    bool exportCsv(const QString& path, QString* error = nullptr) const;
    QCustomPlot* plot() const { return m_plot; }

    // Above this many columns, neighbouring columns are merged (mean of log2 ρ) to bound memory.
    static constexpr int kMaxColumns = 1500;

protected:
    void resizeEvent(QResizeEvent* event) override;
    void changeEvent(QEvent* event) override;

private:
    void compact();
    void applyPalette();

    QCustomPlot* m_plot = nullptr;
    QCPColorMap* m_map = nullptr;
    QCPColorScale* m_scale = nullptr;
    QCPTextElement* m_title = nullptr;
    QStringList m_modules;
    QVector<double> m_steps;
    QVector<QVector<double>> m_columns; // log2 ratio per module
    QList<QCPAbstractItem*> m_markItems; // the step marks' lines and labels
    bool m_dirty = false;
};

} // namespace rslora::ui
