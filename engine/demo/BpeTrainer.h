// A small byte-level BPE trainer for the demo tokenizer: GPT-2's byte-to-character map, words split
// as the ByteLevel pre-tokenizer splits them (digits one by one), the most frequent adjacent pair
// merged until the vocabulary is full, and the result written as a Hugging Face tokenizer.json.
// No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rslora::engine {

class BpeTrainer {
public:
    // Counts the pre-tokens of `text` (call as often as needed before train()).
    void addText(const std::string& text, int64_t weight = 1);
    // Learns merges until the vocabulary (256 bytes + merges) holds `vocabSize` entries or no pair
    // occurs twice. Ties go to the lexicographically smallest pair, so the result is deterministic.
    void train(int vocabSize);

    const std::vector<std::pair<std::string, std::string>>& merges() const { return m_merges; }
    // Token string -> id: the 256 byte characters first (in byte order), then each merge's result.
    const std::vector<std::string>& vocabulary() const { return m_vocab; }

    // tokenizer.json: BPE model, Digits(individual) + ByteLevel pre-tokenizer, ByteLevel decoder,
    // no post-processor; `specialTokens` become added tokens with ids after the vocabulary.
    nlohmann::ordered_json tokenizerJson(const std::vector<std::string>& specialTokens) const;

    // GPT-2's printable stand-in for a byte.
    static std::string byteToUnicode(unsigned char b);
    // The pre-tokens of a text (ASCII-oriented form of the GPT-2 split pattern after splitting
    // digits one by one), as raw bytes.
    static std::vector<std::string> preTokenize(const std::string& text);

private:
    std::map<std::string, int64_t> m_words;
    std::vector<std::pair<std::string, std::string>> m_merges;
    std::vector<std::string> m_vocab;
};

} // namespace rslora::engine
