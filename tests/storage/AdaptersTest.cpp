// Adapter versions: numbering, default names, folders from sanitized ids, release / rollback /
// archive / soft delete, search, lineage graph, evaluations.
#include "common/Sha256.h"
#include "storage/Naming.h"
#include "storage/Store.h"
#include "storage/TaskDuplicate.h"
#include "storage/Transaction.h"
#include "storage/VersionFiles.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <fstream>
#include <map>

using namespace rslora::storage;
namespace fs = std::filesystem;

class AdaptersTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    std::unique_ptr<Store> m_store;

    AdapterRecord make(const std::string& task, const std::string& variant = {}, int64_t rank = 8,
                       const std::string& method = "lora") {
        NewAdapter n;
        n.task = task;
        n.variant = variant;
        n.rank = rank;
        n.method = method;
        return m_store->adapters().create(n);
    }

    // A folder with one file, as training leaves an adapter.
    fs::path adapterSource(const std::string& name) {
        const fs::path dir = fs::path(m_tmp.path().toStdString()) / name;
        fs::create_directories(dir);
        std::ofstream(dir / "adapter_model.safetensors") << name;
        return dir;
    }
    size_t filesUnder(const fs::path& dir) {
        size_t n = 0;
        if (fs::exists(dir))
            for (const auto& e : fs::recursive_directory_iterator(dir))
                n += e.is_regular_file();
        return n;
    }

