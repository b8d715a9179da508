// A CLI11 check for real-valued options: the value must be a finite number inside a range whose ends
// may be open. CLI::Range compares with < and >, so NaN slipped through it, and its message printed
// the largest double for an unbounded end.
#pragma once

#include <CLI/CLI.hpp>

namespace rslora::cli {

enum class End { Closed, Open };

// "--beta: must be a finite number in (0, 1000], found nan" when the value is outside.
CLI::Validator finiteIn(double lo, double hi, End loEnd = End::Closed, End hiEnd = End::Closed);

} // namespace rslora::cli
