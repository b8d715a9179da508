// Shows configuration problems next to the form field they concern. Fields register under the
// config key that validation messages start with ("adapter.r", "training.learning_rate", ...).
#pragma once

#include <QHash>
#include <QObject>
#include <QStringList>

class QFormLayout;
class QLabel;
class QWidget;

namespace rslora::ui {

class FieldErrors : public QObject {
    Q_OBJECT
public:
    explicit FieldErrors(QObject* parent = nullptr);

    // Adds "label: field" to the layout with an error line under it, bound to `key`.
    void addRow(QFormLayout* layout, const QString& label, QWidget* field, const QString& key, const QString& tooltip = {});
    // Messages starting with `key` are shown at the field of `shownAt` (a key added before).
    void addAlias(const QString& key, const QString& shownAt);
    // Shows each message at the field whose key it starts with; returns the messages no field took.
    QStringList show(const QStringList& messages);
    void clear();
    // The message shown for a key (empty when none), for tests.
    QString errorFor(const QString& key) const;
    QWidget* field(const QString& key) const { return m_fields.value(key); }

private:
    QHash<QString, QLabel*> m_labels;
    QHash<QString, QWidget*> m_fields;
};

} // namespace rslora::ui
