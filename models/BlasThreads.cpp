// OpenBLAS thread control (see BlasThreads.h), looked up at run time: LibTorch reaches BLAS through
// the system's libblas, which may or may not be OpenBLAS.
#include "models/BlasThreads.h"

#include <dlfcn.h>

namespace rslora::models {

namespace {

using SetThreads = void (*)(int);
using GetThreads = int (*)();

SetThreads setter()
{
    static const auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    return f;
}

GetThreads getter()
{
    static const auto f = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    return f;
}

} // namespace

int blasThreads()
{
    const auto get = getter();
    return get ? get() : 0;
}

void setBlasThreads(int threads)
{
    if (const auto set = setter(); set && threads > 0)
        set(threads);
}

SingleThreadedBlas::SingleThreadedBlas()
    : previous_(blasThreads())
{
    if (previous_ > 1)
        setBlasThreads(1);
}

SingleThreadedBlas::~SingleThreadedBlas()
{
    if (previous_ > 1)
        setBlasThreads(previous_);
}

} // namespace rslora::models
