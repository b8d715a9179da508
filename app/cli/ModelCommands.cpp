// `rslora inspect`, `rslora generate`, `rslora logits` and `rslora gen-bench`: look into a model
// folder, run it on a prompt or on token ids, dump logits for parity checks, measure decoding speed.
#include "app/cli/Commands.h"
#include "app/cli/FiniteRange.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/InterruptGuard.h"
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/PeftConfigFile.h"
#include "engine/PeftFolderCheck.h"
#include "engine/Runtime.h"
#include "models/ArchitectureTable.h"
#include "models/CausalLM.h"
#include "models/Generator.h"
#include "models/LlamaFamilyModel.h"
#include "models/ModelConfig.h"
#include "models/ModelLoader.h"
#include "models/SafeTensorsFile.h"
#include "models/ModelTokenizer.h"
#include "models/TensorIO.h"
#include "models/TokenPicker.h"
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

// "1,2,3;4,5,6" -> rows of ids.
std::vector<std::vector<int64_t>> parseRows(const std::string& text, const char* what) {
    std::vector<std::vector<int64_t>> rows;
    std::stringstream rowsIn(text);
    std::string row;
    while (std::getline(rowsIn, row, ';')) {
        std::vector<int64_t> ids;
        std::stringstream in(row);
        std::string item;
        while (std::getline(in, item, ',')) {
            size_t used = 0;
            long long v = 0;
            try {
                v = std::stoll(item, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used])))
                ++used;
            if (used == 0 || used != item.size())
                throw Error(std::string(what) + ": expected integers separated by ',' (rows by ';'), found '" + item + "'");
            ids.push_back(v);
        }
        if (ids.empty())
            throw Error(std::string(what) + ": empty row in '" + text + "'");
        rows.push_back(ids);
    }
    if (rows.empty())
        throw Error(std::string(what) + ": expected at least one id");
    return rows;
}

// The folder's tokenizer by the loader's own rule (tokenizer.json, or vocab.json + merges.txt),
// checked against config.json's vocab_size; nullopt with the reason when there is none or it is unusable.
std::optional<Tokenizer> tryTokenizer(const fs::path& dir, std::string* problem = nullptr) {
    if (!Tokenizer::existsIn(dir)) {
        if (problem)
            *problem = "none (no tokenizer.json, nor vocab.json + merges.txt)";
        return std::nullopt;
    }
    try {
        return loadModelTokenizer(dir);
    } catch (const Error& e) {
        if (problem)
            *problem = std::string("unreadable: ") + e.what();
        return std::nullopt;
    }
}

// The prompt as a user turn in the model's own chat template, with the generation prompt.
std::vector<int64_t> encodeChat(const Tokenizer& tok, const std::string& prompt) {
    auto tpl = ChatTemplate::fromTokenizer(tok);
    if (!tpl)
        throw Error("--chat: the model folder has no chat template (tokenizer_config.json chat_template or chat_template.jinja)");
    ChatRenderOptions options;
    options.addGenerationPrompt = true;
    auto messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", prompt}}});
    return encodeRenderedChat(tok, tpl->render(messages, options));
}

LoadOptions loadOptions(const std::string& device, const std::string& dtype) {
    LoadOptions o;
    o.device = parseDevice(device);
    if (!dtype.empty() && dtype != "auto")
        o.dtype = parseDtype(dtype);
    return o;
}

// Wraps the model's projections with the PEFT adapter in `dir` (kept alive by the returned set).
std::unique_ptr<engine::AdapterSet> attachAdapter(CausalLM& model, const std::string& dir) {
    if (dir.empty())
        return nullptr;
    auto set = std::make_unique<engine::AdapterSet>(model);
    engine::loadPeftAdapter(*set, dir, "default");
    return set;
}

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

