// See JsonErrorText.h.
#include "common/JsonErrorText.h"

#include <exception>

namespace rslora {

std::string jsonErrorText(const std::exception& e)
{
    std::string text = e.what();
    // The library prefixes its id in brackets; the id means nothing to a user.
    if (text.rfind("[json.exception.", 0) == 0) {
        const auto close = text.find("] ");
        if (close != std::string::npos)
            text.erase(0, close + 2);
    }
    return text;
}

} // namespace rslora
