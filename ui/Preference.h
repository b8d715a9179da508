// Typed settings keys declared where they are used: Preference<int> lastTab{"window/lastTab", 0}.
#pragma once

#include <QSettings>
#include <QString>
#include <QVariant>

namespace rslora::ui {

template <typename T>
class Preference {
public:
    Preference(QString key, T defaultValue) : m_key(std::move(key)), m_default(std::move(defaultValue)) {}
    T get() const {
        QSettings s;
        QVariant v = s.value(m_key);
        return v.isValid() && v.canConvert<T>() ? v.value<T>() : m_default;
    }
    void set(const T& value) const {
        QSettings s;
        s.setValue(m_key, QVariant::fromValue(value));
    }
    const QString& key() const { return m_key; }

private:
    QString m_key;
    T m_default;
};

} // namespace rslora::ui
