// Run bundles: written without a database, imported, exported and imported again; damaged or
// duplicate bundles are refused without leaving anything behind.
#include "common/AtomicFile.h"
#include "common/Sha256.h"
#include "storage/Csv.h"
#include "storage/Naming.h"
#include "storage/RunBundle.h"
#include "storage/Store.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace rslora::storage;
namespace fs = std::filesystem;

namespace {

const std::string kWeird = "ünï \"q\", x/y\nz";

void writeAdapterFiles(const fs::path& dir, const std::string& tag) {
    fs::create_directories(dir);
    std::ofstream(dir / "adapter_config.json") << "{\"r\": 8, \"lora_alpha\": 16, \"tag\": \"" << tag << "\"}";
    std::ofstream(dir / "adapter_model.safetensors", std::ios::binary) << std::string(1000, static_cast<char>(tag.size()));
}

bool sameValue(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

} // namespace

class BundleTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    fs::path root() const { return fs::path(m_tmp.path().toStdString()); }

    // A bundle as `rslora train --no-store` would write it: two stages, the second trained from the first.
    fs::path writeBundle(const std::string& name) {
        fs::path dir = root() / name;
        RunBundleWriter w(dir);
        RunRecord run;
        run.name = kWeird;
        run.status = RunStatus::Running;
        run.configJson = R"({"lora": {"rank": 8, "targets": ["q_proj"]}, "name": "x"})";
        run.seed = 42;
        run.baseModel = {"Qwen/Qwen2.5-0.5B", "aa11"};
        run.dataset = {"data/train.jsonl", "bb22"};
        run.device = "cuda:0";
        run.startTime = 1.7e9;
        w.writeRun(run, {{"sweep", "rank"}, {kWeird, kWeird}}, {}, "medical");
        std::vector<MetricPoint> pts;
        for (int i = 0; i < 1000; ++i)
            pts.push_back({0, "loss", i, 1.7e9 + i * 0.5, i == 500 ? NAN : 1.0 / (i + 1)});
        pts.push_back({0, kWeird, 3, 1.7e9, -INFINITY});
        w.appendMetrics(pts);
        w.appendMetric("lr", 0, 1.7e9, 1e-4);

        fs::path stage1 = root() / (name + "-src1");
        writeAdapterFiles(stage1, "one");
        BundleAdapter a1;
        a1.record.task = "medical";
        a1.record.variant = "sft";
        a1.record.version = 1;
        a1.record.method = "rslora";
        a1.record.rank = 8;
        a1.record.alpha = 16;
        a1.record.targets = {"q_proj", "v_proj"};
        a1.record.stage = "sft";
        a1.record.sourceStep = 999;
        a1.tags = {{"stage", "1"}};
        a1.evaluations = {{"test", "cc33", "accuracy", 0.75}};
        w.addAdapter(a1, stage1);

        BundleAdapter a2;
        a2.record.task = "medical";
        a2.record.name = "stage two / dpo";
        a2.record.stage = "dpo";
        a2.parents = {{w.contents().adapters[0].record.uuid, LineageKind::TrainedFrom, std::nullopt, "", ""}};
        writeAdapterFiles(w.adapterDirectory("stage two / dpo"), "two"); // written in place
        w.addAdapter(a2);
        w.setStatus(RunStatus::Finished);
        return dir;
    }

private slots:
    void writerOutputIsReadable() {
        fs::path dir = writeBundle("plain");
        BundleContents c = readBundle(dir);
        QCOMPARE(c.run.name, kWeird);
        QCOMPARE(c.run.status, RunStatus::Finished);
        QVERIFY(c.run.endTime);
        QCOMPARE(c.run.lastStep.value_or(-1), int64_t(999));
        QCOMPARE(c.project, std::string("medical"));
        QCOMPARE(c.adapters.size(), size_t(2));
        QCOMPARE(c.adapters[1].dir, std::string("adapters/") + sanitizeId("stage two / dpo"));
        QVERIFY(fs::is_directory(dir / c.adapters[0].dir));
        QCOMPARE(c.adapters[0].record.sha256, rslora::Sha256::directoryHex(dir / c.adapters[0].dir));
        // metrics.csv is plain CSV a spreadsheet can open.
        CsvReader csv(dir / "metrics.csv");
        std::vector<std::string> f;
        QVERIFY(csv.next(f));
        QCOMPARE(f, (std::vector<std::string>{"key", "step", "wall_time", "value"}));
        size_t rows = 0;
        while (csv.next(f))
            ++rows;
        QCOMPARE(rows, size_t(1002));
    }

