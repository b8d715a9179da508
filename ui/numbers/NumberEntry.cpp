#include "ui/numbers/NumberEntry.h"

#include "ui/numbers/IntBox.h"
#include "ui/numbers/RealBox.h"

#include <QLocale>
#include <QRegularExpression>
#include <QWidget>

#include <cmath>

namespace rslora::ui::numbers {
namespace {
QString shortest(double v) { return QLocale::c().toString(v, 'f', QLocale::FloatingPointShortest); }

bool readIn(const QLocale& locale, const QString& text, double* value) {
    bool ok = false;
    const double v = locale.toDouble(text, &ok);
    // Qt reads an overflowing number as an infinity and says it failed: for the form it is a number,
    // one too large for any field.
    if (!ok && !std::isinf(v))
        return false;
    *value = v;
    return true;
}
} // namespace

bool readNumber(const QString& text, double* value) {
    const QString t = text.trimmed();
    return !t.isEmpty() && (readIn(QLocale(), t, value) || readIn(QLocale::c(), t, value));
}

QString entryProblem(const QString& key, const QString& text, double lo, double hi, int decimals, const QString& lowest) {
    const QString typed = text.trimmed();
    if (!lowest.isEmpty() && typed == lowest)
        return {};
    const bool whole = decimals == 0;
    const QString from = lowest.isEmpty() ? shortest(lo) : QString("%1 (%2)").arg(shortest(lo), lowest);
    const QString range = whole ? QObject::tr("enter a whole number from %1 to %2").arg(from, shortest(hi))
                                : QObject::tr("enter a number from %1 to %2").arg(from, shortest(hi));
    if (typed.isEmpty())
        return QObject::tr("%1 is empty: %2").arg(key, range);
    double v = 0;
    if (!readNumber(typed, &v))
        return QObject::tr("%1: '%2' is not a number: %3").arg(key, typed, range);
    if (!std::isfinite(v))
        return QObject::tr("%1: '%2' is not a finite number: %3").arg(key, typed, range);
    if (v < lo || v > hi)
        return QObject::tr("%1: '%2' is out of range: %3").arg(key, typed, range);
    if (whole && v != std::floor(v))
        return QObject::tr("%1: '%2' is not a whole number: %3").arg(key, typed, range);
    if (!whole && std::abs(v - std::round(v * std::pow(10.0, decimals)) / std::pow(10.0, decimals)) > std::abs(v) * 1e-12)
        return QObject::tr("%1: '%2' has more decimals than the %3 this field keeps: %4").arg(key, typed).arg(decimals).arg(range);
    return {};
}

QString withoutAffixes(const QString& text, const QString& prefix, const QString& suffix) {
    QString t = text;
    if (!prefix.isEmpty() && t.startsWith(prefix))
        t.remove(0, prefix.size());
    if (!suffix.isEmpty() && t.endsWith(suffix))
        t.chop(suffix.size());
    return t.trimmed();
}

QStringList entryProblems(const QWidget* root) {
    QStringList out;
    for (const QWidget* w : root->findChildren<QWidget*>()) {
        if (!w->isEnabled())
            continue;
        if (const auto* box = qobject_cast<const IntBox*>(w))
            out << box->problem();
        else if (const auto* box = qobject_cast<const RealBox*>(w))
            out << box->problem();
    }
    out.removeAll(QString());
    return out;
}

} // namespace rslora::ui::numbers
