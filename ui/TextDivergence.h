// Where side-by-side outputs first part ways: the length of the prefix every text shares, or -1 when
// all texts are equal (or fewer than two are given).
#pragma once

#include <QStringList>

namespace rslora::ui {

int firstDifference(const QStringList& texts);

} // namespace rslora::ui
