// Python's integers over the interpreter's range, -2^63 to 2^64 - 1 (an int64, or above INT64_MAX a
// LargeUnsigned): exact arithmetic in 128 bits with results beyond the range refused naming the
// operation, exact comparison of ints with floats, and int / int rounded correctly as Python rounds it.
#pragma once

#include "models/chat/JinjaValue.h"

#include <optional>
#include <string>

namespace rslora::models::jinja::detail {

using Wide = __int128;

// What errors about an integer beyond the range add.
inline constexpr const char* kIntegerRange =
    "(integers from -9223372036854775808 to 18446744073709551615 are supported; Python's big integers are not)";

// An int of either kind or a bool (Python's bools are ints in arithmetic).
bool isIntegral(const Value& v);
// An int, float or bool.
bool isNumeric(const Value& v);
// The exact value of an integral Value.
Wide wideOf(const Value& v);
// `w` as a Value when it lies in [-2^63, 2^64 - 1].
std::optional<Value> fitInt(Wide w);
// `w` as a Value; beyond the range an error "integer result of <what> is beyond 64 bits".
Value intResult(Wide w, const std::string& what);
std::string wideToString(Wide w);
// Python's exact comparison of two numeric Values: -1, 0 or 1; nullopt when one is NaN.
std::optional<int> compareNumbers(const Value& a, const Value& b);
// Python's int / int (b != 0): the exact quotient rounded once to the nearest double.
double trueDivide(Wide a, Wide b);
// Python's // and % on ints (b != 0): the quotient rounded toward -infinity, the remainder with b's sign.
Wide floorDiv(Wide a, Wide b);
Wide floorMod(Wide a, Wide b);
// base ** exponent for exponent >= 0; `what` names the operation when the result is beyond the range.
Value intPower(Wide base, Wide exponent, const std::string& what);

} // namespace rslora::models::jinja::detail
