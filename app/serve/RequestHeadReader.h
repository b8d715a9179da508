// Waits, on one thread for all connections, until a connection's next request head (request line and
// header fields, up to the blank line) has arrived, and only then hands the connection to a worker.
// cpp-httplib 0.11 reads a head on the worker thread with a timeout per read only, so clients sending
// a byte every few seconds held every worker for as long as they liked, and the number of header
// fields had no bound. Here a head must arrive whole within `headSeconds` (408 otherwise), may have at
// most `maxHeaderFields` fields and `maxHeaderBytes` bytes of them (431 otherwise), and a connection
// that sends nothing within `idleSeconds` is closed quietly (the keep-alive timeout). A head that is
// not valid HTTP/1.1 is refused with the answer RequestHeadCheck gives (400, 431, 501, 505), and a
// body that ends, the client closing, before its Content-Length is a 400. A refused
// connection gets its answer and is closed; at most `maxWaiting` connections wait at once (503 above).
// Every connection it ends is closed through the `Close` function it was given.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rslora::serve {

struct HeadLimits {
    double idleSeconds = 2.0;         // no byte of a next request within this: closed without an answer
    double headSeconds = 10.0;        // the whole head within this of the wait's start: 408 otherwise
    size_t maxRequestLine = 8192;     // a longer request line: 414 (as cpp-httplib answers it)
    size_t maxHeaderFields = 100;     // more fields: 431
    size_t maxHeaderBytes = 64 * 1024;  // more bytes of fields: 431
    size_t maxWaiting = 1024;         // connections waiting for their head at once: 503 above
    // A body announced by Content-Length (up to maxBodyBytes) is waited for here too, so that a client
    // sending it slowly holds no worker either: it must arrive within headSeconds plus its size at
    // bodyBytesPerSecond (408 otherwise). Past maxWaitingBodyBytes of bodies waited for at once, a
    // request goes to a worker with its head alone (read there with a timeout per read).
    size_t maxBodyBytes = 1 << 20;
    double bodyBytesPerSecond = 16 * 1024;
    size_t maxWaitingBodyBytes = 64 << 20;
};

class RequestHeadReader {
public:
    // A connection whose head is complete: `bytes` holds the head and whatever followed it; `served`
    // counts the requests answered on it before.
    using Ready = std::function<void(int fd, std::string bytes, int served)>;
    // The body of a refusal (a JSON error object) for a status, a message and the header field at fault
    // (empty when none is).
    using Refusal = std::function<std::string(int status, const std::string& message, const std::string& param)>;
    // Closes a connection the reader ends.
    using Close = std::function<void(int fd)>;

    RequestHeadReader(HeadLimits limits, Ready ready, Refusal refusal, Close close);
    ~RequestHeadReader();
    RequestHeadReader(const RequestHeadReader&) = delete;
    RequestHeadReader& operator=(const RequestHeadReader&) = delete;

    // Takes the connection over, with bytes of it already read. False once stop() has begun: the
    // connection is the caller's to close.
    bool add(int fd, std::string bytes, int served);
    // Answers a new connection `status` at once (a 503 or 429 carries Retry-After) and takes it over
    // until the client has read the answer (what it sends meanwhile is dropped). False once stop() has
    // begun: the connection is the caller's to close.
    bool addRefused(int fd, int status, const std::string& message);
    // The whole answer of a refusal, closing the connection.
    std::string refusalText(int status, const std::string& message, const std::string& param = {}) const;
    // Closes every waiting connection and ends the thread; later add() calls return false.
    void stop();

    // What a head read so far amounts to (public for the tests of the scanning).
    enum class Head { Incomplete, Complete, RequestLineTooLong, TooManyFields, FieldsTooLong };
    // `headEnd`, when given, receives the head's length once it is complete.
    static Head judge(const std::string& bytes, const HeadLimits& limits, size_t* headEnd = nullptr);
    // The body the head announces that is to be waited for: its Content-Length, or 0 when the request
    // goes to a worker at once (no body, a chunked or 100-continue one, a malformed or too large
    // length: the server's own checks answer those).
    static size_t bodyToWait(const std::string& head, const HeadLimits& limits);
    // Whether a PUT, PATCH or DELETE head has neither Content-Length nor Transfer-Encoding: it has no
    // body (RFC 9112 §6.3), but cpp-httplib would read one until the client closed, and answer 400
    // once its read timed out. Such a head is given "Content-Length: 0" before a worker reads it, so
    // that the route answers (405: no route takes these methods).
    static bool framedAsBodyless(const std::string& head);

private:
    using Clock = std::chrono::steady_clock;
    struct Waiting {
        int fd = -1;
        std::string bytes;
        int served = 0;
        Clock::time_point since;
        Clock::time_point closingUntil;  // set once refused: draining what the client still sends
        bool closing = false;
        size_t body = 0;                  // the body waited for (its head is complete), 0 when none
        size_t need = 0;                  // head and body: the bytes to have before the worker
        Clock::time_point bodyUntil;
    };
    size_t m_waitingBodyBytes = 0;  // sum of `body` over the waiting connections (the thread's own)
    void loop();
    void refuse(Waiting& w, int status, const std::string& message, const std::string& param = {});
    // Reads what has arrived; false when the connection ended (or failed).
    bool readMore(Waiting& w);

    HeadLimits m_limits;
    Ready m_ready;
    Refusal m_refusal;
    Close m_close;
    std::mutex m_mutex;
    std::vector<Waiting> m_incoming;  // added, not yet taken by the thread
    bool m_stopped = false;
    int m_wake[2] = {-1, -1};
    std::thread m_thread;
};

} // namespace rslora::serve
