// glibc allocator thresholds for training (see AllocatorTuning.h).
#include "engine/AllocatorTuning.h"

#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace rslora::engine {

void keepActivationMemoryResident()
{
    static std::once_flag once;
    std::call_once(once, [] {
#if defined(__GLIBC__)
        // Blocks up to 32 MiB (glibc's ceiling for this knob) come from the heap, not from mmap,
        // and the heap top is not trimmed back: the next step reuses the same pages.
        mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        mallopt(M_TRIM_THRESHOLD, -1); // never trim during training; releaseFreedMemory() does it after
        mallopt(M_TOP_PAD, 64 * 1024 * 1024);
#endif
    });
}

void releaseFreedMemory()
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

} // namespace rslora::engine
