// See JsonErrorText.h.
#include "common/JsonErrorText.h"

#include <nlohmann/json.hpp>

#include <exception>

namespace rslora {

namespace {

// The length of the UTF-8 sequence starting at text[i], or 0 when the bytes there are not one.
std::size_t utf8Length(const std::string& text, std::size_t i)
{
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80)
        return 1;
    std::size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > text.size())
        return 0;
    for (std::size_t k = 1; k < n; ++k)
        if ((byte(i + k) & 0xC0) != 0x80)
            return 0;
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((c == 0xE0 && byte(i + 1) < 0xA0) || (c == 0xED && byte(i + 1) > 0x9F) || (c == 0xF0 && byte(i + 1) < 0x90) ||
        (c == 0xF4 && byte(i + 1) > 0x8F))
        return 0;
    return n;
}

} // namespace

std::string jsonErrorText(const std::exception& e)
{
    std::string text = e.what();
    // The library prefixes its id in brackets; the id means nothing to a user.
    if (text.rfind("[json.exception.", 0) == 0) {
        const auto close = text.find("] ");
        if (close != std::string::npos)
            text.erase(0, close + 2);
    }
    // The reason quotes the bytes it stopped at ("last read: '...'") as they are in the file: bytes
    // that are no UTF-8 are written as \xNN, so that the message itself is text a terminal, a log or
    // a JSON report takes.
    std::string shown;
    for (std::size_t i = 0; i < text.size();) {
        if (const std::size_t n = utf8Length(text, i)) {
            shown.append(text, i, n);
            i += n;
            continue;
        }
        static const char* const kHex = "0123456789abcdef";
        const unsigned char c = static_cast<unsigned char>(text[i++]);
        shown += "\\x";
        shown += kHex[c >> 4];
        shown += kHex[c & 15];
    }
    return shown;
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
