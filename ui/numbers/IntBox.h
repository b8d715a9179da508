// A spin box for whole numbers that keeps what the user typed (see KeptEntry): 99999999999 typed into
// a box of 0 to 100000000 stays as typed and problem() names it, so the form refuses it at the field
// instead of running with 99999999.
#pragma once

#include "ui/numbers/KeptEntry.h"

namespace rslora::ui::numbers {

class IntBox : public KeptEntry<QSpinBox> {
    Q_OBJECT
public:
    explicit IntBox(QWidget* parent = nullptr);
    IntBox(int lo, int hi, QWidget* parent = nullptr);

Q_SIGNALS:
    // Every edit of the text, also one that is not a value (valueChanged() does not come then).
    void entryChanged();
};

} // namespace rslora::ui::numbers
