// A read-only view of a whole file through mmap, shared by every tensor that points into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace rslora::models {

// Maps a file privately (copy-on-write): tensors made from the mapping may be written in place by
// an optimizer without ever touching the file. Not copyable; share it through shared_ptr so that
// the mapping lives as long as any tensor made from it.
class MappedFile {
public:
    explicit MappedFile(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::filesystem::path& path() const { return m_path; }
    const uint8_t* data() const { return m_data; }
    uint8_t* mutableData() const { return m_data; }
    uint64_t size() const { return m_size; }
    // Gives the pages of [offset, offset + size) back to the kernel after a one-pass read, so that
    // streaming a large file does not keep all of it resident. Only for ranges nobody wrote into:
    // copy-on-write changes there would be dropped. The bytes stay readable (read again from disk).
    void release(uint64_t offset, uint64_t size) const;

private:
    std::filesystem::path m_path;
    uint8_t* m_data = nullptr;
    uint64_t m_size = 0;
};

} // namespace rslora::models
