// A one-line label for text the user typed (run, sweep and version names, paths): shown as plain
// text, elided to the width it is given, the whole text in its tooltip, and never asking for
// more than a few characters' width as its minimum, so a long name cannot widen the window.
#pragma once

#include <QLabel>

namespace rslora::ui {

class ElidedLabel : public QLabel {
    Q_OBJECT
public:
    explicit ElidedLabel(Qt::TextElideMode mode = Qt::ElideMiddle, QWidget* parent = nullptr);

    void setFullText(const QString& text);
    // The text as set; text() is what fits.
    QString fullText() const { return m_full; }

    QSize minimumSizeHint() const override;
    QSize sizeHint() const override;

protected:
    void resizeEvent(QResizeEvent* event) override;
    void changeEvent(QEvent* event) override;

private:
    void elide();

    Qt::TextElideMode m_mode;
    QString m_full;
};

} // namespace rslora::ui
