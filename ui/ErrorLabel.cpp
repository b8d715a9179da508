#include "ui/ErrorLabel.h"

#include <QLabel>

namespace rslora::ui {

QLabel* makeErrorLabel(const QString& objectName, QWidget* parent) {
    auto* label = new QLabel(parent);
    label->setObjectName(objectName);
    label->setWordWrap(true);
    label->setTextFormat(Qt::PlainText);
    label->setStyleSheet("color: #c62828;");
    label->hide();
    return label;
}

} // namespace rslora::ui
