// How exact match compares a generation with its reference, as the user chooses: the whole answer or
// its first line, optionally ignoring case, punctuation and runs of white space. Pure strings.
#pragma once

#include <string>

namespace rslora::engine {

struct MatchOptions {
    bool firstLine = true;            // compare the first non-empty line of the generation only
    bool ignoreCasePunctuation = false;
    // "whole", "first-line" (the default); throws rslora::Error naming the value otherwise.
    static MatchOptions parse(const std::string& mode, bool ignoreCasePunctuation);
    std::string describe() const;
};

// The text of a generation that is compared: trimmed, cut at the first line when asked, then
// (when asked) lower-cased ASCII, ASCII punctuation removed and white space runs made one space.
std::string normalizeAnswer(const std::string& text, const MatchOptions& options);
bool answersMatch(const std::string& generated, const std::string& reference, const MatchOptions& options);

} // namespace rslora::engine
