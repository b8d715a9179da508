// The reporting of the plain GPU test executables (no Qt Test on CUDA machines): one PASS/FAIL line
// per check, a failure count, and the exit status from it.
#pragma once

#include <cstdio>
#include <string>

namespace rslora::gputest {

inline int& failures()
{
    static int count = 0;
    return count;
}

inline void check(bool ok, const std::string& what)
{
    std::printf("%s  %s\n", ok ? "PASS" : "FAIL", what.c_str());
    failures() += ok ? 0 : 1;
}

// Prints the count and returns main()'s exit status.
inline int finish()
{
    std::printf("%d failure(s)\n", failures());
    return failures() == 0 ? 0 : 1;
}

} // namespace rslora::gputest
