// A text box as tall as what is typed in it: from a few lines when empty up to a limit, scrolling
// beyond it. A short window keeps its height for what sits around the box (the Playground's answers)
// instead of giving it to an empty prompt.
#pragma once

#include <QPlainTextEdit>

namespace rslora::ui {

class GrowingTextEdit : public QPlainTextEdit {
    Q_OBJECT
public:
    GrowingTextEdit(int minLines, int maxLines, QWidget* parent = nullptr);

    // The box's height showing this many lines whole.
    int heightForLines(int lines) const;
    // Lines the text takes at the box's width (wrapped lines counted), at least one.
    int textLines() const;

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

private:
    int m_minLines;
    int m_maxLines;
};

} // namespace rslora::ui
