// In a scrolling form the mouse wheel scrolls the form: a spin box or combo box under the pointer
// takes the wheel only while it has keyboard focus (clicked or tabbed into: the wheel gives none, as
// the guard sets such fields' focus policy to click and Tab as they are polished). Without this, scrolling
// down a long form changed whichever field came under the pointer. Installed on the application.
#pragma once

#include <QObject>

namespace rslora::ui {

class ScrollWheelGuard : public QObject {
    Q_OBJECT
public:
    explicit ScrollWheelGuard(QObject* parent = nullptr);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
};

} // namespace rslora::ui
