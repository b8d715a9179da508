// Ctrl-C (SIGINT) and SIGTERM during one long command that writes a folder: the signal only sets a
// flag, the work polls it (its progress callback returns false), and it stops by throwing, so that
// destructors remove what was half-written instead of leaving a hidden staging folder as large as
// the output. A second signal has its default effect (the handlers reset themselves on the first).
#pragma once

#include <signal.h>

namespace rslora {

// Installs the handlers for its lifetime and restores the previous ones when destroyed. One at a
// time (the flag is process-wide); not for a process that handles these signals itself.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;

    // Whether SIGINT or SIGTERM arrived since construction.
    bool interrupted() const;
    // The signal that arrived (SIGINT or SIGTERM), 0 when none.
    int caught() const;
    // The conventional exit status of a command stopped by that signal: 128 + its number (130 for
    // Ctrl-C), 0 when none arrived.
    int exitCode() const;

private:
    struct sigaction m_previousInterrupt {};
    struct sigaction m_previousTerminate {};
};

} // namespace rslora
