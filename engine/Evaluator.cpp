// Evaluation (see Evaluator.h).
#include "engine/Evaluator.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "engine/PeftAdapterIO.h"
#include "engine/objectives/PreferenceScoring.h"
#include "engine/TrainingRun.h"
#include "models/CausalLmLoss.h"
#include "models/Generator.h"
#include "models/ModelLoader.h"
#include "models/ModelTokenizer.h"
#include "models/data/JsonlReader.h"
#include "models/data/SampleBuilder.h"

#include <algorithm>
#include <filesystem>
#include <cctype>
#include <functional>
#include <limits>
#include <cmath>
#include <sstream>
#include <tuple>

namespace rslora::engine {

using nlohmann::json;

namespace {

std::string trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

std::vector<std::string> splitLines(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string l;
    while (std::getline(in, l))
        lines.push_back(l);
    return lines;
}

// RFC 4180-style fields (quotes, doubled quotes, commas and newlines inside quotes).
std::vector<std::vector<std::string>> parseCsv(const std::string& text)
{
    std::vector<std::vector<std::string>> rows(1);
    std::string field;
    bool quoted = false, any = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
            any = true;
        } else if (c == ',') {
            rows.back().push_back(field);
            field.clear();
            any = true;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
                ++i;
            if (any || !field.empty())
                rows.back().push_back(field);
            field.clear();
            any = false;
            if (!rows.back().empty())
                rows.emplace_back();
        } else {
            field += c;
            any = true;
        }
    }
    if (any || !field.empty())
        rows.back().push_back(field);
    if (rows.back().empty())
        rows.pop_back();
    return rows;
}

int answerIndex(const json& a, size_t choices, const std::string& where)
{
    int idx = -1;
    if (a.is_number_integer())
        idx = a.get<int>();
    else if (a.is_string() && a.get<std::string>().size() == 1)
        idx = std::toupper(static_cast<unsigned char>(a.get<std::string>()[0])) - 'A';
    if (idx < 0 || size_t(idx) >= choices)
        throw Error(where + ": \"answer\" must be a choice index or letter within the " + std::to_string(choices) + " choices, found " + a.dump());
    return idx;
}

} // namespace

EvalStats evaluateLoss(models::CausalLM& model, const std::vector<TrainExample>& examples, int batchSize, int maxSeqLen,
                       int64_t chunkTokens)
{
    torch::NoGradGuard ng;
    model.eval();
    double sum = 0.0;
    int64_t tokens = 0;
    const auto device = model.device();
    for (size_t start = 0; start < examples.size(); start += size_t(batchSize)) {
        const size_t end = std::min(examples.size(), start + size_t(batchSize));
        int64_t T = 1;
        for (size_t i = start; i < end; ++i)
            T = std::max<int64_t>(T, std::min<int64_t>(int64_t(examples[i].ids.size()), maxSeqLen));
        const int64_t B = int64_t(end - start);
        auto ids = torch::zeros({B, T}, torch::kLong), mask = torch::zeros({B, T}, torch::kLong);
        auto labels = torch::full({B, T}, models::kIgnoreIndex, torch::kLong);
        for (int64_t r = 0; r < B; ++r) {
            const auto& e = examples[start + size_t(r)];
            const int64_t n = std::min<int64_t>(int64_t(e.ids.size()), T);
            for (int64_t t = 0; t < n; ++t) {
                ids[r][t] = e.ids[size_t(t)];
                mask[r][t] = 1;
                labels[r][t] = e.labels[size_t(t)];
            }
        }
        const auto hidden = model.hiddenStates(ids.to(device), mask.to(device));
        const auto ls = models::causalLmLossSum(hidden, *model.lmHead(), labels.to(device), chunkTokens);
        sum += ls.sum.item<double>();
        tokens += ls.tokens;
    }
    // No supervised token means no measurement; a loss of 0 would read as a perfect score.
    if (tokens == 0)
        throw Error("no supervised tokens to evaluate the loss on (" + std::to_string(examples.size()) +
                    " samples): every label is -100 or past max_seq_len");
    EvalStats e;
    e.tokens = tokens;
    e.loss = sum / double(tokens);
    e.perplexity = std::exp(e.loss);
    return e;
}

