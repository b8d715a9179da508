// Regular expressions from text a user wrote (config keys such as adapter.rank_pattern, a PEFT
// adapter's rank_pattern, adapter.target_regex). libstdc++ reads a repetition count or a
// back-reference number into a long without checking for overflow (undefined behaviour, found by
// fuzzing), so a pattern holding a number of more than 9 digits is refused before it is compiled; so is
// a pattern of more than 1000 characters (std::regex recurses per term and overflowed the stack).
#pragma once

#include <regex>
#include <string>

namespace rslora {

// Why `pattern` cannot be used ("" when it can): too long, a number too long, or std::regex's own complaint.
std::string userRegexProblem(const std::string& pattern);

// The compiled pattern (ECMAScript). Throws std::regex_error for a pattern userRegexProblem() refuses.
std::regex userRegex(const std::string& pattern);

} // namespace rslora
