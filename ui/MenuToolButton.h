// A tool button that opens its menu, with the menu's arrow beside its text in room of its own (a plain
// QToolButton in InstantPopup mode draws the arrow over the end of its text).
#pragma once

#include <QToolButton>

namespace rslora::ui {

class MenuToolButton : public QToolButton {
    Q_OBJECT
public:
    explicit MenuToolButton(QWidget* parent = nullptr);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;
    // Where the text is drawn (centred), and where the arrow is: right of it, not overlapping it.
    QRect labelRect() const;
    QRect arrowRect() const;

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    // The width the arrow takes at the right end (with its gap to the text).
    int arrowRoom() const;
};

} // namespace rslora::ui
