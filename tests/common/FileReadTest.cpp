// Files that change while they are read: readWholeFile (configs, datasets, tokenizer files) and the
// streaming JSONL reader refuse a file written or truncated in place during the read, naming it; a
// file replaced by a rename meanwhile, a last line without a newline, CRLF endings and a byte order
// mark are no change.
#include "common/Error.h"
#include "common/ReadWholeFile.h"
#include "models/data/JsonlReader.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

using namespace rslora;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& bytes)
{
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

void append(const fs::path& p, const std::string& bytes)
{
    std::ofstream(p, std::ios::binary | std::ios::app) << bytes;
}

// The message of what `f` throws ("" when it does not).
template <class F>
std::string errorOf(F f)
{
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

size_t countRecords(const fs::path& p, const std::function<void()>& onFirst = {})
{
    size_t seen = 0;
    return models::JsonlReader::read(
        p, models::MalformedLinePolicy::Fail,
        [&](const models::JsonRecord&) {
            if (seen++ == 0 && onFirst)
                onFirst();
        },
        [](size_t, const std::string&) {});
}

} // namespace

class FileReadTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path path(const char* name) const { return fs::path(m_dir.path().toStdString()) / name; }

private slots:
    void wholeFileAsWritten()
    {
        const std::string text = std::string("{\"a\": 1}\n") + std::string(200000, 'x');
        write(path("config.json"), text);
        QCOMPARE(readWholeFile(path("config.json")), text);
        write(path("empty.json"), "");
        QCOMPARE(readWholeFile(path("empty.json")), std::string());
    }

    void writtenDuringTheReadIsRefused()
    {
        write(path("growing.jsonl"), "{\"a\": 1}\n");
        std::string e = errorOf([&] { readWholeFile(path("growing.jsonl"), [&] { append(path("growing.jsonl"), "{\"a\": 2}\n"); }); });
        QVERIFY2(e.find(path("growing.jsonl").string() + " changed while it was being read (9 bytes when opened, 9 read, 18 now)")
                     != std::string::npos,
                 e.c_str());
        write(path("shrinking.jsonl"), "{\"a\": 1}\n{\"a\": 2}\n");
        e = errorOf([&] { readWholeFile(path("shrinking.jsonl"), [&] { fs::resize_file(path("shrinking.jsonl"), 4); }); });
        QVERIFY2(e.find("changed while it was being read (18 bytes when opened, 18 read, 4 now)") != std::string::npos, e.c_str());
        // Rewritten in place to the same length: the modification time tells.
        write(path("same.json"), "{\"a\": 1}");
        e = errorOf([&] {
            readWholeFile(path("same.json"), [&] {
                const auto t = fs::last_write_time(path("same.json"));
                write(path("same.json"), "{\"a\": 2}");
                fs::last_write_time(path("same.json"), t + std::chrono::seconds(1));
            });
        });
        QVERIFY2(e.find("changed while it was being read") != std::string::npos, e.c_str());
    }

    void replacedByARenameIsNoChange()
    {
        write(path("swap.json"), "old");
        const std::string read = readWholeFile(path("swap.json"), [&] {
            write(path("swap.json.tmp"), "a new, longer text");
            fs::rename(path("swap.json.tmp"), path("swap.json"));
        });
        QCOMPARE(read, std::string("old")); // the file as it was opened, whole
    }

    void foldersAndMissingFiles()
    {
        std::string e = errorOf([&] { readWholeFile(m_dir.path().toStdString()); });
        QVERIFY2(e.find("it is a folder, not a file") != std::string::npos, e.c_str());
        e = errorOf([&] { readWholeFile(path("missing.json")); });
        QVERIFY2(e.find("cannot open " + path("missing.json").string() + ": No such file") != std::string::npos, e.c_str());
    }

    void jsonlWrittenWhileStreamed()
    {
        write(path("data.jsonl"), "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n");
        QCOMPARE(countRecords(path("data.jsonl")), size_t(3));
        const std::string e = errorOf([&] { countRecords(path("data.jsonl"), [&] { append(path("data.jsonl"), "{\"a\": 4}\n"); }); });
        QVERIFY2(e.find(path("data.jsonl").string() + " changed while it was being read") != std::string::npos, e.c_str());
        // A JSON array is read whole before its first record is handed out: a change after that is none.
        write(path("array.json"), "  [{\"a\": 1}, {\"a\": 2}]");
        QCOMPARE(countRecords(path("array.json"), [&] { fs::resize_file(path("array.json"), 3); }), size_t(2));
    }

    void jsonlLineEndingsAreNoChange()
    {
        write(path("noeol.jsonl"), "{\"a\": 1}\n{\"a\": 2}");
        QCOMPARE(countRecords(path("noeol.jsonl")), size_t(2));
        write(path("crlf.jsonl"), "\xEF\xBB\xBF{\"a\": 1}\r\n\r\n{\"a\": 2}\r\n");
        QCOMPARE(countRecords(path("crlf.jsonl")), size_t(2));
        write(path("blank.jsonl"), "  \n\n");
        QCOMPARE(countRecords(path("blank.jsonl")), size_t(0));
        write(path("array.json"), "\n [{\"a\": 1}]\n");
        QCOMPARE(countRecords(path("array.json")), size_t(1));
    }
};

QTEST_GUILESS_MAIN(FileReadTest)
#include "FileReadTest.moc"