// Calls `visit(where, record)` for each non-blank line of JSONL text; `where` is "path:line".
static void forEachJsonLine(const std::string& text, const std::string& path,
                            const std::function<void(const std::string&, const nlohmann::ordered_json&)>& visit)
{
    int n = 0;
    for (const auto& line : splitLines(text)) {
        ++n;
        if (trim(line).empty())
            continue;
        const std::string where = path + ":" + std::to_string(n);
        nlohmann::ordered_json j;
        try {
            j = nlohmann::ordered_json::parse(line);
        } catch (const json::exception& e) {
            throw Error(where + ": not valid JSON (" + jsonErrorText(e) + ")");
        }
        visit(where, j);
    }
}

// Calls `visit(where, record)` for each record of a JSONL or JSON-array file (as training reads data:
// a byte-order mark, blank lines and a JSON array are fine); `where` is "path:line" (or element).
// A FIFO or device as an evaluation file blocked (or never ended), and a symlink loop said only
// "cannot open": refused naming what it is.
static void requireRegularFile(const std::string& path)
{
    std::error_code ec;
    const std::filesystem::file_status st = std::filesystem::status(path, ec);
    if (st.type() == std::filesystem::file_type::not_found)
        throw Error("dataset '" + path + "' does not exist");
    if (ec)
        throw Error("dataset '" + path + "' cannot be read: " + ec.message());
    if (std::filesystem::is_directory(st))
        throw Error(path + " is a folder, expected a data file (JSONL or a JSON array)");
    if (!std::filesystem::is_regular_file(st))
        throw Error(path + " is not a regular file (a FIFO, socket or device), expected a data file", "copy the data into a file and name that");
}

static void forEachRecord(const std::string& path,
                          const std::function<void(const std::string&, const nlohmann::ordered_json&)>& visit)
{
    models::JsonlReader::read(
        path, models::MalformedLinePolicy::Fail,
        [&](const models::JsonRecord& r) { visit(path + ":" + std::to_string(r.line), r.value); },
        [](std::size_t, const std::string&) {});
}

std::vector<ExactMatchItem> loadExactMatchItems(const std::string& path, const models::SampleBuilder* builder)
{
    requireRegularFile(path);
    std::vector<ExactMatchItem> items;
    forEachRecord(path, [&](const std::string& where, const nlohmann::ordered_json& j) {
        ExactMatchItem it;
        auto str = [&](const char* key) { return j.contains(key) && j[key].is_string(); };
        if (str("answer") && (str("prompt") || str("question"))) {
            it.prompt = j[str("prompt") ? "prompt" : "question"].get<std::string>();
            it.reference = j["answer"].get<std::string>();
        } else if (builder && models::SampleBuilder::detectFormat(j) == models::SampleFormat::Preference) {
            // A preference pair is checked against its chosen response, the prompt rendered as DPO sees it.
            std::tie(it.prompt, it.reference) = builder->chosenExample(j, where);
        } else if (builder) {
            // As training sees the record: everything before the first trained segment.
            const auto segments = builder->segments(j, where);
            size_t k = 0;
            for (; k < segments.size() && !segments[k].trained; ++k)
                it.prompt += segments[k].text;
            if (k < segments.size())
                it.reference = segments[k].text;
            // The reference is the response itself, without the template's end-of-turn text.
            for (const char* key : {"output", "completion"})
                if (str(key)) {
                    it.reference = j[key].get<std::string>();
                    break;
                }
            if (j.contains("messages") && j["messages"].is_array())
                for (const auto& m : j["messages"])
                    if (m.is_object() && m.value("role", "") == "assistant" && m.contains("content") && m["content"].is_string()) {
                        it.reference = m["content"].get<std::string>();
                        break;
                    }
        } else {
            for (const auto& [p, r] : {std::pair{"prompt", "completion"}, std::pair{"input", "output"}, std::pair{"instruction", "output"}})
                if (str(p) && str(r)) {
                    it.prompt = j[p].get<std::string>();
                    it.reference = j[r].get<std::string>();
                    break;
                }
        }
        if (it.reference.empty())
            throw Error(where + ": expected {\"prompt\", \"answer\"} (or question/answer, prompt/completion, alpaca instruction/output, "
                                "chat messages with an assistant turn) with a non-empty answer");
        items.push_back(std::move(it));
    });
    // An empty file scored "0% (0/0)" and exited 0, as if the model had been evaluated.
    if (items.empty())
        throw Error(path + ": holds no exact-match items", "give a file with at least one record");
    return items;
}

