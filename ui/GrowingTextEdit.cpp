#include "ui/GrowingTextEdit.h"

#include <QAbstractTextDocumentLayout>
#include <QTextDocument>

#include <algorithm>
#include <cmath>

namespace rslora::ui {

GrowingTextEdit::GrowingTextEdit(int minLines, int maxLines, QWidget* parent)
    : QPlainTextEdit(parent), m_minLines(std::max(1, minLines)), m_maxLines(std::max(m_minLines, maxLines))
{
    // Never taller than the text asks for; shorter (down to the least lines) where the window lacks room.
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Maximum);
    // A plain-text layout measures the document in lines: a change of text or of width that changes
    // their count changes the height the box asks for.
    connect(document()->documentLayout(), &QAbstractTextDocumentLayout::documentSizeChanged, this,
            [this] { updateGeometry(); });
}

int GrowingTextEdit::heightForLines(int lines) const
{
    // The frame is part of the contents margins (QFrame keeps them equal). QPlainTextEdit counts a line
    // as shown when it ends a pixel above the bottom margin: one pixel more, or the last line scrolls.
    const QMargins frame = contentsMargins();
    const QMargins viewport = viewportMargins();
    return lines * fontMetrics().lineSpacing() + int(std::ceil(2 * document()->documentMargin())) + 1 + frame.top() +
           frame.bottom() + viewport.top() + viewport.bottom();
}

int GrowingTextEdit::textLines() const
{
    return std::max(1, int(std::lround(document()->documentLayout()->documentSize().height())));
}

QSize GrowingTextEdit::sizeHint() const
{
    return {QPlainTextEdit::sizeHint().width(), heightForLines(std::clamp(textLines(), m_minLines, m_maxLines))};
}

QSize GrowingTextEdit::minimumSizeHint() const
{
    return {QPlainTextEdit::minimumSizeHint().width(), heightForLines(m_minLines)};
}

} // namespace rslora::ui