// ---------------------------------------------------------------------------------------------
struct GenerateArgs {
    std::string dir, prompt, ids, adapter, device = "cpu", dtype = "auto";
    bool chat = false, asJson = false, noStream = false;
    bool promptGiven = false, idsGiven = false;  // named on the command line, maybe as ""
    int64_t maxNewTokens = 64, topK = 0;
    double temperature = 0.0, topP = 1.0, repetitionPenalty = 1.0;
    uint64_t seed = 0;
    std::vector<std::string> stop;
};

// Every prompt and its new tokens must fit the model's context, as the Playground and the server
// check: positions past max_position_embeddings are ones the model never learnt, so the text there
// would be noise (and a huge --max-new-tokens would run on without end).
void checkContext(const std::vector<std::vector<int64_t>>& prompts, int64_t maxNewTokens, int64_t context, const fs::path& dir) {
    if (context <= 0)
        return;
    size_t longest = 0;
    for (const auto& p : prompts)
        longest = std::max(longest, p.size());
    const int64_t promptTokens = static_cast<int64_t>(longest);
    const std::string limit = "the model's context of " + std::to_string(context) + " tokens (max_position_embeddings in " +
                              (dir / "config.json").string() + ")";
    const std::string what = prompts.size() > 1 ? "the longest prompt is " : "the prompt is ";
    if (promptTokens >= context)
        throw Error("generate: " + what + std::to_string(promptTokens) + " tokens, which leaves no room for an answer in " + limit,
                    "shorten the prompt");
    if (promptTokens + maxNewTokens > context)
        throw Error("generate: " + what + std::to_string(promptTokens) + " tokens and --max-new-tokens is " +
                        std::to_string(maxNewTokens) + ": " + std::to_string(promptTokens + maxNewTokens) + " in all, more than " + limit,
                    "give --max-new-tokens " + std::to_string(context - promptTokens) + " or less, or shorten the prompt");
}

// After a generation that Ctrl-C (SIGINT) or SIGTERM stopped: says so and sets the exit status.
void reportInterrupt(const InterruptGuard& interrupt, const GenerationResult& r) {
    if (!interrupt.interrupted())
        return;
    std::cerr << "generate: stopped by " << (interrupt.caught() == SIGTERM ? "SIGTERM" : "Ctrl-C") << " after "
              << r.generatedTokens << " new token(s)\n";
    exitCode() = interrupt.exitCode();
}

