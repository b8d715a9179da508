// See TextDivergence.h.
#include "ui/TextDivergence.h"

#include <algorithm>

namespace rslora::ui {

int firstDifference(const QStringList& texts)
{
    if (texts.size() < 2)
        return -1;
    qsizetype shortest = texts.front().size();
    bool allEqual = true;
    for (const QString& t : texts) {
        shortest = std::min(shortest, t.size());
        allEqual = allEqual && t == texts.front();
    }
    if (allEqual)
        return -1;
    for (qsizetype i = 0; i < shortest; ++i)
        for (const QString& t : texts)
            if (t[i] != texts.front()[i])
                return static_cast<int>(i);
    // One text is a prefix of another: they part where the shortest ends.
    return static_cast<int>(shortest);
}

} // namespace rslora::ui
