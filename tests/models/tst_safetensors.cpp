// The safetensors core (no LibTorch): every validation rule of the reference reader, the writer's
// byte layout against the fixture files, sharded folders; a mapped file truncated by another program
// while it is read ends the process with a message naming it, not a bare bus error.
#include "models/MappedFile.h"
#include "models/SafeTensorsFile.h"
#include "models/SafeTensorsHeader.h"
#include "models/SafeTensorsWriter.h"
#include "models/WeightFiles.h"

#include "common/AtomicFile.h"
#include "common/Error.h"

#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <functional>
#include <cstring>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace rslora::models;
namespace fs = std::filesystem;

namespace {

std::string withLength(const std::string& header, const std::string& data, uint64_t declared = UINT64_MAX) {
    uint64_t n = declared == UINT64_MAX ? header.size() : declared;
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i)
        out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return out + header + data;
}

void parse(const std::string& bytes) {
    SafeTensorsHeader::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), bytes.size(), "test.safetensors");
}

fs::path fixtures() {
    const char* shared = std::getenv("RSLORA_SHARED_DIR");
    return shared ? fs::path(shared) / "fixtures" : fs::path();
}

} // namespace

namespace {

// Runs `body` in a child process with stderr captured: (wait status, what it wrote to stderr).
std::pair<int, std::string> inChild(const std::function<void()>& body) {
    int fds[2];
    if (::pipe(fds) != 0)
        return {-1, "pipe failed"};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(fds[1], STDERR_FILENO);
        ::close(fds[0]);
        body();
        ::_exit(3);
    }
    ::close(fds[1]);
    std::string err;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
        err.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return {status, err};
}

} // namespace

