// See MenuToolButton.h.
#include "ui/MenuToolButton.h"

#include <QStyleOptionToolButton>
#include <QStylePainter>

#include <algorithm>

namespace rslora::ui {

MenuToolButton::MenuToolButton(QWidget* parent) : QToolButton(parent)
{
    setPopupMode(QToolButton::InstantPopup);
    setToolButtonStyle(Qt::ToolButtonTextOnly);
}

int MenuToolButton::arrowRoom() const
{
    QStyleOptionToolButton opt;
    initStyleOption(&opt);
    return style()->pixelMetric(QStyle::PM_MenuButtonIndicator, &opt, this) + 4;
}

QSize MenuToolButton::sizeHint() const
{
    return QToolButton::sizeHint() + QSize(arrowRoom(), 0);
}

QSize MenuToolButton::minimumSizeHint() const
{
    return sizeHint();
}

QRect MenuToolButton::labelRect() const
{
    return rect().adjusted(0, 0, -arrowRoom(), 0);
}

QRect MenuToolButton::arrowRect() const
{
    const int room = arrowRoom();
    const int side = std::max(6, room - 10);
    return {width() - room + (room - side) / 2 - 2, (height() - side) / 2, side, side};
}

void MenuToolButton::paintEvent(QPaintEvent*)
{
    QStylePainter painter(this);
    QStyleOptionToolButton opt;
    initStyleOption(&opt);
    // The style's own arrow (drawn over the text's end) is left out; this one has room of its own.
    opt.features &= ~QStyleOptionToolButton::HasMenu;
    QStyleOptionToolButton panel = opt;
    panel.text.clear();
    painter.drawComplexControl(QStyle::CC_ToolButton, panel);
    QStyleOptionToolButton label = opt;
    label.rect = labelRect();
    painter.drawControl(QStyle::CE_ToolButtonLabel, label);
    QStyleOption arrow;
    arrow.initFrom(this);
    arrow.rect = arrowRect();
    painter.drawPrimitive(QStyle::PE_IndicatorArrowDown, arrow);
}

} // namespace rslora::ui
