// The built-in demo's text, generated from small tables of facts with a fixed seed (nothing is
// downloaded): the pretraining documents of the demo base model, and its SFT datasets (held-out
// fact questions with exact answers, chat conversations, preference pairs). No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::engine {

// One fact: "the capital of France" -> "Paris". `subject` is the phrase a statement and a question
// share ("the capital of France", "3 plus 4"), so that a question names the fact exactly as the
// pretraining text does.
struct DemoFact {
    std::string relation; // "capital", "opposite", "sum", ...
    std::string subject;
    std::string answer;
    bool heldOut = false; // in the validation split of the question datasets
};

class DemoCorpus {
public:
    explicit DemoCorpus(uint64_t seed);

    const std::vector<DemoFact>& facts() const { return m_facts; }

    // Pretraining documents: every fact stated in several phrasings and once as a plain-text
    // question and answer (never in the chat format), shuffled into short documents with two
    // sentences repeated; `passes` reshuffles of the whole set.
    // With `chatEcho`, each pass also holds chat turns in which the assistant repeats a sentence
    // the user asks it to say (chat tokens and copying across a turn, no questions answered).
    std::vector<std::string> pretrainingDocuments(int passes, int sentencesPerDocument, bool chatEcho = false) const;

    // Question datasets with exact answers (alpaca records {"instruction", "output"}, the output
    // the fact as one sentence): questions about the facts not held out, or about the held-out facts.
    std::vector<nlohmann::ordered_json> questionRecords(bool heldOut) const;
    // Chat conversations ({"messages": [...]}) with a system prompt and two question turns,
    // answered in full sentences.
    std::vector<nlohmann::ordered_json> chatRecords(bool heldOut) const;
    // Preference pairs ({"prompt", "chosen", "rejected"}) that teach a style the SFT data never shows:
    // the chosen answer opens warmly ("Sure! The capital of Peru is Lima."), the rejected one is the
    // plain sentence the SFT stage learned. Both are right, so only the style separates them.
    std::vector<nlohmann::ordered_json> preferenceRecords(bool heldOut) const;

    // Every text the tokenizer should see while its merges are learned.
    std::vector<std::string> tokenizerTrainingText() const;

    static std::string question(const DemoFact& fact);
    static std::string sentenceAnswer(const DemoFact& fact);

private:
    // Deterministic on every platform (std::shuffle and the distributions are not).
    uint64_t next() const;
    size_t below(size_t n) const { return size_t(next() % uint64_t(n)); }
    template <typename T>
    void shuffle(std::vector<T>& v) const
    {
        for (size_t i = v.size(); i > 1; --i)
            std::swap(v[i - 1], v[below(i)]);
    }
    std::vector<std::string> statements(const DemoFact& fact) const;
    std::vector<DemoFact> factsIn(bool heldOut) const;

    uint64_t m_seed;
    mutable uint64_t m_state;
    std::vector<DemoFact> m_facts;
};

} // namespace rslora::engine
