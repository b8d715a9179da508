// How the config fuzz targets read their input: the first byte chooses the format (odd: YAML through
// the config reader, even: JSON), the rest is the text. A text the JSON library cannot parse is no
// finding (that library is not under test); a YAML text must read or be refused with rslora::Error.
#pragma once

#include "FuzzGuard.h"
#include "engine/ConfigYaml.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace fuzz {

inline std::optional<nlohmann::json> configInput(const uint8_t* data, size_t size, const char* yamlName)
{
    if (size == 0)
        return std::nullopt;
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    nlohmann::json j;
    if (data[0] & 1)
        guarded("the YAML reader", [&] { j = rslora::engine::yamlToJson(text, yamlName); });
    else
        j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || j.is_null())
        return std::nullopt;
    return j;
}

} // namespace fuzz
