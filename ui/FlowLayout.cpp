// See FlowLayout.h.
#include "ui/FlowLayout.h"

#include <QStyle>
#include <QWidget>

#include <algorithm>

namespace rslora::ui {

FlowLayout::FlowLayout(QWidget* parent) : QLayout(parent) {}

FlowLayout::~FlowLayout()
{
    while (QLayoutItem* item = takeAt(0))
        delete item;
}

void FlowLayout::addItem(QLayoutItem* item)
{
    m_items.append(item);
    invalidate();
}

int FlowLayout::count() const
{
    return static_cast<int>(m_items.size());
}

QLayoutItem* FlowLayout::itemAt(int index) const
{
    return index >= 0 && index < m_items.size() ? m_items[index] : nullptr;
}

QLayoutItem* FlowLayout::takeAt(int index)
{
    if (index < 0 || index >= m_items.size())
        return nullptr;
    QLayoutItem* item = m_items.takeAt(index);
    invalidate();
    return item;
}

Qt::Orientations FlowLayout::expandingDirections() const
{
    return {};
}

bool FlowLayout::hasHeightForWidth() const
{
    return true;
}

int FlowLayout::heightForWidth(int width) const
{
    int rows = 0;
    return arrange(QRect(0, 0, width, 0), false, &rows);
}

QSize FlowLayout::minimumSize() const
{
    QSize size;
    for (const QLayoutItem* item : m_items)
        if (!item->isEmpty())
            size = size.expandedTo(item->minimumSize().expandedTo(item->sizeHint()));
    const QMargins m = contentsMargins();
    return size + QSize(m.left() + m.right(), m.top() + m.bottom());
}

QSize FlowLayout::sizeHint() const
{
    int width = 0, height = 0, shown = 0;
    for (const QLayoutItem* item : m_items) {
        if (item->isEmpty())
            continue;
        width += item->sizeHint().width() + (shown++ > 0 ? horizontalGap() : 0);
        height = std::max(height, item->sizeHint().height());
    }
    const QMargins m = contentsMargins();
    return {width + m.left() + m.right(), height + m.top() + m.bottom()};
}

void FlowLayout::setGeometry(const QRect& rect)
{
    QLayout::setGeometry(rect);
    arrange(rect, true, &m_rows);
}

int FlowLayout::horizontalGap() const
{
    if (spacing() >= 0)
        return spacing();
    const QWidget* w = parentWidget();
    const int gap = w ? w->style()->pixelMetric(QStyle::PM_LayoutHorizontalSpacing, nullptr, w) : -1;
    return gap >= 0 ? gap : 6;
}

int FlowLayout::verticalGap() const
{
    if (spacing() >= 0)
        return spacing();
    const QWidget* w = parentWidget();
    const int gap = w ? w->style()->pixelMetric(QStyle::PM_LayoutVerticalSpacing, nullptr, w) : -1;
    return gap >= 0 ? gap : 6;
}

int FlowLayout::arrange(const QRect& rect, bool place, int* rows) const
{
    const QRect area = rect.marginsRemoved(contentsMargins());
    int x = area.x(), y = area.y(), rowHeight = 0;
    *rows = 0;
    // One row at a time: its items are centred on the row's height.
    QList<QPair<QLayoutItem*, QRect>> row;
    auto finishRow = [&] {
        if (place)
            for (auto& [item, r] : row)
                item->setGeometry(QRect(QPoint(r.x(), y + (rowHeight - r.height()) / 2), r.size()));
        row.clear();
    };
    for (QLayoutItem* item : m_items) {
        if (item->isEmpty())
            continue;
        const QSize size = item->sizeHint().expandedTo(item->minimumSize());
        if (!row.isEmpty() && x + size.width() > area.x() + area.width()) {
            finishRow();
            x = area.x();
            y += rowHeight + verticalGap();
            rowHeight = 0;
        }
        if (row.isEmpty())
            ++*rows;
        row.append({item, QRect(QPoint(x, y), QSize(std::min(size.width(), area.width()), size.height()))});
        x += size.width() + horizontalGap();
        rowHeight = std::max(rowHeight, size.height());
    }
    finishRow();
    const QMargins m = contentsMargins();
    return y + rowHeight - rect.y() + m.bottom();
}

} // namespace rslora::ui
