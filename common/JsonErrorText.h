// The reason of a JSON-library exception as a user reads it: "[json.exception.parse_error.101] parse
// error at line 1, column 9: ..." becomes "parse error at line 1, column 9: ...".
#pragma once

#include <exception>
#include <string>

namespace rslora {

std::string jsonErrorText(const std::exception& e);

} // namespace rslora
