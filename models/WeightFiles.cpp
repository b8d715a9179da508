// Sharded checkpoints: every weight_map entry must exist in the named shard, and every tensor of
// a shard must be listed for that shard, so that no tensor is silently lost or taken twice.
#include "models/WeightFiles.h"

#include "common/Error.h"
#include "models/StrictJson.h"

namespace fs = std::filesystem;

namespace rslora::models {

WeightFiles::WeightFiles(const fs::path& dir) : m_dir(dir) {
    const fs::path index = dir / kIndexFile;
    const fs::path single = dir / kSingleFile;
    if (fs::exists(index)) {
        m_sharded = true;
        nlohmann::json j = readJsonFileStrict(index);
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            throw Error(index.string() + ": expected an object with a \"weight_map\" object");
        std::map<std::string, size_t> fileIndex;
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it->is_string())
                throw Error(index.string() + ": weight_map entry '" + it.key() + "' must name a file, found " +
                            it->dump());
            const std::string shard = it->get<std::string>();
            if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
                shard == "." || shard == "..")
                throw Error(index.string() + ": weight_map entry '" + it.key() + "' names '" + shard +
                            "', expected a file name inside the folder");
            auto found = fileIndex.find(shard);
            if (found == fileIndex.end()) {
                if (!fs::exists(dir / shard))
                    throw Error(index.string() + ": shard '" + shard + "' (holding '" + it.key() +
                                "') is missing from " + dir.string());
                m_files.push_back(std::make_unique<SafeTensorsFile>(dir / shard));
                found = fileIndex.emplace(shard, m_files.size() - 1).first;
            }
            if (!m_files[found->second]->find(it.key()))
                throw Error(index.string() + ": tensor '" + it.key() + "' is listed in shard '" + shard +
                            "', but that file does not contain it");
            m_where[it.key()] = found->second;
        }
        for (size_t f = 0; f < m_files.size(); ++f)
            for (const TensorInfo& t : m_files[f]->tensors()) {
                auto w = m_where.find(t.name);
                if (w == m_where.end() || w->second != f)
                    throw Error(m_files[f]->path().string() + ": tensor '" + t.name + "' is not listed for this shard in " +
                                index.string());
            }
    } else if (fs::exists(single)) {
        m_files.push_back(std::make_unique<SafeTensorsFile>(single));
        for (const TensorInfo& t : m_files[0]->tensors())
            m_where[t.name] = 0;
    } else {
        throw Error("expected " + std::string(kSingleFile) + " or " + kIndexFile + " in " + dir.string() +
                    ", found neither");
    }
}

std::vector<std::string> WeightFiles::names() const {
    std::vector<std::string> out;
    for (const auto& [name, f] : m_where)
        out.push_back(name);
    return out;
}

const SafeTensorsFile& WeightFiles::fileOf(const std::string& name) const {
    auto it = m_where.find(name);
    if (it == m_where.end())
        throw Error(m_dir.string() + ": expected a tensor named '" + name + "' in the checkpoint, found none");
    return *m_files[it->second];
}

const TensorInfo& WeightFiles::info(const std::string& name) const { return fileOf(name).at(name); }

uint64_t WeightFiles::totalBytes() const {
    uint64_t total = 0;
    for (const auto& f : m_files)
        for (const TensorInfo& t : f->tensors())
            total += t.byteSize();
    return total;
}

} // namespace rslora::models
