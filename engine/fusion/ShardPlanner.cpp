// Shard sizes, tensor order and shard names for merged-model export.
#include "engine/fusion/ShardPlanner.h"

#include "common/Error.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace rslora::engine::fusion {

uint64_t parseShardSize(const std::string& text) {
    const std::string hint = "write it as bytes or with a unit: 2GB, 500MB, 100KB, 1GiB";
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
        ++i;
    const std::string number = text.substr(0, i);
    std::string unit;
    for (size_t k = i; k < text.size(); ++k)
        unit += static_cast<char>(std::toupper(static_cast<unsigned char>(text[k])));
    if (number.empty() || number.find('.') != number.rfind('.'))
        throw Error("max shard size \"" + text + "\" is not a size", hint);
    double factor = 0;
    if (unit.empty() || unit == "B")
        factor = 1;
    else if (unit == "KB")
        factor = 1e3;
    else if (unit == "MB")
        factor = 1e6;
    else if (unit == "GB")
        factor = 1e9;
    else if (unit == "KIB")
        factor = 1024.0;
    else if (unit == "MIB")
        factor = 1024.0 * 1024.0;
    else if (unit == "GIB")
        factor = 1024.0 * 1024.0 * 1024.0;
    else
        throw Error("max shard size \"" + text + "\" has an unknown unit \"" + text.substr(i) +
                        "\"; expected B, KB, MB, GB, KiB, MiB or GiB",
                    hint);
    const double bytes = std::strtod(number.c_str(), nullptr) * factor;
    if (!std::isfinite(bytes) || bytes < 1 || bytes > 1e18)
        throw Error("max shard size \"" + text + "\" must be at least one byte (and below 1e18)", hint);
    return static_cast<uint64_t>(std::llround(bytes));
}

bool naturalLess(const std::string& a, const std::string& b) {
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        const bool da = std::isdigit(static_cast<unsigned char>(a[i]));
        const bool db = std::isdigit(static_cast<unsigned char>(b[j]));
        if (da && db) {
            size_t ei = i, ej = j;
            while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei])))
                ++ei;
            while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej])))
                ++ej;
            // Compare by value: strip leading zeros, then length, then digits.
            size_t zi = i, zj = j;
            while (zi + 1 < ei && a[zi] == '0')
                ++zi;
            while (zj + 1 < ej && b[zj] == '0')
                ++zj;
            if (ei - zi != ej - zj)
                return ei - zi < ej - zj;
            const int c = a.compare(zi, ei - zi, b, zj, ej - zj);
            if (c != 0)
                return c < 0;
            i = ei;
            j = ej;
            continue;
        }
        if (a[i] != b[j])
            return a[i] < b[j];
        ++i;
        ++j;
    }
    if (a.size() - i != b.size() - j)
        return a.size() - i < b.size() - j;
    return a < b;
}

std::vector<std::vector<size_t>> planShards(const std::vector<uint64_t>& sizes, uint64_t maxBytes) {
    std::vector<std::vector<size_t>> shards(1);
    uint64_t current = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
        if (!shards.back().empty() && current + sizes[k] > maxBytes) {
            shards.emplace_back();
            current = 0;
        }
        shards.back().push_back(k);
        current += sizes[k];
    }
    return shards;
}

std::string shardFileName(size_t index, size_t count) {
    if (count <= 1)
        return "model.safetensors";
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", index + 1, count);
    return buf;
}

} // namespace rslora::engine::fusion
