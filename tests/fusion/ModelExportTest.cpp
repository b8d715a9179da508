// Merged-model export: the merged PEFT fixture reloads to the adapter's logits and PEFT's merged
// weights, weighted adapters equal the adapter-active model, tied embeddings stay tied, shards form a
// valid index, bfloat16 export rounds once, tokenizer files are copied byte for byte (writable copies of a
// read-only base), every refusal
// (an output inside an adapter or the store's adapter root too), a cancel and a Ctrl-C leave nothing
// behind, a folder another merge finished meanwhile is never replaced, and the base folder is never
// changed.
#include "common/AtomicFile.h"
#include "common/Log.h"
#include "common/Error.h"
#include "common/InterruptGuard.h"
#include "common/Paths.h"
#include "common/Sha256.h"
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/fusion/ModelExport.h"
#include "engine/fusion/ShardPlanner.h"
#include "models/ModelLoader.h"
#include "models/SafeTensorsStreamWriter.h"
#include "models/TensorIO.h"
#include "models/WeightFiles.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>

using namespace rslora;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;

namespace {

fs::path fixtures()
{
    const char* d = std::getenv("RSLORA_SHARED_DIR");
    return d ? fs::path(d) / "fixtures" : fs::path();
}

torch::Tensor inputIds()
{
    return models::loadSafeTensorsMap(fixtures() / "reference" / "llama.safetensors").at("input_ids");
}

torch::Tensor logitsOf(models::CausalLM& model)
{
    torch::NoGradGuard ng;
    const torch::Tensor ids = inputIds();
    return model.forward(ids, torch::ones_like(ids)).logits;
}

double maxDiff(const torch::Tensor& a, const torch::Tensor& b)
{
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

WeightedAdapter adapter(const std::string& folder, double weight = 1.0)
{
    WeightedAdapter a;
    a.factors = readAdapterFactors(fixtures() / "peft" / folder);
    a.factors.label = folder;
    a.weight = weight;
    return a;
}

MergeRequest request(const fs::path& model, std::vector<WeightedAdapter> adapters, const fs::path& out)
{
    MergeRequest r;
    r.modelDir = model;
    r.adapters = std::move(adapters);
    r.outDir = out;
    return r;
}

// Names in `dir` other than the ones listed: what a failed export may have left behind.
QStringList entries(const fs::path& dir)
{
    QStringList names;
    for (const auto& e : fs::directory_iterator(dir))
        names << QString::fromStdString(e.path().filename().string());
    names.sort();
    return names;
}

} // namespace

class ModelExportTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    std::string m_baseHash;

    fs::path tmp(const std::string& name) const { return fs::path(m_tmp.path().toStdString()) / name; }

private slots:
    void initTestCase()
    {
        QVERIFY2(fs::exists(fixtures() / "peft" / "lora"), "RSLORA_SHARED_DIR must point at the shared fixtures");
        m_baseHash = Sha256::directoryHex(fixtures() / "llama");
    }

    void cleanupTestCase()
    {
        // No export ever writes into the base folder.
        if (!m_baseHash.empty())
            QCOMPARE(Sha256::directoryHex(fixtures() / "llama"), m_baseHash);
    }