void runGenerate(const GenerateArgs& a) {
    engine::applyThreadSettings({});
    const fs::path dir = a.dir;
    if (a.promptGiven && a.prompt.empty())
        throw Error("generate: --prompt is empty; give the text to continue (or token ids with --ids)");
    if (a.idsGiven && a.ids.empty())
        throw Error("generate: --ids is empty; give token ids such as 1,2,3 (or text with --prompt)");
    if (a.prompt.empty() == a.ids.empty())
        throw Error("generate: give exactly one of --prompt or --ids");
    for (const auto& s : a.stop)
        if (s.empty())
            throw Error("generate: --stop is empty; give the text that ends the generation");
    if (a.maxNewTokens < 0)
        throw Error("generate: --max-new-tokens must be >= 0, found " + std::to_string(a.maxNewTokens));
    // Before the model loads and the prompt is echoed.
    models::checkSampling(a.temperature, a.topP, a.topK, a.repetitionPenalty);
    std::optional<Tokenizer> tok;
    std::string tokProblem;
    if (!a.prompt.empty() || !a.stop.empty() || !a.ids.empty()) {
        tok = tryTokenizer(dir, &tokProblem);
        if (!tok && (!a.prompt.empty() || !a.stop.empty()))
            throw Error("generate: --prompt and --stop need a tokenizer, and " + dir.string() + " has " + tokProblem +
                        "; use --ids");
    }
    std::vector<std::vector<int64_t>> prompts;
    if (!a.prompt.empty()) {
        if (a.chat)
            prompts.push_back(encodeChat(*tok, a.prompt));
        else
            prompts.push_back(tok->encode(a.prompt));
    } else {
        if (a.chat)
            throw Error("generate: --chat needs --prompt");
        prompts = parseRows(a.ids, "--ids");
    }
    auto model = loadCausalLM(dir, loadOptions(a.device, a.dtype));
    checkContext(prompts, a.maxNewTokens, model->config().maxPositionEmbeddings, dir);
    auto adapters = attachAdapter(*model, a.adapter);
    model->eval();

    // Ctrl-C (or SIGTERM) stops between two prompt chunks or two tokens: what was generated is
    // printed, the row ends "cancelled" and the exit status is 130 (143). A second one ends the process.
    InterruptGuard interrupt;
    GenerationOptions o;
    o.cancelled = [&interrupt] { return interrupt.interrupted(); };
    o.maxNewTokens = a.maxNewTokens;
    o.temperature = a.temperature;
    o.topK = a.topK;
    o.topP = a.topP;
    o.repetitionPenalty = a.repetitionPenalty;
    o.seed = a.seed;
    o.stopStrings = a.stop;
    if (model->config().padTokenId)
        o.padTokenId = *model->config().padTokenId;
    else if (tok && tok->padId())
        o.padTokenId = *tok->padId();
    if (tok && model->config().eosTokenIds.empty() && tok->eosId())
        o.eosTokenIds = {*tok->eosId()};
    if (tok)
        o.decode = [&](const std::vector<int64_t>& ids) { return tok->decode(ids, true); };
    std::optional<DecodeStream> stream;
    const bool streaming = !a.asJson && !a.noStream && prompts.size() == 1;
    if (streaming && tok) {
        stream.emplace(*tok, true);
        if (!a.prompt.empty())
            std::cout << a.prompt << std::flush;
        o.onToken = [&](int64_t, int64_t id) {
            std::cout << stream->step(id) << std::flush;
            return true;
        };
    } else if (streaming) {
        o.onToken = [&](int64_t, int64_t id) {
            std::cout << id << " " << std::flush;
            return true;
        };
    }
    GenerationResult r = generate(*model, prompts, o);
    if (a.asJson) {
        const auto reportAfter = [&] { reportInterrupt(interrupt, r); };
        json rows = json::array();
        for (size_t b = 0; b < r.rows.size(); ++b) {
            json row = {{"prompt_ids", prompts[b]}, {"new_ids", r.rows[b].tokens},
                        {"finish_reason", finishReasonName(r.rows[b].reason)}};
            if (tok)
                row["text"] = tok->decode(r.rows[b].tokens, true);
            if (!r.rows[b].stopString.empty())
                row["stop_string"] = r.rows[b].stopString;
            rows.push_back(row);
        }
        json j = {{"rows", rows},
                  {"prompt_tokens", r.promptTokens},
                  {"generated_tokens", r.generatedTokens},
                  {"prefill_seconds", r.prefillSeconds},
                  {"decode_seconds", r.decodeSeconds},
                  {"decode_tokens_per_second", r.decodeTokensPerSecond()}};
        std::cout << j.dump(2) << "\n";
        reportAfter();
        return;
    }
    if (!streaming) {
        for (size_t b = 0; b < r.rows.size(); ++b) {
            if (tok)
                std::cout << tok->decode(r.rows[b].tokens, true) << "\n";
            else {
                for (auto id : r.rows[b].tokens)
                    std::cout << id << " ";
                std::cout << "\n";
            }
        }
    } else {
        std::cout << std::endl;
    }
    std::cerr << "[" << r.generatedTokens << " tokens, " << finishReasonName(r.rows[0].reason) << ", prefill "
              << std::fixed << std::setprecision(1) << r.prefillTokensPerSecond() << " tok/s, decode "
              << r.decodeTokensPerSecond() << " tok/s]\n";
    reportInterrupt(interrupt, r);
}

