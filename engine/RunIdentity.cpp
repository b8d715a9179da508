// Config fingerprints for checkpoints (see RunIdentity.h).
#include "engine/RunIdentity.h"

#include "common/Sha256.h"

#include <nlohmann/json.hpp>

namespace rslora::engine {

namespace {

using json = nlohmann::json;

// Keys that may differ between a checkpoint and the run that continues it.
json trainedPart(json j)
{
    if (!j.is_object())
        return j;
    j.erase("output");
    if (j.contains("model") && j["model"].is_object()) {
        j["model"].erase("device");
        j["model"].erase("threads");
    }
    if (j.contains("training") && j["training"].is_object()) {
        for (const char* k : {"log_every", "eval_every", "save_every"})
            j["training"].erase(k);
        // An SFT run ignores the preference options: configs written before they existed still match.
        if (j["training"].value("objective", "sft") == "sft") {
            j["training"].erase("objective");
            j.erase("dpo");
        }
    }
    return j;
}

} // namespace

std::string trainingConfigSha256(const json& configJson)
{
    // nlohmann's objects are key-sorted, so dump() is canonical.
    return Sha256::hex(trainedPart(configJson).dump());
}

std::string trainingConfigSha256(const TrainConfig& config) { return trainingConfigSha256(config.toJson()); }

std::vector<std::string> trainingConfigDifferences(const json& from, const json& to)
{
    return configDifferences(trainedPart(from), trainedPart(to));
}

std::vector<std::string> configDifferences(const json& a, const json& b)
{
    std::vector<std::string> out;
    const json patch = json::diff(a, b);
    for (const auto& op : patch) {
        std::string path = op.value("path", "");
        if (!path.empty() && path[0] == '/')
            path.erase(0, 1);
        for (auto& c : path)
            if (c == '/')
                c = '.';
        const json::json_pointer ptr(op.value("path", ""));
        const std::string before = a.contains(ptr) ? a.at(ptr).dump() : "(none)";
        const std::string after = b.contains(ptr) ? b.at(ptr).dump() : "(none)";
        out.push_back(path + ": " + before + " -> " + after);
    }
    return out;
}

} // namespace rslora::engine
