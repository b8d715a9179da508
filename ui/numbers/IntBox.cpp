#include "ui/numbers/IntBox.h"

namespace rslora::ui::numbers {

IntBox::IntBox(QWidget* parent) : KeptEntry<QSpinBox>(parent) {
    connect(lineEdit(), &QLineEdit::textChanged, this, &IntBox::entryChanged);
    setValue(value()); // a spin box has no text until it is first shown: it would read as an empty entry
}

IntBox::IntBox(int lo, int hi, QWidget* parent) : IntBox(parent) {
    setRange(lo, hi);
    setValue(value());
}

} // namespace rslora::ui::numbers