AccuracyResult exactMatch(models::CausalLM& model, const models::Tokenizer& tokenizer, const std::vector<ExactMatchItem>& items,
                          int maxNewTokens, int batchSize, int keepSamples, const MatchOptions& match)
{
    torch::NoGradGuard ng;
    model.eval();
    AccuracyResult r;
    models::GenerationOptions go;
    go.maxNewTokens = maxNewTokens;
    // The model's eos ids (config.json and generation_config.json) and the tokenizer's: stopping
    // at the tokenizer's alone would run Qwen2.5-Instruct past <|endoftext|>.
    go.eosTokenIds = models::stopTokenIds(model.config(), tokenizer);
    for (size_t start = 0; start < items.size(); start += size_t(batchSize)) {
        std::vector<std::vector<int64_t>> prompts;
        const size_t end = std::min(items.size(), start + size_t(batchSize));
        for (size_t i = start; i < end; ++i)
            prompts.push_back(tokenizer.encode(items[i].prompt, true));
        const auto gen = models::generate(model, prompts, go);
        for (size_t i = start; i < end; ++i) {
            const std::string text = tokenizer.decode(gen.rows[i - start].tokens, true);
            const std::string got = normalizeAnswer(text, MatchOptions{match.firstLine, false});
            const bool ok = answersMatch(text, items[i].reference, match);
            r.correct += ok;
            ++r.total;
            r.items.push_back({int64_t(i), ok, trim(items[i].reference), got});
            if (int(r.samples.size()) < keepSamples)
                r.samples.push_back(trim(items[i].reference) + " | " + got + (ok ? "  ok" : ""));
        }
    }
    return r;
}

static std::vector<ChoiceItem> readChoiceItems(const std::string& path)
{
    std::vector<ChoiceItem> items;
    const std::string text = readFile(path);
    const bool csv = path.size() > 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
    if (csv) {
        const auto rows = parseCsv(text);
        // CMMLU's layout: a header naming Question, the choice letters and Answer (often after an index column).
        if (!rows.empty()) {
            const auto& h = rows.front();
            auto column = [&](const std::string& name) {
                for (size_t c = 0; c < h.size(); ++c) {
                    std::string v = trim(h[c]);
                    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
                    if (v == name)
                        return int(c);
                }
                return -1;
            };
            const int q = column("question"), a = column("answer");
            std::vector<int> letters;
            for (char l = 'a'; l <= 'z' && column(std::string(1, l)) >= 0; ++l)
                letters.push_back(column(std::string(1, l)));
            if (q >= 0 && a >= 0 && letters.size() >= 2) {
                for (size_t n = 1; n < rows.size(); ++n) {
                    const auto& row = rows[n];
                    const std::string where = path + " row " + std::to_string(n + 1);
                    if (row.size() < h.size())
                        throw Error(where + ": expected " + std::to_string(h.size()) + " fields as the header has, found "
                                    + std::to_string(row.size()));
                    ChoiceItem it;
                    it.question = row[size_t(q)];
                    for (int c : letters)
                        it.choices.push_back(row[size_t(c)]);
                    it.answer = answerIndex(json(trim(row[size_t(a)])), it.choices.size(), where);
                    items.push_back(std::move(it));
                }
                return items;
            }
        }
        int n = 0;
        for (const auto& row : rows) {
            ++n;
            if (row.size() < 4)
                throw Error(path + " row " + std::to_string(n) + ": expected question, choices..., answer (MMLU CSV), found "
                            + std::to_string(row.size()) + " fields");
            ChoiceItem it;
            it.question = row[0];
            it.choices.assign(row.begin() + 1, row.end() - 1);
            if (n == 1 && (row.back() == "answer" || row.back() == "Answer"))
                continue; // a header line
            it.answer = answerIndex(json(trim(row.back())), it.choices.size(), path + " row " + std::to_string(n));
            items.push_back(std::move(it));
        }
        return items;
    }
    forEachJsonLine(text, path, [&](const std::string& where, const nlohmann::ordered_json& j) {
        if (!j.contains("question") || !j.contains("choices") || !j["choices"].is_array() || !j.contains("answer"))
            throw Error(where + ": expected {\"question\", \"choices\": [...], \"answer\"}");
        ChoiceItem it;
        it.question = j["question"].get<std::string>();
        it.choices = j["choices"].get<std::vector<std::string>>();
        it.answer = answerIndex(j["answer"], it.choices.size(), where);
        items.push_back(std::move(it));
    });
    return items;
}

