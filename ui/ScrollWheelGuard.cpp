// The wheel guard (see ScrollWheelGuard.h).
#include "ui/ScrollWheelGuard.h"

#include <QAbstractScrollArea>
#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QWheelEvent>

namespace rslora::ui {
namespace {

QAbstractScrollArea* enclosingScrollArea(const QWidget* w)
{
    for (QWidget* p = w->parentWidget(); p; p = p->parentWidget())
        if (auto* area = qobject_cast<QAbstractScrollArea*>(p))
            return area;
    return nullptr;
}

bool isField(const QWidget* w)
{
    return qobject_cast<const QAbstractSpinBox*>(w) || qobject_cast<const QComboBox*>(w);
}

// Qt gives a widget whose focus policy takes the wheel (spin boxes' and combo boxes' default) the
// focus as a wheel event from the window system reaches it, before any filter sees the event: every
// field under the pointer looked focused and took the wheel. A field takes focus by click and Tab only.
void keepWheelFromFocusing(QWidget* field)
{
    if (field->focusPolicy() == Qt::WheelFocus)
        field->setFocusPolicy(Qt::StrongFocus);
}

} // namespace

ScrollWheelGuard::ScrollWheelGuard(QObject* parent) : QObject(parent)
{
    // Fields polished before the guard was installed; later ones as they are polished.
    for (QWidget* w : QApplication::allWidgets())
        if (isField(w))
            keepWheelFromFocusing(w);
}

bool ScrollWheelGuard::eventFilter(QObject* watched, QEvent* event)
{
    if (event->type() == QEvent::Polish) {
        auto* w = qobject_cast<QWidget*>(watched);
        if (w && isField(w))
            keepWheelFromFocusing(w);
        return false;
    }
    if (event->type() != QEvent::Wheel)
        return false;
    auto* field = qobject_cast<QWidget*>(watched);
    if (!field || !isField(field) || field->hasFocus())
        return false;
    QAbstractScrollArea* area = enclosingScrollArea(field);
    if (!area)
        return false;
    // The field does not see it; the scroll area's viewport does, and scrolls.
    auto* wheel = static_cast<QWheelEvent*>(event);
    QWidget* viewport = area->viewport();
    QWheelEvent forwarded(viewport->mapFromGlobal(wheel->globalPosition()), wheel->globalPosition(), wheel->pixelDelta(),
                          wheel->angleDelta(), wheel->buttons(), wheel->modifiers(), wheel->phase(), wheel->inverted(),
                          wheel->source());
    QApplication::sendEvent(viewport, &forwarded);
    return true;
}

} // namespace rslora::ui
