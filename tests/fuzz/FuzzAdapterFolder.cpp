// Fuzz target for PEFT adapter folders as users bring them: adapter_config.json alone, or
// adapter_config.json and adapter_model.safetensors together (the input holds both, split at the
// first kSplit marker) checked as a folder before registration. Loads or rslora::Error, nothing else.
#include "FuzzGuard.h"
#include "engine/PeftConfigFile.h"
#include "engine/PeftFolderCheck.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

constexpr char kSplit[] = "\n--safetensors--\n";

void writeFile(const std::filesystem::path& p, const std::string& bytes)
{
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::filesystem::path dir = [] {
        const auto d = std::filesystem::temp_directory_path() / ("rslora-fuzz-adapter-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    const std::string input(reinterpret_cast<const char*>(data), size);
    const auto split = input.find(kSplit);
    const std::string config = input.substr(0, split);
    fuzz::guarded("the adapter_config.json reader", [&] {
        const auto c = rslora::engine::parsePeftAdapterConfig(config, "adapter_config.json");
        fuzz::require(c.rank >= 1, "a loaded adapter has a positive rank");
        for (const auto& [pattern, rank] : c.rankPattern)
            fuzz::require(rank >= 1, "rank_pattern ranks are positive");
    });
    if (split == std::string::npos)
        return 0;
    writeFile(dir / rslora::engine::kPeftConfigFile, config);
    writeFile(dir / rslora::engine::kPeftWeightsFile, input.substr(split + sizeof kSplit - 1));
    return fuzz::guarded("the adapter folder check", [&] {
        const auto facts = rslora::engine::checkPeftFolder(dir, std::nullopt);
        fuzz::require(facts.rank >= 1 && facts.modules >= 0 && facts.parameters >= 0, "folder facts are sane");
    });
}