std::vector<ChoiceItem> loadChoiceItems(const std::string& path)
{
    requireRegularFile(path);
    std::vector<ChoiceItem> items = readChoiceItems(path);
    // An empty file scored "0% (0/0)" and exited 0, as if the model had been evaluated.
    if (items.empty())
        throw Error(path + ": holds no multiple-choice items", "give a file with at least one question");
    return items;
}

std::string multipleChoicePrompt(const ChoiceItem& item, const std::vector<ChoiceItem>& shots, const std::string& subject)
{
    auto block = [](const ChoiceItem& it) {
        std::string b = it.question + "\n";
        for (size_t c = 0; c < it.choices.size(); ++c)
            b += std::string(1, char('A' + c)) + ". " + it.choices[c] + "\n";
        return b + "Answer:";
    };
    std::string prompt = "The following are multiple choice questions (with answers)"
                         + (subject.empty() ? std::string() : " about " + subject) + ".\n\n";
    for (const auto& s : shots)
        prompt += block(s) + " " + char('A' + s.answer) + "\n\n";
    return prompt + block(item);
}

std::vector<double> continuationLogLikelihoods(
    models::CausalLM& model, const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>& pairs,
    int batchSize)
{
    torch::NoGradGuard ng;
    model.eval();
    const auto device = model.device();
    std::vector<double> out(pairs.size(), 0.0);
    const size_t step = size_t(std::max(1, batchSize));
    for (size_t start = 0; start < pairs.size(); start += step) {
        const size_t end = std::min(pairs.size(), start + step);
        size_t width = 0;
        for (size_t i = start; i < end; ++i)
            width = std::max(width, pairs[i].first.size() + pairs[i].second.size());
        // Right padding with token 0: causal attention keeps every real position independent of it.
        auto ids = torch::zeros({int64_t(end - start), int64_t(width)}, torch::kLong);
        auto acc = ids.accessor<int64_t, 2>();
        for (size_t i = start; i < end; ++i) {
            size_t k = 0;
            for (int64_t t : pairs[i].first)
                acc[int64_t(i - start)][int64_t(k++)] = t;
            for (int64_t t : pairs[i].second)
                acc[int64_t(i - start)][int64_t(k++)] = t;
        }
        const auto logp = torch::log_softmax(model.forward(ids.to(device)).logits.to(torch::kFloat32), -1).cpu();
        auto lp = logp.accessor<float, 3>();
        for (size_t i = start; i < end; ++i) {
            const auto& [prompt, cont] = pairs[i];
            double score = 0.0;
            for (size_t k = 0; k < cont.size(); ++k)
                score += lp[int64_t(i - start)][int64_t(prompt.size() + k - 1)][cont[k]];
            out[i] = score;
        }
    }
    return out;
}

