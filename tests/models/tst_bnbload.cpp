// Loading Hugging Face folders saved with bitsandbytes 4-bit weights (quantization_config with
// load_in_4bit): the test writes such folders itself (codes, absmax, quant_map, nested tensors and
// the quant-state JSON under bitsandbytes' names), loads them and compares the logits with a dense
// model holding the dequantized weights; the dequantizing load; unsupported methods refused by name.
#include "models/LlamaFamilyModel.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"
#include "models/quant/BaseQuantizer.h"
#include "models/quant/BnbCheckpoint.h"
#include "models/quant/QuantizedLinear.h"

#include "common/Error.h"

#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace rslora::models;
using namespace rslora::models::quant;
namespace fs = std::filesystem;

namespace {

ModelConfig tinyConfig()
{
    ModelConfig c;
    c.vocabSize = 40;
    c.hiddenSize = 64;
    c.intermediateSize = 96;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 16;
    c.maxPositionEmbeddings = 64;
    c.initializerRange = 0.05;
    return c;
}

nlohmann::json readJson(const fs::path& p)
{
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

void writeJson(const fs::path& p, const nlohmann::json& j)
{
    std::ofstream(p) << j.dump(2);
}

std::string errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const rslora::Error& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

class TestBnbLoad : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void logitsMatchDequantizedWeights_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<bool>("nested");
        QTest::newRow("nf4, double quant") << int(QuantType::Nf4) << true;
        QTest::newRow("nf4") << int(QuantType::Nf4) << false;
        QTest::newRow("fp4, double quant") << int(QuantType::Fp4) << true;
        QTest::newRow("fp4") << int(QuantType::Fp4) << false;
    }
    void logitsMatchDequantizedWeights()
    {
        QFETCH(int, type);
        QFETCH(bool, nested);
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "bnb";
        auto source = createCausalLM(tinyConfig(), 5);
        const std::string dense = "model.layers.1.mlp.down_proj.weight"; // as llm_int8_skip_modules leaves one
        const auto dequantized = saveBnbModelFolder(*source, dir, {QuantType(type), 64, nested, 256}, {dense});
        QCOMPARE(int(dequantized.size()), 13);

        // The reference: the source model with each quantized projection's weight dequantized.
        for (auto& slot : source->linearSlots()) {
            auto it = dequantized.find(slot.name + ".weight");
            if (it != dequantized.end())
                slot.set(std::make_shared<LinearLayer>(it->second, slot.get()->bias));
        }
        const torch::Tensor ids = torch::randint(0, 40, {2, 9}, torch::kInt64);
        torch::NoGradGuard ng;
        const torch::Tensor expected = source->forward(ids).logits;

        auto loaded = loadCausalLM(dir);
        const auto summary = BaseQuantizer::summarize(*loaded);
        QCOMPARE(summary.layers, 13);
        const torch::Tensor logits = loaded->forward(ids).logits;
        const double diff = (logits - expected).abs().max().item<double>();
        QVERIFY2(diff < 1e-5, qPrintable(QString::number(diff)));
        // The stored codes are used as they are, also when quantization is asked for at load.
        LoadOptions lo;
        lo.quantization = QuantOptions{QuantType(type == int(QuantType::Nf4) ? QuantType::Fp4 : QuantType::Nf4)};
        auto requantized = loadCausalLM(dir, lo);
        QCOMPARE(BaseQuantizer::summarize(*requantized).layers, 14); // the dense one quantized too
        const auto* q = dynamic_cast<QuantizedLinear*>(requantized->linearSlots()[0].get().get());
        QVERIFY(q && q->quantized().parts().type == QuantType(type));

        // Dequantizing at load: dense layers holding exactly the dequantized weights.
        LoadOptions deq;
        deq.dequantize4bit = true;
        auto dense4 = loadCausalLM(dir, deq);
        QCOMPARE(BaseQuantizer::summarize(*dense4).layers, 0);
        for (const auto& [name, t] : dense4->checkpointTensors())
            if (dequantized.count(name))
                QVERIFY2(torch::equal(t, dequantized.at(name)), name.c_str());
        QVERIFY((dense4->forward(ids).logits - expected).abs().max().item<double>() < 1e-5);
    }

    void unsupportedConfigsRefusedByName()
    {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "m";
        auto model = createCausalLM(tinyConfig(), 1);
        saveBnbModelFolder(*model, dir, {});
        const nlohmann::json good = readJson(dir / "config.json");
        auto withQuant = [&](const nlohmann::json& q) {
            nlohmann::json c = good;
            c["quantization_config"] = q;
            writeJson(dir / "config.json", c);
            return errorOf([&] { loadCausalLM(dir); });
        };
        QString e = QString::fromStdString(withQuant({{"quant_method", "gptq"}, {"bits", 4}}));
        QVERIFY2(e.contains("quantization_config.quant_method 'gptq' is not supported"), qPrintable(e));
        e = QString::fromStdString(withQuant({{"quant_method", "awq"}, {"bits", 4}}));
        QVERIFY2(e.contains("quant_method 'awq' is not supported"), qPrintable(e));
        e = QString::fromStdString(withQuant({{"quant_method", "bitsandbytes"}, {"load_in_8bit", true}}));
        QVERIFY2(e.contains("bitsandbytes 8-bit (load_in_8bit, LLM.int8) checkpoints are not supported"), qPrintable(e));
        e = QString::fromStdString(withQuant({{"quant_method", "bitsandbytes"}, {"load_in_4bit", true}, {"bnb_4bit_quant_type", "af4"}}));
        QVERIFY2(e.contains("bnb_4bit_quant_type: unknown 4-bit type 'af4' (expected nf4 or fp4)"), qPrintable(e));
        QVERIFY2(e.contains("config.json"), qPrintable(e));

        // A quant state that disagrees with config.json's shapes names the tensor.
        writeJson(dir / "config.json", good);
        auto tensors = loadSafeTensors(dir / "model.safetensors");
        for (auto& [name, t] : tensors)
            if (name == "model.layers.0.self_attn.k_proj.weight.quant_state.bitsandbytes__nf4") {
                std::string text(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), size_t(t.numel()));
                auto j = nlohmann::json::parse(text);
                j["shape"] = {32, 32};
                text = j.dump();
                t = torch::from_blob(text.data(), {int64_t(text.size())}, torch::kUInt8).clone();
            }
        saveSafeTensors(dir / "model.safetensors", tensors);
        e = QString::fromStdString(errorOf([&] { loadCausalLM(dir); }));
        QVERIFY2(e.contains("tensor 'model.layers.0.self_attn.k_proj.weight.quant_state.bitsandbytes__nf4': expected shape [32, 64] from config.json, the quant state says [32,32]"),
                 qPrintable(e));
    }
};

QTEST_GUILESS_MAIN(TestBnbLoad)
#include "tst_bnbload.moc"
