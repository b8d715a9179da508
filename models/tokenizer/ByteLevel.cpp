// GPT-2 byte-level alphabet: 188 printable bytes map to themselves, the other 68 to U+0100 + n.
#include "models/tokenizer/ByteLevel.h"

#include "models/tokenizer/Utf8.h"

#include <vector>

namespace rslora::models::bytelevel {

namespace {

bool isDirect(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
    std::array<char32_t, 256> byteToCp{};
    std::array<std::string, 256> byteToStr;
    std::array<int, 324> cpToByte{}; // code points used are below U+0144
    Tables() {
        cpToByte.fill(-1);
        char32_t next = 0x100;
        for (int b = 0; b < 256; ++b) {
            byteToCp[b] = isDirect(b) ? static_cast<char32_t>(b) : next++;
            byteToStr[b] = utf8::encode(byteToCp[b]);
            cpToByte[byteToCp[b]] = b;
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

} // namespace

const std::array<std::string, 256>& byteToChars() { return tables().byteToStr; }

std::string encode(std::string_view text) {
    const auto& t = tables();
    std::string out;
    out.reserve(text.size() * 2);
    for (unsigned char c : text)
        out += t.byteToStr[c];
    return out;
}

std::optional<unsigned char> charToByte(char32_t cp) {
    const auto& t = tables();
    if (cp >= t.cpToByte.size() || t.cpToByte[cp] < 0)
        return std::nullopt;
    return static_cast<unsigned char>(t.cpToByte[cp]);
}

void appendTokenBytes(std::string& out, std::string_view token) {
    const std::size_t start = out.size();
    std::size_t pos = 0;
    while (pos < token.size()) {
        char32_t cp;
        pos += utf8::decode(token, pos, cp);
        const auto b = charToByte(cp);
        if (!b) {
            out.resize(start);
            out.append(token);
            return;
        }
        out.push_back(static_cast<char>(*b));
    }
}

} // namespace rslora::models::bytelevel
