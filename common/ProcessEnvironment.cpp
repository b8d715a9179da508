#include "common/ProcessEnvironment.h"

#include <cstdlib>
#include <unistd.h>

namespace rslora {

void ensureProcessEnvironment(char** argv) {
    if (std::getenv("RSLORA_NO_REEXEC") || std::getenv("OMP_WAIT_POLICY"))
        return;
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    // Marks the child so a failing exec can never loop.
    ::setenv("RSLORA_NO_REEXEC", "1", 1);
    ::execv("/proc/self/exe", argv);
    // exec failed: carry on with the environment as it is (the policy only affects speed).
}

} // namespace rslora
