#include "ui/LineageView.h"

#include <QEvent>
#include <QFontMetrics>
#include <QGraphicsRectItem>
#include <QGraphicsScene>
#include <QGraphicsSimpleTextItem>
#include <QMouseEvent>
#include <QPainterPath>
#include <QPen>

#include <algorithm>
#include <cmath>

namespace rslora::ui {

namespace {
constexpr double kNodeWidth = 236;
constexpr double kNodeHeight = 62;
constexpr double kLayerGap = 200; // room for an edge label between two layers
constexpr double kRowGap = 26;
constexpr int kIdKey = 0;          // QGraphicsItem::data key holding the version id of a box

QColor statusColour(storage::AdapterStatus status) {
    switch (status) {
    case storage::AdapterStatus::Released: return QColor(200, 230, 201);
    case storage::AdapterStatus::Archived: return QColor(224, 224, 224);
    case storage::AdapterStatus::Draft: break;
    }
    return QColor(255, 243, 205);
}
} // namespace

LineageView::LineageView(QWidget* parent) : QGraphicsView(parent) {
    setObjectName("lineageView");
    setScene(new QGraphicsScene(this));
    setRenderHint(QPainter::Antialiasing);
    setRenderHint(QPainter::TextAntialiasing);
    setDragMode(QGraphicsView::ScrollHandDrag);
    setAlignment(Qt::AlignLeft | Qt::AlignTop);
    rebuild();
}

QString LineageView::edgeText(const storage::LineageEdge& edge) {
    QString text = QString::fromLatin1(storage::toString(edge.kind));
    if (edge.weight)
        text += QString(" ×%1").arg(*edge.weight, 0, 'g', 4);
    if (!edge.method.empty())
        text += QString(" (%1)").arg(QString::fromStdString(edge.method));
    return text;
}

void LineageView::setGraph(const storage::AdapterGraph& graph, const QString& task) {
    m_graph = graph;
    m_task = task;
    if (!m_graph.find(m_highlighted))
        m_highlighted = 0;
    rebuild();
}

void LineageView::highlight(qint64 adapterId) {
    m_highlighted = adapterId;
    for (auto it = m_nodes.begin(); it != m_nodes.end(); ++it) {
        const bool on = it.key() == adapterId;
        QPen pen = it.value()->pen();
        pen.setWidthF(on ? 3.0 : 1.2);
        pen.setColor(on ? palette().color(QPalette::Highlight) : QColor(90, 90, 90));
        it.value()->setPen(pen);
    }
    if (QGraphicsRectItem* node = m_nodes.value(adapterId))
        ensureVisible(node, 20, 20);
}

void LineageView::rebuild() {
    QGraphicsScene* s = scene();
    s->clear();
    m_nodes.clear();
    m_layers.clear();
    m_edgeLabels.clear();
    const QColor text = palette().color(QPalette::Text);
    if (m_graph.nodes.empty()) {
        auto* hint = s->addSimpleText(m_task.isEmpty() ? tr("Select an adapter version to see its lineage.")
                                                       : tr("No versions of %1 yet.").arg(m_task));
        hint->setBrush(text);
        s->setSceneRect(s->itemsBoundingRect().adjusted(-20, -20, 20, 20));
        return;
    }

    // Layer = the longest chain of ancestors among the drawn versions. The store refuses cycles, so
    // relaxing at most once per node settles it; the bound also keeps a damaged store from looping.
    for (const auto& n : m_graph.nodes)
        m_layers[n.id] = 0;
    for (size_t pass = 0; pass < m_graph.nodes.size(); ++pass) {
        bool changed = false;
        for (const auto& e : m_graph.edges) {
            if (!m_layers.contains(e.childId) || !m_layers.contains(e.parentId))
                continue;
            if (m_layers[e.childId] < m_layers[e.parentId] + 1) {
                m_layers[e.childId] = m_layers[e.parentId] + 1;
                changed = true;
            }
        }
        if (!changed)
            break;
    }
    int layers = 0;
    for (int l : m_layers)
        layers = std::max(layers, l + 1);
    std::vector<std::vector<const storage::AdapterRecord*>> columns(static_cast<size_t>(layers));
    for (const auto& n : m_graph.nodes)
        columns[static_cast<size_t>(m_layers[n.id])].push_back(&n);
    const std::string task = m_task.toStdString();
    size_t tallest = 0;
    for (auto& c : columns) {
        // The task's own versions first, in version order; neighbours from other tasks after them.
        std::sort(c.begin(), c.end(), [&](const storage::AdapterRecord* a, const storage::AdapterRecord* b) {
            if ((a->task == task) != (b->task == task))
                return a->task == task;
            if (a->task != b->task)
                return a->task < b->task;
            return a->version < b->version;
        });
        tallest = std::max(tallest, c.size());
    }

    QFont bold = font();
    bold.setBold(true);
    const QFontMetrics fm(font());
    const QFontMetrics fmBold(bold);
    const double fullHeight = static_cast<double>(tallest) * (kNodeHeight + kRowGap);
    QMap<qint64, QRectF> boxes;
    for (size_t l = 0; l < columns.size(); ++l) {
        const double columnHeight = static_cast<double>(columns[l].size()) * (kNodeHeight + kRowGap);
        double y = (fullHeight - columnHeight) / 2;
        for (const storage::AdapterRecord* a : columns[l]) {
            const QRectF box(static_cast<double>(l) * (kNodeWidth + kLayerGap), y, kNodeWidth, kNodeHeight);
            y += kNodeHeight + kRowGap;
            boxes[a->id] = box;
            auto* rect = s->addRect(box, QPen(QColor(90, 90, 90), 1.2), statusColour(a->status));
            if (a->task != task || a->deletedAt) {
                QPen pen = rect->pen();
                pen.setStyle(Qt::DashLine);
                rect->setPen(pen);
            }
            rect->setData(kIdKey, QVariant::fromValue<qint64>(a->id));
            rect->setZValue(1);
            rect->setCursor(Qt::PointingHandCursor);
            const QString title = QString("%1 v%2%3").arg(QString::fromStdString(a->task)).arg(a->version).arg(a->current ? " ★" : "");
            const QString line2 = fm.elidedText(QString::fromStdString(a->name), Qt::ElideMiddle, static_cast<int>(kNodeWidth) - 12);
            QString line3 = a->deletedAt ? tr("deleted") : QString::fromLatin1(storage::toString(a->status));
            if (!a->stage.empty())
                line3 += " · " + QString::fromStdString(a->stage);
            if (a->rank)
                line3 += QString(" · r%1").arg(*a->rank);
            const QString lines[] = {fmBold.elidedText(title, Qt::ElideRight, static_cast<int>(kNodeWidth) - 12), line2,
                                     fm.elidedText(line3, Qt::ElideRight, static_cast<int>(kNodeWidth) - 12)};
            double ty = 5;
            for (int i = 0; i < 3; ++i) {
                auto* t = new QGraphicsSimpleTextItem(lines[i], rect);
                t->setFont(i == 0 ? bold : font());
                t->setBrush(QColor(20, 20, 20)); // the boxes are light in either theme
                t->setPos(box.left() + 6, box.top() + ty);
                ty += (i == 0 ? fmBold.height() : fm.height()) + 1;
            }
            rect->setToolTip(QString("%1\n%2\n%3").arg(lines[0], QString::fromStdString(a->name), line3));
            m_nodes[a->id] = rect;
        }
    }

    const QColor edgeColour = palette().color(QPalette::Text);
    for (const auto& e : m_graph.edges) {
        if (!boxes.contains(e.childId) || !boxes.contains(e.parentId))
            continue;
        const QRectF from = boxes[e.parentId];
        const QRectF to = boxes[e.childId];
        const QPointF a(from.right(), from.center().y());
        const QPointF b(to.left(), to.center().y());
        QPainterPath path(a);
        const double bend = std::max(40.0, (b.x() - a.x()) / 2);
        path.cubicTo(a + QPointF(bend, 0), b - QPointF(bend, 0), b);
        QPen pen(edgeColour, 1.4);
        if (e.kind == storage::LineageKind::MergedFrom)
            pen.setColor(QColor(123, 31, 162));
        else if (e.kind == storage::LineageKind::ConvertedFrom)
            pen.setStyle(Qt::DashLine);
        s->addPath(path, pen);
        // Arrow head at the child.
        QPolygonF head;
        head << b << b + QPointF(-9, -4.5) << b + QPointF(-9, 4.5);
        s->addPolygon(head, QPen(pen.color()), pen.color());
        const QString label = edgeText(e);
        m_edgeLabels << label;
        auto* t = s->addSimpleText(label);
        t->setBrush(pen.color());
        const QRectF r = t->boundingRect();
        // At the middle of the curve: edges into one child come from different heights, so their
        // labels do not meet, and the gap between layers leaves room for them.
        const QPointF at = path.pointAtPercent(0.5);
        t->setPos(at.x() - r.width() / 2, at.y() - r.height() - 2);
        t->setZValue(2);
        auto* backing = s->addRect(t->sceneBoundingRect().adjusted(-2, 0, 2, 0), Qt::NoPen, palette().color(QPalette::Base));
        backing->setOpacity(0.85);
        backing->setZValue(1.5);
    }
    s->setSceneRect(s->itemsBoundingRect().adjusted(-20, -20, 20, 20));
    fitScene();
    highlight(m_highlighted);
}

void LineageView::fitScene() {
    // Shrink a graph wider or taller than the view so that it is seen whole, down to a size where
    // the text stays readable; beyond that the view scrolls.
    const QRectF scene = sceneRect();
    const QSize view = viewport()->size();
    double f = 1.0;
    if (scene.width() > 0 && scene.height() > 0)
        f = std::min({1.0, view.width() / scene.width(), view.height() / scene.height()});
    f = std::max(f, 0.6);
    setTransform(QTransform::fromScale(f, f));
}

void LineageView::resizeEvent(QResizeEvent* event) {
    QGraphicsView::resizeEvent(event);
    fitScene();
}

qint64 LineageView::versionAt(const QPoint& viewportPos) const {
    for (QGraphicsItem* item : items(viewportPos)) {
        for (QGraphicsItem* i = item; i; i = i->parentItem()) {
            const QVariant id = i->data(kIdKey);
            if (id.isValid())
                return id.toLongLong();
        }
    }
    return 0;
}

QPoint LineageView::viewportPointOf(qint64 adapterId) const {
    QGraphicsRectItem* node = m_nodes.value(adapterId);
    return node ? mapFromScene(node->sceneBoundingRect().center()) : QPoint(-1, -1);
}

void LineageView::mousePressEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton) {
        const qint64 id = versionAt(event->position().toPoint());
        if (id > 0) {
            highlight(id);
            Q_EMIT versionClicked(id);
            event->accept();
            return;
        }
    }
    QGraphicsView::mousePressEvent(event);
}

void LineageView::mouseDoubleClickEvent(QMouseEvent* event) {
    const qint64 id = event->button() == Qt::LeftButton ? versionAt(event->position().toPoint()) : 0;
    if (id > 0) {
        Q_EMIT versionActivated(id);
        event->accept();
        return;
    }
    QGraphicsView::mouseDoubleClickEvent(event);
}

void LineageView::changeEvent(QEvent* event) {
    QGraphicsView::changeEvent(event);
    if (event->type() == QEvent::PaletteChange)
        rebuild();
}

} // namespace rslora::ui