AccuracyResult multipleChoice(models::CausalLM& model, const models::Tokenizer& tokenizer, const std::vector<ChoiceItem>& items,
                              const ChoiceOptions& options)
{
    std::vector<ChoiceItem> shots = options.shots;
    size_t first = 0;
    if (options.kShot > 0) {
        if (shots.empty()) {
            // The first k items serve as the examples and are not scored.
            first = std::min(items.size(), size_t(options.kShot));
            shots.assign(items.begin(), items.begin() + long(first));
        } else if (shots.size() > size_t(options.kShot)) {
            shots.resize(size_t(options.kShot));
        }
    } else {
        shots.clear();
    }
    std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> pairs;
    std::vector<std::pair<size_t, size_t>> owner; // (item, choice) of each pair
    for (size_t i = first; i < items.size(); ++i) {
        const auto promptIds = tokenizer.encode(multipleChoicePrompt(items[i], shots, options.subject), true);
        for (size_t c = 0; c < items[i].choices.size(); ++c) {
            pairs.emplace_back(promptIds, tokenizer.encode(std::string(" ") + char('A' + c), false));
            owner.emplace_back(i, c);
        }
    }
    const std::vector<double> scores = continuationLogLikelihoods(model, pairs, options.batchSize);
    AccuracyResult r;
    size_t p = 0;
    for (size_t i = first; i < items.size(); ++i) {
        int best = -1;
        double bestScore = -std::numeric_limits<double>::infinity();
        for (; p < pairs.size() && owner[p].first == i; ++p)
            if (best < 0 || scores[p] > bestScore) {
                bestScore = scores[p];
                best = int(owner[p].second);
            }
        const bool ok = best == items[i].answer;
        r.correct += ok;
        r.items.push_back({int64_t(i), ok, std::string(1, char('A' + items[i].answer)),
                           best >= 0 ? std::string(1, char('A' + best)) : std::string()});
        ++r.total;
    }
    return r;
}

std::vector<ModuleDiagnostics> adapterDiagnostics(AdapterSet& set, const std::string& adapterName, const torch::Tensor& batchIds)
{
    torch::NoGradGuard ng;
    auto& model = set.model();
    model.eval();
    // Inputs of every adapted layer, captured by running the model once with adapters off.
    std::vector<ModuleDiagnostics> out;
    std::vector<std::vector<ActiveAdapter>> saved;
    for (auto& m : set.modules())
        saved.push_back(m.module->activeAdapters());
    for (auto& m : set.modules()) {
        if (!m.module->hasAdapter(adapterName))
            continue;
        auto& ad = m.module->adapter(adapterName);
        ModuleDiagnostics d;
        d.module = m.name;
        d.stdA = ad.A().std().item<double>();
        const auto& s = ad.spec();
        switch (s.init) {
        case InitMode::Rescaled: d.expectedStdA = s.initSigma / std::sqrt(double(s.rank)); break;
        case InitMode::Gaussian: d.expectedStdA = 1.0 / double(s.rank); break;
        case InitMode::Lora: d.expectedStdA = 1.0 / std::sqrt(3.0 * double(m.module->inFeatures())); break;
        case InitMode::Spectral: d.expectedStdA = 0.0; break;
        }
        out.push_back(d);
    }
    if (batchIds.defined()) {
        // Output std of each adapted layer: a random input with the layer's in-features stands in
        // for activations when no batch flows through (keeps this free of forward hooks).
        torch::manual_seed(0);
        size_t k = 0;
        for (auto& m : set.modules()) {
            if (!m.module->hasAdapter(adapterName))
                continue;
            const auto x = torch::randn({int64_t(batchIds.numel()), m.module->inFeatures()}, m.module->weightOptions());
            m.module->setActiveAdapters({});
            out[k].outputStdBase = m.module->forward(x).std().item<double>();
            m.module->setActiveAdapters({{adapterName, 1.0}});
            out[k].outputStdAdapted = m.module->forward(x).std().item<double>();
            ++k;
        }
    }
    size_t i = 0;
    for (auto& m : set.modules())
        m.module->setActiveAdapters(saved[i++]);
    return out;
}

json EvalReport::toJson() const
{
    json j = json::object();
    if (loss)
        j["loss"] = {{"loss", loss->loss}, {"perplexity", loss->perplexity}, {"tokens", loss->tokens}};
    if (exactMatch)
        j["exact_match"] = {{"accuracy", exactMatch->accuracy()}, {"correct", exactMatch->correct}, {"total", exactMatch->total},
                            {"samples", exactMatch->samples}};
    if (multipleChoice)
        j["multiple_choice"] = {{"accuracy", multipleChoice->accuracy()}, {"correct", multipleChoice->correct}, {"total", multipleChoice->total}};
    if (parameters)
        j["parameters"] = {{"trainable", parameters->trainable}, {"total", parameters->total}, {"ratio", parameters->ratio()}};
    if (preference)
        j["preference"] = {{"loss", preference->loss()}, {"loss_type", objectives::dpoVariantName(dpo.variant)}, {"beta", dpo.beta},
                           {"rewards_chosen", preference->rewardChosen()}, {"rewards_rejected", preference->rewardRejected()},
                           {"margin", preference->margin()}, {"accuracy", preference->accuracy()},
                           {"logps_chosen", preference->logpChosen()}, {"logps_rejected", preference->logpRejected()},
                           {"pairs", preference->pairs}, {"data", preferenceData}};
    for (const auto& d : diagnostics)
        j["diagnostics"].push_back({{"module", d.module}, {"std_a", d.stdA}, {"expected_std_a", d.expectedStdA},
                                    {"output_std_base", d.outputStdBase}, {"output_std_adapted", d.outputStdAdapted}});
    return j;
}