// ---------------------------------------------------------------------------------------------
void runLogits(const std::string& dirText, const std::string& idsText, const std::string& maskText,
               const std::string& adapterDir, const std::string& out, const std::string& device, const std::string& dtype, bool hidden) {
    engine::applyThreadSettings({});
    auto rows = parseRows(idsText, "--ids");
    const int64_t B = static_cast<int64_t>(rows.size());
    size_t T = 0;
    for (const auto& r : rows)
        T = std::max(T, r.size());
    auto ids = torch::zeros({B, static_cast<int64_t>(T)}, torch::kInt64);
    auto mask = torch::zeros({B, static_cast<int64_t>(T)}, torch::kInt64);
    bool padded = false;
    for (int64_t b = 0; b < B; ++b) {
        const auto& r = rows[static_cast<size_t>(b)];
        const int64_t off = static_cast<int64_t>(T - r.size());
        padded |= off > 0;
        for (size_t i = 0; i < r.size(); ++i) {
            ids[b][off + static_cast<int64_t>(i)] = r[i];
            mask[b][off + static_cast<int64_t>(i)] = 1;
        }
    }
    if (!maskText.empty()) {
        auto m = parseRows(maskText, "--mask");
        if (static_cast<int64_t>(m.size()) != B)
            throw Error("--mask: expected " + std::to_string(B) + " rows like --ids, found " + std::to_string(m.size()));
        for (int64_t b = 0; b < B; ++b) {
            if (m[static_cast<size_t>(b)].size() != rows[static_cast<size_t>(b)].size())
                throw Error("--mask: row " + std::to_string(b) + " must have as many entries as its --ids row");
            const int64_t off = static_cast<int64_t>(T - m[static_cast<size_t>(b)].size());
            for (size_t i = 0; i < m[static_cast<size_t>(b)].size(); ++i) {
                int64_t v = m[static_cast<size_t>(b)][i];
                if (v != 0 && v != 1)
                    throw Error("--mask: expected 0 or 1, found " + std::to_string(v));
                mask[b][off + static_cast<int64_t>(i)] = v;
            }
        }
        padded = true;
    }
    auto model = loadCausalLM(dirText, loadOptions(device, dtype));
    auto adapters = attachAdapter(*model, adapterDir);
    model->eval();
    torch::NoGradGuard noGrad;
    torch::Tensor positions;
    if (padded)
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1);
    else
        positions = torch::arange(static_cast<int64_t>(T), torch::kInt64).unsqueeze(0).expand({B, static_cast<int64_t>(T)}).contiguous();
    auto result = model->forward(ids, padded ? mask : torch::Tensor(), positions, nullptr, hidden);
    std::vector<std::pair<std::string, torch::Tensor>> tensors = {
        {"logits", result.logits.to(torch::kCPU, torch::kFloat32)},
        {"input_ids", ids},
        {"attention_mask", mask},
        {"position_ids", positions},
    };
    if (hidden)
        tensors.emplace_back("hidden_states", torch::stack(result.hiddenStates).to(torch::kCPU, torch::kFloat32));
    saveSafeTensors(out, tensors, {{"format", "pt"}, {"model", dirText}});
    std::cerr << "wrote logits [" << B << ", " << T << ", " << result.logits.size(2) << "] to " << out << "\n";
}

// ---------------------------------------------------------------------------------------------
ModelConfig benchConfig(const std::string& size) {
    ModelConfig c;
    c.architecture = "LlamaForCausalLM";
    c.modelType = "llama";
    c.ropeTheta = 10000;
    c.rmsNormEps = 1e-5;
    if (size == "135m") {  // SmolLM-135M's shape
        c.vocabSize = 49152; c.hiddenSize = 576; c.intermediateSize = 1536; c.numLayers = 30;
        c.numHeads = 9; c.numKvHeads = 3; c.headDim = 64; c.tieWordEmbeddings = true;
    } else if (size == "500m") {  // Qwen2.5-0.5B's shape
        c.architecture = "Qwen2ForCausalLM"; c.modelType = "qwen2";
        c.vocabSize = 151936; c.hiddenSize = 896; c.intermediateSize = 4864; c.numLayers = 24;
        c.numHeads = 14; c.numKvHeads = 2; c.headDim = 64; c.tieWordEmbeddings = true; c.ropeTheta = 1e6;
    } else if (size == "tiny") {
        c.vocabSize = 256; c.hiddenSize = 64; c.intermediateSize = 128; c.numLayers = 2;
        c.numHeads = 4; c.numKvHeads = 2; c.headDim = 16;
    } else {
        throw Error("--random: expected tiny, 135m or 500m, found '" + size + "'");
    }
    return c;
}

