// Answer normalisation for exact match.
#include "engine/AnswerMatch.h"

#include "common/Error.h"

#include <cctype>

namespace rslora::engine {

namespace {

std::string trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos)
        return {};
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

} // namespace

MatchOptions MatchOptions::parse(const std::string& mode, bool ignoreCasePunctuation)
{
    MatchOptions o;
    if (mode == "whole")
        o.firstLine = false;
    else if (mode != "first-line" && mode != "first_line")
        throw Error("--match: unknown mode '" + mode + "' (expected whole or first-line)");
    o.ignoreCasePunctuation = ignoreCasePunctuation;
    return o;
}

std::string MatchOptions::describe() const
{
    return std::string(firstLine ? "first line" : "whole answer") + (ignoreCasePunctuation ? ", ignoring case and punctuation" : "");
}

std::string normalizeAnswer(const std::string& text, const MatchOptions& options)
{
    std::string s = trim(text);
    if (options.firstLine) {
        const auto nl = s.find('\n');
        if (nl != std::string::npos)
            s = trim(s.substr(0, nl));
    }
    if (!options.ignoreCasePunctuation)
        return s;
    std::string out;
    bool space = false;
    for (unsigned char c : s) {
        if (c < 0x80 && std::ispunct(c))
            continue;
        if (c < 0x80 && std::isspace(c)) {
            space = !out.empty();
            continue;
        }
        if (space)
            out += ' ';
        space = false;
        out += c < 0x80 ? char(std::tolower(c)) : char(c);
    }
    return out;
}

bool answersMatch(const std::string& generated, const std::string& reference, const MatchOptions& options)
{
    // The reference is normalised the same way, except that it is never cut at a line.
    MatchOptions ref = options;
    ref.firstLine = false;
    return normalizeAnswer(generated, options) == normalizeAnswer(reference, ref);
}

} // namespace rslora::engine
