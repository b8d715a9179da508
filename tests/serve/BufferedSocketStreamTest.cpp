// The writes of an answer over a socket pair whose reader stops reading: a streamed answer
// (text/event-stream) waits for it as long as --stream-write-timeout says (by default while the
// connection is open; it was cut off after cpp-httplib's 5 s write timeout), other answers keep the
// short write timeout, and a halting server waits for no client.
#include "app/serve/BufferedSocketStream.h"

#include <QtTest>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <unistd.h>

using namespace rslora::serve;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kStreamHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr const char* kJsonHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n";
constexpr size_t kBodyBytes = 4'000'000;  // far more than the socket buffers hold
// How much later than its due time a write may give up: a thread of a loaded machine can wait that
// long for a core. Every other timeout a write could be mistaken to follow is longer.
constexpr double kLateSeconds = 10.0;

struct SocketPair {
    int server = -1, client = -1;
    SocketPair()
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0) {
            server = fds[0];
            client = fds[1];
            const int small = 16 * 1024;
            ::setsockopt(server, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
            ::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        }
    }
    ~SocketPair()
    {
        if (server >= 0)
            ::close(server);
        if (client >= 0)
            ::close(client);
    }
};

// Writes the head, then `kBodyBytes` in pieces as cpp-httplib does (a short write is continued);
// returns the bytes of the body written before a write failed.
size_t writeAnswer(BufferedSocketStream& stream, const std::string& head)
{
    if (stream.write(head.data(), head.size()) != static_cast<ssize_t>(head.size()))
        return 0;
    const std::string piece(64 * 1024, 'x');
    size_t written = 0;
    while (written < kBodyBytes) {
        const ssize_t n = stream.write(piece.data(), std::min(piece.size(), kBodyBytes - written));
        if (n <= 0)
            break;
        written += static_cast<size_t>(n);
    }
    return written;
}

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Seconds until a write of the answer failed; -1 when it was written whole.
double secondsUntilAWriteFails(BufferedSocketStream& stream, const std::string& head)
{
    const auto start = Clock::now();
    return writeAnswer(stream, head) < kBodyBytes ? secondsSince(start) : -1.0;
}

} // namespace

class BufferedSocketStreamTest : public QObject {
    Q_OBJECT
private slots:
    // The reader pauses 2.5 s, past the 0.5 s write timeout, then reads everything: the stream waits.
    void aStreamWaitsForAReaderThatPauses()
    {
        SocketPair pair;
        QVERIFY(pair.server >= 0);
        std::atomic<bool> halting{false};
        BufferedSocketStream stream(pair.server, {}, 60.0, 0.5, 0.0, halting);
        std::atomic<size_t> received{0};
        std::thread reader([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(2500));
            char buffer[65536];
            ssize_t n;
            while ((n = ::read(pair.client, buffer, sizeof buffer)) > 0)
                received += static_cast<size_t>(n);
        });
        const auto start = Clock::now();
        const size_t written = writeAnswer(stream, kStreamHead);
        const double seconds = secondsSince(start);
        ::shutdown(pair.server, SHUT_WR);
        reader.join();
        QCOMPARE(written, kBodyBytes);
        QCOMPARE(received.load(), kBodyBytes + std::string(kStreamHead).size());
        QVERIFY2(seconds > 2.0, std::to_string(seconds).c_str());
    }

    // Not read at all: a JSON answer gives up after the write timeout, a stream after its own.
    void writesGiveUpAfterTheirTimeout_data()
    {
        QTest::addColumn<QString>("head");
        QTest::addColumn<double>("streamSeconds");
        QTest::addColumn<double>("expected");
        QTest::newRow("JSON answer") << QString(kJsonHead) << 0.0 << 0.5;
        QTest::newRow("JSON answer, stream timeout set") << QString(kJsonHead) << 30.0 << 0.5;
        QTest::newRow("stream with a timeout") << QString(kStreamHead) << 1.5 << 1.5;
    }
    void writesGiveUpAfterTheirTimeout()
    {
        QFETCH(QString, head);
        QFETCH(double, streamSeconds);
        QFETCH(double, expected);
        SocketPair pair;
        QVERIFY(pair.server >= 0);
        std::atomic<bool> halting{false};
        BufferedSocketStream stream(pair.server, {}, 60.0, 0.5, streamSeconds, halting);
        const double seconds = secondsUntilAWriteFails(stream, head.toStdString());
        QVERIFY2(seconds >= expected - 0.05 && seconds < expected + kLateSeconds, std::to_string(seconds).c_str());
    }

    // A stream without a timeout still ends at once when the server halts, and when the client is gone.
    void aWaitingStreamEndsWhenTheServerHaltsOrTheClientLeaves_data()
    {
        QTest::addColumn<bool>("halt");
        QTest::newRow("the server halts") << true;
        QTest::newRow("the client leaves") << false;
    }
    void aWaitingStreamEndsWhenTheServerHaltsOrTheClientLeaves()
    {
        QFETCH(bool, halt);
        SocketPair pair;
        QVERIFY(pair.server >= 0);
        std::atomic<bool> halting{false};
        BufferedSocketStream stream(pair.server, {}, 60.0, 0.5, 0.0, halting);
        const auto start = Clock::now();
        std::atomic<double> eventSeconds{-1.0}; // when the server halted or the client left
        std::thread after([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(1000));
            eventSeconds = secondsSince(start);
            if (halt)
                halting = true;
            else {
                ::close(pair.client);
                pair.client = -1;
            }
        });
        const bool failed = writeAnswer(stream, kStreamHead) < kBodyBytes;
        const double seconds = secondsSince(start);
        after.join();
        // Not before (the stream has no timeout of its own), and at once after: measured from the
        // event itself, which a loaded machine may bring later than the second asked for.
        QVERIFY(failed);
        QVERIFY2(seconds >= eventSeconds && seconds < eventSeconds + kLateSeconds,
                 qPrintable(QString("the write failed after %1 s, the event came after %2 s").arg(seconds).arg(eventSeconds.load())));
    }
};

QTEST_GUILESS_MAIN(BufferedSocketStreamTest)
#include "BufferedSocketStreamTest.moc"
