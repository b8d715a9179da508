// JSON in messages for users: the reason of a JSON-library exception without the library's ids
// ("[json.exception.parse_error.101] parse error at ..." becomes "parse error at ..."), and a value
// quoted in a message (never throwing on invalid UTF-8, shortened when long).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <exception>
#include <string>

namespace rslora {

std::string jsonErrorText(const std::exception& e);
std::string jsonValueText(const nlohmann::json& value, std::size_t maxLength = 60);

} // namespace rslora
