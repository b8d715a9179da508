// JSON parsing for data records that keeps Python's reading of integers honest: Python's json reads
// an integer of any size exactly and a chat template prints it so, while nlohmann's parser turns one
// beyond 64 bits into a float (99999999999999999999 would render as 1e+20). Such integers are refused,
// naming the value; integers up to UINT64_MAX are kept exactly.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <string>

namespace rslora::models {

struct RecordJson {
    nlohmann::ordered_json value;
    // Integer literals beyond 64 bits, as written: the first of each top-level array element, by its
    // 0-based index (index 0 for a document that is not an array).
    std::map<std::size_t, std::string> largeIntegers;

    // Parses `text`; throws nlohmann::json::exception for invalid JSON as nlohmann::json::parse does.
    static RecordJson parse(const std::string& text);
    // The error message for `largeInteger` (prefix: where it was found, e.g. "data.jsonl line 3").
    static std::string largeIntegerMessage(const std::string& where, const std::string& literal);
};

} // namespace rslora::models
