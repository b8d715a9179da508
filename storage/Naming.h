// Names and identifiers: default adapter names, file-system-safe ids for folders, uuids, clocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace rslora::storage {

// A file-name-safe id from any user text: ASCII letters, digits, '.', '-' and '_' survive, every
// other byte run becomes one '_', no leading dot, at most 48 bytes. When anything had to change, an
// 8-hex-digit hash of the original is appended, so different names never share a folder
// ("a/b" -> "a_b-1f0c...", "a_b" -> "a_b"). Never empty.
std::string sanitizeId(std::string_view text);

// <task>_<variant>_v<N>_<YYYYMMDD> (the variant part is left out when empty), in UTC.
std::string defaultAdapterName(std::string_view task, std::string_view variant, int64_t version, double time);

// <root>/<sanitized task>/v<N>-<first 8 hex digits of the uuid>: where an adapter version's files
// live. The uuid part keeps two stores sharing a folder (or a store made anew) from colliding.
std::filesystem::path adapterFolder(const std::filesystem::path& adapterRoot, std::string_view task, int64_t version,
                                    std::string_view uuid);

// Random RFC 4122 version-4 uuid in lower-case hex.
std::string newUuid();
// Seconds since the Unix epoch, with sub-second precision.
double nowSeconds();
// YYYY-MM-DDTHH:MM:SSZ for a time in seconds (UTC); empty for NaN.
std::string isoTime(double seconds);
// Accepts what isoTime writes (and the same with fractional seconds); throws rslora::Error otherwise.
double parseIsoTime(const std::string& text);
std::string hostName();

} // namespace rslora::storage