std::string EvalReport::toText() const
{
    std::ostringstream o;
    if (loss)
        o << "validation loss  " << loss->loss << "  perplexity " << loss->perplexity << "  (" << loss->tokens << " tokens)\n";
    if (exactMatch) {
        o << "exact match      " << 100.0 * exactMatch->accuracy() << "%  (" << exactMatch->correct << "/" << exactMatch->total << ")\n";
        for (const auto& s : exactMatch->samples)
            o << "    expected | got: " << s << "\n";
    }
    if (multipleChoice)
        o << "multiple choice  " << 100.0 * multipleChoice->accuracy() << "%  (" << multipleChoice->correct << "/" << multipleChoice->total << ")\n";
    if (preference)
        o << "preference (" << objectives::dpoVariantName(dpo.variant) << ", beta " << dpo.beta << ")  loss " << preference->loss()
          << "  accuracy " << 100.0 * preference->accuracy() << "%  margin " << preference->margin() << "  rewards chosen "
          << preference->rewardChosen() << " / rejected " << preference->rewardRejected() << "  log-probs chosen "
          << preference->logpChosen() << " / rejected " << preference->logpRejected() << "  (" << preference->pairs << " pairs; "
          << preferenceData << ")\n";
    if (parameters)
        o << "adapter params   " << parameters->trainable << " of " << parameters->total << " (" << 100.0 * parameters->ratio() << "%)\n";
    for (const auto& d : diagnostics)
        o << "  " << d.module << "  std(A) " << d.stdA << " (expected " << d.expectedStdA << ")  output std "
          << d.outputStdBase << " -> " << d.outputStdAdapted << "\n";
    return o.str();
}

