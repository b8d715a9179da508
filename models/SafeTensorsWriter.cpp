// The safetensors writer: same byte layout as the reference implementation (formats.md §1.3), so
// files round-trip byte for byte, and streamed to disk so large models are not copied in memory.
#include "models/SafeTensorsWriter.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "models/SafeTensorsStreamWriter.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unistd.h>

namespace rslora::models {
namespace {

std::string jsonString(const std::string& s) {
    try {
        return nlohmann::json(s).dump();
    } catch (const nlohmann::json::exception&) {
        throw Error("cannot write a safetensors name or metadata string that is not valid UTF-8: '" + s + "'");
    }
}

} // namespace

std::string SafeTensorsWriter::header(std::vector<TensorBytes>& tensors,
                                      const std::map<std::string, std::string>& metadata) {
    std::set<std::string> names;
    for (const TensorBytes& t : tensors) {
        if (t.name == "__metadata__")
            throw Error("cannot write a tensor named \"__metadata__\": the name is reserved by safetensors");
        if (!names.insert(t.name).second)
            throw Error("cannot write two tensors named '" + t.name + "' into one safetensors file");
        uint64_t numel = 1;
        for (uint64_t d : t.shape)
            numel *= d;
        uint64_t expected = numel * dtypeBits(t.dtype) / 8;
        if (t.size != expected)
            throw Error("tensor '" + t.name + "': shape and dtype " + dtypeName(t.dtype) + " need " +
                        std::to_string(expected) + " bytes, but " + std::to_string(t.size) + " were given");
    }
    std::stable_sort(tensors.begin(), tensors.end(), [](const TensorBytes& a, const TensorBytes& b) {
        if (a.dtype != b.dtype)
            return a.dtype > b.dtype;
        return a.name < b.name;
    });

    std::string h = "{";
    bool first = true;
    if (!metadata.empty()) {
        h += "\"__metadata__\":{";
        bool firstMeta = true;
        for (const auto& [k, v] : metadata) {
            if (!firstMeta)
                h += ",";
            firstMeta = false;
            h += jsonString(k) + ":" + jsonString(v);
        }
        h += "}";
        first = false;
    }
    uint64_t offset = 0;
    for (const TensorBytes& t : tensors) {
        if (!first)
            h += ",";
        first = false;
        h += jsonString(t.name) + ":{\"dtype\":\"" + dtypeName(t.dtype) + "\",\"shape\":[";
        for (size_t i = 0; i < t.shape.size(); ++i)
            h += (i ? "," : "") + std::to_string(t.shape[i]);
        h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.size) + "]}";
        offset += t.size;
    }
    h += "}";
    h.append((8 - h.size() % 8) % 8, ' ');
    return h;
}

void SafeTensorsWriter::write(const std::filesystem::path& path, std::vector<TensorBytes> tensors,
                              const std::map<std::string, std::string>& metadata) {
    for (const TensorBytes& t : tensors)
        if (t.size > 0 && !t.data)
            throw Error("tensor '" + t.name + "': no data");
    namespace fs = std::filesystem;
    fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    fs::path tmp = dir / (path.filename().string() + ".partial-" + std::to_string(::getpid()));
    {
        // Removes the temporary file itself when anything below throws.
        SafeTensorsStreamWriter out(tmp, std::move(tensors), metadata);
        for (const TensorBytes& t : out.order())
            out.appendPlanned(t);
        out.finish();
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string why = std::strerror(errno);
        ::unlink(tmp.c_str());
        throw Error("cannot rename " + tmp.string() + " to " + path.string() + ": " + why);
    }
    fsyncPath(dir, true);
}

} // namespace rslora::models