void runGenBench(const std::string& dir, const std::string& random, int64_t batch, int64_t promptLen,
                 int64_t newTokens, const std::string& device, const std::string& dtype, bool asJson) {
    engine::applyThreadSettings({});
    std::unique_ptr<CausalLM> model;
    std::string what;
    if (!dir.empty()) {
        model = loadCausalLM(dir, loadOptions(device, dtype));
        what = dir;
    } else {
        model = createCausalLM(benchConfig(random), 1234, loadOptions(device, dtype));
        what = "random " + random;
    }
    model->eval();
    const int64_t V = model->config().vocabSize;
    std::vector<std::vector<int64_t>> prompts(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < promptLen; ++i)
            prompts[static_cast<size_t>(b)].push_back((b * 7919 + i * 104729 + 17) % V);
    GenerationOptions o;
    o.maxNewTokens = newTokens;
    o.eosTokenIds = {-1};  // never stop early: measure the full length
    // One warm-up run so allocations and thread pools are settled.
    GenerationOptions warm = o;
    warm.maxNewTokens = 2;
    generate(*model, prompts, warm);
    GenerationResult r = generate(*model, prompts, o);
    const double total = r.prefillSeconds + r.decodeSeconds;
    if (asJson) {
        std::cout << json{{"model", what}, {"parameters", model->config().parameterCount()},
                          {"device", model->device().str()}, {"dtype", dtypeText(model->dtype())},
                          {"batch", batch}, {"prompt_tokens", promptLen}, {"new_tokens", newTokens},
                          {"prefill_tokens_per_second", r.prefillTokensPerSecond()},
                          {"decode_tokens_per_second", r.decodeTokensPerSecond()},
                          {"end_to_end_new_tokens_per_second", total > 0 ? r.generatedTokens / total : 0}}
                         .dump(2)
                  << "\n";
        return;
    }
    std::cout << std::fixed << std::setprecision(1) << what << ": " << model->config().parameterCount() / 1e6
              << "M parameters, " << model->device().str() << " " << dtypeText(model->dtype()) << ", batch " << batch
              << ", prompt " << promptLen << ", new " << newTokens << "\n"
              << "prefill   " << r.prefillTokensPerSecond() << " tok/s\n"
              << "decode    " << r.decodeTokensPerSecond() << " tok/s\n"
              << "end-to-end " << (total > 0 ? r.generatedTokens / total : 0) << " new tok/s\n";
}

} // namespace

