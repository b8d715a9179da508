// Grid-search tab of the Fuse… dialog: a weight range per adapter (from = to keeps it fixed), the
// validation file and metric; the scores drawn as a heat map over two varying weights (a line over
// one) with the best point marked, and a button that takes the best weights into the fuse tab.
#pragma once

#include "ui/FuseValues.h"

#include <QWidget>

class QComboBox;
class QCPColorMap;
class QCPColorScale;
class QCPGraph;
class QCPItemText;
class QCPItemTracer;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QPushButton;

namespace rslora::ui {

namespace numbers {
class RealBox;
}

class GridSearchPanel : public QWidget {
    Q_OBJECT
public:
    explicit GridSearchPanel(const QList<FuseSource>& sources, QWidget* parent = nullptr);

    // What the user set (the fuse settings are filled in by the dialog).
    GridSettings settings() const;
    void setAxis(int source, const GridAxis& axis);
    void setDataFile(const QString& path);
    // Sources whose weight varies (from != to).
    QVector<int> varying() const;
    // A clear message when the grid cannot be searched as set, empty when it can (the engine checks
    // the ranges and the grid's size).
    QString problem() const;
    // The from, to and step numbers typed that their boxes cannot take, each naming its version, field
    // and range: shown under the ranges, and Run grid search is off while there are any.
    QStringList entryProblems() const;

    void setBusy(bool busy);
    void showProgress(int done, int total);
    void showOutcome(const GridOutcome& outcome);
    void showError(const QString& message);
    // Takes an error shown by showError() away (the settings it was about changed).
    void clearError();
    const GridOutcome& outcome() const { return m_outcome; }
    // The best point's weights (empty before a search).
    QVector<double> bestWeights() const;

    QCustomPlot* plot() const { return m_plot; }
    QCPColorMap* colorMap() const { return m_map; }
    QPushButton* runButton() const { return m_run; }
    QPushButton* useButton() const { return m_use; }
    QLabel* bestLabel() const { return m_best; }
    QComboBox* metricBox() const { return m_metric; }
    QLabel* statusLabel() const { return m_status; }
    QLabel* rangeErrorLabel() const { return m_rangeError; }
    numbers::RealBox* fromBox(int source) const { return m_from.value(source); }
    numbers::RealBox* toBox(int source) const { return m_to.value(source); }
    numbers::RealBox* stepBox(int source) const { return m_step.value(source); }

Q_SIGNALS:
    void runRequested(const rslora::ui::GridSettings& settings);
    void cancelRequested();
    void weightsChosen(const QVector<double>& weights);

protected:
    void changeEvent(QEvent* event) override;

private:
    void drawOutcome();
    void applyColours();
    void clearPlot(const QString& hint);
    void checkEntries();

    QList<FuseSource> m_sources;
    QList<numbers::RealBox*> m_from, m_to, m_step;
    QLabel* m_rangeError = nullptr;
    QLineEdit* m_data = nullptr;
    QComboBox* m_metric = nullptr;
    QPushButton* m_run = nullptr;
    QPushButton* m_cancel = nullptr;
    QPushButton* m_use = nullptr;
    QLabel* m_best = nullptr;
    QLabel* m_status = nullptr;
    bool m_errorShown = false;
    QCustomPlot* m_plot = nullptr;
    QCPColorMap* m_map = nullptr;
    QCPColorScale* m_scale = nullptr;
    QCPGraph* m_line = nullptr;
    QCPGraph* m_bestMark = nullptr;
    QCPItemText* m_hint = nullptr;
    GridOutcome m_outcome;
    bool m_busy = false;
};

} // namespace rslora::ui