    void importBringsEverything() {
        fs::path dir = writeBundle("imp");
        Store store(root() / "imp.sqlite");
        ImportResult r = importBundle(store, dir);
        QVERIFY2(r.warnings.empty(), r.warnings.empty() ? "" : r.warnings[0].c_str());
        QCOMPARE(r.metrics, size_t(1002));
        RunRecord run = store.runs().require(r.runId);
        QCOMPARE(run.name, kWeird);
        QCOMPARE(run.status, RunStatus::Finished);
        QCOMPARE(run.seed.value_or(0), int64_t(42));
        QCOMPARE(run.baseModel, (ContentRef{"Qwen/Qwen2.5-0.5B", "aa11"}));
        QCOMPARE(store.runs().project(run.projectId)->name, std::string("medical"));
        QVERIFY(!run.pid && !run.heartbeat);
        QCOMPARE(store.runs().params(r.runId).at("lora.rank"), std::string("8"));
        QCOMPARE(store.runs().tags(r.runId).at(kWeird), kWeird);
        MetricSeries loss = store.metrics().series(r.runId, "loss");
        QCOMPARE(loss.size(), size_t(1000));
        QVERIFY(std::isnan(loss.values[500]));
        QCOMPARE(loss.values[999], 1.0 / 1000);
        QCOMPARE(loss.wallTimes[3], 1.7e9 + 1.5);
        QCOMPARE(store.metrics().series(r.runId, kWeird).values[0], -INFINITY);

        QCOMPARE(r.adapterIds.size(), size_t(2));
        AdapterRecord a1 = store.adapters().require(r.adapterIds[0]);
        AdapterRecord a2 = store.adapters().require(r.adapterIds[1]);
        QCOMPARE(a1.task, std::string("medical"));
        QCOMPARE(a1.version, int64_t(1));
        QCOMPARE(a1.status, AdapterStatus::Draft);
        QCOMPARE(a1.sourceRunId.value_or(0), r.runId);
        QCOMPARE(a1.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
        QCOMPARE(a1.alpha.value_or(0), 16.0);
        QCOMPARE(a2.name, std::string("stage two / dpo"));
        QCOMPARE(a2.version, int64_t(2));
        // Files copied under the store's adapter root, into a folder named from a sanitized id.
        QVERIFY(fs::path(a2.path).string().find(store.adapterRoot().string()) == 0);
        QCOMPARE(rslora::Sha256::directoryHex(a2.path), a2.sha256);
        QCOMPARE(store.lineage().parents(a2.id).size(), size_t(1));
        QCOMPARE(store.lineage().parents(a2.id)[0].parentId, a1.id);
        QCOMPARE(store.evaluations().forAdapter(a1.id).at(0).value, 0.75);
        QCOMPARE(store.adapters().tags(a1.id).at("imported_version"), std::string("1"));

        // The same bundle again is refused, and leaves nothing behind; --as-new makes a copy.
        size_t folders = std::distance(fs::recursive_directory_iterator(store.adapterRoot()), {});
        QVERIFY_THROWS_EXCEPTION(rslora::Error, importBundle(store, dir));
        QCOMPARE(store.runs().count(), int64_t(1));
        QCOMPARE(size_t(std::distance(fs::recursive_directory_iterator(store.adapterRoot()), {})), folders);
        ImportOptions o;
        o.asNew = true;
        ImportResult copy = importBundle(store, dir, o);
        QVERIFY(copy.runId != r.runId);
        QCOMPARE(store.adapters().require(copy.adapterIds[0]).version, int64_t(3));
        QVERIFY(!copy.warnings.empty()); // the second adapter's name was taken
    }

    void exportImportRoundTrip() {
        fs::path dir = writeBundle("rt");
        Store a(root() / "a.sqlite");
        ImportResult first = importBundle(a, dir);
        a.runs().setStatus(first.runId, RunStatus::Stopped, "stopped by the user");
        fs::path out = root() / "exported";
        ExportOptions eo;
        eo.metricsJson = true;
        ExportResult ex = exportRun(a, first.runId, out, eo);
        QCOMPARE(ex.metrics, size_t(1002));
        QCOMPARE(ex.adapters, size_t(2));
        QVERIFY(fs::exists(out / "metrics.json"));
        auto mj = nlohmann::json::parse(rslora::readFile(out / "metrics.json"));
        QVERIFY(mj["loss"]["value"][500].is_null()); // JSON has no NaN; metrics.csv keeps it
        QCOMPARE(mj["loss"]["value"][999].get<double>(), 1.0 / 1000);
        QCOMPARE(mj["loss"]["step"].size(), size_t(1000));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, exportRun(a, first.runId, out)); // never overwrites
        // A file where the folder should go, or above it, is named as a file.
        rslora::writeFileAtomic(root() / "afile", "mine");
        for (const fs::path& target : {root() / "afile", root() / "afile" / "sub"}) {
            try {
                exportRun(a, first.runId, target);
                QFAIL("exported over a file");
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.what()).find((root() / "afile").string() + " is a file, not a folder") != std::string::npos ||
                             std::string(e.what()).find("it is a file, not a folder") != std::string::npos,
                         e.what());
            }
        }
        QCOMPARE(rslora::readFile(root() / "afile"), std::string("mine"));

        Store b(root() / "b.sqlite");
        ImportResult second = importBundle(b, out);
        RunRecord ra = a.runs().require(first.runId), rb = b.runs().require(second.runId);
        QCOMPARE(rb.uuid, ra.uuid);
        QCOMPARE(rb.name, ra.name);
        QCOMPARE(rb.status, RunStatus::Stopped);
        QCOMPARE(rb.errorMessage, ra.errorMessage);
        QCOMPARE(nlohmann::json::parse(rb.configJson), nlohmann::json::parse(ra.configJson));
        QCOMPARE(b.runs().params(second.runId), a.runs().params(first.runId));
        QCOMPARE(b.runs().tags(second.runId), a.runs().tags(first.runId));
        QCOMPARE(b.metrics().keys(second.runId), a.metrics().keys(first.runId));
        for (const std::string& key : a.metrics().keys(first.runId)) {
            MetricSeries sa = a.metrics().series(first.runId, key), sb = b.metrics().series(second.runId, key);
            QCOMPARE(sb.steps, sa.steps);
            QCOMPARE(sb.wallTimes, sa.wallTimes);
            for (size_t i = 0; i < sa.size(); ++i)
                QVERIFY(sameValue(sa.values[i], sb.values[i]));
        }
        auto adaptersB = b.adapters().list();
        QCOMPARE(adaptersB.size(), size_t(2));
        QCOMPARE(adaptersB[1].uuid, a.adapters().require(first.adapterIds[1]).uuid);
        QCOMPARE(b.lineage().parents(adaptersB[1].id).at(0).parentId, adaptersB[0].id);
        QCOMPARE(adaptersB[0].sha256, a.adapters().require(first.adapterIds[0]).sha256);
    }

    // A point the export cannot read back (its key row is gone, as a damaged page leaves it) must fail
    // the export instead of writing a bundle that looks whole.
    void exportRefusesAPartialRun() {
        fs::path dbPath = root() / "partial.sqlite";
        Store s(dbPath);
        RunRecord r;
        r.name = "partial";
        int64_t id = s.runs().create(r);
        std::vector<MetricPoint> pts;
        for (int step = 0; step < 50; ++step)
            pts.push_back({id, "loss", step, 1.7e9 + step, 1.0 / (step + 1)});
        s.metricsIngest().insert(pts);
        s.database().exec("PRAGMA foreign_keys = OFF");
        s.database().exec("INSERT INTO metrics (run_id, key_id, step, wall_time, value) VALUES (" +
                          std::to_string(id) + ", 999999, 7, 1.7e9, 0.5)");
        s.database().exec("PRAGMA foreign_keys = ON");
        fs::path out = root() / "partial-bundle";
        std::string message;
        try {
            exportRun(s, id, out);
        } catch (const rslora::Error& e) {
            message = e.fullMessage();
        }
        QVERIFY2(message.find("read 50 of its 51 metric points") != std::string::npos, message.c_str());
        QVERIFY2(message.find("rslora doctor") != std::string::npos, message.c_str());
        QVERIFY(!fs::exists(out / "run.json"));
    }

    // runs delete keeps the run's adapter versions; importing the run's bundle afterwards brings the
    // run back with them linked again (not "already in the store"), with their status, artifacts,
    // evaluations and lineage, under a new run id.
    void deleteThenImportRoundTrips() {
        Store s(root() / "roundtrip" / "s.sqlite");
        ImportResult seed = importBundle(s, writeBundle("rt-seed")); // two versions, the second trained from the first
        const int64_t runId = seed.runId;
        const int64_t v1 = seed.adapterIds[0], v2 = seed.adapterIds[1];
        s.adapters().release(v2);
        ArtifactRecord ckpt;
        ckpt.runId = runId;
        ckpt.adapterId = v2;
        ckpt.kind = "checkpoint";
        ckpt.path = "/runs/x/checkpoints/step-20";
        ckpt.step = 20;
        s.artifacts().add(ckpt);
        fs::path bundle = root() / "rt-exported";
        exportRun(s, runId, bundle);

        s.runs().remove(runId);
        QVERIFY(!s.adapters().require(v2).sourceRunId);
        QVERIFY(s.artifacts().forRun(runId).empty());
        s.adapters().softDelete(v1); // as `runs delete --with-adapters` does for each version
        const size_t foldersBefore = std::distance(fs::recursive_directory_iterator(s.adapterRoot()), {});

        ImportResult back = importBundle(s, bundle);
        QVERIFY(back.runId > runId); // never the deleted run's id
        QCOMPARE(back.adapterIds, (std::vector<int64_t>{v1, v2}));
        QCOMPARE(back.relinkedAdapterIds, (std::vector<int64_t>{v1, v2}));
        AdapterRecord a1 = s.adapters().require(v1), a2 = s.adapters().require(v2);
        QCOMPARE(a2.sourceRunId.value_or(0), back.runId);
        QCOMPARE(a1.sourceRunId.value_or(0), back.runId);
        QVERIFY(!a1.deletedAt); // deleted with the run, restored with it
        QCOMPARE(a2.status, AdapterStatus::Released);
        QVERIFY(a2.current);
        QCOMPARE(s.lineage().parents(v2).at(0).parentId, v1);
        QCOMPARE(s.evaluations().forAdapter(v1).at(0).runId.value_or(0), back.runId);
        auto artifacts = s.artifacts().forRun(back.runId);
        QCOMPARE(artifacts.size(), size_t(1));
        QCOMPARE(artifacts[0].path, ckpt.path);
        QCOMPARE(artifacts[0].step.value_or(0), int64_t(20));
        QCOMPARE(artifacts[0].adapterId.value_or(0), v2);
        QCOMPARE(size_t(std::distance(fs::recursive_directory_iterator(s.adapterRoot()), {})), foldersBefore);
        QCOMPARE(s.adapters().list().size(), size_t(2)); // no duplicate versions

        // While the run is stored, the bundle is a duplicate; --as-new copies it with new versions
        // and leaves the originals with their run.
        QVERIFY_THROWS_EXCEPTION(rslora::Error, importBundle(s, bundle));
        ImportOptions asNew;
        asNew.asNew = true;
        ImportResult copy = importBundle(s, bundle, asNew);
        QVERIFY(copy.relinkedAdapterIds.empty());
        QCOMPARE(s.adapters().require(copy.adapterIds[1]).sourceRunId.value_or(0), copy.runId);
        QCOMPARE(s.adapters().require(copy.adapterIds[1]).status, AdapterStatus::Released); // released stays released
        QVERIFY(!s.adapters().require(copy.adapterIds[1]).current);
        QCOMPARE(s.adapters().require(v2).sourceRunId.value_or(0), back.runId);

        // Into another store: released arrives released (not current: that is decided there).
        Store other(root() / "roundtrip-other" / "s.sqlite");
        ImportResult there = importBundle(other, bundle);
        QCOMPARE(other.adapters().require(there.adapterIds[1]).status, AdapterStatus::Released);
        QVERIFY(!other.adapters().current("medical"));
        QCOMPARE(other.artifacts().forRun(there.runId).size(), size_t(1));
    }

    // Export carries a version as it was recorded: changed files fail the export, and versions left
    // out because they are soft-deleted are named.
    void exportVerifiesAdapterFilesAndNamesOmittedOnes() {
        Store s(root() / "verify" / "s.sqlite");
        ImportResult imp = importBundle(s, writeBundle("verify-src"));
        s.adapters().softDelete(imp.adapterIds[0]);
        ExportResult ok = exportRun(s, imp.runId, root() / "verify-ok");
        QCOMPARE(ok.adapters, size_t(1));
        AdapterRecord gone = s.adapters().require(imp.adapterIds[0]);
        bool named = false;
        for (const auto& w : ok.warnings)
            named = named || (w.find(gone.name) != std::string::npos && w.find("deleted") != std::string::npos);
        QVERIFY2(named, ok.warnings.empty() ? "no warnings" : ok.warnings[0].c_str());

        AdapterRecord kept = s.adapters().require(imp.adapterIds[1]);
        std::ofstream(fs::path(kept.path) / "adapter_model.safetensors", std::ios::binary) << "other weights";
        std::string message;
        try {
            exportRun(s, imp.runId, root() / "verify-changed");
        } catch (const rslora::Error& e) {
            message = e.what();
        }
        QVERIFY2(message.find("medical:v2: files under " + kept.path + " changed since it was recorded") != std::string::npos,
                 message.c_str());
        QVERIFY(!fs::exists(root() / "verify-changed"));
    }

    // A name in another encoding gets a clear error, not the JSON library's, and no bundle folder.
    void exportNamesATextFieldThatIsNotUtf8() {
        Store s(root() / "latin1" / "s.sqlite");
        RunRecord r;
        r.name = "caf\xE9";
        int64_t id = s.runs().create(r);
        std::string message;
        try {
            exportRun(s, id, root() / "latin1-bundle");
        } catch (const rslora::Error& e) {
            message = e.fullMessage();
        }
        QVERIFY2(message.find("not valid UTF-8") != std::string::npos, message.c_str());
        QVERIFY2(message.find("rename") != std::string::npos, message.c_str());
        QVERIFY(!fs::exists(root() / "latin1-bundle"));
    }

    // A new run never writes into another run's bundle; a resumed one continues it.
    void writerRefusesAnExistingBundleForANewRun() {
        fs::path dir = writeBundle("taken");
        const std::string before = rslora::readFile(dir / "metrics.csv");
        std::string message;
        try {
            RunBundleWriter w(dir, RunBundleWriter::Existing::Refuse);
        } catch (const rslora::Error& e) {
            message = e.fullMessage();
        }
        QVERIFY2(message.find("already holds run") != std::string::npos, message.c_str());
        QVERIFY2(message.find("output.dir") != std::string::npos, message.c_str());
        QCOMPARE(rslora::readFile(dir / "metrics.csv"), before);
        RunBundleWriter fresh(root() / "fresh-bundle", RunBundleWriter::Existing::Refuse);
        RunBundleWriter resumed(dir, RunBundleWriter::Existing::Continue);
        QCOMPARE(resumed.contents().adapters.size(), size_t(2));
    }

    // A bundle that holds only a refused start (failed, no step, no metrics, no adapters) is replaced
    // by the next run; one failed after a step, or beside any other file, is still refused.
    void refusedStartDoesNotBlockTheFolder() {
        auto refusedStart = [&](const fs::path& dir) {
            RunBundleWriter w(dir, RunBundleWriter::Existing::Refuse);
            RunRecord run;
            run.name = "refused";
            run.status = RunStatus::Failed;
            run.errorMessage = "output.dir already holds an adapter";
            w.writeRun(run);
        };
        const fs::path dir = root() / "refused-bundle";
        refusedStart(dir);
        {
            RunBundleWriter next(dir, RunBundleWriter::Existing::Refuse);
            RunRecord run;
            run.name = "next";
            next.writeRun(run);
            QCOMPARE(next.contents().run.name, std::string("next"));
        }
        QCOMPARE(readBundle(dir).run.name, std::string("next"));

        auto refused = [](const fs::path& d) {
            try {
                RunBundleWriter w(d, RunBundleWriter::Existing::Refuse);
            } catch (const rslora::Error& e) {
                return std::string(e.what()).find("already holds") != std::string::npos;
            }
            return false;
        };
        const fs::path stepped = root() / "failed-after-a-step";
        {
            RunBundleWriter w(stepped, RunBundleWriter::Existing::Refuse);
            RunRecord run;
            run.name = "stepped";
            run.status = RunStatus::Failed;
            w.writeRun(run);
            w.appendMetric("train/loss", 1, 1000.0, 2.0);
        }
        QVERIFY(refused(stepped));
        const fs::path beside = root() / "refused-beside-a-file";
        refusedStart(beside);
        std::ofstream(beside / "notes.txt") << "mine";
        QVERIFY(refused(beside));
        QVERIFY(fs::exists(beside / "run.json"));
    }

    // A resumed run replaces what it logged after its checkpoint: each step is in the bundle once.
    void resumedRunReplacesMetricsAfterItsCheckpoint() {
        const fs::path dir = root() / "resumed-bundle";
        {
            RunBundleWriter w(dir, RunBundleWriter::Existing::Refuse);
            RunRecord run;
            run.name = "resumed";
            w.writeRun(run);
            for (int step = 1; step <= 10; ++step)
                w.appendMetric("train/loss", step, 1000.0 + step, 1.0 / step);
            w.appendMetric("a,key \"quoted\"", 3, 1003.5, 0.5);
        }
        RunBundleWriter w(dir, RunBundleWriter::Existing::Continue);
        QCOMPARE(w.discardMetricsAfter(6), size_t(4));
        QCOMPARE(w.discardMetricsAfter(6), size_t(0));
        for (int step = 7; step <= 10; ++step)
            w.appendMetric("train/loss", step, 2000.0 + step, 2.0 / step);
        Store s(root() / "resumed.sqlite");
        const ImportResult r = importBundle(s, dir);
        QCOMPARE(r.metrics, size_t(11));
        const auto loss = s.metrics().series(r.runId, "train/loss");
        QCOMPARE(int(loss.size()), 10);
        for (int i = 0; i < 10; ++i)
            QCOMPARE(loss.steps[size_t(i)], int64_t(i + 1));
        QCOMPARE(loss.values[9], 0.2);
        QCOMPARE(s.metrics().series(r.runId, "a,key \"quoted\"").size(), size_t(1));
    }

    // Issue: a resumed --no-store run appended its first row to the half-written last line of the
    // killed run before it, making one malformed row that failed the whole import.
    void continuedBundleDropsAnIncompleteLastLine() {
        const fs::path dir = writeBundle("killed");
        std::ofstream(dir / "metrics.csv", std::ios::app) << "loss,1000,1700000500"; // killed mid-append
        {
            RunBundleWriter w(dir, RunBundleWriter::Existing::Continue);
            w.appendMetric("loss", 1000, 1.8e9, 0.25);
            w.appendMetric("loss", 1001, 1.8e9 + 1, 0.125);
        }
        Store s(root() / "killed.sqlite");
        const ImportResult r = importBundle(s, dir);
        QCOMPARE(r.metrics, size_t(1004));
        QVERIFY(r.warnings.empty());
        const auto loss = s.metrics().series(r.runId, "loss");
        QCOMPARE(int(loss.size()), 1002);
        QCOMPARE(loss.steps[1000], int64_t(1000));
        QCOMPARE(loss.values[1000], 0.25);

        // Even the header cut short: the file starts over with a whole header.
        const fs::path bare = root() / "header-cut";
        {
            RunBundleWriter w(bare, RunBundleWriter::Existing::Refuse);
            RunRecord run;
            w.writeRun(run);
        }
        std::ofstream(bare / "metrics.csv", std::ios::trunc) << "key,st";
        {
            RunBundleWriter w(bare, RunBundleWriter::Existing::Continue);
            w.appendMetric("loss", 1, 1000.0, 0.5);
        }
        std::ifstream in(bare / "metrics.csv");
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        QCOMPARE(text, std::string("key,step,wall_time,value\nloss,1,1000,0.5\n"));
    }

    void truncatedLastLineIsSkipped() {
        fs::path dir = writeBundle("trunc");
        {
            std::ofstream f(dir / "metrics.csv", std::ios::app);
            f << "loss,1000,1700000000.5,0.12"; // killed before the newline
        }
        Store s(root() / "trunc.sqlite");
        ImportResult r = importBundle(s, dir);
        QCOMPARE(r.metrics, size_t(1002));
        QCOMPARE(r.warnings.size(), size_t(1));
    }

    // A bundle without metrics.csv imports its run and versions, saying the metrics are missing (the
    // run came in without curves and nothing said why).
    void missingMetricsFileIsNamed() {
        fs::path dir = writeBundle("no-metrics");
        fs::remove(dir / "metrics.csv");
        Store s(root() / "no-metrics.sqlite");
        ImportResult r = importBundle(s, dir);
        QCOMPARE(r.metrics, size_t(0));
        QCOMPARE(r.warnings.size(), size_t(1));
        QCOMPARE(QString::fromStdString(r.warnings[0]), QString("metrics.csv is missing from the bundle: the run is imported without metrics"));
        QCOMPARE(s.runs().count(), int64_t(1));
    }

    // A hand-written run.json may leave out an adapter's sha256: the import computes it from the
    // folder, so that the version is verified against its files from then on (an empty hash would
    // accept any files).
    void importWithoutHashRecordsTheComputedOne_data() {
        QTest::addColumn<bool>("copy");
        QTest::newRow("copied into the store") << true;
        QTest::newRow("left in the bundle") << false;
    }
    void importWithoutHashRecordsTheComputedOne() {
        QFETCH(bool, copy);
        const std::string tag = copy ? "copy" : "inplace";
        fs::path dir = writeBundle("nohash-" + tag);
        auto doc = nlohmann::ordered_json::parse(rslora::readFile(dir / "run.json"));
        std::vector<std::string> expected;
        for (auto& a : doc["adapters"]) {
            expected.push_back(rslora::Sha256::directoryHex(dir / a["dir"].get<std::string>()));
            a.erase("sha256");
        }
        rslora::writeFileAtomic(dir / "run.json", doc.dump(2));
        QVERIFY(readBundle(dir).adapters.at(0).record.sha256.empty());
        Store store(root() / ("store-nohash-" + tag) / "s.sqlite"); // its own adapter root
        ImportOptions o;
        o.copyAdapters = copy;
        ImportResult r = importBundle(store, dir, o);
        QCOMPARE(r.adapterIds.size(), expected.size());
        for (size_t i = 0; i < expected.size(); ++i) {
            const AdapterRecord a = store.adapters().require(r.adapterIds[i]);
            QCOMPARE(a.sha256, expected[i]);
            QCOMPARE(rslora::Sha256::directoryHex(a.path), expected[i]);
            AdapterRepository::verifyFiles(a);
        }
        // Now a change to the files is noticed.
        const AdapterRecord first = store.adapters().require(r.adapterIds[0]);
        std::ofstream(fs::path(first.path) / "adapter_config.json", std::ios::app) << " ";
        QVERIFY_THROWS_EXCEPTION(rslora::Error, AdapterRepository::verifyFiles(first));
    }

    void damagedBundlesAreRefusedCleanly_data() {
        QTest::addColumn<QString>("damage");
        QTest::newRow("adapter file changed") << "adapter";
        QTest::newRow("bad csv number") << "csv";
        QTest::newRow("bad status") << "status";
        QTest::newRow("newer format") << "version";
        QTest::newRow("not json") << "json";
        QTest::newRow("not utf-8") << "utf8";
        QTest::newRow("escaping dir") << "dir";
    }
    void damagedBundlesAreRefusedCleanly() {
        QFETCH(QString, damage);
        fs::path dir = writeBundle("bad-" + damage.toStdString());
        auto doc = nlohmann::ordered_json::parse(rslora::readFile(dir / "run.json"));
        if (damage == "adapter")
            std::ofstream(dir / doc["adapters"][1]["dir"].get<std::string>() / "adapter_config.json") << "{}";
        else if (damage == "csv")
            std::ofstream(dir / "metrics.csv", std::ios::app) << "loss,1001,1700000000,zero\n";
        else if (damage == "status")
            doc["run"]["status"] = "exploded";
        else if (damage == "version")
            doc["version"] = 2;
        else if (damage == "dir")
            doc["adapters"][0]["dir"] = "../../etc";
        if (damage == "json")
            rslora::writeFileAtomic(dir / "run.json", "{\"format\": ");
        else if (damage == "utf8")
            rslora::writeFileAtomic(dir / "run.json", doc.dump(2) + "\xff\xfe");
        else if (damage != "adapter" && damage != "csv")
            rslora::writeFileAtomic(dir / "run.json", doc.dump(2));
        Store s(root() / ("store-bad-" + damage.toStdString()) / "s.sqlite"); // its own adapter root
        std::string message;
        try {
            importBundle(s, dir);
        } catch (const rslora::Error& e) {
            message = e.fullMessage();
        }
        QVERIFY2(!message.empty(), "a damaged bundle must be refused");
        if (damage == "csv")
            QVERIFY2(message.find("line 1005") != std::string::npos, message.c_str());
        if (damage == "status")
            QVERIFY2(message.find("run.status") != std::string::npos, message.c_str());
        // The JSON reason without the library's ids; bytes that are not UTF-8 quoted as \xNN.
        if (damage == "json" || damage == "utf8")
            QVERIFY2(message.find("run.json is not valid JSON: ") != std::string::npos &&
                         message.find("[json.exception") == std::string::npos, message.c_str());
        if (damage == "utf8")
            QVERIFY2(message.find("\\xff") != std::string::npos && message.find('\xff') == std::string::npos, message.c_str());
        QCOMPARE(s.runs().count(), int64_t(0));
        QVERIFY(s.adapters().list().empty());
        QVERIFY(!fs::exists(s.adapterRoot()) || fs::is_empty(s.adapterRoot()));
    }
};

QTEST_GUILESS_MAIN(BundleTest)
#include "BundleTest.moc"