void registerModelCommands(CLI::App& app) {
    {
        auto* cmd = app.add_subcommand("inspect", "Show a model folder's architecture, weights, tokenizer and template, or a PEFT "
                                                  "adapter folder's rank, scaling and targets after the loader's checks");
        auto dir = std::make_shared<std::string>();
        auto asJson = std::make_shared<bool>(false);
        cmd->add_option("DIR", *dir, "Hugging Face model folder, or PEFT adapter folder")->required();
        cmd->add_flag("--json", *asJson, "Machine-readable output");
        cmd->callback([dir, asJson] { runInspect(*dir, *asJson); });
    }
    {
        auto* cmd = app.add_subcommand("generate", "Generate text or token ids from a model folder");
        auto a = std::make_shared<GenerateArgs>();
        cmd->add_option("DIR", a->dir, "Hugging Face model folder")->required();
        auto* prompt = cmd->add_option("--prompt", a->prompt, "Prompt text (needs tokenizer.json)");
        auto* ids = cmd->add_option("--ids", a->ids, "Prompt token ids: 1,2,3 (several rows: 1,2;3,4,5)");
        prompt->excludes(ids);
        cmd->add_option("--adapter", a->adapter, "PEFT adapter folder to apply");
        cmd->add_flag("--chat", a->chat, "Wrap the prompt as a user turn with the model's chat template");
        cmd->add_option("--max-new-tokens", a->maxNewTokens, "Tokens to generate at most")->capture_default_str();
        cmd->add_option("--temperature", a->temperature, "0 (or below 1e-5) = greedy")->capture_default_str();
        cmd->add_option("--top-k", a->topK, "0 = off")->capture_default_str();
        cmd->add_option("--top-p", a->topP, "1 = off")->capture_default_str();
        cmd->add_option("--repetition-penalty", a->repetitionPenalty, "1 = off")->capture_default_str();
        cmd->add_option("--seed", a->seed, "Sampling seed")->capture_default_str()->check(notNegative());
        cmd->add_option("--stop", a->stop, "Stop string (repeatable)");
        cmd->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
        cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16 or float16")->capture_default_str();
        cmd->add_flag("--no-stream", a->noStream, "Print only when done");
        cmd->add_flag("--json", a->asJson, "Machine-readable output");
        cmd->callback([a, prompt, ids] {
            a->promptGiven = prompt->count() > 0;
            a->idsGiven = ids->count() > 0;
            runGenerate(*a);
        });
    }
    {
        auto* cmd = app.add_subcommand("logits", "Dump logits for token ids to a safetensors file (parity checks)");
        struct Args {
            std::string dir, ids, mask, adapter, out, device = "cpu", dtype = "auto";
            bool hidden = false;
        };
        auto a = std::make_shared<Args>();
        cmd->add_option("DIR", a->dir, "Hugging Face model folder")->required();
        cmd->add_option("--ids", a->ids, "Token ids: 1,2,3[;4,5,6] (shorter rows are left-padded)")->required();
        cmd->add_option("--mask", a->mask, "Attention mask per row: 1,1,1[;0,1,1]");
        cmd->add_option("--adapter", a->adapter, "PEFT adapter folder to apply");
        cmd->add_option("--out", a->out, "Output .safetensors file")->required();
        cmd->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
        cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16 or float16")->capture_default_str();
        cmd->add_flag("--hidden", a->hidden, "Also dump all hidden states");
        cmd->callback([a] { runLogits(a->dir, a->ids, a->mask, a->adapter, a->out, a->device, a->dtype, a->hidden); });
    }
    {
        auto* cmd = app.add_subcommand("gen-bench", "Measure generation speed (prefill and decode tokens/s)");
        struct Args {
            std::string dir, random = "135m", device = "cpu", dtype = "auto";
            int64_t batch = 1, prompt = 32, newTokens = 64;
            bool asJson = false;
        };
        auto a = std::make_shared<Args>();
        cmd->add_option("DIR", a->dir, "Model folder (default: a random model, see --random)");
        cmd->add_option("--random", a->random, "Random model shape: tiny, 135m or 500m")->capture_default_str();
        cmd->add_option("--batch", a->batch, "Rows")->capture_default_str();
        cmd->add_option("--prompt-tokens", a->prompt, "Prompt length")->capture_default_str();
        cmd->add_option("--new-tokens", a->newTokens, "Tokens to generate")->capture_default_str();
        cmd->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
        cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16 or float16")->capture_default_str();
        cmd->add_flag("--json", a->asJson, "Machine-readable output");
        cmd->callback([a] {
            if (a->batch < 1 || a->prompt < 1 || a->newTokens < 1)
                throw Error("gen-bench: --batch, --prompt-tokens and --new-tokens must be >= 1");
            runGenBench(a->dir, a->random, a->batch, a->prompt, a->newTokens, a->device, a->dtype, a->asJson);
        });
    }
}

} // namespace rslora::cli
