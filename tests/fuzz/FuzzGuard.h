// What every fuzz target checks: an input either works or is refused with rslora::Error (a message
// for the user). Any other exception escaping a parser, a crash or a sanitizer report is a finding.
#pragma once

#include "common/Error.h"
#include "common/Log.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace fuzz {

// Silences the library log once per process (a fuzzer runs millions of inputs).
inline void quietLogs()
{
    static const bool quiet = [] {
        rslora::setLogCallback([](rslora::LogLevel, const std::string&) {});
        return true;
    }();
    (void)quiet;
}

template <typename Body>
int guarded(const char* parser, Body&& body)
{
    quietLogs();
    try {
        body();
    } catch (const rslora::Error&) {
        // Refused with a message: fine.
    } catch (const std::exception& e) {
        std::fprintf(stderr, "an exception other than rslora::Error escaped %s: %s\n", parser, e.what());
        std::abort();
    }
    return 0;
}

// Fails the run when an invariant does not hold (abort is what libFuzzer and the replay both catch).
inline void require(bool ok, const char* what)
{
    if (!ok) {
        std::fprintf(stderr, "invariant broken: %s\n", what);
        std::abort();
    }
}

} // namespace fuzz
