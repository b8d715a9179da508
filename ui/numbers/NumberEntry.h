// What the number boxes of the forms say about text that is not a value they take. A box keeps such
// text as typed (QSpinBox would drop the keystroke or snap it back to the last value on leaving the
// field) and the form names it, with the range, at the field until it is fixed.
#pragma once

#include <QString>
#include <QStringList>

class QWidget;

namespace rslora::ui::numbers {

// The problem with `text` typed into a box bound to config key `key` that takes numbers from `lo` to
// `hi` (whole numbers when `decimals` is 0, else at most `decimals` digits after the point); empty
// when the text is such a number. `lowest` names what the lowest value means ("by epochs"), if it
// means something special.
QString entryProblem(const QString& key, const QString& text, double lo, double hi, int decimals, const QString& lowest = {});

// `text` read as a number: the widget's locale first, then the C locale ("1e-3", "0.5" in a German
// locale); false when it is none. Overflow reads as an infinite number ("1e999").
bool readNumber(const QString& text, double* value);

// `text` without the box's prefix and suffix, trimmed.
QString withoutAffixes(const QString& text, const QString& prefix, const QString& suffix);

// The problems of every enabled number box under `root`, each starting with the box's config key
// (its object name), in the order the boxes were made.
QStringList entryProblems(const QWidget* root);

} // namespace rslora::ui::numbers