class TestSafeTensors : public QObject {
    Q_OBJECT
private slots:
    void rejects_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");  // a fragment of the message
        auto row = [](const char* name, const std::string& bytes, const char* expected) {
            QTest::newRow(name) << QByteArray(bytes.data(), static_cast<int>(bytes.size())) << QString(expected);
        };
        const std::string f8(8, 'x');
        row("too short", std::string("\x02\x00\x00", 3), "at least 8 bytes");
        row("empty", std::string(), "at least 8 bytes");
        row("header too large", withLength("{}", "", 100'000'001), "exceeds the limit");
        row("header past end", withLength("{}", "", 3), "runs past the end");
        row("huge length", withLength("{}", "", UINT64_MAX - 1), "exceeds the limit");
        row("not json", withLength("{\"a\":", ""), "not valid UTF-8 JSON");
        row("text", withLength("this is not json", ""), "header is not valid UTF-8 JSON: parse error at line 1, column 2");
        // The parser quotes the bytes it stopped at: ones that are no UTF-8 are written as \xNN.
        row("bytes that are no utf8", withLength("\xff\xfe garbage", ""), "invalid literal; last read: '\\xff'");
        row("invalid utf8", withLength("{\"\xff\xfe\":{}}", ""), "not valid UTF-8 JSON");
        row("not an object", withLength("[1,2]", ""), "JSON object");
        row("unknown dtype", withLength(R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", f8), "unknown dtype");
        row("missing dtype", withLength(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", f8), "dtype");
        row("negative shape", withLength(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f8), "non-negative");
        row("float shape", withLength(R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", f8), "non-negative");
        row("bad offsets arity", withLength(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f8), "[begin, end]");
        row("size mismatch", withLength(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f8), "need 12 bytes");
        row("gap", withLength(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8), "gap");
        row("overlap",
            withLength(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8),
            "overlap");
        row("end before begin", withLength(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"u":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", f8), "");
        row("trailing bytes", withLength(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f8), "trailing");
        row("truncated data", withLength(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f8), "truncated");
        row("duplicate name",
            withLength(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8),
            "duplicate key 't'");
        row("shape overflow", withLength(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", f8), "overflow");
        row("sub-byte", withLength(R"({"t":{"dtype":"F4","shape":[3],"data_offsets":[0,8]}})", f8), "whole number of bytes");
        row("metadata not strings", withLength(R"({"__metadata__":{"a":1}})", ""), "must be a string");
        row("metadata not object", withLength(R"({"__metadata__":[]})", ""), "object of strings");
        row("too deep", withLength(R"({"t":{"dtype":"F32","shape":[[[[1]]]],"data_offsets":[0,4]}})", "xxxx"), "nests deeper");
        row("entry not object", withLength(R"({"t":5})", ""), "expected an object");
        // A NUL ended the JSON early and what followed was ignored (the reference reader refuses both).
        row("nul padding", withLength(std::string(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})") + std::string(3, '\0'), f8),
            "a NUL byte at header offset 54");
        row("json after nul",
            withLength(std::string(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})") + std::string(1, '\0') + R"({"t":1})", f8),
            "a NUL byte at header offset 54");
    }
    void rejects() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        try {
            parse(bytes.toStdString());
            QFAIL("expected rslora::Error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString(e.what()).contains("test.safetensors"), e.what());
            QVERIFY2(QString(e.what()).contains(expected), e.what());
            // The parser's reason, never the JSON library's exception id, and text that is UTF-8.
            QVERIFY2(!QString(e.what()).contains("json.exception"), e.what());
            QVERIFY2(QString::fromUtf8(e.what()).toUtf8() == QByteArray(e.what()), e.what());
        }
    }

    void accepts() {
        // Whitespace around the object, unknown fields ignored, scalars and empty tensors, metadata.
        auto h = withLength(
            "  {\"__metadata__\":{\"format\":\"pt\"},\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8],\"x\":1},"
            "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[8,8]},\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[8,10]}}   ",
            std::string(10, '\1'));
        auto hdr = SafeTensorsHeader::parse(reinterpret_cast<const uint8_t*>(h.data()), h.size(), h.size(), "ok");
        QCOMPARE(hdr.tensors().size(), size_t(3));
        QCOMPARE(hdr.metadata().at("format"), std::string("pt"));
        QVERIFY(hdr.find("s")->shape.empty());
        QCOMPARE(hdr.find("s")->numel(), uint64_t(1));
        QCOMPARE(hdr.find("e")->numel(), uint64_t(0));
        QCOMPARE(hdr.find("b")->dtype, Dtype::Bool);
        QVERIFY(hdr.find("missing") == nullptr);
    }

    void writerLayoutMatchesReference() {
        // Re-writing a fixture file from its own tensors reproduces it byte for byte.
        if (fixtures().empty() || !fs::exists(fixtures() / "llama" / "model.safetensors"))
            QSKIP("RSLORA_SHARED_DIR is not set; skipping the byte-exact layout check");
        for (const char* name : {"llama/model.safetensors", "qwen2/model.safetensors", "reference/llama.safetensors"}) {
            SafeTensorsFile in(fixtures() / name);
            std::vector<TensorBytes> tensors;
            for (const TensorInfo& t : in.tensors())
                tensors.push_back({t.name, t.dtype, t.shape, in.data(t), t.byteSize()});
            QTemporaryDir tmp;
            fs::path out = fs::path(tmp.path().toStdString()) / "out.safetensors";
            SafeTensorsWriter::write(out, tensors, in.header().metadata());
            QVERIFY2(rslora::readFile(out) == rslora::readFile(fixtures() / name), name);
        }
    }

    void writerRoundTripAndErrors() {
        QTemporaryDir tmp;
        fs::path out = fs::path(tmp.path().toStdString()) / "t.safetensors";
        std::vector<int64_t> a = {1, 2, 3};
        std::vector<uint8_t> b = {1, 0, 1, 1, 0};
        std::vector<uint16_t> c = {0x3f80, 0x4000};
        SafeTensorsWriter::write(out, {{"b", Dtype::U8, {5}, b.data(), 5}, {"a", Dtype::I64, {3}, a.data(), 24},
                                       {"c", Dtype::BF16, {1, 2}, c.data(), 4}});
        SafeTensorsFile f(out);
        // Larger alignment first, then by name: a (I64), c (BF16), b (U8).
        QCOMPARE(f.tensors()[0].name, std::string("a"));
        QCOMPARE(f.tensors()[1].name, std::string("c"));
        QCOMPARE(f.tensors()[2].name, std::string("b"));
        QCOMPARE(f.header().dataStart() % 8, uint64_t(0));
        QVERIFY(std::memcmp(f.data(f.at("a")), a.data(), 24) == 0);
        QVERIFY(std::memcmp(f.data(f.at("b")), b.data(), 5) == 0);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, SafeTensorsWriter::write(out, {{"a", Dtype::I64, {4}, a.data(), 24}}));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, SafeTensorsWriter::write(out, {{"a", Dtype::I64, {3}, a.data(), 24},
                                                                               {"a", Dtype::I64, {3}, a.data(), 24}}));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, SafeTensorsWriter::write(out, {{"__metadata__", Dtype::I64, {3}, a.data(), 24}}));
        // A failed write leaves the previous file intact and no temporary behind.
        SafeTensorsFile again(out);
        QCOMPARE(again.tensors().size(), size_t(3));
        QCOMPARE(std::distance(fs::directory_iterator(out.parent_path()), fs::directory_iterator()), long(1));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, SafeTensorsFile(out.parent_path() / "missing.safetensors"));
    }

    void sharded() {
        if (fixtures().empty() || !fs::exists(fixtures() / "llama_sharded"))
            QSKIP("RSLORA_SHARED_DIR is not set; skipping the sharded fixture");
        WeightFiles w(fixtures() / "llama_sharded");
        QVERIFY(w.sharded());
        QCOMPARE(w.files().size(), size_t(5));
        QCOMPARE(w.names().size(), size_t(21));
        QCOMPARE(w.totalBytes(), uint64_t(427264));
        WeightFiles single(fixtures() / "llama");
        QVERIFY(!single.sharded());
        for (const auto& name : single.names()) {
            const auto& a = single.info(name);
            const auto& b = w.info(name);
            QVERIFY(a.byteSize() == b.byteSize());
            QVERIFY(std::memcmp(single.fileOf(name).data(a), w.fileOf(name).data(b), a.byteSize()) == 0);
        }
    }

    void shardErrors() {
        QTemporaryDir tmp;
        fs::path dir = tmp.path().toStdString();
        QVERIFY_THROWS_EXCEPTION(rslora::Error, WeightFiles{dir});
        std::vector<float> x = {1, 2};
        SafeTensorsWriter::write(dir / "s1.safetensors", {{"a", Dtype::F32, {2}, x.data(), 8}, {"b", Dtype::F32, {2}, x.data(), 8}});
        auto expectError = [&](const std::string& index, const char* fragment) {
            rslora::writeFileAtomic(dir / "model.safetensors.index.json", index);
            try {
                WeightFiles w(dir);
                QFAIL(("expected an error for " + index).c_str());
            } catch (const rslora::Error& e) {
                QVERIFY2(QString(e.what()).contains(fragment), e.what());
            }
        };
        expectError(R"({"weight_map":{"a":"s1.safetensors"}})", "'b' is not listed");
        expectError(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s1.safetensors"}})", "does not contain");
        expectError(R"({"weight_map":{"a":"s2.safetensors"}})", "missing");
        expectError(R"({"weight_map":{"a":"../s1.safetensors"}})", "inside the folder");
        expectError(R"({"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}})", "duplicate key");
        expectError(R"({"metadata":{}})", "weight_map");
        expectError(R"({"weight_map":)", "valid JSON");
        // Text after a NUL byte was ignored: here the second shard's entry.
        expectError(std::string(R"({"weight_map":{"a":"s1.safetensors"}})") + std::string(1, '\0') + R"(, "b": "s1.safetensors"}})",
                    "expected valid JSON: a NUL byte at offset 37");
        rslora::writeFileAtomic(dir / "model.safetensors.index.json",
                                R"({"metadata":{"total_size":16},"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}})");
        WeightFiles ok(dir);
        QCOMPARE(ok.names().size(), size_t(2));
    }

    // A tensor the index does not list: the shard file holding it that the index leaves out is named,
    // else the shards of its -of-N set it names nowhere; a single file has no such hint.
    void unlistedShardIsNamed() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        std::vector<float> x = {1, 2};
        SafeTensorsWriter::write(dir / "model-00001-of-00003.safetensors", {{"a", Dtype::F32, {2}, x.data(), 8}});
        SafeTensorsWriter::write(dir / "model-00002-of-00003.safetensors", {{"b", Dtype::F32, {2}, x.data(), 8}});
        SafeTensorsWriter::write(dir / "model-00003-of-00003.safetensors", {{"c", Dtype::F32, {2}, x.data(), 8}});
        rslora::writeFileAtomic(dir / "model.safetensors.index.json",
                                R"({"weight_map":{"a":"model-00001-of-00003.safetensors","c":"model-00003-of-00003.safetensors"}})");
        auto fileOfError = [&](const std::string& name) {
            try {
                WeightFiles w(dir);
                (void)w.fileOf(name);
            } catch (const rslora::Error& e) {
                return std::string(e.what());
            }
            return std::string("found");
        };
        QCOMPARE(fileOfError("b"), dir.string() + ": expected a tensor named 'b' in the checkpoint, found none; it is in "
                                   "model-00002-of-00003.safetensors, a file in the folder that model.safetensors.index.json "
                                   "does not list (transformers, too, loads only the files its weight_map names): add that "
                                   "file's tensors to the weight_map");
        // Present but holding another tensor, then absent.
        QVERIFY2(fileOfError("z").find("names no tensor of model-00002-of-00003.safetensors (in the folder, not in the index)")
                     != std::string::npos,
                 fileOfError("z").c_str());
        fs::remove(dir / "model-00002-of-00003.safetensors");
        QVERIFY2(fileOfError("b").find("names no tensor of model-00002-of-00003.safetensors (neither in the folder nor in the index)")
                     != std::string::npos,
                 fileOfError("b").c_str());
        // An unlisted file of any name that holds the tensor is named.
        SafeTensorsWriter::write(dir / "extra.safetensors", {{"e", Dtype::F32, {2}, x.data(), 8}});
        QVERIFY2(fileOfError("e").find("it is in extra.safetensors, a file in the folder that") != std::string::npos,
                 fileOfError("e").c_str());
        // One file: nothing to add.
        QTemporaryDir single;
        SafeTensorsWriter::write(fs::path(single.path().toStdString()) / "model.safetensors", {{"a", Dtype::F32, {2}, x.data(), 8}});
        QCOMPARE(WeightFiles(fs::path(single.path().toStdString())).missingTensorHint("b"), std::string());
    }

    void truncatedWhileMapped() {
        QTemporaryDir tmp;
        const fs::path file = fs::path(tmp.path().toStdString()) / "model.safetensors";
        const std::vector<char> bytes(1 << 20, 7);
        std::ofstream(file, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
        // Truncated by "another program" after the mapping: the next read past the new end.
        auto [status, err] = inChild([&] {
            MappedFile m(file);
            fs::resize_file(file, 4096);
            volatile uint8_t v = m.data()[m.size() / 2];
            (void)v;
        });
        QVERIFY2(WIFEXITED(status) && WEXITSTATUS(status) == 1, err.c_str());
        QVERIFY2(err.find("error: " + file.string() + " was truncated or rewritten in place") != std::string::npos, err.c_str());
        QVERIFY2(err.find("hint: replace model files by writing the new file under another name") != std::string::npos, err.c_str());
    }
};

QTEST_GUILESS_MAIN(TestSafeTensors)
#include "tst_safetensors.moc"
