// Sharded checkpoints: every weight_map entry must exist in the named shard, and every tensor of
// a shard must be listed for that shard, so that no tensor is silently lost or taken twice.
#include "models/WeightFiles.h"

#include "common/Error.h"
#include "models/StrictJson.h"

#include <algorithm>
#include <regex>
#include <set>

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
        throw Error(m_dir.string() + ": expected a tensor named '" + name + "' in the checkpoint, found none" +
                    missingTensorHint(name));
    return *m_files[it->second];
}

const TensorInfo& WeightFiles::info(const std::string& name) const { return fileOf(name).at(name); }

std::string WeightFiles::missingTensorHint(const std::string& name) const {
    if (!m_sharded)
        return {};
    std::set<std::string> listed;
    for (const auto& f : m_files)
        listed.insert(f->path().filename().string());
    // A weights file in the folder that the index leaves out, holding the tensor.
    std::vector<std::string> unlisted;
    std::error_code ec;
    for (fs::directory_iterator it(m_dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string file = it->path().filename().string();
        if (it->path().extension() != ".safetensors" || file == kSingleFile || listed.count(file) || !it->is_regular_file(ec))
            continue;
        unlisted.push_back(file);
    }
    std::sort(unlisted.begin(), unlisted.end());
    const std::string loadsOnly = " (transformers, too, loads only the files its weight_map names)";
    for (const std::string& file : unlisted) {
        try {
            if (SafeTensorsFile(m_dir / file).find(name))
                return "; it is in " + file + ", a file in the folder that " + kIndexFile + " does not list" + loadsOnly +
                       ": add that file's tensors to the weight_map";
        } catch (const std::exception&) {
            // not a readable safetensors file: named below with the other unlisted files
        }
    }
    // The shards of a "model-0000k-of-0000N" set that the index does not name.
    static const std::regex numbered("^(.*)-([0-9]+)-of-([0-9]+)\\.safetensors$");
    std::string missing;
    size_t missingCount = 0;
    std::set<std::string> sets;
    for (const std::string& file : listed) {
        std::smatch m;
        if (!std::regex_match(file, m, numbered) || m[2].length() != m[3].length() || m[3].length() > 6)
            continue;
        if (!sets.insert(m[1].str() + "\n" + m[3].str()).second)
            continue;
        const unsigned long total = std::stoul(m[3].str());
        for (unsigned long k = 1; k <= total; ++k) {
            std::string number = std::to_string(k);
            number.insert(0, m[2].length() > number.size() ? m[2].length() - number.size() : 0, '0');
            const std::string shard = m[1].str() + "-" + number + "-of-" + m[3].str() + ".safetensors";
            if (listed.count(shard) || ++missingCount > 4)
                continue;
            missing += (missing.empty() ? "" : ", ") + shard +
                       (fs::exists(m_dir / shard, ec) ? " (in the folder, not in the index)" : " (neither in the folder nor in the index)");
        }
    }
    if (missingCount > 4)
        missing += " and " + std::to_string(missingCount - 4) + " more";
    if (!missing.empty())
        return "; " + std::string(kIndexFile) + " names no tensor of " + missing + loadsOnly;
    if (!unlisted.empty()) {
        std::string files;
        for (const std::string& f : unlisted)
            files += (files.empty() ? "" : ", ") + f;
        return "; the folder also holds " + files + ", which " + kIndexFile + " does not list" + loadsOnly;
    }
    return {};
}

uint64_t WeightFiles::totalBytes() const {
    uint64_t total = 0;
    for (const auto& f : m_files)
        for (const TensorInfo& t : f->tensors())
            total += t.byteSize();
    return total;
}

} // namespace rslora::models
