// Writes one .safetensors file whose tensors arrive one after another: the header is computed from a
// plan (names, dtypes, shapes) before any tensor exists, then the bytes are appended in the header's
// order. Lets a model be written tensor by tensor without holding it in memory. Same byte layout as
// SafeTensorsWriter.
#pragma once

#include "models/SafeTensorsWriter.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace rslora::models {

class SafeTensorsStreamWriter {
public:
    // Creates (or truncates) `path` and writes the length and header planned from `plan` (data
    // pointers are not read). Throws as SafeTensorsWriter::header does, or naming the file.
    SafeTensorsStreamWriter(std::filesystem::path path, std::vector<TensorBytes> plan,
                            const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
    // An unfinished file is removed: a reader never sees a file whose header promises missing bytes.
    ~SafeTensorsStreamWriter();
    SafeTensorsStreamWriter(const SafeTensorsStreamWriter&) = delete;
    SafeTensorsStreamWriter& operator=(const SafeTensorsStreamWriter&) = delete;

    // The tensors in the order their bytes must be appended (the reference writer's order).
    const std::vector<TensorBytes>& order() const { return m_order; }
    // Appends raw bytes (a whole tensor or a piece of one). Throws when they would run past the
    // planned data section.
    void append(const void* data, uint64_t size);
    // Appends the next tensor's bytes from the plan's `data` pointer.
    void appendPlanned(const TensorBytes& tensor) { append(tensor.data, tensor.size); }
    // Checks every planned byte arrived, fsyncs and closes. Throws naming the file otherwise.
    void finish();
    // Bytes of the whole file (8 + header + data) once finished.
    uint64_t fileSize() const { return 8 + m_headerSize + m_dataSize; }
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
    std::vector<TensorBytes> m_order;
    int m_fd = -1;
    uint64_t m_headerSize = 0;
    uint64_t m_dataSize = 0;
    uint64_t m_written = 0;
    bool m_finished = false;
};

} // namespace rslora::models
