// The resident generation session (see GenerationSession.h).
#include "engine/generation/GenerationSession.h"

#include "common/Error.h"
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/fusion/FusionGate.h"
#include "engine/generation/GenerationBatch.h"
#include "models/CausalLM.h"
#include "models/ModelTokenizer.h"
#include "models/TokenPicker.h"
#include "models/chat/ChatTemplate.h"

#include <chrono>
#include <cmath>
#include <thread>

namespace rslora::engine {

GenerationSession::GenerationSession(const std::filesystem::path& modelDir, const models::LoadOptions& options)
    : m_model(models::loadCausalLM(modelDir, options)), m_modelDir(modelDir)
{
    if (models::Tokenizer::existsIn(modelDir))
        m_tokenizer = models::Tokenizer::load(modelDir); // checked against the model in setUp()
    setUp();
}

GenerationSession::GenerationSession(std::unique_ptr<models::CausalLM> model, std::optional<models::Tokenizer> tokenizer,
                                     std::filesystem::path modelDir)
    : m_model(std::move(model)), m_tokenizer(std::move(tokenizer)), m_modelDir(std::move(modelDir))
{
    if (!m_model)
        throw Error("generation session: no model given");
    setUp();
}

GenerationSession::~GenerationSession() = default;

void GenerationSession::setUp()
{
    if (m_tokenizer)
        models::checkTokenizerFitsModel(*m_tokenizer, m_model->config(),
                                        m_modelDir.empty() ? std::string("generation session") : m_modelDir.string());
    m_model->eval();
    for (auto& p : m_model->parameters())
        p.set_requires_grad(false);
    m_adapterSet = std::make_unique<AdapterSet>(*m_model);
    const auto& c = m_model->config();
    // As `rslora generate`: the config's ids first, the tokenizer's as a fallback.
    m_eosIds = c.eosTokenIds;
    if (m_eosIds.empty() && m_tokenizer && m_tokenizer->eosId())
        m_eosIds = {*m_tokenizer->eosId()};
    if (c.padTokenId)
        m_padId = *c.padTokenId;
    else if (m_tokenizer && m_tokenizer->padId())
        m_padId = *m_tokenizer->padId();
    if (m_padId < 0 || m_padId >= c.vocabSize)
        m_padId = 0;
}

int64_t GenerationSession::vocabSize() const { return m_model->config().vocabSize; }
int64_t GenerationSession::contextLength() const { return m_model->config().maxPositionEmbeddings; }

std::unique_lock<std::recursive_mutex> GenerationSession::lockAhead() const
{
    m_waiters.fetch_add(1);
    std::unique_lock<std::recursive_mutex> lock(m_mutex);
    m_waiters.fetch_sub(1);
    return lock;
}

void GenerationSession::yieldToWaiters() const
{
    while (m_waiters.load() > 0)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
}

LoadedAdapterInfo GenerationSession::loadAdapter(const std::string& name, const std::filesystem::path& dir)
{
    const auto lock = lockAhead();
    if (name.empty())
        throw Error("load adapter: the adapter name is empty");
    if (hasAdapter(name))
        throw Error("load adapter: an adapter named '" + name + "' is already loaded (from " +
                    [&] { for (const auto& a : m_adapters) if (a.name == name) return a.path.string(); return std::string(); }() + ")");
    if (!std::filesystem::is_directory(dir))
        throw Error("load adapter '" + name + "': expected a PEFT adapter folder at " + dir.string() + ", found " +
                    (std::filesystem::exists(dir) ? "a file" : "nothing"));
    const auto t0 = std::chrono::steady_clock::now();
    m_routingSet = false;
    try {
        loadPeftAdapter(*m_adapterSet, dir, name);
    } catch (...) {
        // Nothing half-attached stays behind.
        for (const auto& m : m_adapterSet->modules())
            if (m.module->hasAdapter(name))
                m.module->removeAdapter(name);
        throw;
    }
    LoadedAdapterInfo info;
    info.name = name;
    info.path = dir;
    for (const auto& m : m_adapterSet->modules())
        if (m.module->hasAdapter(name)) {
            ++info.modules;
            info.rank = std::max<int64_t>(info.rank, m.module->adapter(name).spec().rank);
            m.module->adapter(name).setTrainable(false);
        }
    info.loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> registry(m_registryMutex);
    m_adapters.push_back(info);
    return info;
}

void GenerationSession::unloadAdapter(const std::string& name)
{
    const auto lock = lockAhead();
    if (!hasAdapter(name))
        throw Error("unload adapter: no adapter named '" + name + "' is loaded");
    if (auto it = m_inUse.find(name); it != m_inUse.end() && it->second > 0)
        throw Error("unload adapter: '" + name + "' is in use by " + std::to_string(it->second) + " running request(s)");
    m_routingSet = false;
    m_adapterSet->setRowAdapters({});
    m_adapterSet->setActive({});
    for (const auto& m : m_adapterSet->modules())
        if (m.module->hasAdapter(name))
            m.module->removeAdapter(name);
    m_inUse.erase(name);
    std::lock_guard<std::mutex> registry(m_registryMutex);
    m_adapters.erase(std::remove_if(m_adapters.begin(), m_adapters.end(), [&](const auto& a) { return a.name == name; }),
                     m_adapters.end());
}

std::vector<LoadedAdapterInfo> GenerationSession::adapters() const
{
    std::lock_guard<std::mutex> registry(m_registryMutex);
    return m_adapters;
}

bool GenerationSession::hasAdapter(const std::string& name) const
{
    std::lock_guard<std::mutex> registry(m_registryMutex);
    for (const auto& a : m_adapters)
        if (a.name == name)
            return true;
    return false;
}

std::vector<int64_t> GenerationSession::encode(const std::string& text) const
{
    if (!m_tokenizer)
        throw Error("the model folder " + m_modelDir.string() + " has no tokenizer.json: give token ids instead of text");
    return m_tokenizer->encode(text);
}

std::vector<int64_t> GenerationSession::encodeChat(const nlohmann::ordered_json& messages) const
{
    if (!m_tokenizer)
        throw Error("the model folder " + m_modelDir.string() + " has no tokenizer.json: chat needs one");
    auto tpl = models::ChatTemplate::fromTokenizer(*m_tokenizer);
    if (!tpl)
        throw Error("the model folder " + m_modelDir.string() +
                    " has no chat template (tokenizer_config.json chat_template or chat_template.jinja)");
    models::ChatRenderOptions options;
    options.addGenerationPrompt = true;
    return models::encodeRenderedChat(*m_tokenizer, tpl->render(messages, options));
}

std::string GenerationSession::decode(const std::vector<int64_t>& ids) const
{
    if (!m_tokenizer)
        throw Error("the model folder " + m_modelDir.string() + " has no tokenizer.json: cannot turn ids into text");
    return m_tokenizer->decode(ids, true);
}

void GenerationSession::validate(const GenerationRequest& r) const
{
    // Reads only what never changes and the adapter list: no wait for a running step.
    const int64_t V = vocabSize();
    if (r.promptIds.empty())
        throw Error("the prompt is empty: expected at least one token");
    for (size_t i = 0; i < r.promptIds.size(); ++i)
        if (r.promptIds[i] < 0 || r.promptIds[i] >= V)
            throw Error("prompt token " + std::to_string(i) + " is " + std::to_string(r.promptIds[i]) +
                        ", outside the vocabulary [0, " + std::to_string(V) + ")");
    for (const auto& a : r.adapters)
        if (!hasAdapter(a.name))
            throw Error("no adapter named '" + a.name + "' is loaded");
    const SamplingSettings& s = r.sampling;
    if (s.maxNewTokens < 1)
        throw Error("max new tokens must be at least 1, found " + std::to_string(s.maxNewTokens));
    models::checkSampling(s.temperature, s.topP, s.topK, s.repetitionPenalty);
    if (s.minNewTokens < 0 || s.minNewTokens > s.maxNewTokens)
        throw Error("min new tokens must be in [0, max new tokens = " + std::to_string(s.maxNewTokens) + "], found " +
                    std::to_string(s.minNewTokens));
    for (const auto& [id, bias] : s.logitBias) {
        if (id < 0 || id >= V)
            throw Error("logit bias for token " + std::to_string(id) + ": outside the vocabulary [0, " + std::to_string(V) + ")");
        if (!std::isfinite(bias))
            throw Error("logit bias for token " + std::to_string(id) + ": expected a finite number, found " + std::to_string(bias));
    }
    if (!s.stopStrings.empty() && !m_tokenizer)
        throw Error("stop strings need a tokenizer, and " + m_modelDir.string() + " has no tokenizer.json");
}

torch::Tensor GenerationSession::pooledPromptState(const std::vector<int64_t>& promptIds)
{
    const auto lock = lockAhead();
    if (promptIds.empty())
        throw Error("pooled prompt state: the prompt is empty");
    // Per-row adapters would replace the (switched off) active set: drop them; the next generate
    // routes again.
    m_adapterSet->setRowAdapters({});
    m_routingSet = false;
    const auto ids = torch::tensor(promptIds, torch::kLong).unsqueeze(0);
    return fusion::FusionGate::pooledHidden(*m_adapterSet, ids, torch::ones_like(ids));
}

void GenerationSession::route(const std::vector<AdapterMix>& rows)
{
    if (m_routingSet && rows == m_routing)
        return;
    bool uniform = true;
    for (const auto& r : rows)
        uniform = uniform && r == rows.front();
    if (uniform) {
        // Every row alike: the ordinary active set and its fused low-rank path.
        m_adapterSet->setRowAdapters({});
        std::vector<ActiveAdapter> active;
        if (!rows.empty())
            for (const auto& a : rows.front())
                active.emplace_back(a.name, a.weight);
        m_adapterSet->setActive(active);
    } else {
        std::vector<RowAdapterSet> perRow;
        for (const auto& r : rows) {
            RowAdapterSet set;
            for (const auto& a : r)
                set.emplace_back(a.name, a.weight);
            perRow.push_back(std::move(set));
        }
        m_adapterSet->setRowAdapters(perRow);
    }
    m_routing = rows;
    m_routingSet = true;
}

std::vector<GenerationOutput> GenerationSession::generate(std::vector<GenerationRequest> requests)
{
    std::lock_guard<std::recursive_mutex> lock(m_mutex);
    GenerationBatch batch(*this);
    std::vector<int64_t> ids;
    for (auto& r : requests)
        ids.push_back(batch.add(std::move(r)));
    std::vector<GenerationOutput> out(ids.size());
    while (!batch.empty())
        for (auto& ended : batch.step()) {
            if (ended.error)
                std::rethrow_exception(ended.error);
            out[static_cast<size_t>(ended.id)] = std::move(ended.output);
        }
    return out;
}

GenerationOutput GenerationSession::generate(GenerationRequest request)
{
    std::vector<GenerationRequest> one;
    one.push_back(std::move(request));
    return std::move(generate(std::move(one)).front());
}

} // namespace rslora::engine
