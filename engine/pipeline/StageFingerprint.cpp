// Fingerprints of pipeline stages (see StageFingerprint.h).
#include "engine/pipeline/StageFingerprint.h"

#include "common/Sha256.h"
#include "engine/PeftConfigFile.h"

#include <nlohmann/json.hpp>

#include <chrono>

namespace rslora::engine::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Size and modification time: cheap to read on every resume, and changed by any edit.
json fileStamp(const std::string& path)
{
    if (path.empty())
        return nullptr;
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec)
        return json{{"path", path}, {"missing", true}};
    const auto time = fs::last_write_time(path, ec);
    const auto ticks = ec ? 0 : std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
    return json{{"path", path}, {"size", size}, {"mtime_ns", ticks}};
}

} // namespace

std::string stageFingerprint(const TrainConfig& config, const StackWeights& weights, const Curriculum& curriculum,
                             const std::vector<std::string>& below)
{
    json j;
    j["config"] = config.toJson();
    j["train_data"] = fileStamp(config.trainData);
    j["validation_data"] = fileStamp(config.validationData);
    j["carried"] = weights.carried;
    j["curriculum"] = {{"schedule", curriculumScheduleName(curriculum.schedule)}, {"floor", curriculum.floor}};
    j["below"] = below;
    return Sha256::hex(j.dump());
}

std::string adoptedAdapterFingerprint(const fs::path& dir, std::optional<int64_t> adapterId)
{
    json j;
    j["dir"] = dir.string();
    j["adapter_id"] = adapterId ? json(*adapterId) : json(nullptr);
    const fs::path weightsFile = dir / kPeftWeightsFile;
    std::error_code ec;
    j["weights"] = fs::is_regular_file(weightsFile, ec) ? Sha256::fileHex(weightsFile) : std::string("missing");
    return Sha256::hex(j.dump());
}

std::string mergedBaseFingerprint(const std::string& modelPath, const std::vector<std::string>& merged,
                                  const std::vector<double>& weights)
{
    return Sha256::hex(json{{"model", modelPath}, {"merged", merged}, {"weights", weights}}.dump());
}

} // namespace rslora::engine::pipeline
