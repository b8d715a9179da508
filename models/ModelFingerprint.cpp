// Base model identity (see ModelFingerprint.h).
#include "models/ModelFingerprint.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Sha256.h"

#include <algorithm>
#include <fstream>
#include <vector>

namespace rslora::models {

namespace fs = std::filesystem;

namespace {

constexpr std::streamoff kEdgeBytes = 1 << 20;

void hashEdges(Sha256& h, const fs::path& file, uint64_t size)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw Error("cannot read " + file.string());
    std::vector<char> buf(size_t(std::min<uint64_t>(size, uint64_t(kEdgeBytes))));
    in.read(buf.data(), std::streamsize(buf.size()));
    h.update(buf.data(), size_t(in.gcount()));
    if (size > uint64_t(kEdgeBytes)) {
        in.clear();
        in.seekg(std::streamoff(size) - std::streamoff(buf.size()));
        in.read(buf.data(), std::streamsize(buf.size()));
        h.update(buf.data(), size_t(in.gcount()));
    }
}

} // namespace

std::string modelFingerprint(const fs::path& modelDir)
{
    const fs::path config = modelDir / "config.json";
    if (!fs::is_regular_file(config))
        throw Error("'" + modelDir.string() + "' is not a model folder: config.json is missing");
    Sha256 h;
    h.update(readFile(config));
    std::vector<fs::path> weights;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(modelDir, ec)) {
        const std::string ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".safetensors" || ext == ".bin"))
            weights.push_back(e.path());
    }
    std::sort(weights.begin(), weights.end());
    for (const auto& w : weights) {
        const uint64_t size = fs::file_size(w);
        h.update(w.filename().string() + "\n" + std::to_string(size) + "\n");
        hashEdges(h, w, size);
    }
    return h.finishHex();
}

std::string modelLabel(const std::string& modelPath, const std::string& fingerprint)
{
    std::string name = fs::path(modelPath).filename().string();
    if (name.empty())
        name = fs::path(modelPath).parent_path().filename().string();
    if (fingerprint.empty())
        return name;
    return name + " (" + fingerprint.substr(0, 8) + ")";
}

} // namespace rslora::models
