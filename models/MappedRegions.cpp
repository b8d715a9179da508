// See MappedRegions.h. The handler only reads the table (atomics and fixed-size text) and calls
// write(2) and _exit(2), which are async-signal-safe.
#include "models/MappedRegions.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <unistd.h>

namespace rslora::models {

namespace {

constexpr int kSlots = 512;
constexpr uintptr_t kReserved = 1; // a slot being filled: no address is in [1, end) while end is 0

struct Slot {
    std::atomic<uintptr_t> begin{0};
    std::atomic<uintptr_t> end{0};
    char path[1024] = {};
};

Slot g_slots[kSlots];
struct sigaction g_previous {};
std::once_flag g_installed;

void writeAll(const char* text, size_t n)
{
    while (n > 0) {
        const ssize_t w = ::write(STDERR_FILENO, text, n);
        if (w <= 0)
            return;
        text += w;
        n -= static_cast<size_t>(w);
    }
}

void onBusError(int sig, siginfo_t* info, void* context)
{
    const auto at = reinterpret_cast<uintptr_t>(info->si_addr);
    for (const Slot& s : g_slots) {
        const uintptr_t begin = s.begin.load(std::memory_order_acquire);
        if (begin <= kReserved || at < begin || at >= s.end.load(std::memory_order_relaxed))
            continue;
        static const char head[] = "\nerror: ";
        static const char tail[] = " was truncated or rewritten in place by another program while this process had it mapped for "
                                   "reading (bus error reading it); nothing more can be read from it, so the process stops\n"
                                   "hint: replace model files by writing the new file under another name and renaming it over "
                                   "the old one (as rslora does), never by copying over it\n";
        writeAll(head, sizeof head - 1);
        writeAll(s.path, ::strnlen(s.path, sizeof s.path));
        writeAll(tail, sizeof tail - 1);
        ::_exit(1);
    }
    // Not one of ours: as if this handler were not installed.
    if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
        g_previous.sa_sigaction(sig, info, context);
        return;
    }
    if (!(g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
        return;
    }
    // The default action: the faulting access runs again and raises SIGBUS without this handler.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGBUS, &dfl, nullptr);
}

void install()
{
    struct sigaction sa {};
    sa.sa_sigaction = onBusError;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
}

} // namespace

void registerMappedRegion(const void* begin, uint64_t size, const std::filesystem::path& path)
{
    if (!begin || size == 0)
        return;
    std::call_once(g_installed, install);
    for (Slot& s : g_slots) {
        uintptr_t expected = 0;
        if (!s.begin.compare_exchange_strong(expected, kReserved, std::memory_order_acq_rel))
            continue;
        const std::string text = path.string();
        const size_t n = std::min(text.size(), sizeof s.path - 1);
        std::memcpy(s.path, text.data(), n);
        s.path[n] = '\0';
        const auto b = reinterpret_cast<uintptr_t>(begin);
        s.end.store(b + size, std::memory_order_relaxed);
        s.begin.store(b, std::memory_order_release);
        return;
    }
}

void unregisterMappedRegion(const void* begin)
{
    const auto b = reinterpret_cast<uintptr_t>(begin);
    if (b <= kReserved)
        return;
    for (Slot& s : g_slots) {
        uintptr_t expected = b;
        if (s.begin.compare_exchange_strong(expected, kReserved, std::memory_order_acq_rel)) {
            s.end.store(0, std::memory_order_relaxed);
            s.begin.store(0, std::memory_order_release);
            return;
        }
    }
}

} // namespace rslora::models
