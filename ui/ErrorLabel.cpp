#include "ui/ErrorLabel.h"

#include <QLabel>

namespace rslora::ui {

QLabel* makeErrorLabel(const QString& objectName, QWidget* parent) {
    auto* label = new QLabel(parent);
    label->setObjectName(objectName);
    label->setWordWrap(true);
    label->setTextFormat(Qt::PlainText);
    label->setStyleSheet("color: #c62828;");
    // A message quoting a long value (a pasted number of 2000 digits, a path of 10,000 characters) has
    // a word no line can hold: it is cut at the label's edge instead of setting the width of the form.
    label->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    label->hide();
    return label;
}

} // namespace rslora::ui
