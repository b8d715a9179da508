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

} // namespace

ScrollWheelGuard::ScrollWheelGuard(QObject* parent) : QObject(parent) {}

bool ScrollWheelGuard::eventFilter(QObject* watched, QEvent* event)
{
    if (event->type() != QEvent::Wheel)
        return false;
    auto* field = qobject_cast<QWidget*>(watched);
    if (!field || !(qobject_cast<QAbstractSpinBox*>(field) || qobject_cast<QComboBox*>(field)) || field->hasFocus())
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
