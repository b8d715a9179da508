// The lineage graph of a task's adapter versions (and their direct parents and children from other
// tasks): versions as boxes laid out left to right by ancestry, lineage edges as arrows labelled with
// their kind (merged-from edges also with weight and method). Clicking a box picks that version.
#pragma once

#include "storage/Records.h"

#include <QGraphicsView>
#include <QMap>
#include <QPointF>
#include <QString>
#include <QStringList>

class QGraphicsRectItem;

namespace rslora::ui {

class LineageView : public QGraphicsView {
    Q_OBJECT
public:
    explicit LineageView(QWidget* parent = nullptr);

    // Draws `graph` (the versions of `task` and their neighbours); an empty graph shows a hint.
    void setGraph(const storage::AdapterGraph& graph, const QString& task);
    // Highlights one version (0: none) without emitting signals.
    void highlight(qint64 adapterId);
    qint64 highlighted() const { return m_highlighted; }
    const QString& task() const { return m_task; }

    // For tests and the screenshot mode: what is drawn.
    int nodeCount() const { return static_cast<int>(m_nodes.size()); }
    int edgeCount() const { return m_edgeLabels.size(); }
    QStringList edgeLabels() const { return m_edgeLabels; }
    // The layer (0 = leftmost) a version was placed in, -1 when it is not drawn.
    int layerOf(qint64 adapterId) const { return m_layers.value(adapterId, -1); }
    // The centre of a version's box in viewport coordinates (for clicking in tests).
    QPoint viewportPointOf(qint64 adapterId) const;
    // The text of an edge between two versions as drawn, empty when there is none.
    static QString edgeText(const storage::LineageEdge& edge);

Q_SIGNALS:
    void versionClicked(qint64 adapterId);
    void versionActivated(qint64 adapterId);

protected:
    void mousePressEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void changeEvent(QEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    qint64 versionAt(const QPoint& viewportPos) const;
    void rebuild();
    void fitScene();

    storage::AdapterGraph m_graph;
    QString m_task;
    qint64 m_highlighted = 0;
    QMap<qint64, QGraphicsRectItem*> m_nodes;
    QMap<qint64, int> m_layers;
    QStringList m_edgeLabels;
};

} // namespace rslora::ui
