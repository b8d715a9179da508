// The streaming safetensors writer: header from the plan first, tensor bytes appended afterwards.
#include "models/SafeTensorsStreamWriter.h"

#include "common/Error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace rslora::models {
namespace {

void writeAll(int fd, const void* data, uint64_t size, const std::filesystem::path& path) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd, p, std::min<uint64_t>(size, 1u << 30));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw Error("cannot write " + path.string() + ": " + std::strerror(errno));
        }
        p += n;
        size -= static_cast<uint64_t>(n);
    }
}

} // namespace

SafeTensorsStreamWriter::SafeTensorsStreamWriter(std::filesystem::path path, std::vector<TensorBytes> plan,
                                                 const std::map<std::string, std::string>& metadata)
    : m_path(std::move(path)), m_order(std::move(plan)) {
    const std::string json = SafeTensorsWriter::header(m_order, metadata);
    m_headerSize = json.size();
    for (const TensorBytes& t : m_order)
        m_dataSize += t.size;
    m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m_fd < 0)
        throw Error("cannot create " + m_path.string() + ": " + std::strerror(errno));
    uint8_t len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<uint8_t>(m_headerSize >> (8 * i));
    writeAll(m_fd, len, 8, m_path);
    writeAll(m_fd, json.data(), json.size(), m_path);
}

SafeTensorsStreamWriter::~SafeTensorsStreamWriter() {
    if (m_fd >= 0)
        ::close(m_fd);
    if (!m_finished)
        ::unlink(m_path.c_str());
}

void SafeTensorsStreamWriter::append(const void* data, uint64_t size) {
    if (m_finished || m_fd < 0)
        throw Error(m_path.string() + ": cannot append after the file was finished");
    if (size > m_dataSize - m_written)
        throw Error(m_path.string() + ": " + std::to_string(size) + " more bytes would pass the " +
                    std::to_string(m_dataSize) + " bytes the header plans (" + std::to_string(m_written) +
                    " written)");
    if (size > 0 && !data)
        throw Error(m_path.string() + ": no data to append");
    writeAll(m_fd, data, size, m_path);
    m_written += size;
}

void SafeTensorsStreamWriter::finish() {
    if (m_finished)
        return;
    if (m_written != m_dataSize)
        throw Error(m_path.string() + ": only " + std::to_string(m_written) + " of the " + std::to_string(m_dataSize) +
                    " planned tensor bytes were written");
    if (::fsync(m_fd) != 0)
        throw Error("cannot flush " + m_path.string() + ": " + std::strerror(errno));
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0)
        throw Error("cannot close " + m_path.string() + ": " + std::strerror(errno));
    m_finished = true;
}

} // namespace rslora::models
