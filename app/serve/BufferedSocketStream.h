// cpp-httplib's Stream over a connection's socket that first gives the bytes read before (the request
// head RequestHeadReader waited for, and whatever followed it) and keeps what a request left unread:
// a pipelined next request is then served instead of dropped with cpp-httplib's own read buffer.
// Reads and writes wait at most the given timeouts, as cpp-httplib's socket stream does, except that
// a streamed answer (text/event-stream) ends once its client has taken none of its bytes for
// `streamWriteSeconds` (0: never, as long as the client keeps its connection, as uvicorn does): a
// client that stops reading a while is not cut off. Every wait ends once `halting` is set.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
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
    using Clock = std::chrono::steady_clock;
    int m_readMs, m_writeMs, m_streamWriteMs;
    const std::atomic<bool>& m_halting;
    // Waits until the socket takes more bytes, at most `limitMs` (0: no limit).
    bool waitWritable(int limitMs) const;
    // The write timeout, or for a streamed answer what is left of the stream's timeout.
    int writeLimitMs() const;
    // For a streamed answer: whether its client has taken no byte for the stream's timeout.
    bool clientStalled();
    bool m_streaming = false;   // the answer is a stream of events
    Clock::time_point m_progressAt; // when the client last took bytes (or the stream began)
    int m_queuedAfterSend = 0;  // bytes held for the client after the last send
    std::string m_answerHead;   // the answer's status line and header fields, until the blank line
    bool m_headWritten = false;
    bool m_closeAnnounced = false;
};

} // namespace rslora::serve
