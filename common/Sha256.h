// SHA-256 of bytes, files and folders (content hashes of models, datasets and adapters).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace rslora {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t size);
    void update(std::string_view s) { update(s.data(), s.size()); }
    std::array<uint8_t, 32> finish();
    std::string finishHex();

    static std::string hex(std::string_view data);
    // Hash of a file's bytes; throws rslora::Error when it cannot be read.
    static std::string fileHex(const std::filesystem::path& path);
    // Hash over a folder: relative path and content of every regular file, in sorted path order, so
    // equal trees give equal hashes wherever they live.
    static std::string directoryHex(const std::filesystem::path& dir);

private:
    void block(const uint8_t* p);
    uint32_t m_h[8];
    uint8_t m_buf[64];
    size_t m_bufLen = 0;
    uint64_t m_total = 0;
};

} // namespace rslora
