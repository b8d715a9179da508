// `rslora generate`, `rslora logits` and `rslora gen-bench`: run a model folder on a prompt or on token
// ids, dump logits for parity checks, measure decoding speed (`rslora inspect` is InspectCommand.cpp).
#include "app/cli/AdapterFolderArgument.h"
#include "app/cli/Commands.h"
#include "app/cli/FiniteRange.h"
#include "app/cli/FolderTokenizer.h"
#include "app/cli/OutputPath.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/InterruptGuard.h"
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/Runtime.h"
#include "models/ArchitectureTable.h"
#include "models/CausalLM.h"
#include "models/Generator.h"
#include "models/LlamaFamilyModel.h"
#include "models/ModelConfig.h"
#include "models/ModelLoader.h"
#include "models/ModelTokenizer.h"
#include "models/TensorIO.h"
#include "models/TokenPicker.h"
#include "models/chat/ChatTemplate.h"
#include "models/quant/BnbCheckpoint.h"
#include "models/quant/QuantType.h"
#include "models/tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;

namespace rslora::cli {
namespace {

using namespace rslora::models;

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
            bool read = true;
            try {
                v = std::stoll(item, &used);
            } catch (const std::exception&) {
                read = false;  // no digits (an item of spaces alone was read as the id 0), or past 64 bits
            }
            while (read && used < item.size() && std::isspace(static_cast<unsigned char>(item[used])))
                ++used;
            if (!read || used != item.size())
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

// Named with their options ("unknown dtype 'foo'" did not say which option held it).
LoadOptions loadOptions(const std::string& device, const std::string& dtype) {
    LoadOptions o;
    try {
        o.device = parseDevice(device);
    } catch (const Error& e) {
        throw Error("--device: " + e.message(), e.hint());
    }
    if (!dtype.empty() && dtype != "auto") {
        try {
            o.dtype = parseDtype(dtype);
        } catch (const Error& e) {
            throw Error("--dtype: " + e.message() + "; or auto, the model's own", e.hint());
        }
    }
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
    // (Compared as the room left: prompt + a --max-new-tokens near 2^63 overflowed and passed.)
    if (maxNewTokens > context - promptTokens)
        throw Error("generate: " + what + std::to_string(promptTokens) + " tokens and --max-new-tokens is " +
                        std::to_string(maxNewTokens) + ": " +
                        (maxNewTokens > std::numeric_limits<int64_t>::max() - promptTokens
                             ? std::string("more")
                             : std::to_string(promptTokens + maxNewTokens) + " in all, more") +
                        " than " + limit,
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
    const std::string adapterDir = adapterFolderArgument(a.adapter, "--adapter");
    // Before the model loads and the prompt is echoed.
    models::checkSampling(a.temperature, a.topP, a.topK, a.repetitionPenalty);
    const LoadOptions load = loadOptions(a.device, a.dtype);
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
    auto model = loadCausalLM(dir, load);
    checkContext(prompts, a.maxNewTokens, model->config().maxPositionEmbeddings, dir);
    auto adapters = attachAdapter(*model, adapterDir);
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
        // A text prompt is continued, so it is shown before its continuation; a chat answer stands on
        // its own (the user's message before it ran into the answer: "…of cat?The plural…").
        if (!a.prompt.empty() && !a.chat)
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
               const std::string& adapter, const std::string& out, const std::string& device, const std::string& dtype, bool hidden) {
    engine::applyThreadSettings({});
    const fs::path outPath = outputPath(out, "--out");
    const LoadOptions load = loadOptions(device, dtype);
    const std::string adapterDir = adapterFolderArgument(adapter, "--adapter");
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
    auto model = loadCausalLM(dirText, load);
    // Named with the option and row (the forward pass said only "forward: token id ...").
    const int64_t vocab = model->config().vocabSize;
    for (size_t b = 0; b < rows.size(); ++b)
        for (int64_t id : rows[b])
            if (id < 0 || id >= vocab)
                throw Error("logits: --ids row " + std::to_string(b) + " holds token id " + std::to_string(id) +
                            ", outside the vocabulary [0, " + std::to_string(vocab) + ") of " + dirText);
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
    saveSafeTensors(outPath, tensors, {{"format", "pt"}, {"model", dirText}});
    std::cerr << "wrote logits [" << B << ", " << T << ", " << result.logits.size(2) << "] to " << outPath.string() << "\n";
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
        auto* cmd = app.add_subcommand("generate", "Generate text or token ids from a model folder");
        auto a = std::make_shared<GenerateArgs>();
        cmd->add_option("DIR", a->dir, "Hugging Face model folder")->required();
        auto* prompt = cmd->add_option("--prompt", a->prompt, "Prompt text (needs tokenizer.json)");
        auto* ids = cmd->add_option("--ids", a->ids, "Prompt token ids: 1,2,3 (several rows: 1,2;3,4,5)");
        prompt->excludes(ids);
        cmd->add_option("--adapter", a->adapter, "PEFT adapter folder, or a stored version (task@vN, task@current, name or id), to apply");
        cmd->add_flag("--chat", a->chat, "Wrap the prompt as a user turn with the model's chat template");
        // As transformers refuses max_new_tokens 0 ("must be greater than 0"); the upper end is the
        // model's context, checked once the prompt is read.
        const double unbounded = std::numeric_limits<double>::infinity();
        cmd->add_option("--max-new-tokens", a->maxNewTokens, "Tokens to generate at most (prompt + this must fit the model's context)")
            ->capture_default_str()->check(wholeFrom(1));
        cmd->add_option("--temperature", a->temperature, "0 (or below 1e-5) = greedy")->capture_default_str()->check(finiteIn(0, unbounded));
        cmd->add_option("--top-k", a->topK, "0 = off")->capture_default_str()->check(wholeFrom(0));
        cmd->add_option("--top-p", a->topP, "1 = off")->capture_default_str()->check(finiteIn(0, 1, End::Open));
        cmd->add_option("--repetition-penalty", a->repetitionPenalty, "1 = off")->capture_default_str()
            ->check(finiteIn(0, unbounded, End::Open));
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
        cmd->add_option("--adapter", a->adapter, "PEFT adapter folder, or a stored version (task@vN, task@current, name or id), to apply");
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
