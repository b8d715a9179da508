#include "ui/FieldErrors.h"
#include "ui/ErrorLabel.h"

#include <QFormLayout>
#include <QLabel>
#include <QVBoxLayout>

namespace rslora::ui {

FieldErrors::FieldErrors(QObject* parent) : QObject(parent) {}

void FieldErrors::addRow(QFormLayout* layout, const QString& label, QWidget* field, const QString& key, const QString& tooltip) {
    auto* box = new QWidget;
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(0, 0, 0, 0);
    v->setSpacing(1);
    v->addWidget(field);
    // Messages quote what the user typed (paths, regexes, "<think>"): never read as markup.
    QLabel* error = makeErrorLabel("error_" + key, box);
    v->addWidget(error);
    field->setObjectName(key);
    if (!tooltip.isEmpty())
        field->setToolTip(tooltip);
    auto* labelWidget = new QLabel(label);
    labelWidget->setToolTip(tooltip);
    labelWidget->setBuddy(field);
    layout->addRow(labelWidget, box);
    m_labels.insert(key, error);
    m_fields.insert(key, field);
}

void FieldErrors::addAlias(const QString& key, const QString& shownAt) {
    if (QLabel* label = m_labels.value(shownAt))
        m_labels.insert(key, label);
}

QStringList FieldErrors::show(const QStringList& messages) {
    clear();
    QStringList unplaced;
    for (const QString& m : messages) {
        QString best;
        for (auto it = m_labels.constBegin(); it != m_labels.constEnd(); ++it) {
            const QString& key = it.key();
            if (m.startsWith(key) && (m.size() == key.size() || !(m[key.size()].isLetterOrNumber() || m[key.size()] == '_')) && key.size() > best.size())
                best = key;
        }
        if (best.isEmpty()) {
            unplaced << m;
            continue;
        }
        QLabel* label = m_labels.value(best);
        label->setText(label->text().isEmpty() ? m : label->text() + "\n" + m);
        label->show();
    }
    return unplaced;
}

void FieldErrors::clear() {
    for (QLabel* l : std::as_const(m_labels)) {
        l->clear();
        l->hide();
    }
}

QString FieldErrors::errorFor(const QString& key) const {
    QLabel* l = m_labels.value(key);
    return l ? l->text() : QString();
}

} // namespace rslora::ui
