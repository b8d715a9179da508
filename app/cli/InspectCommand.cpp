// `rslora inspect`: a model folder's architecture, weights, tokenizer and template (token ids outside
// the vocabulary and every weight problem listed), or a PEFT adapter folder after the loader's checks.
#include "app/cli/Commands.h"
#include "app/cli/FolderTokenizer.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/PeftConfigFile.h"
#include "engine/PeftFolderCheck.h"
#include "engine/Runtime.h"
#include "models/ArchitectureTable.h"
#include "models/CausalLM.h"
#include "models/LlamaFamilyModel.h"
#include "models/ModelConfig.h"
#include "models/ModelLoader.h"
#include "models/SafeTensorsFile.h"
#include "models/ModelTokenizer.h"
#include "models/WeightFiles.h"
#include "models/chat/ChatTemplate.h"
#include "models/quant/BnbCheckpoint.h"
#include "models/quant/QuantType.h"
#include "models/tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;

namespace rslora::cli {
namespace {

using namespace rslora::models;

const char* kSampleText = "Hello, world! Fine-tuning adapters: r=8, alpha=16.";

// ---------------------------------------------------------------------------------------------
// Values config.json (with generation_config.json) accepts that still cannot work: special token ids
// outside the embedding rows. transformers loads such a config; generation never meets the id.
std::vector<std::string> tokenIdProblems(const ModelConfig& c) {
    std::vector<std::string> out;
    auto check = [&](const std::string& key, int64_t id, const char* effect) {
        if (id < 0 || id >= c.vocabSize)
            out.push_back(key + " " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(c.vocabSize) +
                          ") of config.json's vocab_size: " + effect);
    };
    if (c.bosTokenId)
        check("bos_token_id", *c.bosTokenId, "no prompt can start with it");
    for (const int64_t e : c.eosTokenIds)
        check("eos_token_id", e, "generation never stops on it");
    if (c.padTokenId && *c.padTokenId >= 0)
        check("pad_token_id", *c.padTokenId, "padded batches index past the embeddings");
    return out;
}

// `rslora inspect` of a PEFT adapter folder: the loader's checks (config values, tensor keys, ranks,
// element types, NaN or infinite values), then what the adapter is; shapes against its base model
// when base_model_name_or_path is a local model folder.
void runInspectAdapter(const fs::path& dir, bool asJson) {
    engine::PeftFolderFacts f = engine::checkPeftFolder(dir, std::nullopt);
    std::string shapes = "not checked (base_model_name_or_path is not a local model folder)";
    if (!f.baseModelNameOrPath.empty() && fs::is_regular_file(fs::path(f.baseModelNameOrPath) / "config.json")) {
        f = engine::checkPeftFolder(dir, fs::path(f.baseModelNameOrPath));
        shapes = "fit " + f.baseModelNameOrPath;
    }
    const double scale = engine::largestPeftScale(dir);
    std::map<std::string, uint64_t> dtypeCounts;
    const SafeTensorsFile weights(dir / engine::kPeftWeightsFile);
    for (const auto& t : weights.tensors())
        dtypeCounts[dtypeName(t.dtype)] += t.numel();
    if (asJson) {
        json j = {{"folder", dir.string()},
                  {"kind", "peft-lora-adapter"},
                  {"r", f.rank},
                  {"lora_alpha", f.alpha},
                  {"use_rslora", f.rsLora},
                  {"largest_scale", scale},
                  {"modules", f.modules},
                  {"parameters", f.parameters},
                  {"targets", f.targets},
                  {"dtypes", dtypeCounts},
                  {"base_model_name_or_path", f.baseModelNameOrPath},
                  {"shapes", shapes}};
        std::cout << j.dump(2) << "\n";
        return;
    }
    auto line = [](const std::string& k, const std::string& v) { std::cout << std::left << std::setw(18) << k << v << "\n"; };
    std::ostringstream scaling;
    scaling << (f.rsLora ? "lora_alpha / sqrt(r) (rsLoRA)" : "lora_alpha / r") << ", largest " << scale;
    std::string targets, dts;
    for (const auto& t : f.targets)
        targets += (targets.empty() ? "" : ", ") + t;
    for (const auto& [d, n] : dtypeCounts)
        dts += (dts.empty() ? "" : ", ") + d + " " + std::to_string(n);
    std::ostringstream alpha;
    alpha << f.alpha;
    line("folder", dir.string());
    line("kind", "PEFT LoRA adapter");
    line("rank", "r " + std::to_string(f.rank) + ", lora_alpha " + alpha.str());
    line("scaling", scaling.str());
    line("modules", std::to_string(f.modules) + " adapted, " + std::to_string(f.parameters) + " parameters");
    line("targets", targets);
    line("dtypes", dts);
    line("base model", f.baseModelNameOrPath.empty() ? "not named" : f.baseModelNameOrPath);
    line("shapes", shapes);
}

void runInspect(const fs::path& dir, bool asJson) {
    if (!fs::is_directory(dir))
        throw Error("expected a model folder at " + dir.string() + ", found " + (fs::exists(dir) ? "a file" : "nothing"));
    if (!fs::exists(dir / "config.json") && fs::exists(dir / engine::kPeftConfigFile)) {
        runInspectAdapter(dir, asJson);
        return;
    }
    // Neither kind of folder: say so, and what is missing of an adapter folder that has its weights
    // (it was read as a model folder, and the error named config.json).
    if (!fs::exists(dir / "config.json")) {
        if (fs::exists(dir / engine::kPeftWeightsFile))
            engine::requirePeftConfigFile(dir);
        throw Error("expected config.json (a model folder) or " + std::string(engine::kPeftConfigFile) +
                    " (a PEFT adapter folder) in " + dir.string() + ", found neither");
    }
    ModelConfig c = ModelConfig::fromFile(dir / "config.json");
    WeightFiles weights(dir);
    std::map<std::string, uint64_t> dtypeCounts;
    uint64_t storedParams = 0;
    for (const auto& f : weights.files())
        for (const auto& t : f->tensors()) {
            dtypeCounts[dtypeName(t.dtype)] += t.numel();
            storedParams += t.numel();
        }
    // A folder saved with bitsandbytes 4-bit weights: its projections are packed codes, checked by
    // their presence here (their quant state is checked when the model loads).
    std::optional<quant::BnbQuantization> bnb;
    std::string quantProblem;
    try {
        bnb = quant::readBnbQuantization(json::parse(readFile(dir / "config.json")), (dir / "config.json").string());
    } catch (const std::exception& e) {
        quantProblem = e.what();
    }
    int64_t quantizedWeights = 0;
    // Check every tensor the architecture needs, by name and shape, without loading.
    std::vector<std::string> problems;
    for (const auto& [name, shape] : LlamaFamilyModel::expectedTensors(c)) {
        if (!weights.contains(name)) {
            problems.push_back("missing " + name);
            continue;
        }
        if (bnb && quant::hasBnbWeight(weights, name)) {
            ++quantizedWeights;
            continue;
        }
        const auto& info = weights.info(name);
        if (std::vector<int64_t>(info.shape.begin(), info.shape.end()) != shape)
            problems.push_back("wrong shape " + name);
    }
    const std::vector<std::string> configProblems = tokenIdProblems(c);
    std::string tokProblem;
    auto tok = tryTokenizer(dir, &tokProblem);
    std::string tmplKind = "none";
    if (tok) {
        try {
            if (auto t = ChatTemplate::fromTokenizer(*tok))
                tmplKind = t->kindName();
        } catch (const Error& e) {
            tmplKind = std::string("unreadable: ") + e.what();
        }
    }

    if (asJson) {
        json j = {{"folder", dir.string()},
                  {"architecture", c.architecture},
                  {"model_type", c.modelType},
                  {"layers", c.numLayers},
                  {"hidden_size", c.hiddenSize},
                  {"intermediate_size", c.intermediateSize},
                  {"attention_heads", c.numHeads},
                  {"kv_heads", c.numKvHeads},
                  {"head_dim", c.headDim},
                  {"vocab_size", c.vocabSize},
                  {"tie_word_embeddings", c.tieWordEmbeddings},
                  {"rope_theta", c.ropeTheta},
                  {"rope_scaling", c.ropeScaling.type},
                  {"rms_norm_eps", c.rmsNormEps},
                  {"sliding_window", c.slidingWindow ? json(*c.slidingWindow) : json(nullptr)},
                  {"eos_token_ids", c.eosTokenIds},
                  {"parameters", c.parameterCount()},
                  {"stored_parameters", storedParams},
                  {"dtypes", dtypeCounts},
                  {"weight_files", weights.files().size()},
                  {"sharded", weights.sharded()},
                  {"weight_bytes", weights.totalBytes()},
                  {"weights_complete", problems.empty()},
                  {"quantization", bnb ? json{{"method", "bitsandbytes"},
                                              {"type", quant::quantTypeName(bnb->type)},
                                              {"double_quant", bnb->doubleQuant},
                                              {"compute_dtype", bnb->computeDtype},
                                              {"quantized_weights", quantizedWeights}}
                                       : quantProblem.empty() ? json(nullptr) : json{{"unsupported", quantProblem}}},
                  {"weight_problems", problems},
                  {"config_problems", configProblems},
                  {"tokenizer", tok ? json(tok->kindName()) : json(nullptr)},
                  {"chat_template", tmplKind}};
        if (tok) {
            auto enc = tok->encodeDetailed(kSampleText);
            j["tokenizer_description"] = tok->describe();
            j["sample"] = {{"text", kSampleText}, {"ids", enc.ids}, {"tokens", enc.tokens}};
        }
        std::cout << j.dump(2) << "\n";
        return;
    }
    auto line = [](const std::string& k, const std::string& v) { std::cout << std::left << std::setw(18) << k << v << "\n"; };
    line("folder", dir.string());
    line("architecture", c.architecture + " (" + c.modelType + ")");
    line("parameters", std::to_string(c.parameterCount()) + " (" + std::to_string(c.parameterCount() / 1000000) + "M)");
    line("layers", std::to_string(c.numLayers) + ", hidden " + std::to_string(c.hiddenSize) + ", intermediate " +
                       std::to_string(c.intermediateSize));
    line("attention", std::to_string(c.numHeads) + " heads, " + std::to_string(c.numKvHeads) + " kv heads, head_dim " +
                          std::to_string(c.headDim) + (c.qkNorm() ? ", q/k norm" : "") +
                          (c.qkvBias() ? ", q/k/v bias" : "") +
                          (c.slidingWindow ? ", sliding window " + std::to_string(*c.slidingWindow) : ""));
    std::ostringstream rope;
    rope << "theta " << c.ropeTheta << ", " << c.ropeScaling.type;
    if (c.ropeScaling.type != "default")
        rope << " x" << c.ropeScaling.factor;
    line("rope", rope.str());
    line("vocab", std::to_string(c.vocabSize) + (c.tieWordEmbeddings ? ", tied embeddings" : ", separate lm_head"));
    std::string eos;
    for (auto e : c.eosTokenIds)
        eos += (eos.empty() ? "" : ", ") + std::to_string(e);
    line("eos ids", eos.empty() ? "none" : eos);
    std::string dts;
    for (const auto& [d, n] : dtypeCounts)
        dts += (dts.empty() ? "" : ", ") + d + " " + std::to_string(n);
    line("dtypes", dts + " (config: " + c.torchDtype + ")");
    if (bnb)
        line("quantization", quant::quantTypeName(bnb->type) + " (bitsandbytes)" + (bnb->doubleQuant ? ", double quant" : "")
                                 + (bnb->computeDtype.empty() ? "" : ", compute " + bnb->computeDtype) + "; "
                                 + std::to_string(quantizedWeights) + " projection weights in 4 bits");
    else if (!quantProblem.empty())
        line("quantization", "cannot load: " + quantProblem);
    line("weights", std::to_string(weights.files().size()) + " file(s)" + (weights.sharded() ? " (sharded)" : "") + ", " +
                        std::to_string(weights.totalBytes()) + " bytes, " +
                        (problems.empty() ? "complete" : std::to_string(problems.size()) + " problem(s): " + problems[0]));
    for (size_t i = 1; i < problems.size() && i < 10; ++i)
        line("", problems[i]);
    if (problems.size() > 10)
        line("", "and " + std::to_string(problems.size() - 10) + " more (--json lists them all)");
    for (size_t i = 0; i < configProblems.size(); ++i)
        line(i ? "" : "config problems", configProblems[i]);
    line("tokenizer", tok ? tok->describe() : tokProblem);
    line("chat template", tmplKind);
    if (tok) {
        auto enc = tok->encodeDetailed(kSampleText);
        std::string ids, toks;
        for (size_t i = 0; i < enc.ids.size(); ++i) {
            ids += (i ? " " : "") + std::to_string(enc.ids[i]);
            toks += (i ? " | " : "") + enc.tokens[i];
        }
        line("sample", std::string("\"") + kSampleText + "\"");
        line("  ids", ids);
        line("  tokens", toks);
    }
}

} // namespace

void registerInspectCommand(CLI::App& app) {
    auto* cmd = app.add_subcommand("inspect", "Show a model folder's architecture, weights, tokenizer and template, or a PEFT "
                                              "adapter folder's rank, scaling and targets after the loader's checks");
    auto dir = std::make_shared<std::string>();
    auto asJson = std::make_shared<bool>(false);
    cmd->add_option("DIR", *dir, "Hugging Face model folder, or PEFT adapter folder")->required();
    cmd->add_flag("--json", *asJson, "Machine-readable output");
    cmd->callback([dir, asJson] { runInspect(*dir, *asJson); });
}

} // namespace rslora::cli
