// Folders written atomically (AtomicDirectory) where the target is named loosely or contested: a
// trailing separator, a second writer of the same output (NoReplace keeps the first's result), an
// empty folder made up front, a symlink to a folder elsewhere (the data lands where it points, the
// link stays a link). And InterruptGuard: a signal only sets its flag, the previous handler returns.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/InterruptGuard.h"
#include "common/Paths.h"

#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <signal.h>

using namespace rslora;
namespace fs = std::filesystem;

namespace {

// Every name in `dir`, hidden ones included, sorted.
QStringList entries(const fs::path& dir)
{
    QStringList names;
    for (const auto& e : fs::directory_iterator(dir))
        names << QString::fromStdString(e.path().filename().string());
    names.sort();
    return names;
}

std::atomic<int> g_testHandlerCalls{0};
extern "C" void testHandler(int) { g_testHandlerCalls.fetch_add(1); }

} // namespace

class AtomicWriteTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path root(const std::string& name) const
    {
        const fs::path p = fs::path(m_dir.path().toStdString()) / name;
        fs::create_directories(p);
        return p;
    }

private slots:
    void trailingSeparatorNamesTheFolder()
    {
        const fs::path parent = root("slash");
        AtomicDirectory d((parent / "merged").string() + "/");
        QCOMPARE(d.targetPath().filename().string(), std::string("merged"));
        QCOMPARE(d.stagingPath().parent_path(), resolvedPath(parent));
        writeFileAtomic(d.stagingPath() / "config.json", "{}");
        d.commit();
        QCOMPARE(readFile(parent / "merged" / "config.json"), std::string("{}"));
        QCOMPARE(entries(parent), QStringList{"merged"});
        QCOMPARE(entries(parent / "merged"), QStringList{"config.json"});
    }

    void noReplaceKeepsTheFirstWritersResult()
    {
        const fs::path parent = root("race");
        const fs::path out = parent / "out";
        AtomicDirectory first(out, AtomicDirectory::OnExisting::NoReplace);
        AtomicDirectory second(out, AtomicDirectory::OnExisting::NoReplace);
        writeFileAtomic(first.stagingPath() / "model.safetensors", "first");
        writeFileAtomic(second.stagingPath() / "model.safetensors", "second");
        first.commit();
        std::string message;
        try {
            second.commit();
        } catch (const Error& e) {
            message = e.what();
        }
        QVERIFY2(message.find("appeared while writing; the result was not moved into place") != std::string::npos, message.c_str());
        QCOMPARE(readFile(out / "model.safetensors"), std::string("first"));
        // The second writer's staging folder is gone at once, not only when it is destroyed.
        QCOMPARE(entries(parent), QStringList{"out"});
        QCOMPARE(entries(out), QStringList{"model.safetensors"});
    }

    void noReplaceTakesOverAnEmptyFolder()
    {
        const fs::path parent = root("empty");
        fs::create_directories(parent / "out");
        AtomicDirectory d(parent / "out", AtomicDirectory::OnExisting::NoReplace);
        writeFileAtomic(d.stagingPath() / "a.txt", "a");
        d.commit();
        QCOMPARE(readFile(parent / "out" / "a.txt"), std::string("a"));
        QCOMPARE(entries(parent), QStringList{"out"});
    }

    void replaceStillReplaces()
    {
        const fs::path parent = root("replace");
        writeFileAtomic(parent / "ckpt" / "old.txt", "old");
        AtomicDirectory d(parent / "ckpt");
        writeFileAtomic(d.stagingPath() / "new.txt", "new");
        d.commit();
        QCOMPARE(entries(parent / "ckpt"), QStringList{"new.txt"});
        QCOMPARE(entries(parent), QStringList{"ckpt"});
    }

    void symlinkedTargetGetsTheData_data()
    {
        QTest::addColumn<bool>("noReplace");
        QTest::newRow("no replace") << true;
        QTest::newRow("replace") << false;
    }

    void symlinkedTargetGetsTheData()
    {
        QFETCH(bool, noReplace);
        const std::string tag = noReplace ? "noreplace" : "replace";
        // "Another disk": the folder the link points to, empty, in a folder of its own.
        const fs::path disk = root("disk-" + tag);
        fs::create_directories(disk / "real");
        const fs::path links = root("links-" + tag);
        fs::create_directory_symlink(disk / "real", links / "out");
        AtomicDirectory d(links / "out", noReplace ? AtomicDirectory::OnExisting::NoReplace : AtomicDirectory::OnExisting::Replace);
        // Staged beside the real folder, on its filesystem, not beside the link.
        QCOMPARE(d.stagingPath().parent_path(), resolvedPath(disk));
        writeFileAtomic(d.stagingPath() / "model.safetensors", "weights");
        d.commit();
        QVERIFY(fs::is_symlink(links / "out"));
        QCOMPARE(fs::read_symlink(links / "out"), disk / "real");
        QCOMPARE(readFile(disk / "real" / "model.safetensors"), std::string("weights"));
        QCOMPARE(readFile(links / "out" / "model.safetensors"), std::string("weights"));
        QCOMPARE(entries(links), QStringList{"out"});
        QCOMPARE(entries(disk), QStringList{"real"});
    }

    void pathInsideAFolder()
    {
        const fs::path parent = root("inside");
        fs::create_directories(parent / "adapter");
        QVERIFY(pathLiesInside(parent / "adapter" / "merged", parent / "adapter"));
        QVERIFY(pathLiesInside(parent / "adapter/", parent / "adapter"));
        QVERIFY(pathLiesInside(parent / "x" / ".." / "adapter" / "m", parent / "adapter"));
        QVERIFY(!pathLiesInside(parent / "adapter2", parent / "adapter"));
        QVERIFY(!pathLiesInside(parent, parent / "adapter"));
        // Through a link: where the write lands decides.
        fs::create_directory_symlink(parent / "adapter", parent / "alias");
        QVERIFY(pathLiesInside(parent / "alias" / "merged", parent / "adapter"));
    }

    void interruptOnlySetsTheFlag()
    {
        struct sigaction test {};
        test.sa_handler = testHandler;
        sigemptyset(&test.sa_mask);
        struct sigaction before {};
        QCOMPARE(::sigaction(SIGINT, &test, &before), 0);
        g_testHandlerCalls.store(0);
        {
            InterruptGuard guard;
            QVERIFY(!guard.interrupted());
            QCOMPARE(guard.exitCode(), 0);
            std::raise(SIGINT); // the process goes on: only the flag is set
            QVERIFY(guard.interrupted());
            QCOMPARE(guard.caught(), SIGINT);
            QCOMPARE(guard.exitCode(), 130);
            QCOMPARE(g_testHandlerCalls.load(), 0);
        }
        // The handler found before the guard is back.
        std::raise(SIGINT);
        QCOMPARE(g_testHandlerCalls.load(), 1);
        {
            InterruptGuard guard;
            QVERIFY(!guard.interrupted()); // a new guard starts clear
            std::raise(SIGTERM);
            QCOMPARE(guard.exitCode(), 128 + SIGTERM);
        }
        ::sigaction(SIGINT, &before, nullptr);
    }
};

QTEST_GUILESS_MAIN(AtomicWriteTest)
#include "AtomicWriteTest.moc"