    void shardSizesAndNames()
    {
        QCOMPARE(parseShardSize("2GB"), uint64_t(2'000'000'000));
        QCOMPARE(parseShardSize("500MB"), uint64_t(500'000'000));
        QCOMPARE(parseShardSize("100kb"), uint64_t(100'000));
        QCOMPARE(parseShardSize("1GiB"), uint64_t(1) << 30);
        QCOMPARE(parseShardSize("1.5MB"), uint64_t(1'500'000));
        QCOMPARE(parseShardSize("4096"), uint64_t(4096));
        QCOMPARE(parseShardSize("4096B"), uint64_t(4096));
        for (const char* bad : {"", "GB", "2XB", "0", "0MB", "-1", "1.2.3GB", "abc"}) {
            try {
                parseShardSize(bad);
                QFAIL(qPrintable(QString("accepted max shard size '%1'").arg(bad)));
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find("max shard size") != std::string::npos, e.what());
            }
        }
        QVERIFY(naturalLess("model.layers.2.mlp", "model.layers.10.mlp"));
        QVERIFY(!naturalLess("model.layers.10.mlp", "model.layers.2.mlp"));
        QVERIFY(naturalLess("lm_head.weight", "model.embed_tokens.weight"));
        QCOMPARE(planShards({5, 5, 5, 20, 1}, 10), (std::vector<std::vector<size_t>>{{0, 1}, {2}, {3}, {4}}));
        QCOMPARE(planShards({}, 10).size(), size_t(1));
        QCOMPARE(shardFileName(0, 1), std::string("model.safetensors"));
        QCOMPARE(shardFileName(1, 12), std::string("model-00002-of-00012.safetensors"));
        QCOMPARE(parseMergeDtype("bf16"), MergeDtype::BFloat16);
        QCOMPARE(mergeDtypeName(parseMergeDtype("half")), std::string("float16"));
        QVERIFY_THROWS_EXCEPTION(Error, parseMergeDtype("int8"));
    }

    void streamWriterMatchesWriter()
    {
        const torch::Tensor a = torch::arange(12, torch::kFloat32).reshape({3, 4});
        const torch::Tensor b = torch::arange(6, torch::kInt64);
        const torch::Tensor c = torch::ones({5}, torch::kBFloat16);
        models::saveSafeTensors(tmp("whole.safetensors"), {{"b", b}, {"a", a}, {"c", c}});
        std::vector<models::TensorBytes> plan = {{"b", models::Dtype::I64, {6}, nullptr, 48},
                                                 {"a", models::Dtype::F32, {3, 4}, nullptr, 48},
                                                 {"c", models::Dtype::BF16, {5}, nullptr, 10}};
        {
            models::SafeTensorsStreamWriter w(tmp("streamed.safetensors"), plan);
            std::map<std::string, torch::Tensor> byName = {{"a", a}, {"b", b}, {"c", c}};
            for (const auto& slot : w.order()) {
                const torch::Tensor& t = byName.at(slot.name);
                const auto* p = static_cast<const uint8_t*>(t.data_ptr());
                w.append(p, 4);                 // in two pieces
                w.append(p + 4, slot.size - 4);
            }
            QVERIFY_THROWS_EXCEPTION(Error, w.append(a.data_ptr(), 1));
            w.finish();
        }
        QCOMPARE(readFile(tmp("streamed.safetensors")), readFile(tmp("whole.safetensors")));
        {
            models::SafeTensorsStreamWriter w(tmp("unfinished.safetensors"), plan);
            w.append(a.data_ptr(), 8);
            QVERIFY_THROWS_EXCEPTION(Error, w.finish());
        }
        QVERIFY(!fs::exists(tmp("unfinished.safetensors")));
    }

    void mergedLoraReloadsToAdapterLogits()
    {
        const fs::path out = tmp("lora-merged");
        std::vector<std::pair<int64_t, int64_t>> ticks;
        const MergeReport report = exportMergedModel(request(fixtures() / "llama", {adapter("lora")}, out),
                                                     [&](int64_t d, int64_t t) {
                                                         ticks.emplace_back(d, t);
                                                         return true;
                                                     });
        QCOMPARE(report.tensors, int64_t(21));
        QCOMPARE(report.mergedTensors, int64_t(4));
        QCOMPARE(report.shards, std::vector<std::string>{"model.safetensors"});
        QCOMPARE(report.dtype, std::string("float32"));
        QCOMPARE(report.tensorBytes, uint64_t(427264));
        QCOMPARE(report.fileBytes, uint64_t(fs::file_size(out / "model.safetensors")));
        QCOMPARE(ticks.front(), std::make_pair(int64_t(0), int64_t(21)));
        QCOMPARE(ticks.back(), std::make_pair(int64_t(21), int64_t(21)));
        QVERIFY(!fs::exists(out / "model.safetensors.index.json"));
        QVERIFY(fs::exists(out / "generation_config.json"));
        QVERIFY(fs::exists(out / kMergeRecordFile));
        QCOMPARE(readFile(out / "generation_config.json"), readFile(fixtures() / "llama" / "generation_config.json"));

        auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        auto merged = models::loadSafeTensorsMap(out / "model.safetensors");
        auto base = models::loadSafeTensorsMap(fixtures() / "llama" / "model.safetensors");
        for (const auto& [name, t] : base) {
            const std::string key = "lora.merged." + name;
            if (ref.count(key))
                QVERIFY2(maxDiff(merged.at(name), ref.at(key)) < 1e-6, name.c_str());
            else
                QVERIFY2(torch::equal(merged.at(name), t), name.c_str()); // untouched tensors are bit-identical
        }
        auto model = models::loadCausalLM(out);
        const double d = maxDiff(logitsOf(*model), ref.at("lora.logits_nomask"));
        QVERIFY2(d < 1e-4, qPrintable(QString("max logit diff %1").arg(d)));
    }

    void weightedAdaptersEqualActiveSet()
    {
        const fs::path out = tmp("weighted");
        exportMergedModel(request(fixtures() / "llama", {adapter("lora", 0.3), adapter("lora2", 0.7)}, out));
        auto expectedModel = models::loadCausalLM(fixtures() / "llama");
        engine::AdapterSet set(*expectedModel);
        engine::loadPeftAdapter(set, fixtures() / "peft" / "lora", "a");
        engine::loadPeftAdapter(set, fixtures() / "peft" / "lora2", "b");
        set.setActive({{"a", 0.3}, {"b", 0.7}});
        const torch::Tensor expected = logitsOf(*expectedModel);
        auto merged = models::loadCausalLM(out);
        const torch::Tensor got = logitsOf(*merged);
        QVERIFY2(maxDiff(got, expected) < 1e-4, qPrintable(QString("diff %1").arg(maxDiff(got, expected))));
        // and the same as PEFT's exact concatenation of the two
        auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        QVERIFY(maxDiff(got, ref.at("comb_cat.logits_nomask")) < 1e-4);
        // a negative weight subtracts: base + lora - lora is the base
        const fs::path neg = tmp("negated");
        exportMergedModel(request(fixtures() / "llama", {adapter("lora", 1.0), adapter("lora", -1.0)}, neg));
        auto back = models::loadSafeTensorsMap(neg / "model.safetensors");
        auto base = models::loadSafeTensorsMap(fixtures() / "llama" / "model.safetensors");
        for (const auto& [name, t] : base)
            QVERIFY2(maxDiff(back.at(name), t) < 1e-6, name.c_str());
    }

    void tiedEmbeddingsStayTied()
    {
        const fs::path out = tmp("qwen2-merged");
        const MergeReport report = exportMergedModel(request(fixtures() / "qwen2", {adapter("lora")}, out));
        QVERIFY(report.tiedEmbeddings);
        models::WeightFiles files(out);
        QVERIFY(!files.contains("lm_head.weight"));
        QCOMPARE(files.names().size(), size_t(26));
        const auto config = nlohmann::json::parse(readFile(out / "config.json"));
        QCOMPARE(config.at("tie_word_embeddings").get<bool>(), true);

        auto expectedModel = models::loadCausalLM(fixtures() / "qwen2");
        engine::AdapterSet set(*expectedModel);
        engine::loadPeftAdapter(set, fixtures() / "peft" / "lora", "a");
        set.setActive({{"a", 1.0}});
        auto merged = models::loadCausalLM(out);
        QVERIFY(maxDiff(logitsOf(*merged), logitsOf(*expectedModel)) < 1e-4);

        // An adapter on lm_head of a tied model would change the input embeddings: refused.
        WeightedAdapter head;
        head.factors.label = "head-adapter";
        head.factors.modules.push_back({"lm_head", torch::zeros({2, 64}), torch::zeros({256, 2}), 1.0});
        try {
            exportMergedModel(request(fixtures() / "qwen2", {head}, tmp("qwen2-head")));
            QFAIL("an adapter on lm_head of a tied model was merged");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("tie_word_embeddings") != std::string::npos, e.what());
            QVERIFY2(std::string(e.what()).find("head-adapter") != std::string::npos, e.what());
        }
        QVERIFY(!fs::exists(tmp("qwen2-head")));
    }

    // A bias "lora_only" adapter: merged alone its trained biases replace the base's (the model then
    // gives what the adapter loaded alone gives); at weight λ the bias moves λ of the way; a reader
    // asked for factors only refuses it naming the tensor, and a base without that bias is refused.
    void trainedBiasesAreMerged()
    {
        const std::string q = "model.layers.0.self_attn.q_proj";
        const fs::path dir = tmp("lora-only");
        fs::create_directories(dir);
        const torch::Tensor baseBias = models::loadSafeTensorsMap(fixtures() / "qwen2" / "model.safetensors").at(q + ".bias");
        torch::manual_seed(11);
        const torch::Tensor trained = baseBias + torch::randn({64}) * 0.5;
        models::saveSafeTensors(dir / engine::kPeftWeightsFile,
                                std::vector<std::pair<std::string, torch::Tensor>>{
                                    {engine::kPeftKeyPrefix + q + ".lora_A.weight", torch::randn({2, 64}) * 0.1},
                                    {engine::kPeftKeyPrefix + q + ".lora_B.weight", torch::randn({64, 2}) * 0.1},
                                    {engine::kPeftKeyPrefix + q + ".bias", trained}});
        writeFileAtomic(dir / engine::kPeftConfigFile,
                        R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "bias": "lora_only", "target_modules": ["q_proj"]})");

        try {
            readAdapterFactors(dir);
            QFAIL("fusion's reader took a trained bias");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find(q + ".bias' is a trained bias") != std::string::npos, e.what());
            QVERIFY2(std::string(e.what()).find("lora_A / lora_B only") != std::string::npos, e.what());
        }

        WeightedAdapter a;
        a.factors = readAdapterFactors(dir, TrainedBiasUse::Read);
        a.factors.label = "lora-only";
        QCOMPARE(a.factors.biases.size(), size_t(1));
        const fs::path out = tmp("lora-only-merged");
        const MergeReport report = exportMergedModel(request(fixtures() / "qwen2", {a}, out));
        QCOMPARE(report.mergedTensors, int64_t(2)); // q_proj.weight and q_proj.bias
        const auto merged = models::loadSafeTensorsMap(out / "model.safetensors");
        QVERIFY(torch::allclose(merged.at(q + ".bias"), trained, 0, 1e-6));
        const auto record = nlohmann::json::parse(readFile(out / kMergeRecordFile));
        QCOMPARE(record.at("adapters")[0].at("trained_biases").get<int>(), 1);

        auto expectedModel = models::loadCausalLM(fixtures() / "qwen2");
        engine::AdapterSet set(*expectedModel);
        engine::loadPeftAdapter(set, dir, "a");
        set.setActive({{"a", 1.0}});
        auto mergedModel = models::loadCausalLM(out);
        const double diff = maxDiff(logitsOf(*mergedModel), logitsOf(*expectedModel));
        QVERIFY2(diff < 1e-4, std::to_string(diff).c_str());

        // Weight 0.5: half-way from the base bias to the trained one.
        a.weight = 0.5;
        exportMergedModel(request(fixtures() / "qwen2", {a}, tmp("lora-only-half")));
        const auto half = models::loadSafeTensorsMap(tmp("lora-only-half") / "model.safetensors");
        QVERIFY(torch::allclose(half.at(q + ".bias"), baseBias + 0.5 * (trained - baseBias), 0, 1e-6));

        // Llama's projections have no bias: a trained one belongs to another model.
        WeightedAdapter onLlama = a;
        onLlama.factors.modules.clear();
        try {
            exportMergedModel(request(fixtures() / "llama", {onLlama}, tmp("lora-only-llama")));
            QFAIL("a trained bias the base lacks was merged");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("has no tensor '" + q + ".bias'") != std::string::npos, e.what());
        }
        QVERIFY(!fs::exists(tmp("lora-only-llama")));
    }

    // A folder adapter naming another base model is merged when its shapes fit, with a warning.
    void otherBaseNameWarns()
    {
        std::vector<std::string> warnings;
        setLogCallback([&](LogLevel level, const std::string& m) {
            if (level == LogLevel::Warning)
                warnings.push_back(m);
        });
        exportMergedModel(request(fixtures() / "llama", {adapter("lora")}, tmp("llama-named")));
        const size_t sameBase = warnings.size();
        exportMergedModel(request(fixtures() / "qwen2", {adapter("lora")}, tmp("qwen2-named")));
        setLogCallback({});
        QCOMPARE(sameBase, size_t(0));
        QCOMPARE(warnings.size(), size_t(1));
        QVERIFY2(warnings[0].find("names base model 'llama'") != std::string::npos, warnings[0].c_str());
        QVERIFY2(warnings[0].find("not 'qwen2'") != std::string::npos, warnings[0].c_str());
    }

    void shardsFormAValidIndex()
    {
        const fs::path out = tmp("sharded");
        MergeRequest r = request(fixtures() / "llama", {adapter("lora")}, out);
        r.maxShardBytes = parseShardSize("100KB");
        const MergeReport report = exportMergedModel(r);
        QVERIFY(report.shards.size() >= 4);
        QCOMPARE(report.shards.front(), shardFileName(0, report.shards.size()));
        const auto index = nlohmann::json::parse(readFile(out / "model.safetensors.index.json"));
        QCOMPARE(index.at("metadata").at("total_size").get<uint64_t>(), uint64_t(427264));
        QCOMPARE(index.at("weight_map").size(), size_t(21));
        QVERIFY(!fs::exists(out / "model.safetensors"));
        for (const std::string& shard : report.shards) {
            const uint64_t size = fs::file_size(out / shard);
            models::SafeTensorsFile f(out / shard);
            // A shard exceeds the limit only when it holds a single larger tensor.
            QVERIFY2(size - f.header().dataStart() <= 100'000 || f.tensors().size() == 1, shard.c_str());
        }
        models::WeightFiles files(out);
        QVERIFY(files.sharded());
        QCOMPARE(files.totalBytes(), uint64_t(427264));
        auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        auto model = models::loadCausalLM(out);
        QVERIFY(maxDiff(logitsOf(*model), ref.at("lora.logits_nomask")) < 1e-4);
    }

    void bfloat16RoundsOnce()
    {
        const fs::path out = tmp("bf16");
        MergeRequest r = request(fixtures() / "llama", {adapter("lora")}, out);
        r.dtype = MergeDtype::BFloat16;
        const MergeReport report = exportMergedModel(r);
        QCOMPARE(report.dtype, std::string("bfloat16"));
        QCOMPARE(report.tensorBytes, uint64_t(427264 / 2));
        const auto config = nlohmann::json::parse(readFile(out / "config.json"));
        QCOMPARE(config.at("torch_dtype").get<std::string>(), std::string("bfloat16"));
        models::WeightFiles files(out);
        for (const std::string& n : files.names())
            QCOMPARE(files.info(n).dtype, models::Dtype::BF16);
        auto merged = models::loadSafeTensorsMap(out / "model.safetensors");
        auto f32 = models::loadSafeTensorsMap(tmp("lora-merged") / "model.safetensors");
        // The float32 merge rounded once: exactly the float32 export rounded to bfloat16.
        for (const auto& [name, t] : f32)
            QVERIFY2(torch::equal(merged.at(name), t.to(torch::kBFloat16)), name.c_str());
        models::LoadOptions opts;
        opts.dtype = torch::kFloat32;
        auto model = models::loadCausalLM(out, opts);
        auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        QVERIFY(maxDiff(logitsOf(*model), ref.at("lora.logits_nomask")) < 0.1);
    }

    void tokenizerFilesCopied()
    {
        // A base with the demo model's tokenizer files beside the llama fixture's weights.
        const fs::path base = tmp("base-with-tokenizer");
        fs::create_directories(base);
        for (const char* f : {"config.json", "generation_config.json", "model.safetensors"})
            fs::copy_file(fixtures() / "llama" / f, base / f);
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
            fs::copy_file(demoModelDirectory() / f, base / f);
        writeFileAtomic(base / "special_tokens_map.json", R"({"bos_token": "<s>"})");
        writeFileAtomic(base / "vocab.json", R"({"a": 0})");
        writeFileAtomic(base / "merges.txt", "#version: 0.2\na b\n");
        writeFileAtomic(base / "README.md", "base model card");
        writeFileAtomic(base / "pytorch_model.bin", "stale weights");
        const std::string before = Sha256::directoryHex(base);
        const fs::path out = tmp("with-tokenizer");
        const MergeReport report = exportMergedModel(request(base, {adapter("lora")}, out));
        QCOMPARE(report.copiedFiles, (std::vector<std::string>{"generation_config.json", "merges.txt", "special_tokens_map.json",
                                                              "tokenizer.json", "tokenizer_config.json", "vocab.json"}));
        for (const std::string& f : report.copiedFiles)
            QCOMPARE(readFile(out / f), readFile(base / f));
        const auto tokenizerConfig = nlohmann::json::parse(readFile(out / "tokenizer_config.json"));
        QVERIFY(tokenizerConfig.contains("chat_template"));
        QVERIFY(!fs::exists(out / "README.md"));
        QVERIFY(!fs::exists(out / "pytorch_model.bin"));
        QCOMPARE(Sha256::directoryHex(base), before);
        // config.json keeps every key of the base, only the dtype is set.
        auto baseConfig = nlohmann::json::parse(readFile(base / "config.json"));
        baseConfig["torch_dtype"] = "float32";
        QCOMPARE(nlohmann::json::parse(readFile(out / "config.json")), baseConfig);
    }

    void readOnlyBaseFilesGiveWritableCopies()
    {
        // A base in a read-only cache: every file 0444 (a script 0555), the folder 0555.
        const fs::path base = tmp("read-only-base");
        fs::create_directories(base);
        for (const char* f : {"config.json", "generation_config.json", "model.safetensors"})
            fs::copy_file(fixtures() / "llama" / f, base / f);
        writeFileAtomic(base / "special_tokens_map.json", R"({"bos_token": "<s>"})");
        writeFileAtomic(base / "convert.sh", "#!/bin/sh\n");
        for (const auto& e : fs::directory_iterator(base))
            fs::permissions(e.path(), e.path().extension() == ".sh" ? fs::perms(0555) : fs::perms(0444));
        fs::permissions(base, fs::perms(0555));
        const mode_t umaskNow = ::umask(022);
        ::umask(umaskNow);
        const fs::path out = tmp("from-read-only-base");
        const MergeReport report = exportMergedModel(request(base, {adapter("lora")}, out));
        fs::permissions(base, fs::perms::owner_all);
        QCOMPARE(report.copiedFiles, (std::vector<std::string>{"convert.sh", "generation_config.json", "special_tokens_map.json"}));
        auto modeOf = [](const fs::path& p) { return int(fs::status(p).permissions() & fs::perms::all); };
        for (const std::string& f : {std::string("generation_config.json"), std::string("special_tokens_map.json")}) {
            QCOMPARE(modeOf(out / f), int(0666 & ~umaskNow)); // was 0444, the source's
            QCOMPARE(modeOf(base / f), 0444);
            QCOMPARE(readFile(out / f), readFile(base / f));
        }
        QCOMPARE(modeOf(out / "convert.sh"), int(0777 & ~umaskNow)); // a script stays runnable
        QVERIFY(modeOf(out / "config.json") & int(fs::perms::owner_write));
        QVERIFY(modeOf(out) & int(fs::perms::owner_write));
    }

    void refusalsWriteNothing_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing module") << "missing" << "has no tensor 'model.layers.7.self_attn.q_proj.weight'";
        QTest::newRow("shape mismatch") << "shape" << "the base tensor 'model.layers.0.self_attn.q_proj.weight' is [64, 64]";
        QTest::newRow("non-finite result") << "overflow" << "non-finite";
        QTest::newRow("float16 overflow") << "fp16" << "does not fit F16";
        QTest::newRow("nan weight") << "nanweight" << "not a finite number";
        QTest::newRow("weight beyond float32") << "hugeweight" << "adapter 'lora': weight 1e+39 does not fit float32 (at most 3.40282e+38)";
        QTest::newRow("weight times scale") << "hugescale"
                                            << "adapter 'lora' module 'model.layers.0.self_attn.q_proj': its weight -2e+38 times "
                                               "its scale 2 is -4e+38, which does not fit float32";
        // NaN in the base is the base's fault: named as the loader names it, whether an adapter
        // changes the tensor, only its dtype changes, or its bytes are copied as they are.
        QTest::newRow("nan in a merged base tensor") << "basenan:model.layers.0.self_attn.q_proj.weight"
                                                     << "model.safetensors: tensor 'model.layers.0.self_attn.q_proj.weight' holds NaN or infinite values";
        QTest::newRow("inf in a copied base tensor") << "basenan:model.norm.weight"
                                                     << "model.safetensors: tensor 'model.norm.weight' holds NaN or infinite values";
        QTest::newRow("nan in a converted base tensor") << "basenan-bf16:model.layers.1.mlp.up_proj.weight"
                                                        << "model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight' holds NaN or infinite values";
        // A base the loader refuses gave a merged folder that no command loads: a tensor config.json
        // needs that is missing, of another shape, or not floating point is named before anything is written.
        QTest::newRow("base tensor missing") << "basebroken:drop"
                                             << "expected tensor 'model.layers.1.mlp.up_proj.weight' [128, 64] for LlamaForCausalLM, "
                                                "not found in the checkpoint; the base model does not load, so it cannot be merged";
        QTest::newRow("base shape vs config") << "basebroken:vocab"
                                              << "model.safetensors: tensor 'model.embed_tokens.weight': expected shape [100, 64] from "
                                                 "config.json, found [256, 64]; the base model does not load";
        QTest::newRow("base tensor not floating point") << "basebroken:int"
                                                        << "model.safetensors: tensor 'model.norm.weight': expected a floating-point dtype "
                                                           "(F32, F16 or BF16), found I32";
        QTest::newRow("other base model") << "fingerprint" << "was trained on another base model";
        QTest::newRow("no adapters") << "none" << "no adapters";
        QTest::newRow("zero shard size") << "shard" << "max shard size";
        QTest::newRow("out not empty") << "nonempty" << "is not empty";
        QTest::newRow("out inside base") << "inside" << "inside the base model folder";
        QTest::newRow("out inside an adapter") << "inadapter" << "lies inside the folder of adapter 'lora'";
        QTest::newRow("out inside the store") << "instore" << "lies inside the store's adapter folder";
        QTest::newRow("not a model") << "nomodel" << "config.json";
    }

    void refusalsWriteNothing()
    {
        QFETCH(QString, kind);
        QFETCH(QString, expected);
        const fs::path parent = tmp("refused-" + kind.toStdString());
        fs::create_directories(parent);
        fs::path out = parent / "out";
        fs::path model = fixtures() / "llama";
        std::vector<WeightedAdapter> adapters = {adapter("lora")};
        MergeRequest r;
        if (kind == "missing") {
            adapters[0].factors.modules[0].module = "model.layers.7.self_attn.q_proj";
        } else if (kind == "shape") {
            ModuleFactors& m = adapters[0].factors.modules[0];
            m.A = torch::zeros({8, 32});
        } else if (kind == "overflow") {
            // Each factor finite, their product beyond float32.
            adapters[0].factors.modules[1].A = adapters[0].factors.modules[1].A * 1e30;
            adapters[0].weight = 1e30;
        } else if (kind == "fp16") {
            adapters[0].weight = 1e6;
        } else if (kind == "nanweight") {
            adapters[0].weight = std::nan("");
        } else if (kind == "hugeweight") {
            adapters[0].weight = 1e39;
        } else if (kind == "hugescale") {
            adapters[0].weight = -2e38;
        } else if (kind.startsWith("basenan")) {
            // A copy of the base with one value of one tensor made non-finite.
            model = parent / "base";
            fs::create_directories(model);
            fs::copy_file(fixtures() / "llama" / "config.json", model / "config.json");
            auto tensors = models::loadSafeTensors(fixtures() / "llama" / "model.safetensors");
            const std::string target = kind.section(':', 1).toStdString();
            for (auto& [name, t] : tensors)
                if (name == target) {
                    t = t.clone();
                    t.view({-1})[t.numel() / 2] = name == "model.norm.weight" ? INFINITY : NAN;
                }
            models::saveSafeTensors(model / "model.safetensors", tensors);
        } else if (kind.startsWith("basebroken")) {
            // A copy of the base with one fault the loader refuses.
            model = parent / "base";
            fs::create_directories(model);
            const std::string fault = kind.section(':', 1).toStdString();
            std::string config = readFile(fixtures() / "llama" / "config.json");
            if (fault == "vocab")
                config.replace(config.find("\"vocab_size\": 256"), std::string("\"vocab_size\": 256").size(), "\"vocab_size\": 100");
            writeFileAtomic(model / "config.json", config);
            std::vector<std::pair<std::string, torch::Tensor>> kept;
            for (auto& [name, t] : models::loadSafeTensors(fixtures() / "llama" / "model.safetensors")) {
                if (fault == "drop" && name == "model.layers.1.mlp.up_proj.weight")
                    continue;
                kept.emplace_back(name, fault == "int" && name == "model.norm.weight" ? t.to(torch::kInt32) : t);
            }
            models::saveSafeTensors(model / "model.safetensors", kept);
        } else if (kind == "fingerprint") {
            adapters[0].baseModelSha256 = std::string(64, '0');
        } else if (kind == "none") {
            adapters.clear();
        } else if (kind == "nonempty") {
            fs::create_directories(out);
            writeFileAtomic(out / "keep.txt", "mine");
        } else if (kind == "nomodel") {
            model = tmp("not-a-model");
            fs::create_directories(model);
        }
        r = request(model, adapters, out);
        if (kind == "fp16")
            r.dtype = MergeDtype::Float16;
        if (kind.startsWith("basenan-bf16"))
            r.dtype = MergeDtype::BFloat16;
        if (kind == "shard")
            r.maxShardBytes = 0;
        if (kind == "inside") {
            // A copy of the base, so that the real fixture folder is never a target.
            model = parent / "base";
            fs::create_directories(model);
            for (const char* f : {"config.json", "model.safetensors"})
                fs::copy_file(fixtures() / "llama" / f, model / f);
            r = request(model, adapters, model / "merged");
        }
        if (kind == "inadapter") {
            // A copy of the adapter, so that the shared fixture is never a target.
            fs::copy(fixtures() / "peft" / "lora", parent / "adapter", fs::copy_options::recursive);
            r.adapters[0].factors = readAdapterFactors(parent / "adapter");
            r.adapters[0].factors.label = "lora";
            r.outDir = parent / "adapter" / "merged";
        }
        if (kind == "instore") {
            fs::create_directories(parent / "adapters" / "summaries");
            r.adapterStoreRoot = parent / "adapters";
            r.outDir = parent / "adapters" / "summaries" / "merged";
        }
        const QStringList before = entries(parent);
        try {
            exportMergedModel(r);
            QFAIL("the export was not refused");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find(expected.toStdString()) != std::string::npos, e.what());
        }
        QCOMPARE(entries(parent), before);
        if (kind == "nonempty")
            QCOMPARE(readFile(out / "keep.txt"), std::string("mine"));
        if (kind == "inside")
            QCOMPARE(entries(model), (QStringList{"config.json", "model.safetensors"}));
        if (kind == "inadapter")
            QCOMPARE(entries(parent / "adapter"), entries(fixtures() / "peft" / "lora"));
        if (kind == "instore")
            QCOMPARE(entries(parent / "adapters" / "summaries"), QStringList());
    }

    void cancelLeavesNothing()
    {
        const fs::path parent = tmp("cancel");
        fs::create_directories(parent);
        int calls = 0;
        try {
            MergeRequest r = request(fixtures() / "llama", {adapter("lora")}, parent / "out");
            r.maxShardBytes = 100'000;
            exportMergedModel(r, [&](int64_t done, int64_t) { ++calls; return done < 10; });
            QFAIL("the export was not cancelled");
        } catch (const MergeCancelled& e) {
            QVERIFY(std::string(e.what()).find("cancelled") != std::string::npos);
        }
        QCOMPARE(calls, 11);
        QVERIFY(entries(parent).isEmpty());
        // An empty existing folder is a valid target and is filled.
        fs::create_directories(parent / "empty");
        exportMergedModel(request(fixtures() / "llama", {adapter("lora")}, parent / "empty"));
        QVERIFY(fs::exists(parent / "empty" / "model.safetensors"));
        QCOMPARE(entries(parent), QStringList{"empty"});
    }

    // What `rslora merge` does on Ctrl-C: the signal only sets the guard's flag, the progress callback
    // returns false at the next tensor, and the staging folder is removed on the way out.
    void interruptLeavesNothing()
    {
        const fs::path parent = tmp("interrupt");
        fs::create_directories(parent);
        MergeRequest r = request(fixtures() / "llama", {adapter("lora")}, parent / "out");
        r.maxShardBytes = 100'000;
        InterruptGuard interrupt;
        int calls = 0;
        try {
            exportMergedModel(r, [&](int64_t done, int64_t) {
                ++calls;
                if (done == 5)
                    std::raise(SIGINT);
                return !interrupt.interrupted();
            });
            QFAIL("the interrupted export returned");
        } catch (const MergeCancelled& e) {
            QVERIFY(std::string(e.what()).find("nothing was written") != std::string::npos);
        }
        QCOMPARE(calls, 6);
        QCOMPARE(interrupt.exitCode(), 130);
        QVERIFY(entries(parent).isEmpty());
    }

    // Two merges into one --out: the one that finishes second finds the first's folder and is
    // refused; the first's files stay as they were, and nothing of the second is left.
    void secondWriterKeepsTheFirstResult()
    {
        const fs::path parent = tmp("second-writer");
        fs::create_directories(parent);
        const fs::path out = parent / "out";
        MergeRequest r = request(fixtures() / "llama", {adapter("lora")}, out);
        try {
            exportMergedModel(r, [&](int64_t done, int64_t) {
                if (done == 3 && !fs::exists(out))
                    writeFileAtomic(out / "model.safetensors", "the first merge's result");
                return true;
            });
            QFAIL("the export moved its folder over another one");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("appeared while writing") != std::string::npos, e.what());
        }
        QCOMPARE(readFile(out / "model.safetensors"), std::string("the first merge's result"));
        QCOMPARE(entries(parent), QStringList{"out"});
        QCOMPARE(entries(out), QStringList{"model.safetensors"});
    }
};

QTEST_GUILESS_MAIN(ModelExportTest)
#include "ModelExportTest.moc"
