#include "ui/EmptyPlotGuard.h"

#include <QMouseEvent>
#include <QWidget>

namespace rslora::ui {

EmptyPlotGuard::EmptyPlotGuard(QWidget* plot, std::function<bool()> isEmpty)
    : QObject(plot), m_isEmpty(std::move(isEmpty)) {
    plot->installEventFilter(this);
}

bool EmptyPlotGuard::eventFilter(QObject* watched, QEvent* event) {
    // The event type first: the chart is asked only about input, never while it is being torn down.
    switch (event->type()) {
    case QEvent::Wheel:
        if (watched != parent() || !m_isEmpty())
            return false;
        event->ignore(); // goes on to the parent, as over any widget that does not scroll
        return true;
    case QEvent::MouseMove: // a plain move still reaches the chart (hover read-outs); a drag does not
        return static_cast<QMouseEvent*>(event)->buttons() != Qt::NoButton && watched == parent() && m_isEmpty();
    case QEvent::MouseButtonPress:
    case QEvent::MouseButtonRelease:
    case QEvent::MouseButtonDblClick:
        return watched == parent() && m_isEmpty();
    default:
        return false;
    }
}

} // namespace rslora::ui
