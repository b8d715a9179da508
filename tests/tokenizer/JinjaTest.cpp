// Chat-template interpreter: expressions, statements, whitespace rules, filters, tests and methods
// against Jinja2's behaviour; errors carry the template line; raise_exception and limits.
#include "JinjaCases.h"

#include "models/chat/ChatTemplate.h"
#include "models/chat/JinjaTemplate.h"
#include "models/data/JsonlReader.h"

#include <nlohmann/json.hpp>

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <clocale>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace rslora::models;

class JinjaTest : public QObject {
    Q_OBJECT

private slots:
    void render_data() {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("context");
        QTest::addColumn<QString>("expected");
        for (const auto& c : jinjacases::renderCases())
            QTest::newRow(c.name) << QString::fromStdString(c.source) << QString::fromStdString(c.context)
                                  << QString::fromStdString(c.expected);
    }
    void render() {
        QFETCH(QString, source);
        QFETCH(QString, context);
        QFETCH(QString, expected);
        const jinja::Template t(source.toStdString());
        const auto out = t.render(nlohmann::ordered_json::parse(context.toStdString()));
        QCOMPARE(QString::fromStdString(out.text), expected);
    }

    void errors_data() {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("message");
        for (const auto& c : jinjacases::errorCases())
            QTest::newRow(c.name) << QString::fromStdString(c.source) << QString::fromStdString(c.message);
    }
    void errors() {
        QFETCH(QString, source);
        QFETCH(QString, message);
        try {
            jinja::Template(source.toStdString()).render(nlohmann::ordered_json::object());
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(message), e.what());
        }
    }

    // Random templates over the subset chat templates use, with what Jinja2 (as transformers sets it up)
    // renders for each (conformance/make_jinja_random.py): the same text, the same raise_exception
    // message, or an error where Jinja2 refuses the template.
    void randomTemplatesMatchJinja2() {
        std::ifstream in(RSLORA_TEST_SOURCE_DIR "/conformance/jinja_random.json");
        QVERIFY(in);
        std::stringstream text;
        text << in.rdbuf();
        const auto fixture = nlohmann::ordered_json::parse(text.str());
        int compared = 0, mismatches = 0;
        for (const auto& c : fixture["cases"]) {
            std::string outcome, expected;
            try {
                outcome = "text: " + jinja::Template(c["template"].get<std::string>()).render(c["context"]).text;
            } catch (const jinja::TemplateException& e) {
                outcome = std::string("raises: ") + e.what();
            } catch (const rslora::Error&) {
                outcome = "error";
            }
            if (c.contains("text"))
                expected = "text: " + c["text"].get<std::string>();
            else if (c.contains("raises"))
                expected = "raises: " + c["raises"].get<std::string>();
            else
                expected = "error";
            ++compared;
            if (outcome != expected && ++mismatches <= 5)
                qWarning("%s\n  Jinja2: %s\n  ours:   %s", c["template"].get<std::string>().c_str(), expected.c_str(), outcome.c_str());
        }
        qInfo("%d random templates compared with Jinja2 %s", compared, fixture["jinja2"].get<std::string>().c_str());
        QVERIFY(compared >= 500);
        QCOMPARE(mismatches, 0);
    }

    // A variable holding an integer above INT64_MAX (valid JSON, a Python int in transformers) prints,
    // compares, computes and goes through tojson exactly, as Jinja2 gives it; a result beyond
    // -2^63 .. 2^64 - 1 is refused naming the operation, never wrapped around or rounded to a float.
    void largeUnsignedVariable() {
        const auto ctx = nlohmann::ordered_json::parse(R"({"n": 18446744073709551615, "m": 9223372036854775808, "f": 1e19,
                                                         "k": {"id": 18446744073709551615}})");
        auto render = [&](const char* source) { return QString::fromStdString(jinja::Template(source).render(ctx).text); };
        QCOMPARE(render("{{ 9223372036854775807 }}"), QString("9223372036854775807"));
        QCOMPARE(render("{{ n }} {{ k|tojson }} {{ [n] }} {{ n|string }}|{{ n ~ 'x' }}"),
                 QString("18446744073709551615 {\"id\": 18446744073709551615} [18446744073709551615] 18446744073709551615|18446744073709551615x"));
        QCOMPARE(render("{{ n is integer }} {{ n is number }} {{ n == n }} {{ n == m }} {{ m > 9223372036854775807 }} {{ n > f }} {{ m < f }}"),
                 QString("True True True False True True True"));
        QCOMPARE(render("{{ n == 18446744073709551615.0 }} {{ m == 9223372036854775808.0 }} {{ n|int }} {{ n|float }} {{ n|abs }} {{ [m, n, 1]|max }}"),
                 QString("False True 18446744073709551615 1.8446744073709552e+19 18446744073709551615 18446744073709551615"));
        QCOMPARE(render("{% if n %}yes{% endif %} {{ [n, 1]|sort|first }} {{ n in [1, n] }} {{ '%s|%d|%r' % (n, n, m) }} {{ '{}'.format(n) }}"),
                 QString("yes 1 True 18446744073709551615|18446744073709551615|9223372036854775808 18446744073709551615"));
        QCOMPARE(render("{{ 1 - m }} {{ n|round }} {{ n is even }} {{ n - m }} {{ m + (m - 1) }} {{ n // 3 }} {{ n % 7 }} {{ '%x' % n }}"),
                 QString("-9223372036854775807 18446744073709551615 False 9223372036854775807 18446744073709551615 6148914691236517205 1 ffffffffffffffff"));
        auto refused = [&](const char* source, const QString& message) {
            try {
                jinja::Template(source).render(ctx);
                QFAIL(source);
            } catch (const rslora::Error& e) {
                QVERIFY2(QString::fromUtf8(e.what()).contains(message), e.what());
            }
        };
        refused("{{ n + 1 }}", "integer result of 18446744073709551615 + 1 is beyond 64 bits");
        refused("{{ -n }}", "integer result of -18446744073709551615 is beyond 64 bits");
        refused("{{ n * 2 }}", "integer result of 18446744073709551615 * 2 is beyond 64 bits");
        refused("{{ m + m }}", "integer result of 9223372036854775808 + 9223372036854775808 is beyond 64 bits");
        refused("{{ range(n) }}", "range: 18446744073709551615 is too large here");
    }

    // Data records reach templates through JsonlReader: an integer up to UINT64_MAX is kept exactly
    // (Python's json reads it so); one beyond 64 bits, which the parser could only round to a float
    // (it rendered as 1e+20 where transformers prints 99999999999999999999), is refused naming the line
    // or array element and the value, and only that record is skipped when malformed ones are.
    void dataRecordIntegersReachTemplatesExactly() {
        QTemporaryDir dir;
        auto write = [&](const QString& name, const QByteArray& text) {
            QFile f(dir.filePath(name));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(text);
        };
        const jinja::Template t("{{ args|tojson }} {{ args.n }}");
        auto readAll = [&](const QString& name, std::vector<std::string>& rendered, std::vector<std::string>& malformed) {
            JsonlReader::read(
                dir.filePath(name).toStdString(), MalformedLinePolicy::Skip,
                [&](const JsonRecord& r) { rendered.push_back(t.render(r.value).text); },
                [&](std::size_t, const std::string& message) { malformed.push_back(message); });
        };
        write("data.jsonl", "{\"args\": {\"n\": 18446744073709551615}}\n"
                            "{\"args\": {\"n\": 99999999999999999999}}\n"
                            "{\"args\": {\"n\": -9223372036854775809}}\n"
                            "{\"args\": {\"n\": 1e20}}\n");
        std::vector<std::string> rendered, malformed;
        readAll("data.jsonl", rendered, malformed);
        QCOMPARE(rendered.size(), std::size_t(2));
        QCOMPARE(QString::fromStdString(rendered[0]), QString("{\"n\": 18446744073709551615} 18446744073709551615"));
        QCOMPARE(QString::fromStdString(rendered[1]), QString("{\"n\": 1e+20} 1e+20")); // a float as written: Python's too
        QCOMPARE(malformed.size(), std::size_t(2));
        QVERIFY2(malformed[0].find("data.jsonl line 2: integer 99999999999999999999 is beyond 64 bits") == 0, malformed[0].c_str());
        QVERIFY2(malformed[1].find("data.jsonl line 3: integer -9223372036854775809 is beyond 64 bits") == 0, malformed[1].c_str());

        write("data.json", "[{\"args\": {\"n\": 1}}, {\"args\": {\"n\": [[1], {\"x\": 123456789012345678901234}]}}, {\"args\": {\"n\": 3}}, "
                           "[18446744073709551616], {\"args\": {\"n\": 5}}]");
        rendered.clear();
        malformed.clear();
        readAll("data.json", rendered, malformed);
        QCOMPARE(rendered.size(), std::size_t(3));
        QCOMPARE(QString::fromStdString(rendered[1]), QString("{\"n\": 3} 3"));
        QCOMPARE(QString::fromStdString(rendered[2]), QString("{\"n\": 5} 5"));
        QCOMPARE(malformed.size(), std::size_t(2));
        QVERIFY2(malformed[0].find("data.json element 2: integer 123456789012345678901234 is beyond 64 bits") == 0, malformed[0].c_str());
        QVERIFY2(malformed[1].find("data.json element 4: integer 18446744073709551616 is beyond 64 bits") == 0, malformed[1].c_str());
        try {
            JsonlReader::read(dir.filePath("data.json").toStdString(), MalformedLinePolicy::Fail, [](const JsonRecord&) {},
                              [](std::size_t, const std::string&) {});
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("write it as a string"), e.what());
        }
    }

    // The GUI runs under the user's locale (Qt sets it from the environment); a decimal comma there
    // must not reach templates: floats print and parse as Python's do. A German locale is used when
    // installed, else built into a temporary folder with localedef.
    void floatsIgnoreTheCLocale() {
        QTemporaryDir dir;
        const std::string previous = std::setlocale(LC_ALL, nullptr);
        const char* german = std::setlocale(LC_ALL, "de_DE.UTF-8");
        if (!german) {
            QProcess localedef;
            localedef.start("localedef", {"-i", "de_DE", "-f", "UTF-8", dir.filePath("de_DE.UTF-8")});
            localedef.waitForFinished(60000);
            qputenv("LOCPATH", dir.path().toLocal8Bit());
            german = std::setlocale(LC_ALL, "de_DE.UTF-8");
        }
        if (!german)
            qWarning("no German locale could be installed or built: checked under the C locale only");
        std::string out;
        try {
            out = jinja::Template("{{ 0.5 }} {{ [1.25] }} {{ '3.5'|float }} {{ 2.5 * 3 }} {{ 1e20 }}")
                      .render(nlohmann::ordered_json::object())
                      .text;
        } catch (...) {
            std::setlocale(LC_ALL, previous.c_str());
            throw;
        }
        std::setlocale(LC_ALL, previous.c_str());
        qunsetenv("LOCPATH");
        QCOMPARE(QString::fromStdString(out), QString("0.5 [1.25] 3.5 7.5 1e+20"));
    }

    void raiseExceptionKeepsTheTemplatesMessage() {
        const jinja::Template t("{% if messages|length == 0 %}{{ raise_exception('No messages!') }}{% endif %}");
        try {
            t.render(nlohmann::ordered_json{{"messages", nlohmann::ordered_json::array()}});
            QFAIL("expected raise_exception");
        } catch (const jinja::TemplateException& e) {
            QCOMPARE(QString::fromUtf8(e.what()), QString("No messages!"));
        }
    }

    void generationSpans() {
        const jinja::Template t("{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}!{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}");
        const auto r = t.render(nlohmann::ordered_json::parse(R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})"));
        QCOMPARE(QString::fromStdString(r.text), QString("<user>hi<assistant>yo!"));
        QCOMPARE(r.generationSpans.size(), std::size_t(1));
        QCOMPARE(QString::fromStdString(r.text.substr(r.generationSpans[0].first, r.generationSpans[0].second - r.generationSpans[0].first)), QString("yo!"));
    }

    void outputLimit() {
        jinja::RenderLimits limits;
        limits.maxOutputBytes = 1000;
        const jinja::Template t("{% for i in range(1000) %}xxxxxxxxxx{% endfor %}");
        QVERIFY_THROWS_EXCEPTION(rslora::Error, t.render(nlohmann::ordered_json::object(), limits));
    }

    // Exponential recursion is cut off by the step budget, not by the call depth alone.
    void stepLimit() {
        jinja::RenderLimits limits;
        limits.maxSteps = 100000;
        const jinja::Template t("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}");
        try {
            t.render(nlohmann::ordered_json::object(), limits);
            QFAIL("expected the step limit");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("steps"), e.what());
        }
    }

    // Dict keys keep their insertion order (tools rendered with tojson must match Python's output).
    void keyOrderIsKept() {
        const jinja::Template t("{{ tool|tojson }}");
        const auto r = t.render(nlohmann::ordered_json::parse(R"({"tool": {"type": "function", "name": "f", "args": {"z": 1, "a": 2}}})"));
        QCOMPARE(QString::fromStdString(r.text), QString(R"({"type": "function", "name": "f", "args": {"z": 1, "a": 2}})"));
    }

    // transformers passes tools and documents to every render, None when there are none (Jinja2 output).
    void toolsAndDocumentsAreNoneUnlessGiven() {
        const ChatTemplate t("{% if tools is defined %}T{% else %}F{% endif %}{% if documents is defined %}D{% endif %}"
                             "{{ tools is none }}{% if tools %}X{% endif %}{{ tools is not none }}{{ tools }}");
        const auto messages = nlohmann::ordered_json::array();
        QCOMPARE(QString::fromStdString(t.render(messages)), QString("TDTrueFalseNone"));
        ChatRenderOptions options;
        options.extra["tools"] = nlohmann::ordered_json::array({{{"name", "f"}}});
        QCOMPARE(QString::fromStdString(t.render(messages, options)), QString("TDFalseXTrue[{'name': 'f'}]"));
    }

    void kindDetection_data() {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("kind");
        QTest::newRow("chatml") << "{{ '<|im_start|>' + m }}" << "chatml";
        QTest::newRow("llama3") << "{{ '<|start_header_id|>' }}" << "llama3";
        QTest::newRow("llama2") << "[INST] <<SYS>>" << "llama2";
        QTest::newRow("mistral") << "{{ '[INST] ' + x + ' [/INST]' }}" << "mistral";
        QTest::newRow("gemma") << "<start_of_turn>user" << "gemma";
        QTest::newRow("custom") << "{{ messages }}" << "custom";
    }
    void kindDetection() {
        QFETCH(QString, source);
        QFETCH(QString, kind);
        QCOMPARE(QString::fromStdString(ChatTemplate(source.toStdString()).kindName()), kind);
    }
};

QTEST_GUILESS_MAIN(JinjaTest)
#include "JinjaTest.moc"
