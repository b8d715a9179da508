// Process-wide compute facts and settings: LibTorch and BLAS threads, the BLAS in use, devices.
#pragma once

#include <string>
#include <vector>

namespace rslora::engine {

struct ThreadSettings {
    int intraOpThreads = 0; // LibTorch (OpenMP) threads; 0 = choose the default
    int blasThreads = 0;    // OpenBLAS threads; 0 = choose the default
};

struct RuntimeInfo {
    std::string torchVersion;
    std::string blasName;    // "OpenBLAS", "reference BLAS", "MKL", "unknown"
    std::string blasPath;    // resolved shared library path when known
    std::string blasConfig;  // OpenBLAS's own build description
    bool referenceBlas = false;
    int intraOpThreads = 0;
    int interOpThreads = 0;
    int blasThreads = -1;    // -1 when the BLAS cannot report it
    int hardwareThreads = 0;
    std::string ompWaitPolicy;
    std::string blasThreadTimeout; // OPENBLAS_THREAD_TIMEOUT (2^n cycles of spinning before a worker sleeps)
    bool cudaAvailable = false;
    std::vector<std::string> cudaDevices;
};

// Defaults chosen by measurement on 2-core machines (see README, "Threads"): LibTorch gets one
// thread per core, OpenBLAS one thread per core, with OMP_WAIT_POLICY=PASSIVE and
// OPENBLAS_THREAD_TIMEOUT=18 set by the executables.
// Overridden by RSLORA_THREADS / RSLORA_BLAS_THREADS and then by explicit settings.
ThreadSettings defaultThreadSettings();
// Applies the settings (0 fields take defaultThreadSettings()).
void applyThreadSettings(const ThreadSettings& settings);
RuntimeInfo runtimeInfo();

} // namespace rslora::engine
