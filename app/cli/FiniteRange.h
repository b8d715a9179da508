// CLI11 checks for numeric options. finiteIn: the value must be a finite number inside a range whose
// ends may be open (CLI::Range compares with < and >, so NaN slipped through it, and its message
// printed the largest double for an unbounded end). notNegative: an unsigned option (a seed) read
// "-1", and any value past 2^64 - 1, as the largest unsigned value. wholeFrom: a whole number with no
// upper end of its own (a limit checked later against the model, such as --max-new-tokens).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>

namespace rslora::cli {

enum class End { Closed, Open };

// "--beta: must be a finite number in (0, 1000], found nan" when the value is outside. An infinite `hi`
// leaves the range open above: "--temperature: must be a finite number >= 0, found -1".
CLI::Validator finiteIn(double lo, double hi, End loEnd = End::Closed, End hiEnd = End::Closed);

// "--max-new-tokens: must be a whole number >= 1, found 0" (also for 1.5, nan, text, and a number past
// 2^63 - 1, which CLI11 could not convert and said only "Could not convert").
CLI::Validator wholeFrom(int64_t lo);

// "--seed: must be 0 or more, found -1"; "--seed: must be at most 18446744073709551615 (2^64 - 1), found ...";
// "--seed: must be a whole number, 0 or more, found nan".
CLI::Validator notNegative();

} // namespace rslora::cli
