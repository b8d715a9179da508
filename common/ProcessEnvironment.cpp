#include "common/ProcessEnvironment.h"

#include <csignal>
#include <cstdlib>
#include <unistd.h>

namespace rslora {

void ensureProcessEnvironment(char** argv) {
    // A file-size limit (ulimit -f) then fails the write that crosses it with EFBIG, which names the
    // file, instead of killing the process with SIGXFSZ and leaving the run "running".
    std::signal(SIGXFSZ, SIG_IGN);
    if (std::getenv("RSLORA_NO_REEXEC"))
        return;
    bool changed = false;
    if (!std::getenv("OMP_WAIT_POLICY")) {
        ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        changed = true;
    }
    if (!std::getenv("OPENBLAS_THREAD_TIMEOUT")) {
        ::setenv("OPENBLAS_THREAD_TIMEOUT", "18", 1);
        changed = true;
    }
    if (!changed)
        return;
    // Marks the child so a failing exec can never loop.
    ::setenv("RSLORA_NO_REEXEC", "1", 1);
    ::execv("/proc/self/exe", argv);
    // exec failed: carry on with the environment as it is (the settings only affect speed).
}

} // namespace rslora
