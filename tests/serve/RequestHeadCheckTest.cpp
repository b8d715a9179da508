// Request heads judged from their bytes, without a socket: each flaw that cpp-httplib would skip over
// or answer with one "not valid HTTP" gets its own status and a message naming the line; and the API
// key comparison.
#include "app/serve/HttpText.h"
#include "app/serve/RequestHeadCheck.h"
#include "app/serve/RequestHeadRewrite.h"

#include <QtTest>

using namespace rslora::serve;

class RequestHeadCheckTest : public QObject {
    Q_OBJECT
private slots:
    // The API key check: equal keys only (compared without stopping at the first difference).
    void keysAreComparedWhole()
    {
        using rslora::serve::sameKey;
        QVERIFY(sameKey("sk-test-123", "sk-test-123"));
        QVERIFY(!sameKey("sk-test-12", "sk-test-123"));   // a prefix
        QVERIFY(!sameKey("sk-test-1234", "sk-test-123")); // longer
        QVERIFY(!sameKey("sk-test-124", "sk-test-123"));  // the last byte
        QVERIFY(!sameKey("Sk-test-123", "sk-test-123"));  // the first byte
        QVERIFY(!sameKey("", "sk-test-123"));
        QVERIFY(!sameKey(std::string("sk-test-123\0", 12), "sk-test-123"));
        QVERIFY(!sameKey("sk-test-123", std::string("sk-test-123\0", 12)));
        QVERIFY(sameKey(std::string("a\0b", 3), std::string("a\0b", 3)));
    }

