#include "ui/numbers/RealBox.h"

namespace rslora::ui::numbers {

RealBox::RealBox(QWidget* parent) : KeptEntry<QDoubleSpinBox>(parent) {
    connect(lineEdit(), &QLineEdit::textChanged, this, &RealBox::entryChanged);
    setValue(value()); // a spin box has no text until it is first shown: it would read as an empty entry
}

RealBox::RealBox(double lo, double hi, int decimals, double step, QWidget* parent) : RealBox(parent) {
    setDecimals(decimals); // first: the range is rounded to them
    setRange(lo, hi);
    setSingleStep(step);
    setValue(value());
}

} // namespace rslora::ui::numbers
