// Counting the server's connections without a server: the cap on all of them and on one client's, the
// bounded refusals past it, the client an address counts as, and the default cap an open-file limit
// leaves room for.
#include "app/serve/ConnectionLimiter.h"

#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using rslora::serve::ConnectionLimiter;
using Verdict = ConnectionLimiter::Verdict;

namespace {

sockaddr_storage ipv6(const char* text)
{
    sockaddr_storage addr {};
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    in6->sin6_family = AF_INET6;
    ::inet_pton(AF_INET6, text, &in6->sin6_addr);
    return addr;
}

} // namespace

class ConnectionLimiterTest : public QObject {
    Q_OBJECT
private slots:
    void capsAllAndPerClient()
    {
        ConnectionLimiter limiter(4, 2, 1);
        QCOMPARE(limiter.admit(10, "a"), Verdict::Admitted);
        QCOMPARE(limiter.admit(11, "a"), Verdict::Admitted);
        QCOMPARE(limiter.admit(12, "a"), Verdict::TooManyFromClient);  // answered, counted as refusing
        QCOMPARE(limiter.admit(13, "a"), Verdict::Drop);               // one refusal under way already
        QCOMPARE(limiter.admit(14, "b"), Verdict::Admitted);           // another client still gets in
        limiter.release(12);
        QCOMPARE(limiter.admit(15, "c"), Verdict::Admitted);
        QCOMPARE(limiter.open(), size_t(4));
        QCOMPARE(limiter.admit(16, "d"), Verdict::TooMany);
        limiter.release(16);
        // A connection closed makes room, for its own client too.
        limiter.release(10);
        QCOMPARE(limiter.open(), size_t(3));
        QCOMPARE(limiter.admit(17, "a"), Verdict::Admitted);
        // Releasing an unknown number, or one twice, changes nothing.
        limiter.release(99);
        limiter.release(10);
        QCOMPARE(limiter.open(), size_t(4));
    }

    void reusedNumbersAreCountedAfresh()
    {
        // A descriptor closed without release() and handed out again is not counted twice.
        ConnectionLimiter limiter(2, 2, 1);
        QCOMPARE(limiter.admit(5, "a"), Verdict::Admitted);
        QCOMPARE(limiter.admit(5, "b"), Verdict::Admitted);
        QCOMPARE(limiter.open(), size_t(1));
        QCOMPARE(limiter.admit(6, "b"), Verdict::Admitted);
        QCOMPARE(limiter.admit(7, "a"), Verdict::TooMany);
    }

    void perClientDefaultsToAll()
    {
        ConnectionLimiter limiter(3, 0);
        QCOMPARE(limiter.maxPerClient(), size_t(3));
        for (int fd = 0; fd < 3; ++fd)
            QCOMPARE(limiter.admit(fd, "a"), Verdict::Admitted);
        QCOMPARE(limiter.admit(3, "a"), Verdict::TooMany);
    }

    void clientKeys()
    {
        // A connected socket counts by its peer's address.
        const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr {};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        QCOMPARE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
        QCOMPARE(::listen(listener, 1), 0);
        QCOMPARE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
        const int client = ::socket(AF_INET, SOCK_STREAM, 0);
        QCOMPARE(::connect(client, reinterpret_cast<sockaddr*>(&addr), len), 0);
        const int accepted = ::accept(listener, nullptr, nullptr);
        QVERIFY(accepted >= 0);
        QCOMPARE(ConnectionLimiter::clientKey(accepted), std::string("127.0.0.1"));
        for (int fd : {accepted, client, listener})
            ::close(fd);
        QCOMPARE(ConnectionLimiter::clientKey(-1), std::string("unknown"));
        // An IPv6 client counts by its /64 (one subscriber's allocation), an IPv4-mapped one as IPv4.
        QCOMPARE(ConnectionLimiter::addressKey(ipv6("2001:db8:1:2:3:4:5:6")), std::string("2001:db8:1:2::/64"));
        QCOMPARE(ConnectionLimiter::addressKey(ipv6("2001:db8:1:2:ffff::1")), std::string("2001:db8:1:2::/64"));
        QCOMPARE(ConnectionLimiter::addressKey(ipv6("::1")), std::string("::/64"));
        QCOMPARE(ConnectionLimiter::addressKey(ipv6("::ffff:10.0.0.7")), std::string("10.0.0.7"));
    }

    void defaultCapFromTheOpenFileLimit()
    {
        QCOMPARE(ConnectionLimiter::fitting(1024), size_t(1024 - 128));
        QCOMPARE(ConnectionLimiter::fitting(300), size_t(172));
        QCOMPARE(ConnectionLimiter::fitting(200), size_t(100));  // a small limit: half of it
        QVERIFY(ConnectionLimiter::descriptorLimit() > 0);
    }
};

QTEST_GUILESS_MAIN(ConnectionLimiterTest)
#include "ConnectionLimiterTest.moc"
