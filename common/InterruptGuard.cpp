#include "common/InterruptGuard.h"

#include <atomic>
#include <signal.h>

namespace rslora {
namespace {

// Lock-free, so storing into it is safe in a signal handler.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the interrupt flag must be lock-free");

extern "C" void onInterruptSignal(int sig) { g_signal.store(sig); }

} // namespace

InterruptGuard::InterruptGuard() {
    g_signal.store(0);
    struct sigaction action {};
    action.sa_handler = onInterruptSignal;
    sigemptyset(&action.sa_mask);
    // SA_RESTART: file writes in progress go on; SA_RESETHAND: a second Ctrl-C ends the process.
    action.sa_flags = SA_RESTART | SA_RESETHAND;
    ::sigaction(SIGINT, &action, &m_previousInterrupt);
    ::sigaction(SIGTERM, &action, &m_previousTerminate);
}

InterruptGuard::~InterruptGuard() {
    ::sigaction(SIGINT, &m_previousInterrupt, nullptr);
    ::sigaction(SIGTERM, &m_previousTerminate, nullptr);
}

bool InterruptGuard::interrupted() const { return g_signal.load() != 0; }

int InterruptGuard::caught() const { return g_signal.load(); }

int InterruptGuard::exitCode() const {
    const int sig = g_signal.load();
    return sig == 0 ? 0 : 128 + sig;
}

} // namespace rslora
