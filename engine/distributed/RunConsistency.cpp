// Start-up agreement of the ranks (see RunConsistency.h).
#include "engine/distributed/RunConsistency.h"

#include "common/Error.h"
#include "common/Sha256.h"
#include "engine/RunIdentity.h"
#include "engine/distributed/ProcessGroup.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace rslora::engine::distributed {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The safetensors header (names, shapes, dtypes) and the file size stand for a weight file: reading
// gigabytes on every rank at start-up would cost more than the check is worth.
constexpr size_t kWeightPrefixBytes = 64 * 1024;

void hashFilePrefix(Sha256& h, const fs::path& file, size_t limit)
{
    std::ifstream in(file, std::ios::binary);
    std::string buf(limit, '\0');
    in.read(buf.data(), std::streamsize(limit));
    buf.resize(size_t(in.gcount()));
    h.update(file.filename().string());
    h.update(std::to_string(fs::file_size(file)));
    h.update(buf);
}

std::string modelFingerprint(const std::string& modelPath)
{
    Sha256 h;
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(modelPath, ec))
        if (e.is_regular_file())
            files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        const std::string ext = f.extension().string();
        if (ext == ".json" || ext == ".model" || ext == ".txt")
            hashFilePrefix(h, f, size_t(fs::file_size(f)));
        else if (ext == ".safetensors" || ext == ".bin")
            hashFilePrefix(h, f, kWeightPrefixBytes);
    }
    return h.finishHex();
}

json comparedConfig(const TrainConfig& config)
{
    json j = config.toJson();
    // Rank 0 alone writes, so only its output folder counts; device and threads are per machine.
    if (j.contains("output") && j["output"].is_object())
        j["output"].erase("dir");
    if (j.contains("model") && j["model"].is_object()) {
        j["model"].erase("device");
        j["model"].erase("threads");
    }
    return j;
}

} // namespace

RunFingerprint fingerprintRun(const TrainConfig& config)
{
    RunFingerprint f;
    f.configJson = comparedConfig(config).dump();
    f.model = modelFingerprint(config.modelPath);
    Sha256 data;
    for (const std::string& path : {config.trainData, config.validationData})
        if (!path.empty() && fs::exists(path)) {
            data.update(Sha256::fileHex(path));
            f.dataFiles += (f.dataFiles.empty() ? "" : ", ") + path;
        }
    f.data = data.finishHex();
    return f;
}

void checkSameRun(ProcessGroup& group, const TrainConfig& config)
{
    const RunFingerprint mine = fingerprintRun(config);
    const json doc = {{"config", mine.configJson}, {"model", mine.model}, {"data", mine.data}};
    const auto all = group.allGather(doc.dump(), "start-up check of config, model and data");
    const json root = json::parse(all.front());
    std::vector<std::string> problems;
    for (size_t r = 1; r < all.size(); ++r) {
        const json other = json::parse(all[r]);
        const std::string who = "rank " + std::to_string(r);
        if (other["config"] != root["config"]) {
            std::string keys;
            for (const auto& d : configDifferences(json::parse(root["config"].get<std::string>()),
                                                   json::parse(other["config"].get<std::string>())))
                keys += (keys.empty() ? "" : "; ") + d;
            problems.push_back("config differs between rank 0 and " + who + " (rank 0 -> " + who + ": " + keys + ")");
        }
        if (other["model"] != root["model"])
            problems.push_back("model differs between rank 0 and " + who + " (the files under " + config.modelPath
                               + " are not the same on both)");
        if (other["data"] != root["data"])
            problems.push_back("data differs between rank 0 and " + who + " (" + mine.dataFiles + ")");
    }
    if (!problems.empty()) {
        std::string text = "the ranks of this data-parallel job do not train the same run:";
        for (const auto& p : problems)
            text += "\n  " + p;
        throw Error(text, "start every rank with the same config, model folder and data files");
    }
}

} // namespace rslora::engine::distributed
