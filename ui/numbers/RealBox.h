// A spin box for real numbers that keeps what the user typed (see KeptEntry): "1e999" or 0.00001 in a
// box of 0 to 10 with 4 decimals stays as typed and problem() names it. Scientific notation in range
// is read ("2e-3").
#pragma once

#include "ui/numbers/KeptEntry.h"

namespace rslora::ui::numbers {

class RealBox : public KeptEntry<QDoubleSpinBox> {
    Q_OBJECT
public:
    explicit RealBox(QWidget* parent = nullptr);
    RealBox(double lo, double hi, int decimals, double step, QWidget* parent = nullptr);

Q_SIGNALS:
    // Every edit of the text, also one that is not a value (valueChanged() does not come then).
    void entryChanged();
};

} // namespace rslora::ui::numbers
