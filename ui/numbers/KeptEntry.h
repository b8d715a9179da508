// What IntBox and RealBox share: a Qt spin box (QSpinBox or QDoubleSpinBox) that keeps an entry it
// cannot take as typed. Qt's boxes drop a keystroke that would leave their range or decimals and put
// the last value back when such an entry loses focus; here validate() never refuses a keystroke,
// textFromValue() keeps the entry whenever the box redraws its text from its unchanged value (focus
// out, Enter, shown again), and problem() names the entry with the box's range.
#pragma once

#include "ui/numbers/NumberEntry.h"

#include <QDoubleSpinBox>
#include <QLineEdit>
#include <QSpinBox>

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace rslora::ui::numbers {

template <class Box>
class KeptEntry : public Box {
public:
    using Value = std::conditional_t<std::is_same_v<Box, QSpinBox>, int, double>;

    explicit KeptEntry(QWidget* parent) : Box(parent) {}

    // Replaces whatever is typed (hides the Qt box's setValue, which leaves a kept entry showing).
    void setValue(Value value) {
        m_replacing = true;
        Box::setValue(value);
        // The same value again does not redraw the text: a kept entry would stay.
        if (this->lineEdit()->text() != textFromValue(this->value()))
            this->lineEdit()->setText(textFromValue(this->value()));
        m_replacing = false;
    }
    // Shown for the lowest value, and read as it ("by epochs", "off"). Qt's special value text would
    // put itself back over a kept entry when the field loses focus.
    void setLowestText(const QString& text) {
        m_lowest = text;
        Box::setRange(this->minimum(), this->maximum()); // forgets the width measured without the text
        setValue(this->value());
    }
    QString lowestText() const { return m_lowest; }
    // What problem() calls the field (default: the object name, the config key in the New run form).
    void setEntryName(const QString& name) { m_name = name; }
    // The text in the field as typed, without the box's prefix and suffix.
    QString entry() const { return entryText(this->lineEdit()->text()); }
    // Puts `text` in the field as if typed: text the box takes becomes its value, other text stays
    // with its problem() and value() keeps the last value the box took.
    void setEntry(const QString& text) { this->lineEdit()->setText(this->prefix() + text + this->suffix()); }
    // The text is not a value of this box: value() is the last value it took.
    bool holdsEntry() const { return !entryProblem(entryText(this->lineEdit()->text())).isEmpty(); }
    // "<name>: '<text>' is out of range: enter a whole number from 0 to 100" for an entry this box
    // cannot take; empty otherwise.
    QString problem() const { return entryProblem(entryText(this->lineEdit()->text())); }

protected:
    QValidator::State validate(QString& input, int&) const override {
        // Never Invalid: every keystroke stays, and problem() says what is wrong with the result.
        return entryProblem(entryText(input)).isEmpty() ? QValidator::Acceptable : QValidator::Intermediate;
    }
    Value valueFromText(const QString& text) const override {
        const QString t = entryText(text);
        double v = 0;
        if (!m_lowest.isEmpty() && t == m_lowest)
            return this->minimum();
        if (!readNumber(t, &v))
            return this->value();
        v = std::clamp<double>(v, this->minimum(), this->maximum());
        if constexpr (std::is_same_v<Value, int>)
            return static_cast<int>(std::llround(v));
        else
            return v;
    }
    QString textFromValue(Value value) const override {
        if (!m_replacing && value == this->value() && holdsEntry())
            return entryText(this->lineEdit()->text());
        if (!m_lowest.isEmpty() && value == this->minimum())
            return m_lowest;
        return Box::textFromValue(value);
    }
    void fixup(QString&) const override {}
    // An arrow key or button steps from the last value the box took (Qt's box did not step at all).
    void stepBy(int steps) override {
        if (holdsEntry())
            setValue(this->value());
        Box::stepBy(steps);
    }

private:
    QString entryText(const QString& text) const { return withoutAffixes(text, this->prefix(), this->suffix()); }
    QString entryProblem(const QString& text) const {
        int decimals = 0;
        if constexpr (std::is_same_v<Box, QDoubleSpinBox>)
            decimals = this->decimals();
        return numbers::entryProblem(m_name.isEmpty() ? this->objectName() : m_name, text, this->minimum(), this->maximum(), decimals,
                                     m_lowest);
    }

    QString m_lowest;
    QString m_name;
    bool m_replacing = false;
};

} // namespace rslora::ui::numbers
