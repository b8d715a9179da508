// CLI11 checks for numeric options. finiteIn: the value must be a finite number inside a range whose
// ends may be open (CLI::Range compares with < and >, so NaN slipped through it, and its message
// printed the largest double for an unbounded end). notNegative: an unsigned option (a seed) read
// "-1", and any value past 2^64 - 1, as the largest unsigned value.
#pragma once

#include <CLI/CLI.hpp>

namespace rslora::cli {

enum class End { Closed, Open };

// "--beta: must be a finite number in (0, 1000], found nan" when the value is outside.
CLI::Validator finiteIn(double lo, double hi, End loEnd = End::Closed, End hiEnd = End::Closed);

// "--seed: must be 0 or more, found -1"; "--seed: must be at most 18446744073709551615 (2^64 - 1), found ...".
CLI::Validator notNegative();

} // namespace rslora::cli
