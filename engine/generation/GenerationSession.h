// The resident generation session: a base model loaded once, adapters loaded, unloaded and mixed by
// name while it runs, and batches whose rows each use their own adapter set (one forward per step;
// AdaptedLinear gathers the low-rank factors per row). Thread-safe: every call takes the session's
// lock, so adapters can be swapped from another thread between decoding steps.
#pragma once

#include "engine/generation/GenerationTypes.h"
#include "models/ModelLoader.h"
#include "models/tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rslora::models {
class CausalLM;
}

namespace rslora::engine {

class AdapterSet;
class GenerationBatch;

struct LoadedAdapterInfo {
    std::string name;
    std::filesystem::path path;
    int64_t rank = 0;        // the largest rank over its modules
    int64_t modules = 0;     // adapted projections
    double loadSeconds = 0;  // reading the folder and attaching it
};

class GenerationSession {
public:
    // Loads the model folder (config, weights, tokenizer.json when present) once.
    explicit GenerationSession(const std::filesystem::path& modelDir, const models::LoadOptions& options = {});
    // An already built model (tests, benchmarks); `tokenizer` may be empty (token ids only).
    GenerationSession(std::unique_ptr<models::CausalLM> model, std::optional<models::Tokenizer> tokenizer,
                      std::filesystem::path modelDir = {});
    ~GenerationSession();
    GenerationSession(const GenerationSession&) = delete;
    GenerationSession& operator=(const GenerationSession&) = delete;

    const std::filesystem::path& modelDir() const { return m_modelDir; }
    const models::Tokenizer* tokenizer() const { return m_tokenizer ? &*m_tokenizer : nullptr; }
    int64_t vocabSize() const;
    // The model's context length (config.json's max_position_embeddings).
    int64_t contextLength() const;

    // Attaches the PEFT adapter folder `dir` under `name`. Throws when the name is taken or the
    // folder does not fit the model (nothing is attached then).
    LoadedAdapterInfo loadAdapter(const std::string& name, const std::filesystem::path& dir);
    // Detaches `name`; refused while a running request uses it.
    void unloadAdapter(const std::string& name);
    std::vector<LoadedAdapterInfo> adapters() const;
    bool hasAdapter(const std::string& name) const;

    // Text helpers over the model's tokenizer (throw when the folder has none).
    std::vector<int64_t> encode(const std::string& text) const;
    // The messages in the model's chat template, with the assistant's generation prompt.
    std::vector<int64_t> encodeChat(const nlohmann::ordered_json& messages) const;
    std::string decode(const std::vector<int64_t>& ids) const;

    // Throws rslora::Error naming what is wrong with `request` (empty prompt, ids outside the
    // vocabulary, an unknown adapter, bad sampling settings, stop strings without a tokenizer).
    void validate(const GenerationRequest& request) const;

    // The base model's hidden state at the final norm averaged over the prompt's tokens, no adapter
    // active ([1, hidden], float32): what a learned gate reads to weigh its adapters.
    torch::Tensor pooledPromptState(const std::vector<int64_t>& promptIds);

    // Generates every request to its end, all rows in one batch (each with its own adapters).
    std::vector<GenerationOutput> generate(std::vector<GenerationRequest> requests);
    GenerationOutput generate(GenerationRequest request);

    // For a thread that steps a batch over and over (GenerationScheduler): returns once no caller
    // waits for the model (loading or unloading an adapter, a gate's prompt state), so that such
    // callers get the model between two steps instead of waiting behind every step.
    void yieldToWaiters() const;

private:
    friend class GenerationBatch;
    std::unique_ptr<models::CausalLM> m_model;
    std::optional<models::Tokenizer> m_tokenizer;
    std::filesystem::path m_modelDir;
    std::unique_ptr<AdapterSet> m_adapterSet;
    std::vector<LoadedAdapterInfo> m_adapters;  // guarded by m_registryMutex
    std::map<std::string, int> m_inUse;  // adapter name -> requests running with it
    std::vector<int64_t> m_eosIds;
    int64_t m_padId = 0;
    // The model and its adapters: held for a whole step, a load or an unload.
    mutable std::recursive_mutex m_mutex;
    // The list of loaded adapters alone, so that checking a request never waits for a step.
    mutable std::mutex m_registryMutex;
    // Callers waiting in lockAhead; the stepping thread lets them in first (yieldToWaiters).
    mutable std::atomic<int> m_waiters{0};
    std::unique_lock<std::recursive_mutex> lockAhead() const;
    // The adapters routing of the next forward (cached: off the CPU, regathering copies the factors).
    std::vector<AdapterMix> m_routing;
    bool m_routingSet = false;
    void route(const std::vector<AdapterMix>& rows);
    void setUp();
};

} // namespace rslora::engine
