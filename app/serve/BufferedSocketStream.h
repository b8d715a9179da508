// cpp-httplib's Stream over a connection's socket that first gives the bytes read before (the request
// head RequestHeadReader waited for, and whatever followed it) and keeps what a request left unread:
// a pipelined next request is then served instead of dropped with cpp-httplib's own read buffer.
// Reads and writes wait at most the given timeouts, as cpp-httplib's socket stream does, except that
// the writes of a streamed answer (text/event-stream) wait `streamWriteSeconds` (0: as long as the
// client keeps its connection, as uvicorn does): a client that stops reading a while is not cut off.
// Every wait ends once `halting` is set.
#pragma once

#include <httplib.h>

#include <atomic>
#include <string>

namespace rslora::serve {

class BufferedSocketStream : public httplib::Stream {
public:
    BufferedSocketStream(int fd, std::string pending, double readSeconds, double writeSeconds, double streamWriteSeconds,
                         const std::atomic<bool>& halting);

    bool is_readable() const override;
    bool is_writable() const override;
    ssize_t read(char* ptr, size_t size) override;
    ssize_t write(const char* ptr, size_t size) override;
    void get_remote_ip_and_port(std::string& ip, int& port) const override;
    void get_local_ip_and_port(std::string& ip, int& port) const override;
    socket_t socket() const override { return m_fd; }

    // The bytes read from the socket and not yet taken (the start of a next request).
    std::string takeUnread();
    // Whether the answer written so far told the client that the connection closes after it.
    bool answerClosesConnection() const { return m_closeAnnounced; }

private:
    int m_fd;
    std::string m_buffer;
    size_t m_offset = 0;
    int m_readMs, m_writeMs, m_streamWriteMs;
    const std::atomic<bool>& m_halting;
    // Waits until the socket takes more bytes, at most the write timeout (the stream's once the head of
    // a streamed answer has gone out).
    bool waitWritable() const;
    std::string m_answerHead;   // the answer's status line and header fields, until the blank line
    bool m_headWritten = false;
    bool m_closeAnnounced = false;
};

} // namespace rslora::serve