EvalReport runEvaluation(const EvalRequest& req)
{
    if (req.lossData.empty() && req.exactMatchData.empty() && req.multipleChoiceData.empty() && req.preferenceData.empty()
        && !req.diagnostics)
        throw Error("nothing to evaluate: give --data, --exact-match, --multiple-choice, --preference or --diagnostics");
    if (!req.referenceAdapterPaths.empty() && req.preferenceData.empty())
        throw Error("--reference-adapter only applies to --preference");
    if (!req.preferenceData.empty())
        objectives::validateDpoOptions(req.dpo);
    // A template name the tokenizer lacks is refused before the model loads, as the option it came
    // from (the loss data would otherwise name training's data.chat_template).
    if (!req.chatTemplate.empty() && (!req.lossData.empty() || !req.exactMatchData.empty() || !req.preferenceData.empty())) {
        models::SampleBuilderOptions opts;
        opts.templateName = req.chatTemplate;
        models::Tokenizer tokenizer = models::loadModelTokenizer(req.modelPath);
        try {
            const models::SampleBuilder check(std::move(tokenizer), opts);
        } catch (const Error& e) {
            throw Error("--chat-template: " + e.message(), e.hint());
        }
    }
    models::LoadOptions lo;
    lo.device = models::parseDevice(req.device);
    auto model = models::loadCausalLM(req.modelPath, lo);
    AdapterSet set(*model);
    std::vector<ActiveAdapter> active;
    bool diagnosedSpectral = false;
    for (size_t i = 0; i < req.adapterPaths.size(); ++i) {
        const std::string name = "adapter" + std::to_string(i);
        const AdapterConfig loaded = loadPeftAdapter(set, req.adapterPaths[i], name);
        diagnosedSpectral = diagnosedSpectral || (i == req.diagnosedAdapter && loaded.init == InitMode::Spectral);
        active.push_back({name, 1.0});
    }
    std::vector<ActiveAdapter> reference;
    for (size_t i = 0; i < req.referenceAdapterPaths.size(); ++i) {
        const std::string name = "reference" + std::to_string(i);
        loadPeftAdapter(set, req.referenceAdapterPaths[i], name);
        reference.push_back({name, 1.0});
    }
    set.setActive(active);
    EvalReport rep;
    auto limited = [&](auto v) {
        if (req.limit > 0 && v.size() > size_t(req.limit))
            v.resize(size_t(req.limit));
        return v;
    };
    if (!req.lossData.empty()) {
        TrainConfig c;
        c.modelPath = req.modelPath;
        c.maxSeqLen = req.maxSeqLen;
        c.chatTemplate = req.chatTemplate; // SFT records render as --chat-template names, as training did
        const auto examples = limited(loadExamples(req.lossData, c));
        // An empty file would otherwise score "loss 0, perplexity 1": a perfect result from no data.
        if (datasetFacts(req.lossData, examples, req.maxSeqLen).supervisedTokens == 0)
            throw Error(req.lossData + ": no supervised tokens to evaluate the loss on (" + std::to_string(examples.size()) +
                        " samples); give a file with samples that have trained tokens");
        rep.loss = evaluateLoss(*model, examples, req.batchSize, req.maxSeqLen);
    }
    if (!req.exactMatchData.empty() || !req.multipleChoiceData.empty()) {
        const auto tok = models::loadModelTokenizer(req.modelPath);
        if (!req.exactMatchData.empty()) {
            models::SampleBuilderOptions opts;
            opts.maxLength = size_t(req.maxSeqLen);
            if (!req.chatTemplate.empty())
                opts.templateName = req.chatTemplate;
            const models::SampleBuilder builder(tok, opts);
            rep.exactMatch = exactMatch(*model, tok, limited(loadExactMatchItems(req.exactMatchData, &builder)), req.maxNewTokens, req.batchSize,
                                        req.samples, req.match);
        }
        if (!req.multipleChoiceData.empty()) {
            ChoiceOptions choice = req.choice;
            choice.batchSize = req.batchSize;
            if (!req.choiceShotsData.empty())
                choice.shots = loadChoiceItems(req.choiceShotsData);
            rep.multipleChoice = multipleChoice(*model, tok, limited(loadChoiceItems(req.multipleChoiceData)), choice);
        }
    }
    if (!req.preferenceData.empty()) {
        models::SampleBuilderOptions opts;
        opts.maxLength = size_t(req.maxSeqLen);
        if (!req.chatTemplate.empty())
            opts.templateName = req.chatTemplate;
        const models::SampleBuilder builder(models::loadModelTokenizer(req.modelPath), opts);
        const auto data = builder.loadPreferences(req.preferenceData);
        objectives::PreferenceEvalRequest pr;
        pr.policy = active;
        pr.reference = reference;
        pr.options = req.dpo;
        pr.batchSize = req.batchSize;
        pr.maxSeqLen = req.maxSeqLen;
        rep.preference = objectives::evaluatePreferences(*model, set, limited(data.samples), pr);
        rep.preferenceData = data.stats.summary();
        rep.dpo = req.dpo;
    }
    if (req.diagnostics && !active.empty()) {
        rep.parameters = set.parameterCounts();
        // Adapter parameters against the whole model (loaded adapters are frozen, so count them here).
        int64_t adapterParams = 0;
        for (const auto& m : set.modules())
            for (const auto& n : m.module->adapterNames())
                adapterParams += m.module->adapter(n).factorA().numel() + m.module->adapter(n).factorB().numel();
        rep.parameters->trainable = adapterParams;
        if (req.diagnosedAdapter >= active.size())
            throw Error("diagnostics of adapter " + std::to_string(req.diagnosedAdapter + 1) + " asked for, but only "
                        + std::to_string(active.size()) + " adapter(s) are loaded");
        rep.diagnostics = adapterDiagnostics(set, active[req.diagnosedAdapter].name, torch::zeros({64}, torch::kLong));
        // A spectral adapter's A holds singular vectors, not draws: there is no std to expect.
        if (diagnosedSpectral)
            for (auto& d : rep.diagnostics)
                d.expectedStdA = 0.0;
    }
    return rep;
}

} // namespace rslora::engine