    void refusals_data()
    {
        QTest::addColumn<QByteArray>("head");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("message");  // the message holds this
        // httplib skipped a line without a colon, and one ending in a bare LF, as if it was not there.
        QTest::newRow("no colon") << QByteArray("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization Bearer k\r\n\r\n") << 400
                                  << "the header line 'Authorization Bearer k' has no colon: expected NAME: VALUE";
        QTest::newRow("bare LF field") << QByteArray("GET /v1/models HTTP/1.1\r\nHost: x\nContent-Length: 5\r\n\r\n") << 400
                                       << "the header line 'Host: x' ends with a bare LF (\\n): HTTP/1.1 lines end with CRLF (\\r\\n)";
        QTest::newRow("bare LF request line") << QByteArray("GET / HTTP/1.1\nHost: x\n\n") << 400
                                              << "the request line 'GET / HTTP/1.1' ends with a bare LF";
        QTest::newRow("bare LF end") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\n\n") << 400
                                     << "the empty line that ends the header fields ends with a bare LF";
        // RFC 9112 §3.2; h11 refuses it too. httplib took it.
        QTest::newRow("no Host") << QByteArray("GET /v1/models HTTP/1.1\r\nAccept: */*\r\n\r\n") << 400
                                 << "HTTP/1.1 requests must carry a Host header";
        QTest::newRow("two Hosts") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n") << 400
                                   << "the request has 2 Host headers; a request carries one";
        QTest::newRow("two Hosts in HTTP/1.0") << QByteArray("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n") << 400 << "2 Host headers";
        // A folded line was kept as a field named " continued" (or skipped, without a colon).
        QTest::newRow("obs-fold") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n  continued\r\n\r\n") << 400
                                  << "the header line '  continued' begins with a space or tab, folding it into the field before it "
                                     "('X-Long'), which HTTP/1.1 no longer allows (RFC 9112 §5.2): send each field on one line";
        // "Host :" was a field named "Host " (so the request had no Host).
        QTest::newRow("space before the colon") << QByteArray("GET / HTTP/1.1\r\nHost : x\r\n\r\n") << 400
                                                << "the header line 'Host : x' has no valid field name before its colon (no space may come before the colon)";
        QTest::newRow("empty name") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n") << 400
                                    << "the header line ': v' has no valid field name before its colon (letters";
        QTest::newRow("CR in a value") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n") << 400
                                       << "the value of the header field 'X-A' holds the control character \\x0d";
        QTest::newRow("NUL in a value") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 37) << 400
                                        << "the value of the header field 'X-A' holds the control character \\x00";
        // httplib answered a line over 8192 bytes with its 400 "not valid HTTP".
        QTest::newRow("long field") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + QByteArray(9000, 'a') + "\r\n\r\n") << 431
                                    << "the header field 'X-Big' is 9009 bytes long; the server reads header lines of up to 8192 bytes";
        // httplib decoded it to 52 and read a body of that length.
        QTest::newRow("percent-encoded Content-Length") << QByteArray("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %35%32 \r\n\r\n") << 400
                                                        << "'Content-Length': expected the body's size in bytes (digits only), found '%35%32'";
        // Request lines: each flaw named (all were "not valid HTTP" alone).
        QTest::newRow("garbage") << QByteArray("GARBAGE\r\n\r\n") << 400
                                 << "the request line 'GARBAGE' is not valid HTTP: expected METHOD TARGET HTTP/1.1, separated by single spaces";
        QTest::newRow("double space") << QByteArray("GET  / HTTP/1.1\r\nHost: x\r\n\r\n") << 400 << "separated by single spaces";
        QTest::newRow("HTTP/0.9") << QByteArray("GET /\r\n\r\n") << 400 << "the request line 'GET /' is not valid HTTP";
        QTest::newRow("empty line first") << QByteArray("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") << 400
                                          << "the request begins with an empty line";
        QTest::newRow("method not a token") << QByteArray("G(T / HTTP/1.1\r\nHost: x\r\n\r\n") << 400 << "its method 'G(T' may hold only";
        QTest::newRow("version") << QByteArray("GET / HTTP/one\r\nHost: x\r\n\r\n") << 400
                                 << "its version 'HTTP/one' should be HTTP/1.1 (or HTTP/1.0)";
        QTest::newRow("HTTP/2") << QByteArray("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") << 505
                                << "HTTP/2.0 is not supported: the server speaks HTTP/1.1 and HTTP/1.0";
        QTest::newRow("tab in the target") << QByteArray("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n") << 400
                                           << "the request target '/a\tb' holds the control character \\x09: percent-encode it";
        // httplib refused a second '?' as "not valid HTTP".
        QTest::newRow("two question marks") << QByteArray("GET /v1/models?a=1?b HTTP/1.1\r\nHost: x\r\n\r\n") << 400
                                            << "has more than one '?': write a '?' inside the query as %3F";
        // The 501 named OPTIONS as served (every route answers it 405) and left PUT, DELETE and PATCH out.
        QTest::newRow("unknown method") << QByteArray("BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n") << 501
                                        << "the method BREW is not supported: each route takes GET and HEAD (/v1/models, /health) or POST";
        QTest::newRow("TRACE") << QByteArray("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n") << 501 << "the method TRACE is not supported";
        // Its target is a host and port, not a path: still the method is what the server does not take.
        QTest::newRow("CONNECT") << QByteArray("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") << 501
                                 << "the method CONNECT is not supported";
        // Targets that are neither a path, an absolute URL nor the '*' of OPTIONS were looked up as routes (404).
        QTest::newRow("GET *") << QByteArray("GET * HTTP/1.1\r\nHost: x\r\n\r\n") << 400
                               << "the request target '*' asks about the server itself and is sent only with OPTIONS, not GET";
        QTest::newRow("relative target") << QByteArray("GET v1/models HTTP/1.1\r\nHost: x\r\n\r\n") << 400
                                         << "the request target 'v1/models' is not a path: expected one beginning with '/'";
        QTest::newRow("other scheme") << QByteArray("GET ftp://x/v1/models HTTP/1.1\r\nHost: x\r\n\r\n") << 400
                                      << "or an absolute URL (http://host/v1/models)";
    }
    // The header field at fault is named in param (a refusal of the request line names none).
    void refusalParams_data()
    {
        QTest::addColumn<QByteArray>("head");
        QTest::addColumn<QString>("param");
        QTest::newRow("no Host") << QByteArray("GET / HTTP/1.1\r\n\r\n") << "Host";
        QTest::newRow("two Hosts") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") << "Host";
        QTest::newRow("percent-encoded Content-Length") << QByteArray("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %35\r\n\r\n")
                                                        << "Content-Length";
        QTest::newRow("control character") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n") << "X-A";
        QTest::newRow("long field") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + QByteArray(9000, 'a') + "\r\n\r\n") << "X-Big";
        QTest::newRow("request line") << QByteArray("GET  / HTTP/1.1\r\nHost: x\r\n\r\n") << "";
        QTest::newRow("no colon") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n") << "";
    }
    void refusalParams()
    {
        QFETCH(QByteArray, head);
        QFETCH(QString, param);
        const auto refusal = RequestHeadCheck::refusal(head.toStdString());
        QVERIFY2(refusal, "the head was accepted");
        QCOMPARE(QString::fromStdString(refusal->param), param);
    }

    // httplib percent-decodes header values: each '%' is escaped so that it reads them as sent; an
    // absolute-form target becomes its path.
    void rewrite_data()
    {
        QTest::addColumn<QByteArray>("head");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("a value with '%'") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk%2Dk%u0041\r\n\r\n")
                                          << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk%252Dk%25u0041\r\n\r\n");
        QTest::newRow("a name with '%' and the body after the head")
            << QByteArray("POST /a%20b HTTP/1.1\r\nHost: x\r\nX-%: 5%\r\nContent-Length: 3\r\n\r\n%41%")
            << QByteArray("POST /a%20b HTTP/1.1\r\nHost: x\r\nX-%: 5%25\r\nContent-Length: 3\r\n\r\n%41%");
        QTest::newRow("absolute-form") << QByteArray("GET http://127.0.0.1:8000/v1/models?a=%2F HTTP/1.1\r\nHost: x\r\n\r\n")
                                       << QByteArray("GET /v1/models?a=%2F HTTP/1.1\r\nHost: x\r\n\r\n");
        QTest::newRow("absolute-form without a path") << QByteArray("OPTIONS HTTPS://host HTTP/1.1\r\nHost: x\r\n\r\n")
                                                      << QByteArray("OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n");
        QTest::newRow("absolute-form with a query only") << QByteArray("GET http://host?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                                                         << QByteArray("GET /?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        QTest::newRow("asterisk") << QByteArray("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n") << QByteArray("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    void rewrite()
    {
        QFETCH(QByteArray, head);
        QFETCH(QByteArray, expected);
        QVERIFY2(!RequestHeadCheck::refusal(head.left(head.indexOf("\r\n\r\n") + 4).toStdString()), "the head was refused");
        QCOMPARE(QByteArray::fromStdString(RequestHeadRewrite::forHttplib(head.toStdString())), expected);
    }
    void refusals()
    {
        QFETCH(QByteArray, head);
        QFETCH(int, status);
        QFETCH(QString, message);
        const auto refusal = RequestHeadCheck::refusal(head.toStdString());
        QVERIFY2(refusal, "the head was accepted");
        QCOMPARE(refusal->status, status);
        QVERIFY2(QString::fromStdString(refusal->message).contains(message), refusal->message.c_str());
    }

    void accepted_data()
    {
        QTest::addColumn<QByteArray>("head");
        QTest::newRow("plain") << QByteArray("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: */*\r\n\r\n");
        QTest::newRow("HTTP/1.0 without Host") << QByteArray("GET /health HTTP/1.0\r\n\r\n");
        QTest::newRow("host in any case, empty value, tab and spaces")
            << QByteArray("POST /v1/completions HTTP/1.1\r\nhOsT:x\r\nX-Empty:\r\nX-Tab:\ta\tb \r\n\r\n");
        QTest::newRow("query and obs-text") << QByteArray("GET /v1/models?x=1&y=%3F HTTP/1.1\r\nHost: x\r\nX-Name: caf\xc3\xa9\r\n\r\n");
        QTest::newRow("OPTIONS *") << QByteArray("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
        QTest::newRow("absolute-form") << QByteArray("GET http://127.0.0.1:8000/v1/models HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n");
        QTest::newRow("field line of 8192 bytes") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + QByteArray(8192 - 9, 'a') + "\r\n\r\n");
    }
    void accepted()
    {
        QFETCH(QByteArray, head);
        const auto refusal = RequestHeadCheck::refusal(head.toStdString());
        QVERIFY2(!refusal, refusal ? refusal->message.c_str() : "");
        QVERIFY(RequestHeadCheck::unsupportedMethod(head.toStdString()).empty());
    }
};

QTEST_GUILESS_MAIN(RequestHeadCheckTest)
#include "RequestHeadCheckTest.moc"
