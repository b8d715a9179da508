// See JsonErrorText.h.
#include "common/JsonErrorText.h"

#include <nlohmann/json.hpp>

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

std::string jsonValueText(const nlohmann::json& value, std::size_t maxLength)
{
    // Invalid UTF-8 in a user's file is shown as U+FFFD rather than failing the message itself.
    std::string shown = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (maxLength > 3 && shown.size() > maxLength)
        shown = shown.substr(0, maxLength - 3) + "...";
    return shown;
}

} // namespace rslora
