// Validation rules follow the reference reader (formats.md §1.2), in its order, plus an explicit
// duplicate-name check that the reference lacks. Every failure names the file and the tensor.
#include "models/SafeTensorsHeader.h"

#include "common/Error.h"
#include "common/JsonErrorText.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace rslora::models {
namespace {

using json = nlohmann::json;

// A header needs depth 3 (root, tensor entry, shape); deeper input is rejected before it can cost
// stack or memory.
constexpr int kMaxDepth = 4;

struct HeaderProblem {
    std::string message;
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }

bool mulOverflows(uint64_t a, uint64_t b, uint64_t& out) { return __builtin_mul_overflow(a, b, &out); }

json parseStrict(const uint8_t* begin, const uint8_t* end, const std::string& fileName) {
    // nlohmann's parser takes a NUL byte for the end of the input and ignores whatever follows it, so
    // a header padded with NULs, or hiding more JSON after one, would be read in part; the reference
    // reader (serde_json) refuses both, and writers pad with spaces.
    if (const uint8_t* nul = std::find(begin, end, uint8_t(0)); nul != end)
        throw Error(fileName + ": invalid safetensors header: a NUL byte at header offset " + std::to_string(nul - begin) +
                    " (JSON allows none; a header is padded with spaces)");
    // One set of seen keys per open object: nlohmann keeps one of two duplicate keys silently.
    std::vector<std::set<std::string>> seen;
    auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
        switch (event) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
            if (depth >= kMaxDepth)
                throw HeaderProblem{"the header nests deeper than a safetensors header can (depth " +
                                    std::to_string(depth + 1) + ")"};
            if (event == json::parse_event_t::object_start)
                seen.emplace_back();
            break;
        case json::parse_event_t::object_end:
            if (!seen.empty())
                seen.pop_back();
            break;
        case json::parse_event_t::key: {
            const std::string& key = parsed.get_ref<const std::string&>();
            if (!seen.empty() && !seen.back().insert(key).second)
                throw HeaderProblem{"duplicate key " + quoted(key) +
                                    (depth <= 1 ? " (a tensor name may appear only once)" : "")};
            break;
        }
        default:
            break;
        }
        return true;
    };
    try {
        return json::parse(begin, end, callback);
    } catch (const HeaderProblem& p) {
        throw Error(fileName + ": invalid safetensors header: " + p.message);
    } catch (const json::exception& e) {
        throw Error(fileName + ": the safetensors header is not valid UTF-8 JSON: " + jsonErrorText(e));
    }
}

uint64_t readUnsigned(const json& v, const std::string& fileName, const std::string& tensor, const char* field) {
    if (!v.is_number_unsigned())
        throw Error(fileName + ": tensor " + quoted(tensor) + ": expected non-negative integers in " + field +
                    ", found " + v.dump());
    return v.get<uint64_t>();
}

TensorInfo parseTensorEntry(const std::string& name, const json& entry, const std::string& fileName) {
    if (!entry.is_object())
        throw Error(fileName + ": tensor " + quoted(name) + ": expected an object with dtype, shape and data_offsets, found " +
                    entry.dump());
    TensorInfo info;
    info.name = name;
    auto dt = entry.find("dtype");
    if (dt == entry.end() || !dt->is_string())
        throw Error(fileName + ": tensor " + quoted(name) + ": missing or non-string \"dtype\"");
    auto dtype = dtypeFromName(dt->get_ref<const std::string&>());
    if (!dtype)
        throw Error(fileName + ": tensor " + quoted(name) + ": unknown dtype " + dt->dump() +
                    " (expected one of " + knownDtypeNames() + ")");
    info.dtype = *dtype;

    auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array())
        throw Error(fileName + ": tensor " + quoted(name) + ": missing or non-array \"shape\"");
    for (const auto& d : *shape)
        info.shape.push_back(readUnsigned(d, fileName, name, "shape"));

    auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2)
        throw Error(fileName + ": tensor " + quoted(name) + ": expected \"data_offsets\" as [begin, end]");
    info.begin = readUnsigned((*offsets)[0], fileName, name, "data_offsets");
    info.end = readUnsigned((*offsets)[1], fileName, name, "data_offsets");
    return info;
}

} // namespace