private slots:
    void init() {
        static int n = 0;
        m_store = std::make_unique<Store>(fs::path(m_tmp.path().toStdString()) / ("adapters" + std::to_string(++n) + ".sqlite"));
    }
    void cleanup() { m_store.reset(); }

    void versionsIncreasePerTaskWithDefaultNames() {
        NewAdapter n;
        n.task = "medical_diagnosis";
        n.variant = "r8";
        n.createdAt = 1742040000; // 2025-03-15 12:00 UTC
        AdapterRecord a = m_store->adapters().create(n);
        QCOMPARE(a.version, int64_t(1));
        QCOMPARE(a.name, std::string("medical_diagnosis_r8_v1_20250315"));
        QCOMPARE(a.status, AdapterStatus::Draft);
        QVERIFY(!a.current);
        QCOMPARE(make("medical_diagnosis").version, int64_t(2));
        QCOMPARE(make("other").version, int64_t(1));
        AdapterRecord third = make("medical_diagnosis", "r16");
        QCOMPARE(third.version, int64_t(3));
        QVERIFY(third.name.find("medical_diagnosis_r16_v3_") == 0);
        // Deleted versions keep their number: never reused.
        m_store->adapters().softDelete(third.id);
        QCOMPARE(make("medical_diagnosis").version, int64_t(4));
        auto tasks = m_store->adapters().tasks();
        QCOMPARE(tasks.size(), size_t(2));
        QCOMPARE(tasks[0].task, std::string("medical_diagnosis"));
        QCOMPARE(tasks[0].versions, int64_t(3));
        QCOMPARE(tasks[0].latestVersion, int64_t(4));
    }

    void namesAreEditableAndUnique() {
        AdapterRecord a = make("t");
        AdapterRecord b = make("t");
        m_store->adapters().rename(a.id, "my \"best\" / adapter v1 \xc3\xa9");
        QCOMPARE(m_store->adapters().require(a.id).name, std::string("my \"best\" / adapter v1 \xc3\xa9"));
        QCOMPARE(m_store->adapters().resolve("my \"best\" / adapter v1 \xc3\xa9").id, a.id);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->adapters().rename(b.id, "my \"best\" / adapter v1 \xc3\xa9"));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->adapters().rename(b.id, ""));
        // A name stays on one line of every listing: line breaks, tabs, other C0/C1 controls and DEL
        // are refused, as are bytes that are not UTF-8; the message shows the name escaped.
        const std::pair<std::string, std::string> refused[] = {
            {"two\nlines", "\"two\\nlines\" holds a line break"},
            {"cr\rname", "\"cr\\rname\" holds a line break"},
            {"tab\tname", "\"tab\\tname\" holds a control character"},
            {std::string("nul\0x", 5), "\"nul\\x00x\" holds a control character"},
            {"del\x7f", "\"del\\x7f\" holds a control character"},
            {"next\xc2\x85line", "\"next\\u0085line\" holds a control character"},
            {"latin1 \xe9t\xe9", "\"latin1 \\xe9t\\xe9\" is not valid UTF-8"},
            {"overlong \xc0\xaf", "is not valid UTF-8"},
            {"surrogate \xed\xa0\x80", "is not valid UTF-8"},
            {"cut \xe2\x82", "is not valid UTF-8"},
            {"   ", "cannot be blank"},
            {" padded", "\" padded\" starts or ends with a space"},
            {"padded ", "\"padded \" starts or ends with a space"},
        };
        for (const auto& [name, expected] : refused) {
            try {
                m_store->adapters().rename(b.id, name);
                QFAIL(("accepted the adapter name " + expected).c_str());
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.what()).find(expected) != std::string::npos, e.what());
            }
            QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->adapters().renameTask("t", name));
        }
        // Digits read as an id (resolve() tries ids first): refused for versions, fine for tasks.
        for (const std::string number : {"12", "#12"}) {
            try {
                m_store->adapters().rename(b.id, number);
                QFAIL(("accepted the adapter name " + number).c_str());
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.what()).find("is a number, which commands read as an adapter id") != std::string::npos, e.what());
            }
        }
        QCOMPARE(m_store->adapters().require(b.id).name, b.name);
        m_store->adapters().rename(b.id, "v12");
        QCOMPARE(m_store->adapters().resolve("v12").id, b.id);
        b = m_store->adapters().require(b.id);
        QCOMPARE(m_store->adapters().require(a.id).task, std::string("t"));
        NewAdapter dup;
        dup.task = "t";
        dup.name = b.name;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->adapters().create(dup));
        // A soft-deleted adapter frees its name.
        m_store->adapters().softDelete(b.id);
        dup.name = b.name;
        AdapterRecord c = m_store->adapters().create(dup);
        QCOMPARE(c.name, b.name);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->adapters().restore(b.id));
    }

    void defaultNamesSkipNamesThatVersionsKept() {
        // A task renamed keeps its versions' names: the next version of the old task would get the same
        // default name, so the next free suffix is taken instead of failing after the work is done.
        NewAdapter n;
        n.task = "A";
        n.variant = "rslora";
        n.createdAt = 1742040000; // 2025-03-15
        const AdapterRecord first = m_store->adapters().create(n);
        QCOMPARE(first.name, std::string("A_rslora_v1_20250315"));
        m_store->adapters().renameTask("A", "B");
        const AdapterRecord second = m_store->adapters().create(n);
        QCOMPARE(second.task, std::string("A"));
        QCOMPARE(second.version, int64_t(1));
        QCOMPARE(second.name, std::string("A_rslora_v1_20250315_2"));
        m_store->adapters().renameTask("A", "C");
        const AdapterRecord third = m_store->adapters().create(n);
        QCOMPARE(third.name, std::string("A_rslora_v1_20250315_3"));
        // A version renamed to a later default name: that one is skipped too.
        const AdapterRecord other = make("D");
        m_store->adapters().rename(other.id, "A_rslora_v2_20250315");
        QCOMPARE(m_store->adapters().create(n).name, std::string("A_rslora_v2_20250315_2"));
        // A soft-deleted version frees its name for the default again.
        m_store->adapters().softDelete(third.id);
        m_store->adapters().renameTask("A", "E");
        QCOMPARE(m_store->adapters().create(n).name, std::string("A_rslora_v1_20250315_3"));
        // A name given explicitly is never changed: taken, it is refused naming the version holding it,
        // and nothing is recorded.
        const size_t before = m_store->adapters().list({}).size();
        NewAdapter given = n;
        given.name = "A_rslora_v1_20250315";
        try {
            m_store->adapters().create(given);
            QFAIL("a taken name was accepted");
        } catch (const rslora::Error& e) {
            const std::string expected = "cannot create adapter \"A_rslora_v1_20250315\": adapter " +
                                         std::to_string(first.id) + " (B v1) has that name";
            QVERIFY2(std::string(e.what()).find(expected) != std::string::npos, e.what());
        }
        QCOMPARE(m_store->adapters().list({}).size(), before);
    }

    void foldersComeFromSanitizedIds_data() {
        QTest::addColumn<QString>("task");
        QTest::newRow("plain") << "medical";
        QTest::newRow("slashes") << "../../etc/passwd";
        QTest::newRow("unicode") << "医疗 诊断";
        QTest::newRow("dots") << "..";
        QTest::newRow("newline") << "a\nb";
        QTest::newRow("long") << QString(300, 'x');
    }
    void foldersComeFromSanitizedIds() {
        QFETCH(QString, task);
        AdapterRecord a = make(task.toStdString());
        fs::path p(a.path);
        QCOMPARE(p.parent_path().parent_path(), m_store->adapterRoot());
        QCOMPARE(p.filename().string(), "v1-" + a.uuid.substr(0, 8));
        std::string id = p.parent_path().filename().string();
        QVERIFY(!id.empty() && id[0] != '.' && id.size() <= 57);
        QCOMPARE(id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"),
                 std::string::npos);
        QCOMPARE(a.task, task.toStdString()); // the task itself is kept as typed
    }

    void sanitizedIdsDoNotCollide() {
        QCOMPARE(sanitizeId("a_b"), std::string("a_b"));
        QVERIFY(sanitizeId("a/b") != sanitizeId("a_b"));
        QVERIFY(sanitizeId("a/b") != sanitizeId("a\\b"));
        QVERIFY(sanitizeId("") != "");
    }

    void releaseRollbackArchive() {
        AdapterRecord v1 = make("task");
        AdapterRecord v2 = make("task");
        AdapterRecord v3 = make("task");
        auto& repo = m_store->adapters();
        QVERIFY(!repo.current("task"));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, repo.rollback("task"));
        // A task that does not exist is named as such, not as one without a current version.
        try {
            repo.rollback("tsak");
            QFAIL("rollback of an unknown task");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString(e.what()).contains("no task named \"tsak\""), e.what());
        }
        repo.release(v1.id);
        repo.release(v2.id);
        repo.release(v3.id);
        QCOMPARE(repo.current("task")->id, v3.id);
        QCOMPARE(repo.require(v1.id).status, AdapterStatus::Released);
        QVERIFY(!repo.require(v1.id).current);
        // Rollback without a target: the previous released version.
        QCOMPARE(repo.rollback("task").id, v2.id);
        QCOMPARE(repo.current("task")->id, v2.id);
        QCOMPARE(repo.rollback("task").id, v1.id);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, repo.rollback("task")); // nothing older
        // Rollback to a chosen version (forward too).
        QCOMPARE(repo.rollback("task", v3.id).id, v3.id);
        QCOMPARE(repo.resolve("task@current").id, v3.id);
        QCOMPARE(repo.resolve("task:v2").id, v2.id);
        QCOMPARE(repo.resolve("task:1").id, v1.id);
        // Archiving the current version falls back to the newest remaining released one.
        repo.archive(v3.id);
        QCOMPARE(repo.require(v3.id).status, AdapterStatus::Archived);
        QCOMPARE(repo.current("task")->id, v2.id);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, repo.rollback("task", v3.id));
        repo.unarchive(v3.id);
        QCOMPARE(repo.require(v3.id).status, AdapterStatus::Released);
        QCOMPARE(repo.current("task")->id, v2.id);
        // Soft delete the current one: hidden, fallback, restorable.
        repo.softDelete(v2.id);
        QCOMPARE(repo.current("task")->id, v3.id);
        AdapterFilter f;
        f.task = "task";
        QCOMPARE(repo.list(f).size(), size_t(2));
        f.includeDeleted = true;
        QCOMPARE(repo.list(f).size(), size_t(3));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, repo.release(v2.id));
        repo.restore(v2.id);
        QVERIFY(!repo.require(v2.id).deletedAt);
        // Another task is independent.
        AdapterRecord other = make("other");
        QVERIFY_THROWS_EXCEPTION(rslora::Error, repo.rollback("task", other.id));
        // The database never holds two current versions of a task.
        Statement st(m_store->database(), "SELECT count(*) FROM adapters WHERE is_current = 1 GROUP BY task");
        while (st.step())
            QCOMPARE(st.getInt(0), int64_t(1));
    }

    // A version whose files changed after it was recorded is never released or made current again.
    // A task's name where a version is asked for, or a version its task lacks: the message names the
    // task's versions (it said only that no adapter matches, listing the reference forms).
    void aTaskNameGetsItsVersionsNamed() {
        auto& repo = m_store->adapters();
        const AdapterRecord v1 = make("medical");
        const AdapterRecord v2 = make("medical");
        auto message = [&](const std::string& reference) {
            try {
                repo.resolve(reference);
            } catch (const rslora::Error& e) {
                return QString(e.what());
            }
            return QString("resolved");
        };
        QCOMPARE(message("medical"), QString("\"medical\" is a task, not an adapter version: name one of its versions "
                                             "(medical@v1, medical@v2; medical@current once one is released)"));
        repo.release(v1.id);
        QCOMPARE(message("medical"), QString("\"medical\" is a task, not an adapter version: name one of its versions "
                                             "(medical@v1, medical@v2, or medical@current)"));
        QCOMPARE(message("medical@v7"), QString("task \"medical\" has no version v7 (its versions: medical@v1, medical@v2)"));
        QCOMPARE(message("medical:3"), QString("task \"medical\" has no version 3 (its versions: medical@v1, medical@v2)"));
        // Deleted versions are not offered; a task of deleted versions only is unknown.
        repo.softDelete(v2.id);
        QCOMPARE(message("medical@v9"), QString("task \"medical\" has no version v9 (its versions: medical@v1)"));
        repo.softDelete(v1.id);
        QVERIFY(message("medical").startsWith("no adapter matches \"medical\""));
        // Unknown names and suffixes that are no version read as before.
        QVERIFY(message("legal").startsWith("no adapter matches \"legal\""));
        QVERIFY(message("legal@v1").startsWith("no adapter matches \"legal@v1\""));
        QCOMPARE(repo.resolve(v2.name).id, v2.id); // a deleted version's own name still finds it
    }

    void releaseAndRollbackVerifyTheFiles() {
        auto& repo = m_store->adapters();
        auto withFiles = [&](const std::string& content) {
            AdapterRecord a = make("facts_train");
            fs::create_directories(a.path);
            std::ofstream(fs::path(a.path) / "adapter_model.safetensors", std::ios::binary) << content;
            repo.setFiles(a.id, a.path, rslora::Sha256::directoryHex(a.path));
            return repo.require(a.id);
        };
        AdapterRecord v1 = withFiles("weights one");
        AdapterRecord v2 = withFiles("weights two");
        repo.release(v1.id);
        std::ofstream(fs::path(v2.path) / "adapter_model.safetensors", std::ios::binary) << "overwritten";
        const std::string now = rslora::Sha256::directoryHex(v2.path);
        std::string message;
        try {
            repo.release(v2.id);
        } catch (const rslora::Error& e) {
            message = e.what();
        }
        QVERIFY2(message.find("adapter facts_train:v2: files under " + v2.path + " changed since it was recorded (sha256 " +
                              now + ", expected " + v2.sha256 + ")") != std::string::npos,
                 message.c_str());
        QCOMPARE(repo.current("facts_train")->id, v1.id); // nothing changed
        QCOMPARE(repo.require(v2.id).status, AdapterStatus::Draft);
        // Put back, released, then v1 changes: rolling back to it is refused too.
        std::ofstream(fs::path(v2.path) / "adapter_model.safetensors", std::ios::binary) << "weights two";
        repo.release(v2.id);
        std::ofstream(fs::path(v1.path) / "adapter_model.safetensors", std::ios::binary) << "tampered";
        QVERIFY_THROWS_EXCEPTION(rslora::Error, repo.rollback("facts_train"));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, repo.rollback("facts_train", v1.id));
        QCOMPARE(repo.current("facts_train")->id, v2.id);
        fs::remove_all(v1.path);
        try {
            repo.rollback("facts_train", v1.id);
        } catch (const rslora::Error& e) {
            message = e.what();
        }
        QVERIFY2(message.find("is missing") != std::string::npos, message.c_str());
    }

    // Rollback goes back to a released version; a never-released draft (newer or not) is refused.
    void rollbackRefusesANeverReleasedDraft() {
        auto& repo = m_store->adapters();
        AdapterRecord v1 = make("task");
        AdapterRecord v2 = make("task");
        repo.release(v1.id);
        std::string message;
        try {
            repo.rollback("task", v2.id);
        } catch (const rslora::Error& e) {
            message = e.fullMessage();
        }
        QVERIFY2(message.find("never released") != std::string::npos, message.c_str());
        QVERIFY2(message.find("rslora adapters release task:v2") != std::string::npos, message.c_str());
        QCOMPARE(repo.require(v2.id).status, AdapterStatus::Draft);
        QCOMPARE(repo.current("task")->id, v1.id);
    }

    void searchByTagMethodRankAndMetric() {
        AdapterRecord a = make("qa", "a", 8, "rslora scaling, spectral init");
        AdapterRecord b = make("qa", "b", 16, "lora");
        AdapterRecord c = make("qa", "c", 8, "lora, random_subspace");
        auto& repo = m_store->adapters();
        repo.setTag(a.id, "domain", "medical");
        repo.setTag(c.id, "domain", "legal");
        repo.setTag(c.id, "favourite");
        auto names = [](const std::vector<AdapterRecord>& v) {
            std::vector<int64_t> ids;
            for (const auto& x : v)
                ids.push_back(x.id);
            return ids;
        };
        AdapterFilter f;
        f.rank = 8;
        QCOMPARE(names(repo.list(f)), (std::vector<int64_t>{a.id, c.id}));
        f = {};
        f.method = "spectral";
        QCOMPARE(names(repo.list(f)), (std::vector<int64_t>{a.id}));
        f = {};
        f.tag = std::make_pair(std::string("domain"), std::string());
        QCOMPARE(names(repo.list(f)), (std::vector<int64_t>{a.id, c.id}));
        f.tag->second = "legal";
        QCOMPARE(names(repo.list(f)), (std::vector<int64_t>{c.id}));
        QCOMPARE(repo.tags(c.id).at("favourite"), std::string());

        auto eval = [&](int64_t id, const std::string& ds, double v) {
            EvaluationRecord e;
            e.adapterId = id;
            e.dataset = ds;
            e.metric = "accuracy";
            e.value = v;
            m_store->evaluations().record(e);
        };
        eval(a.id, "test", 0.78);
        eval(b.id, "test", 0.81);
        eval(c.id, "test", 0.73);
        eval(c.id, "ood", 0.90);
        eval(a.id, "test", 0.80); // re-evaluation replaces
        QCOMPARE(m_store->evaluations().forAdapter(a.id).size(), size_t(1));
        f = {};
        f.metric = "accuracy";
        f.dataset = "test";
        f.orderByMetric = true;
        QCOMPARE(names(repo.list(f)), (std::vector<int64_t>{b.id, a.id, c.id}));
        f.minValue = 0.79;
        QCOMPARE(names(repo.list(f)), (std::vector<int64_t>{b.id, a.id}));
        auto best = m_store->queries().bestAdapters("accuracy", true, "test");
        QCOMPARE(best.size(), size_t(1));
        QCOMPARE(best[0].adapter.id, b.id);
        QCOMPARE(best[0].value, 0.81);
        auto bestAny = m_store->queries().bestAdapters("accuracy", true);
        QCOMPARE(bestAny[0].adapter.id, c.id); // 0.90 on "ood"
        QCOMPARE(bestAny[0].dataset, std::string("ood"));
        auto worst = m_store->queries().bestAdapters("accuracy", false, "test", "qa", 2);
        QCOMPARE(worst.size(), size_t(2));
        QCOMPARE(worst[0].adapter.id, c.id);
        // NaN evaluations are stored and never win.
        eval(b.id, "broken", std::nan(""));
        QVERIFY(std::isnan(m_store->evaluations().get(b.id, "broken", "accuracy")->value));
    }

    void lineageGraphOfATask() {
        AdapterRecord sft = make("med");
        AdapterRecord domain = make("med");
        AdapterRecord dpo = make("med");
        AdapterRecord general = make("general");
        AdapterRecord merged = make("merged");
        auto& lin = m_store->lineage();
        LineageEdge e;
        e.childId = domain.id;
        e.parentId = sft.id;
        lin.add(e);
        e.childId = dpo.id;
        e.parentId = domain.id;
        lin.add(e);
        e.childId = sft.id;
        e.parentId = general.id;
        lin.add(e);
        lin.addMerge(merged.id, {{dpo.id, 0.7}, {general.id, -0.3}}, "svd", R"({"rank": 16})");
        // Cycles are refused.
        e.childId = general.id;
        e.parentId = dpo.id;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, lin.add(e));
        e.parentId = general.id;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, lin.add(e));

        auto parents = lin.parents(merged.id);
        QCOMPARE(parents.size(), size_t(2));
        QCOMPARE(parents[0].kind, LineageKind::MergedFrom);
        QCOMPARE(parents[0].weight.value(), 0.7);
        QCOMPARE(parents[1].weight.value(), -0.3);
        QCOMPARE(parents[0].method, std::string("svd"));
        QCOMPARE(lin.ancestors(dpo.id), (std::vector<int64_t>{domain.id, sft.id, general.id}));

        AdapterGraph g = lin.graph("med");
        QCOMPARE(g.nodes.size(), size_t(5)); // three of med, general as a parent, merged as a child
        QCOMPARE(g.edges.size(), size_t(4));
        QCOMPARE(g.roots(), (std::vector<int64_t>{general.id}));
        QCOMPARE(g.childrenOf(domain.id), (std::vector<int64_t>{dpo.id}));
        QCOMPARE(g.childrenOf(dpo.id), (std::vector<int64_t>{merged.id}));
        QCOMPARE(g.parentsOf(merged.id).size(), size_t(1)); // general's edge to merged is outside med
        QVERIFY(g.find(merged.id));
    }

    void artifactsBelongToRuns() {
        RunRecord r;
        m_store->runs().create(r);
        AdapterRecord a = make("t");
        ArtifactRecord art;
        art.runId = r.id;
        art.adapterId = a.id;
        art.kind = "checkpoint";
        art.path = "/data/ckpt/step-100";
        art.step = 100;
        art.sizeBytes = 12345;
        m_store->artifacts().add(art);
        art.kind = "export";
        m_store->artifacts().add(art);
        QCOMPARE(m_store->artifacts().forRun(r.id).size(), size_t(2));
        QCOMPARE(m_store->artifacts().forAdapter(a.id)[0].step.value(), int64_t(100));
        art.kind = "nonsense";
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->artifacts().add(art));
    }

    // Issue: a version registered inside a longer transaction kept its folder when that transaction
    // rolled back (the folder was kept on the inner savepoint's release).
    void registeredFolderGoesWithARolledBackTransaction() {
        Store store(fs::path(m_tmp.path().toStdString()) / "rollback" / "w.sqlite"); // an adapter root of its own
        NewAdapter n;
        n.task = "rolled";
        {
            Transaction outer(store.database());
            const RegisteredVersion v = registerAdapterVersion(store, n, adapterSource("rolled-src"));
            QVERIFY(fs::exists(v.record.path));
            // outer rolls back here
        }
        QVERIFY(store.adapters().list().empty());
        QCOMPARE(filesUnder(store.adapterRoot()), size_t(0));

        // A savepoint rolled back inside a transaction that commits takes its folder too.
        {
            Transaction outer(store.database());
            {
                Transaction inner(store.database());
                registerAdapterVersion(store, n, adapterSource("rolled-inner"));
            }
            const RegisteredVersion kept = registerAdapterVersion(store, n, adapterSource("kept"));
            outer.commit();
            QCOMPARE(store.adapters().list().size(), size_t(1));
            QVERIFY(fs::exists(fs::path(kept.record.path) / "adapter_model.safetensors"));
        }
        QCOMPARE(filesUnder(store.adapterRoot()), size_t(1));
    }

    // Copying and hashing happen before the write lock is taken: another connection can write
    // while a version is staged.
    void stagingHoldsNoLock() {
        StagedAdapter staged = stageAdapterFolder(*m_store, adapterSource("staged"));
        QVERIFY(!m_store->database().inTransaction());
        QCOMPARE(staged.sha256, rslora::Sha256::directoryHex(staged.dir));
        {
            Store other(m_store->path());
            Transaction tx(other.database());
            RunRecord r;
            other.runs().create(r);
            tx.commit();
        }
        NewAdapter n;
        n.task = "staged";
        const RegisteredVersion v = registerAdapterVersion(*m_store, n, staged);
        QCOMPARE(v.record.sha256, rslora::Sha256::directoryHex(v.record.path));
    }

    // Issue: a relative --db stored relative adapter paths, which later commands run from another
    // folder could not find. The store's path and adapter root are absolute.
    void relativeDatabasePathRecordsAbsoluteFolders() {
        const fs::path root = fs::path(m_tmp.path().toStdString()) / "relative";
        fs::create_directories(root / "elsewhere");
        const fs::path before = fs::current_path();
        int64_t id = 0;
        fs::current_path(root);
        try {
            Store store(fs::path("stores") / "w.sqlite");
            QCOMPARE(store.path(), root / "stores" / "w.sqlite");
            QCOMPARE(store.adapterRoot(), root / "stores" / "adapters");
            NewAdapter n;
            n.task = "relative";
            id = registerAdapterVersion(store, n, adapterSource("relative-src")).record.id;
            QVERIFY(fs::path(store.adapters().require(id).path).is_absolute());
        } catch (...) {
            fs::current_path(before);
            throw;
        }
        fs::current_path(root / "elsewhere");
        Store again(root / "stores" / "w.sqlite");
        const bool ok = fs::exists(fs::path(again.adapters().require(id).path) / "adapter_model.safetensors");
        AdapterRepository::verifyFiles(again.adapters().require(id));
        fs::current_path(before);
        QVERIFY(ok);
    }

    // duplicateTask copies every live version with files of its own, its number, status and tags, and
    // the lineage: edges inside the task link the copies, others keep their parent; each copy is linked
    // to its original. Taken and unusable names are refused; a failure leaves no row and no folder.
    void aTaskIsDuplicatedWholeOrNotAtAll() {
        Store& store = *m_store;
        auto version = [&](const std::string& task, const std::string& content) {
            NewAdapter n;
            n.task = task;
            n.rank = 8;
            n.method = "rslora";
            return registerAdapterVersion(store, n, adapterSource(task + content)).record;
        };
        const AdapterRecord other = version("legal", "o");
        const AdapterRecord v1 = version("medical", "1");
        const AdapterRecord v2 = version("medical", "2");
        const AdapterRecord v3 = version("medical", "3");
        const AdapterRecord v4 = version("medical", "4");
        store.lineage().add({0, v2.id, v1.id, LineageKind::TrainedFrom, std::nullopt, "", "", 0});
        store.lineage().addMerge(v4.id, {{v2.id, 0.25}, {other.id, 0.75}}, "svd");
        store.adapters().setTag(v2.id, "keep", "yes");
        store.adapters().setNotes(v2.id, "the second");
        store.adapters().release(v1.id);
        store.adapters().release(v4.id); // current; v1 stays released
        store.adapters().archive(v2.id);
        store.adapters().softDelete(v3.id);

        const std::vector<AdapterRecord> copies = duplicateTask(store, "medical", "clinic");
        QCOMPARE(copies.size(), size_t(3));
        const AdapterRecord &c1 = copies[0], &c2 = copies[1], &c4 = copies[2];
        QCOMPARE(c1.version, int64_t(1));
        QCOMPARE(c2.version, int64_t(2));
        QCOMPARE(c4.version, int64_t(4)); // the numbers stay: clinic@v4 is the copy of medical@v4
        QCOMPARE(store.adapters().nextVersion("clinic"), int64_t(5));
        QCOMPARE(c1.status, AdapterStatus::Released);
        QVERIFY(!c1.current);
        QCOMPARE(c2.status, AdapterStatus::Archived);
        QCOMPARE(c4.status, AdapterStatus::Released);
        QVERIFY(c4.current);
        QCOMPARE(store.adapters().current("clinic")->id, c4.id);
        QCOMPARE(store.adapters().current("medical")->id, v4.id); // the original task is as it was
        for (const auto& [copy, original] : {std::pair{c1, v1}, std::pair{c2, v2}, std::pair{c4, v4}}) {
            QCOMPARE(copy.task, std::string("clinic"));
            QCOMPARE(copy.sha256, original.sha256);
            QCOMPARE(copy.method, std::string("rslora"));
            QCOMPARE(copy.rank, std::optional<int64_t>(8));
            QVERIFY(copy.path != original.path);
            QCOMPARE(rslora::Sha256::directoryHex(copy.path), original.sha256);
            QVERIFY(copy.name.find("clinic_v" + std::to_string(copy.version) + "_") == 0);
            QVERIFY(!copy.sourceRunId);
        }
        QCOMPARE(store.adapters().tags(c2.id), (Tags{{"keep", "yes"}}));
        QCOMPARE(c2.notes, std::string("the second"));
        auto parentsOf = [&](int64_t id) {
            std::map<int64_t, std::pair<LineageKind, std::optional<double>>> out;
            for (const LineageEdge& e : store.lineage().parents(id))
                out[e.parentId] = {e.kind, e.weight};
            return out;
        };
        using P = std::map<int64_t, std::pair<LineageKind, std::optional<double>>>;
        QCOMPARE(parentsOf(c1.id), (P{{v1.id, {LineageKind::ConvertedFrom, std::nullopt}}}));
        QCOMPARE(parentsOf(c2.id), (P{{c1.id, {LineageKind::TrainedFrom, std::nullopt}}, {v2.id, {LineageKind::ConvertedFrom, std::nullopt}}}));
        QCOMPARE(parentsOf(c4.id), (P{{c2.id, {LineageKind::MergedFrom, 0.25}}, {other.id, {LineageKind::MergedFrom, 0.75}},
                                      {v4.id, {LineageKind::ConvertedFrom, std::nullopt}}}));
        QCOMPARE(store.lineage().parents(v4.id).size(), size_t(2)); // the originals' lineage is untouched

        // Refused, with the reason; nothing changes.
        auto refusal = [&](const std::string& task, const std::string& name) -> std::string {
            try {
                duplicateTask(store, task, name);
            } catch (const rslora::Error& e) {
                return e.what();
            }
            return "accepted";
        };
        auto says = [](const std::string& message, const std::string& part) {
            return message.find(part) != std::string::npos;
        };
        const std::string taken = refusal("medical", "clinic");
        QVERIFY2(says(taken, "cannot duplicate task \"medical\" as \"clinic\": a task of that name exists (3 versions"), taken.c_str());
        store.adapters().softDelete(other.id);
        const std::string takenByDeleted = refusal("medical", "legal");
        QVERIFY2(says(takenByDeleted, "a task of that name exists (1 version, deleted ones included)"), takenByDeleted.c_str());
        QVERIFY2(says(refusal("medical", "medical"), "that is its own name"), refusal("medical", "medical").c_str());
        QVERIFY2(says(refusal("medical", "two\nlines"), "\"two\\nlines\" holds a line break"), refusal("medical", "two\nlines").c_str());
        QVERIFY2(says(refusal("medical", " ward"), "starts or ends with a space"), refusal("medical", " ward").c_str());
        QVERIFY2(says(refusal("medical", ""), "cannot be empty"), refusal("medical", "").c_str());
        QVERIFY2(says(refusal("nosuch", "ward"), "no task named \"nosuch\""), refusal("nosuch", "ward").c_str());
        QVERIFY2(says(refusal("legal", "ward"), "all its 1 version is deleted"), refusal("legal", "ward").c_str());
        auto wardVersions = [&] {
            AdapterFilter f;
            f.task = "ward";
            f.includeDeleted = true;
            return store.adapters().list(f).size();
        };
        QCOMPARE(wardVersions(), size_t(0));

        // A failure while the copies are recorded (the database refuses the last row): no row, no folder.
        const fs::path root = store.adapterRoot();
        auto entries = [&] {
            std::vector<std::string> names;
            for (const auto& e : fs::recursive_directory_iterator(root))
                names.push_back(e.path().string());
            std::sort(names.begin(), names.end());
            return names;
        };
        const auto before = entries();
        store.database().exec("CREATE TRIGGER refuse_ward BEFORE INSERT ON adapters WHEN NEW.task = 'ward' AND NEW.version = 4 "
                              "BEGIN SELECT RAISE(ABORT, 'disk full'); END");
        const std::string midway = refusal("medical", "ward");
        QVERIFY2(says(midway, "disk full"), midway.c_str());
        store.database().exec("DROP TRIGGER refuse_ward");
        QCOMPARE(wardVersions(), size_t(0));
        QVERIFY(store.lineage().parents(v1.id).empty());
        QCOMPARE(entries(), before);

        // A version whose files changed: refused naming it, the copies made so far removed.
        std::ofstream(fs::path(v4.path) / "adapter_model.safetensors") << "changed";
        const std::string changed = refusal("medical", "ward");
        QVERIFY2(says(changed, "changed since it was recorded"), changed.c_str());
        QCOMPARE(wardVersions(), size_t(0));
        QCOMPARE(entries(), before);
    }
};

QTEST_GUILESS_MAIN(AdaptersTest)
#include "AdaptersTest.moc"
