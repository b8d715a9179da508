// Test helper: damages a store file the way a failing disk does, by flipping bytes inside one leaf
// page of the metrics table (found by walking the b-tree from the table's root page).
#pragma once

#include "common/AtomicFile.h"
#include "storage/Store.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sqlite3.h>
#include <stdexcept>
#include <string>

namespace storetest {

inline uint32_t bigEndian(const std::string& b, size_t at, int bytes) {
    uint32_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
    return v;
}

// A store with one run of 5000 steps x 4 metrics (about 20,000 points over many pages), its WAL
// checkpointed into the file so that the bytes on disk are the whole database.
inline void writeStoreWithMetrics(const std::filesystem::path& file) {
    rslora::storage::Store s(file);
    rslora::storage::RunRecord r;
    r.name = "long run";
    int64_t id = s.runs().create(r);
    std::vector<rslora::storage::MetricPoint> pts;
    for (int step = 0; step < 5000; ++step)
        for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s"})
            pts.push_back({id, key, step, 1.7e9 + step, 1.0 / (step + 1)});
    s.metricsIngest().insert(pts);
    s.database().exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// Flips (XOR 0xFF) 16 bytes in the middle of the leftmost leaf page of `table`. The file must have
// no WAL content (checkpoint it first). Returns the page number.
inline uint32_t flipLeafPageBytes(const std::filesystem::path& file, const char* table = "metrics") {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
        throw std::runtime_error("cannot open " + file.string());
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_master WHERE name = ?", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    uint32_t page = sqlite3_step(st) == SQLITE_ROW ? static_cast<uint32_t>(sqlite3_column_int64(st, 0)) : 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (page == 0)
        throw std::runtime_error(std::string("no table ") + table + " in " + file.string());
    std::string bytes = rslora::readFile(file);
    const size_t pageSize = bigEndian(bytes, 16, 2) == 1 ? 65536 : bigEndian(bytes, 16, 2);
    for (;;) {
        size_t at = (page - 1) * pageSize;
        size_t header = page == 1 ? at + 100 : at;
        unsigned char type = static_cast<unsigned char>(bytes[header]);
        if (type == 0x0a || type == 0x0d)
            break; // a leaf page
        if (type != 0x02 && type != 0x05)
            throw std::runtime_error("unexpected b-tree page type " + std::to_string(type));
        // Interior page: follow the first cell's left child pointer.
        size_t cell = at + bigEndian(bytes, header + 12, 2);
        page = bigEndian(bytes, cell, 4);
    }
    size_t middle = (page - 1) * pageSize + pageSize / 2;
    for (size_t i = 0; i < 16; ++i)
        bytes[middle + i] = static_cast<char>(bytes[middle + i] ^ 0xFF);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    return page;
}

} // namespace storetest
