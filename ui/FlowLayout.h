// A layout that places its items left to right at their preferred size and starts a new row when the
// next one would pass the right edge, so a row of labelled fields stays whole in a narrow window
// instead of squeezing (and cutting) its labels. Hidden items take no room.
#pragma once

#include <QLayout>
#include <QList>

namespace rslora::ui {

class FlowLayout : public QLayout {
public:
    explicit FlowLayout(QWidget* parent = nullptr);
    ~FlowLayout() override;

    void addItem(QLayoutItem* item) override;
    int count() const override;
    QLayoutItem* itemAt(int index) const override;
    QLayoutItem* takeAt(int index) override;
    Qt::Orientations expandingDirections() const override;
    bool hasHeightForWidth() const override;
    int heightForWidth(int width) const override;
    // At least the widest item; preferred: every item on one row.
    QSize minimumSize() const override;
    QSize sizeHint() const override;
    void setGeometry(const QRect& rect) override;

    // How many rows the items take at the width last given (setGeometry).
    int rows() const { return m_rows; }

private:
    // Places the items in `rect` (or only measures, when `place` is false); returns the height used
    // and sets *rows to the number of rows.
    int arrange(const QRect& rect, bool place, int* rows) const;
    int horizontalGap() const;
    int verticalGap() const;

    QList<QLayoutItem*> m_items;
    int m_rows = 0;
};

} // namespace rslora::ui
