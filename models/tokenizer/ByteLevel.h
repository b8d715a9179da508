// The GPT-2 byte <-> printable character map used by byte-level BPE (bytes_to_unicode()).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace rslora::models::bytelevel {

// UTF-8 encoding of the character standing for each byte (e.g. 0x20 -> "Ġ", 0x0A -> "Ċ").
const std::array<std::string, 256>& byteToChars();
// Maps every byte of `text` to its character: " world" -> "Ġworld".
std::string encode(std::string_view text);
// Inverse of one character; nullopt if `cp` is not in the map.
std::optional<unsigned char> charToByte(char32_t cp);
// Byte-level decoding of one token: every character mapped back to its byte; if any character is not
// in the map the token's own UTF-8 bytes are used (tokenizers' ByteLevel decoder rule).
void appendTokenBytes(std::string& out, std::string_view token);

} // namespace rslora::models::bytelevel