uint64_t TensorInfo::numel() const {
    uint64_t n = 1;
    for (uint64_t d : shape)
        n *= d;
    return n;
}

const TensorInfo* SafeTensorsHeader::find(const std::string& name) const {
    auto it = m_index.find(name);
    return it == m_index.end() ? nullptr : &m_tensors[it->second];
}

SafeTensorsHeader SafeTensorsHeader::parse(const uint8_t* bytes, uint64_t available, uint64_t fileSize,
                                           const std::string& fileName) {
    if (fileSize < 8 || available < 8)
        throw Error(fileName + ": not a safetensors file: expected at least 8 bytes (the header length), found " +
                    std::to_string(fileSize));
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | bytes[i];
    if (n > kMaxHeaderSize)
        throw Error(fileName + ": safetensors header length " + std::to_string(n) + " exceeds the limit of " +
                    std::to_string(kMaxHeaderSize) + " bytes (corrupt or not a safetensors file)");
    if (8 + n > fileSize)
        throw Error(fileName + ": safetensors header length " + std::to_string(n) + " runs past the end of the file (" +
                    std::to_string(fileSize) + " bytes)");
    if (8 + n > available)
        throw Error(fileName + ": internal: header bytes not available");

    json root = parseStrict(bytes + 8, bytes + 8 + n, fileName);
    if (!root.is_object())
        throw Error(fileName + ": expected the safetensors header to be a JSON object, found " +
                    std::string(root.type_name()));

    SafeTensorsHeader h;
    h.m_dataStart = 8 + n;
    for (auto it = root.begin(); it != root.end(); ++it) {
        if (it.key() == "__metadata__") {
            if (!it->is_object())
                throw Error(fileName + ": \"__metadata__\" must be an object of strings, found " +
                            std::string(it->type_name()));
            for (auto m = it->begin(); m != it->end(); ++m) {
                if (!m->is_string())
                    throw Error(fileName + ": \"__metadata__\" value for " + quoted(m.key()) +
                                " must be a string, found " + m->dump());
                h.m_metadata[m.key()] = m->get<std::string>();
            }
            continue;
        }
        h.m_tensors.push_back(parseTensorEntry(it.key(), *it, fileName));
    }

    std::sort(h.m_tensors.begin(), h.m_tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t expectedBegin = 0;
    for (const TensorInfo& t : h.m_tensors) {
        const std::string where = fileName + ": tensor " + quoted(t.name) + ": ";
        if (t.begin != expectedBegin || t.end < t.begin) {
            std::string found = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
            if (t.end < t.begin)
                throw Error(where + "data_offsets " + found + " end before they begin");
            if (t.begin < expectedBegin)
                throw Error(where + "data_offsets " + found + " overlap the previous tensor, which ends at " +
                            std::to_string(expectedBegin));
            throw Error(where + "data_offsets " + found + " leave a gap: expected the data to begin at " +
                        std::to_string(expectedBegin));
        }
        uint64_t numel = 1;
        for (uint64_t d : t.shape)
            if (mulOverflows(numel, d, numel))
                throw Error(where + "the element count of its shape overflows");
        uint64_t bits = 0;
        if (mulOverflows(numel, dtypeBits(t.dtype), bits))
            throw Error(where + "the byte size of its shape overflows");
        if (bits % 8 != 0)
            throw Error(where + std::to_string(numel) + " elements of " + dtypeName(t.dtype) +
                        " do not fill a whole number of bytes");
        if (t.end - t.begin != bits / 8)
            throw Error(where + "shape and dtype " + dtypeName(t.dtype) + " need " + std::to_string(bits / 8) +
                        " bytes, but data_offsets span " + std::to_string(t.end - t.begin));
        expectedBegin = t.end;
    }
    if (expectedBegin != fileSize - h.m_dataStart)
        throw Error(fileName + ": the tensors cover " + std::to_string(expectedBegin) +
                    " data bytes, but the file holds " + std::to_string(fileSize - h.m_dataStart) +
                    " after the header (truncated file or trailing bytes)");
    for (size_t i = 0; i < h.m_tensors.size(); ++i)
        h.m_index.emplace(h.m_tensors[i].name, i);
    return h;
}

} // namespace rslora::models
