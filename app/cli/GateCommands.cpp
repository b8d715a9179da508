// `rslora gate train` and `rslora gate eval`: a learned fusion gate over 2 or more adapters (per
// example weights from the base model's pooled hidden state), trained with base and adapters
// frozen, saved as a folder and kept in the store as a version of stage "gate" (unless --no-store),
// evaluated with the weights it chose shown per example, and used for generation.
#include "app/cli/Commands.h"
#include "app/cli/FiniteRange.h"
#include "app/cli/OutputPath.h"
#include "app/cli/StorageCli.h"

#include "app/shared/AdapterReference.h"
#include "app/shared/GateRecorder.h"
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Sha256.h"
#include "engine/AdapterSet.h"
#include "engine/TrainingRun.h"
#include "engine/fusion/FusionGate.h"
#include "models/Generator.h"
#include "models/ModelLoader.h"
#include "models/ModelTokenizer.h"
#include "models/tokenizer/Tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <optional>
#include <unistd.h>

namespace rslora::cli {

namespace fs = std::filesystem;
namespace fusion = engine::fusion;
using json = nlohmann::ordered_json;

namespace {

struct GateTrainCli {
    storecli::Common c;
    std::string model, out, chatTemplate, device = "cpu";
    app::GateRegistration registration;
    bool noStore = false;
    std::vector<std::string> adapters, data;
    fusion::GateTrainOptions train;
};

struct GateEvalCli {
    storecli::Common c;
    std::string gate, model, data, chatTemplate, device = "cpu";
    std::vector<std::string> prompts;
    int batchSize = 8, maxSeqLen = 512, maxNewTokens = 32, examples = 50;
};

std::vector<engine::TrainExample> readRows(const std::string& path, const std::string& model, int maxSeqLen,
                                           const std::string& chatTemplate)
{
    engine::TrainConfig c;
    c.modelPath = model;
    c.maxSeqLen = maxSeqLen;
    c.chatTemplate = chatTemplate;
    auto rows = engine::loadExamples(path, c);
    if (rows.empty())
        throw Error("--data " + path + ": no records");
    return rows;
}

std::unique_ptr<models::CausalLM> loadModel(const std::string& dir, const std::string& device)
{
    models::LoadOptions lo;
    lo.device = models::parseDevice(device);
    return models::loadCausalLM(dir, lo);
}

void gateTrain(const GateTrainCli& o)
{
    if (o.adapters.size() < 2)
        throw Error("gate train needs 2 or more --adapter, found " + std::to_string(o.adapters.size()));
    const fs::path out = outputPath(o.out, "--out");
    if (fs::exists(out))
        throw Error("--out " + o.out + " already exists: name a new folder (nothing is overwritten)");
    if (o.noStore && (!o.registration.name.empty() || !o.registration.notes.empty() || o.registration.task != "gated"))
        throw Error("--task, --name and --notes describe the stored version: leave them out with --no-store");
    std::unique_ptr<storage::Store> store;
    if (!o.noStore) {
        store = storecli::openStore(o.c);
        storecli::refuseUnusableNames(*store, o.registration.task, o.registration.name);
    }
    std::vector<fusion::GateAdapter> adapters;
    std::vector<app::ResolvedAdapter> sources;
    for (size_t i = 0; i < o.adapters.size(); ++i) {
        const auto r = app::resolveAdapterArgument(o.adapters[i], store.get());
        if (r.label != o.adapters[i])
            throw Error("--adapter " + o.adapters[i] + ": the gate learns the weights, so an adapter takes none");
        const std::string path = fs::absolute(r.path).string();
        adapters.push_back({"gate" + std::to_string(i), r.label, path, Sha256::directoryHex(path)});
        sources.push_back(r);
        // A gate routes between different updates; a copy would get weights that mean nothing.
        for (size_t j = 0; j < i; ++j)
            if (adapters[j].sha256 == adapters[i].sha256)
                throw Error("--adapter " + o.adapters[i] + " is the same adapter as --adapter " + o.adapters[j]
                            + (fs::equivalent(adapters[j].path, path) ? " (the folder " + path + ")" : " (identical files)")
                            + ": a gate routes between different adapters; give each one once");
    }
    // Data before weights: a bad line is reported without loading the model.
    std::vector<engine::TrainExample> rows;
    for (const auto& d : o.data) {
        auto part = readRows(d, o.model, o.train.maxSeqLen, o.chatTemplate);
        rows.insert(rows.end(), part.begin(), part.end());
    }
    auto model = loadModel(o.model, o.device);
    engine::AdapterSet set(*model);
    fusion::FusionGate gate(adapters, model->config().hiddenSize, o.train.hidden, o.train.seed);
    fusion::loadGateAdapters(gate, set);
    const bool tty = isatty(fileno(stderr));
    const auto stats = fusion::trainGate(gate, set, rows, o.train, [&](int step, int steps, double loss) {
        if (tty || step == steps || step % 50 == 0)
            std::fprintf(stderr, tty ? "\r\033[Kstep %d/%d  loss %.4f" : "step %d/%d  loss %.4f\n", step, steps, loss);
        std::fflush(stderr);
        return true;
    });
    if (tty)
        std::fprintf(stderr, "\r\033[K");
    gate.info()["base_model"] = fs::absolute(o.model).string();
    gate.info()["options"] = {{"steps", o.train.steps},          {"lr", o.train.lr},   {"seed", o.train.seed},
                              {"batch_size", o.train.batchSize}, {"hidden", o.train.hidden},
                              {"weight_decay", o.train.weightDecay}, {"max_seq_len", o.train.maxSeqLen}};
    json data = json::array();
    for (const auto& d : o.data)
        data.push_back({{"path", fs::absolute(d).string()}, {"sha256", Sha256::fileHex(d)}});
    gate.info()["data"] = data;
    // With a store, the folder is written under a hidden name, the version recorded from it, and only
    // then renamed to --out (as `rslora fuse` does): a visible --out always has its version.
    std::optional<storage::AdapterRecord> version;
    if (!store) {
        gate.save(out);
    } else {
        AtomicDirectory folder(out, AtomicDirectory::OnExisting::NoReplace); // never over another finished gate
        gate.save(folder.stagingPath());
        version = app::registerGate(*store, folder.stagingPath(), gate, sources, o.model, o.registration);
        if (fs::exists(out))
            throw Error("--out " + o.out + " appeared while training; the gate is stored as " + version->name + " (v"
                        + std::to_string(version->version) + ")");
        folder.commit();
    }
    if (o.c.json) {
        storecli::printJson({{"out", out.string()}, {"steps", stats.steps}, {"examples", stats.examples},
                             {"first_loss", stats.firstLoss}, {"final_loss", stats.finalLoss}, {"seconds", stats.seconds},
                             {"version", version ? storage::toJson(*version) : json(nullptr)}});
        return;
    }
    std::cout << "gate         " << (o.train.hidden > 0 ? "1 hidden layer of " + std::to_string(o.train.hidden) : std::string("linear"))
              << " + softmax over " << adapters.size() << " adapters\n"
              << "trained      " << stats.steps << " steps on " << stats.examples << " rows, batch loss " << std::setprecision(5)
              << stats.firstLoss << " -> " << stats.finalLoss << " (" << std::setprecision(3) << stats.seconds << " s)\n"
              << "written      " << out.string() << " (" << fusion::kGateWeightsFile << ", " << fusion::kGateConfigFile << ")\n";
    if (version)
        std::cout << "stored       " << storecli::oneLine(version->name) << " (" << storecli::oneLine(version->task) << " v"
                  << version->version << ", stage gate), over "
                  << std::count_if(sources.begin(), sources.end(), [](const auto& s) { return s.record.has_value(); })
                  << " stored version(s)\n";
}

void gateEval(const GateEvalCli& o)
{
    if (o.data.empty() && o.prompts.empty())
        throw Error("gate eval needs --data VAL.jsonl and/or --prompt TEXT");
    // A stored gate is opened only when --gate is not a folder (or --db asks for the store).
    std::unique_ptr<storage::Store> store;
    if (!o.c.db.empty() || !fs::is_directory(o.gate))
        store = storecli::openStore(o.c);
    const app::ResolvedAdapter where = app::resolveGateArgument(o.gate, store.get());
    const fusion::FusionGate gate = fusion::FusionGate::load(where.path);
    std::string modelDir = o.model;
    if (modelDir.empty()) {
        const auto& info = gate.info();
        if (!info.contains("base_model") || !info["base_model"].is_string())
            throw Error(o.gate + ": the gate does not record its base model: give --model");
        modelDir = info["base_model"].get<std::string>();
    }
    std::vector<engine::TrainExample> rows;
    if (!o.data.empty())
        rows = readRows(o.data, modelDir, o.maxSeqLen, o.chatTemplate);
    auto model = loadModel(modelDir, o.device);
    if (model->config().hiddenSize != gate.hiddenSize())
        throw Error(o.gate + ": the gate reads hidden states of size " + std::to_string(gate.hiddenSize()) + ", the model at "
                    + modelDir + " has " + std::to_string(model->config().hiddenSize));
    engine::AdapterSet set(*model);
    fusion::loadGateAdapters(gate, set);
    json j = json::object();
    if (!rows.empty()) {
        const auto ev = fusion::evaluateGate(gate, set, rows, o.batchSize, o.maxSeqLen);
        if (o.c.json)
            j = ev.toJson();
        else
            std::cout << ev.toText(size_t(o.examples));
    }
    if (!o.prompts.empty()) {
        const auto tok = models::loadModelTokenizer(modelDir);
        models::GenerationOptions go;
        go.maxNewTokens = o.maxNewTokens;
        go.eosTokenIds = models::stopTokenIds(model->config(), tok);
        json gens = json::array();
        for (const auto& p : o.prompts) {
            // One prompt at a time: its own weights, no padding in the pooled state.
            const auto ids = tok.encode(p, true);
            if (ids.empty())
                throw Error("--prompt is empty after tokenization");
            const auto t = torch::tensor(ids, torch::kLong).unsqueeze(0);
            const auto w = gate.route(set, t, torch::ones_like(t));
            const auto r = models::generate(*model, {ids}, go);
            set.setActive({});
            std::vector<double> weights;
            for (int64_t i = 0; i < w.size(1); ++i)
                weights.push_back(w[0][i].item<double>());
            const std::string text = tok.decode(r.rows[0].tokens, true);
            gens.push_back({{"prompt", p}, {"weights", weights}, {"text", text}});
            if (!o.c.json) {
                std::cout << "prompt       " << storecli::oneLine(p) << "\nweights     ";
                for (size_t i = 0; i < weights.size(); ++i)
                    std::cout << " " << gate.adapters()[i].label << " " << std::fixed << std::setprecision(3) << weights[i];
                std::cout.unsetf(std::ios::floatfield);
                std::cout << "\ngenerated    " << storecli::oneLine(text) << "\n";
            }
        }
        j["generations"] = gens;
    }
    if (o.c.json)
        storecli::printJson(j);
}

} // namespace

void registerGateCommands(CLI::App& app)
{
    auto* gate = app.add_subcommand("gate", "A learned gate that weighs fused adapters per example");
    gate->require_subcommand(1);

    auto t = std::make_shared<GateTrainCli>();
    auto* train = gate->add_subcommand("train", "Train a gate over 2 or more adapters (base and adapters frozen)");
    storecli::addCommon(train, t->c);
    train->add_option("--model", t->model, "Base model folder")->required();
    train->add_option("--adapter", t->adapters, "Adapter folder or stored version task@vN (repeat: 2 or more)")->required();
    train->add_option("--data", t->data, "Training JSONL of the tasks (repeat: the rows are mixed)")->required();
    train->add_option("--out", t->out, "The gate folder to write (must not exist)")->required();
    train->add_option("--task", t->registration.task, "Task the stored gate version joins (default: gated)");
    train->add_option("--name", t->registration.name, "Name of the stored version (default: <task>_gate_v<N>_<date>)");
    train->add_option("--notes", t->registration.notes, "Notes kept with the stored version");
    train->add_flag("--no-store", t->noStore, "Write the folder only: no store (adapters must then be folders)");
    train->add_option("--steps", t->train.steps, "Optimizer steps (default 200)")->check(CLI::Range(1, 1000000));
    train->add_option("--lr", t->train.lr, "AdamW learning rate (default 0.005)")->check(finiteIn(0, 10, End::Open));
    train->add_option("--seed", t->train.seed, "Seed of the batch order and the hidden layer (default 0)")->check(notNegative());
    train->add_option("--hidden", t->train.hidden, "Width of a tanh hidden layer (default 0: a linear gate)")->check(CLI::Range(0, 65536));
    train->add_option("--weight-decay", t->train.weightDecay, "AdamW weight decay (default 0)")->check(finiteIn(0, 10));
    train->add_option("--batch-size", t->train.batchSize, "Rows per step (default 8)")->check(CLI::Range(1, 65536));
    train->add_option("--max-seq-len", t->train.maxSeqLen, "Truncation length (default 512)")->check(CLI::Range(2, 1 << 20));
    train->add_option("--chat-template", t->chatTemplate, "Template name for SFT records (default: the tokenizer's)");
    train->add_option("--device", t->device, "cpu or cuda[:N] (default cpu)");
    train->callback([t] { gateTrain(*t); });

    auto e = std::make_shared<GateEvalCli>();
    auto* eval = gate->add_subcommand("eval", "Loss with the gate's weights per example, against each adapter alone; or generate");
    storecli::addCommon(eval, e->c);
    eval->add_option("--gate", e->gate, "Gate folder (gate.safetensors + gate.json) or a stored gate such as gated@v1")->required();
    eval->add_option("--data", e->data, "Validation JSONL (SFT or tokenized records)");
    eval->add_option("--prompt", e->prompts, "Generate from this prompt with the gate's weights (repeat)");
    eval->add_option("--model", e->model, "Base model folder (default: the one the gate was trained on)");
    eval->add_option("--batch-size", e->batchSize, "Evaluation batch size (default 8)")->check(CLI::Range(1, 65536));
    eval->add_option("--max-seq-len", e->maxSeqLen, "Truncation length (default 512)")->check(CLI::Range(2, 1 << 20));
    eval->add_option("--max-new-tokens", e->maxNewTokens, "Generated tokens per prompt (default 32)")->check(CLI::Range(1, 1 << 20));
    eval->add_option("--examples", e->examples, "Examples listed in the text output (default 50; --json lists all)")->check(CLI::Range(0, 1 << 30));
    eval->add_option("--chat-template", e->chatTemplate, "Template name for SFT records (default: the tokenizer's)");
    eval->add_option("--device", e->device, "cpu or cuda[:N] (default cpu)");
    eval->callback([e] { gateEval(*e); });
}

} // namespace rslora::cli
