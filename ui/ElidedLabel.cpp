// Plain text elided to the label's width; the whole text in the tooltip.
#include "ui/ElidedLabel.h"

#include <QEvent>
#include <QFontMetrics>

namespace rslora::ui {

ElidedLabel::ElidedLabel(Qt::TextElideMode mode, QWidget* parent) : QLabel(parent), m_mode(mode) {
    setTextFormat(Qt::PlainText); // a name such as "<b>x</b>" shows as typed
    setWordWrap(false);
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
}

void ElidedLabel::setFullText(const QString& text) {
    m_full = text;
    updateGeometry();
    elide();
}

QSize ElidedLabel::minimumSizeHint() const {
    // Room for a short start and the ellipsis: the rest is elided.
    const QFontMetrics fm(font());
    return {fm.horizontalAdvance(QStringLiteral("Run #0000 …")) + contentsMargins().left() + contentsMargins().right(),
            QLabel::minimumSizeHint().height()};
}

QSize ElidedLabel::sizeHint() const {
    const QFontMetrics fm(font());
    return {fm.horizontalAdvance(m_full) + contentsMargins().left() + contentsMargins().right() + 2, QLabel::sizeHint().height()};
}

void ElidedLabel::resizeEvent(QResizeEvent* event) {
    QLabel::resizeEvent(event);
    elide();
}

void ElidedLabel::changeEvent(QEvent* event) {
    QLabel::changeEvent(event);
    if (event->type() == QEvent::FontChange)
        elide();
}

void ElidedLabel::elide() {
    const QString shown = QFontMetrics(font()).elidedText(m_full, m_mode, std::max(0, contentsRect().width()));
    if (shown != text())
        QLabel::setText(shown);
    setToolTip(m_full);
}

} // namespace rslora::ui
