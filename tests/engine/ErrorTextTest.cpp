// Messages of exceptions as the CLI, the store and the workbench show them: LibTorch's backtrace
// left out, a failed allocation said as "out of memory" with its size and what to change.
#include "common/Error.h"
#include "engine/ErrorText.h"

#include <torch/torch.h>

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>

using namespace rslora::engine;

class ErrorTextTest : public QObject {
    Q_OBJECT

    template <typename F>
    static std::string textOf(F f)
    {
        try {
            f();
        } catch (const std::exception& e) {
            return errorText(e);
        }
        return "no exception";
    }

private slots:
    void libtorchErrorsLoseTheirBacktrace()
    {
        // A shape error from LibTorch itself: what() holds the C++ frames, the text does not.
        std::string raw;
        try {
            torch::mm(torch::zeros({2, 3}), torch::zeros({4, 5}));
        } catch (const std::exception& e) {
            raw = e.what();
            const std::string text = errorText(e);
            QVERIFY2(text.find("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)") != std::string::npos, text.c_str());
            QVERIFY2(text.find("frame #") == std::string::npos && text.find("Exception raised from") == std::string::npos,
                     text.c_str());
            QVERIFY(!isOutOfMemory(e));
        }
        QVERIFY2(raw.find("frame #") != std::string::npos || raw.find("Exception raised from") != std::string::npos, raw.c_str());
    }

    void failedAllocationIsOutOfMemory()
    {
        // 2^50 floats (4 PiB): the CPU allocator refuses.
        const std::string text = textOf([] { torch::empty({int64_t(1) << 50}); });
        QVERIFY2(text.rfind("out of memory: could not allocate 4.0 PiB more (main memory)\nhint: ", 0) == 0, text.c_str());
        QVERIFY2(text.find("\nhint: lower training.batch_size or data.max_seq_len") != std::string::npos, text.c_str());
        QVERIFY2(text.find("frame #") == std::string::npos && text.find("enforce fail") == std::string::npos, text.c_str());
        QCOMPARE(textOf([] { throw std::bad_alloc(); }).substr(0, 13), std::string("out of memory"));
    }

    // A symbolic link loop (a data file, an --out, an adapter or model folder) printed the library's own
    // "filesystem error: status: Too many levels of symbolic links [PATH]": the path comes first.
    void filesystemErrorsNameThePathFirst()
    {
        QTemporaryDir tmp;
        const std::filesystem::path a = std::filesystem::path(tmp.path().toStdString()) / "a", b = a.parent_path() / "b";
        std::filesystem::create_symlink(b, a);
        std::filesystem::create_symlink(a, b);
        try {
            (void)std::filesystem::status(a / "config.json");
            QFAIL("no error");
        } catch (const std::exception& e) {
            QCOMPARE(QString::fromStdString(errorText(e)),
                     QString::fromStdString((a / "config.json").string()) +
                         ": Too many levels of symbolic links (a symbolic link that leads back to itself)");
        }
    }

    void ownErrorsKeepTheirHint()
    {
        QCOMPARE(textOf([] { throw rslora::Error("training.batch_size must be at least 1, got 0", "set it to 8"); }),
                 std::string("training.batch_size must be at least 1, got 0\nhint: set it to 8"));
        // Any other exception: its message as it is.
        QCOMPARE(textOf([] { throw std::runtime_error("disk full\nwhile writing x"); }), std::string("disk full\nwhile writing x"));
    }
};

QTEST_GUILESS_MAIN(ErrorTextTest)
#include "ErrorTextTest.moc"
