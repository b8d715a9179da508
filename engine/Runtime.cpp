#include "engine/Runtime.h"

#include "models/BlasThreads.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <link.h>
#include <thread>

namespace rslora::engine {
namespace {

int envInt(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        return 0;
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    return (end && *end == 0 && n > 0 && n < 4096) ? static_cast<int>(n) : 0;
}

int cores() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

// Finds the shared library that provides the BLAS symbol sgemm_, by walking loaded objects.
std::string loadedLibraryMatching(const char* fragment) {
    struct Search {
        const char* fragment;
        std::string found;
    } search{fragment, {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) -> int {
            auto* s = static_cast<Search*>(data);
            if (info->dlpi_name && std::string(info->dlpi_name).find(s->fragment) != std::string::npos) {
                s->found = info->dlpi_name;
                return 1;
            }
            return 0;
        },
        &search);
    return search.found;
}

using OpenblasGetConfig = char* (*)();

} // namespace

ThreadSettings defaultThreadSettings() {
    ThreadSettings s;
    s.intraOpThreads = envInt("RSLORA_THREADS");
    s.blasThreads = envInt("RSLORA_BLAS_THREADS");
    if (s.intraOpThreads == 0)
        s.intraOpThreads = cores();
    if (s.blasThreads == 0)
        s.blasThreads = cores();
    return s;
}

void applyThreadSettings(const ThreadSettings& requested) {
    ThreadSettings d = defaultThreadSettings();
    int intra = requested.intraOpThreads > 0 ? requested.intraOpThreads : d.intraOpThreads;
    int blas = requested.blasThreads > 0 ? requested.blasThreads : d.blasThreads;
    torch::set_num_threads(intra);
    models::setBlasThreads(blas);
}

RuntimeInfo runtimeInfo() {
    RuntimeInfo info;
    info.torchVersion = TORCH_VERSION;
    info.intraOpThreads = torch::get_num_threads();
    info.interOpThreads = torch::get_num_interop_threads();
    info.hardwareThreads = cores();
    if (const char* p = std::getenv("OMP_WAIT_POLICY"))
        info.ompWaitPolicy = p;
    if (const char* p = std::getenv("OPENBLAS_THREAD_TIMEOUT"))
        info.blasThreadTimeout = p;

    if (const int n = models::blasThreads(); n > 0)
        info.blasThreads = n;
    if (auto cfg = reinterpret_cast<OpenblasGetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config")))
        info.blasConfig = cfg();

    std::string lib = loadedLibraryMatching("libblas");
    if (lib.empty())
        lib = loadedLibraryMatching("openblas");
    if (lib.empty())
        lib = loadedLibraryMatching("mkl");
    std::error_code ec;
    std::string resolved = lib.empty() ? std::string() : std::filesystem::canonical(lib, ec).string();
    info.blasPath = resolved.empty() ? lib : resolved;
    if (!info.blasConfig.empty() || info.blasPath.find("openblas") != std::string::npos)
        info.blasName = "OpenBLAS";
    else if (info.blasPath.find("mkl") != std::string::npos)
        info.blasName = "MKL";
    else if (info.blasPath.find("blas/libblas") != std::string::npos) {
        info.blasName = "reference BLAS";
        info.referenceBlas = true;
    } else
        info.blasName = lib.empty() ? "unknown (statically linked or not loaded)" : "unknown";

    info.cudaAvailable = torch::cuda::is_available();
    if (info.cudaAvailable) {
        int n = static_cast<int>(torch::cuda::device_count());
        for (int i = 0; i < n; ++i)
            info.cudaDevices.push_back("cuda:" + std::to_string(i));
    }
    return info;
}

} // namespace rslora::engine
