// The demo's generated text (see DemoCorpus.h).
#include "engine/demo/DemoCorpus.h"

#include <cctype>
#include <map>
#include <utility>

namespace rslora::engine {

namespace {

using ojson = nlohmann::ordered_json;
using Pairs = std::vector<std::pair<const char*, const char*>>;

// The tables the facts come from: each relation is a list of (subject word, answer).
const Pairs kOpposites = {
    {"hot", "cold"},     {"big", "small"},   {"fast", "slow"},    {"happy", "sad"},   {"light", "dark"},
    {"up", "down"},      {"old", "new"},     {"tall", "short"},   {"hard", "soft"},   {"wet", "dry"},
    {"early", "late"},   {"open", "closed"}, {"full", "empty"},   {"rich", "poor"},   {"strong", "weak"},
    {"loud", "quiet"},   {"clean", "dirty"}, {"thick", "thin"},   {"heavy", "light"}, {"day", "night"},
    {"left", "right"},   {"inside", "outside"}, {"first", "last"}, {"near", "far"},   {"good", "bad"},
    {"high", "low"},     {"black", "white"}, {"young", "old"},    {"win", "lose"},    {"push", "pull"},
};
const Pairs kCapitals = {
    {"France", "Paris"},    {"Germany", "Berlin"},   {"Italy", "Rome"},       {"Spain", "Madrid"},
    {"Japan", "Tokyo"},     {"China", "Beijing"},    {"Egypt", "Cairo"},      {"Russia", "Moscow"},
    {"Canada", "Ottawa"},   {"Peru", "Lima"},        {"Kenya", "Nairobi"},    {"Greece", "Athens"},
    {"Norway", "Oslo"},     {"Sweden", "Stockholm"}, {"Poland", "Warsaw"},    {"Austria", "Vienna"},
    {"Ireland", "Dublin"},  {"Portugal", "Lisbon"},  {"Cuba", "Havana"},      {"Chile", "Santiago"},
    {"India", "Delhi"},     {"Turkey", "Ankara"},    {"Iran", "Tehran"},      {"Thailand", "Bangkok"},
    {"Denmark", "Copenhagen"}, {"Finland", "Helsinki"}, {"Hungary", "Budapest"}, {"Belgium", "Brussels"},
};
const Pairs kPlurals = {
    {"mouse", "mice"},   {"child", "children"}, {"foot", "feet"},   {"tooth", "teeth"},  {"man", "men"},
    {"woman", "women"},  {"goose", "geese"},    {"person", "people"}, {"ox", "oxen"},    {"leaf", "leaves"},
    {"knife", "knives"}, {"wolf", "wolves"},    {"box", "boxes"},   {"bus", "buses"},    {"city", "cities"},
    {"baby", "babies"},  {"cat", "cats"},       {"dog", "dogs"},    {"tree", "trees"},   {"car", "cars"},
    {"book", "books"},   {"fox", "foxes"},      {"sheep", "sheep"}, {"fish", "fish"},    {"lady", "ladies"},
    {"church", "churches"}, {"glass", "glasses"}, {"house", "houses"}, {"star", "stars"}, {"party", "parties"},
};
const Pairs kColors = {
    {"snow", "white"},    {"grass", "green"},  {"the sky", "blue"},    {"blood", "red"},     {"coal", "black"},
    {"a banana", "yellow"}, {"an orange", "orange"}, {"a lemon", "yellow"}, {"milk", "white"}, {"a frog", "green"},
    {"the sea", "blue"},  {"a tomato", "red"}, {"a crow", "black"},    {"a carrot", "orange"}, {"chocolate", "brown"},
    {"a plum", "purple"}, {"ash", "gray"},     {"a leaf", "green"},    {"the sun", "yellow"}, {"soil", "brown"},
};
const Pairs kSounds = {
    {"a cow", "moo"},     {"a dog", "woof"},   {"a cat", "meow"},    {"a duck", "quack"}, {"a sheep", "baa"},
    {"a pig", "oink"},    {"a lion", "roar"},  {"a snake", "hiss"},  {"an owl", "hoot"},  {"a bee", "buzz"},
    {"a horse", "neigh"}, {"a mouse", "squeak"}, {"a frog", "croak"}, {"a crow", "caw"},  {"a goat", "bleat"},
    {"a wolf", "howl"},
};
const std::vector<const char*> kDays = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
const std::vector<const char*> kMonths = {"january", "february", "march", "april", "may", "june", "july",
                                          "august", "september", "october", "november", "december"};

std::string capitalized(std::string s)
{
    if (!s.empty())
        s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
    return s;
}

} // namespace

DemoCorpus::DemoCorpus(uint64_t seed) : m_seed(seed), m_state(seed)
{
    auto add = [this](const char* relation, const std::string& subject, const std::string& answer) {
        m_facts.push_back({relation, subject, answer, false});
    };
    for (const auto& [a, b] : kOpposites) {
        add("opposite", std::string("the opposite of ") + a, b);
        add("opposite", std::string("the opposite of ") + b, a);
    }
    // "light" and "old" are the opposite of two words each: the facts stay unambiguous because the
    // subject names the word whose opposite is asked, but two answers for one subject would not be.
    std::map<std::string, int> seen;
    std::vector<DemoFact> unique;
    for (auto& f : m_facts)
        if (seen[f.subject]++ == 0)
            unique.push_back(f);
    m_facts = std::move(unique);
    for (const auto& [a, b] : kCapitals)
        add("capital", std::string("the capital of ") + a, b);
    for (const auto& [a, b] : kPlurals)
        add("plural", std::string("the plural of ") + a, b);
    for (const auto& [a, b] : kColors)
        add("color", std::string("the color of ") + a, b);
    for (const auto& [a, b] : kSounds)
        add("sound", std::string("the sound of ") + a, b);
    for (int a = 0; a <= 9; ++a)
        for (int b = 0; b <= 9; ++b)
            add("sum", std::to_string(a) + " plus " + std::to_string(b), std::to_string(a + b));
    for (int n = 0; n < 40; ++n)
        add("next", "the number after " + std::to_string(n), std::to_string(n + 1));
    for (size_t i = 0; i < kDays.size(); ++i)
        add("day", std::string("the day after ") + kDays[i], kDays[(i + 1) % kDays.size()]);
    for (size_t i = 0; i < kMonths.size(); ++i)
        add("month", std::string("the month after ") + kMonths[i], kMonths[(i + 1) % kMonths.size()]);

    // A quarter of each relation is held out of the question training set (validation), chosen
    // by the seed.
    std::map<std::string, std::vector<size_t>> byRelation;
    for (size_t i = 0; i < m_facts.size(); ++i)
        byRelation[m_facts[i].relation].push_back(i);
    for (auto& [relation, indices] : byRelation) {
        shuffle(indices);
        const size_t held = (indices.size() + 3) / 4;
        for (size_t k = 0; k < held; ++k)
            m_facts[indices[k]].heldOut = true;
    }
}

uint64_t DemoCorpus::next() const
{
    // splitmix64
    uint64_t z = (m_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::vector<std::string> DemoCorpus::statements(const DemoFact& f) const
{
    const std::string& s = f.subject;
    const std::string& a = f.answer;
    // The subject phrase without its leading "the ... of " for the other phrasings.
    const auto of = s.find(" of ");
    const std::string word = of == std::string::npos ? s : s.substr(of + 4);
    std::vector<std::string> out{capitalized(s) + " is " + a + "."};
    if (f.relation == "opposite") {
        out.push_back(capitalized(a) + " is the opposite of " + word + ".");
        out.push_back("If it is not " + word + ", it is " + a + ".");
    } else if (f.relation == "capital") {
        out.push_back(a + " is the capital of " + word + ".");
        out.push_back("The people of " + word + " have their capital in " + a + ".");
    } else if (f.relation == "plural") {
        out.push_back("One " + word + ", two " + a + ".");
        out.push_back("The word " + word + " becomes " + a + " when there are many.");
    } else if (f.relation == "color") {
        out.push_back(capitalized(word) + " is " + a + ".");
        out.push_back("Look at " + word + ": it is " + a + ".");
    } else if (f.relation == "sound") {
        out.push_back(capitalized(word) + " says " + a + ".");
        out.push_back("You can hear " + word + " go " + a + ".");
    } else if (f.relation == "sum") {
        const auto plus = s.find(" plus ");
        const std::string x = s.substr(0, plus), y = s.substr(plus + 6);
        out.push_back(x + " + " + y + " = " + a + ".");
        out.push_back("Adding " + x + " and " + y + " gives " + a + ".");
    } else if (f.relation == "next") {
        out.push_back("After " + word + " comes " + a + ".");
        out.push_back("Counting on from " + word + ", the next number is " + a + ".");
    } else {
        out.push_back("After " + word + " comes " + a + ".");
        out.push_back("When " + word + " is over, " + a + " begins.");
    }
    return out;
}

std::vector<std::string> DemoCorpus::pretrainingDocuments(int passes, int sentencesPerDocument, bool chatEcho) const
{
    std::vector<std::string> sentences;
    for (const auto& f : m_facts) {
        for (auto& s : statements(f))
            sentences.push_back(std::move(s));
        // Questions appear in plain text ("Q: ... A: ..."), never in the chat format: the base model
        // can answer when asked that way, and an adapter has to teach it the chat turns.
        sentences.push_back("Q: " + question(f) + " A: " + sentenceAnswer(f));
    }
    std::vector<std::string> docs;
    for (int p = 0; p < passes; ++p) {
        std::vector<std::string> order = sentences;
        shuffle(order);
        for (size_t i = 0; i < order.size(); i += size_t(sentencesPerDocument)) {
            std::string doc;
            const size_t end = std::min(order.size(), i + size_t(sentencesPerDocument));
            for (size_t k = i; k < end; ++k)
                doc += (doc.empty() ? "" : " ") + order[k];
            // Two sentences of the document said again: the model learns to copy from its
            // context, which answering a question in its own words needs.
            for (int r = 0; r < 2; ++r)
                doc += " Again: " + order[i + below(end - i)];
            docs.push_back(std::move(doc));
        }
        // Chat turns in which the assistant only repeats what the user asked it to say: the base
        // model learns the chat tokens and to copy across a turn, but never sees a question
        // answered in a chat, so answering one stays the adapter's job.
        static const char* kAsk[] = {"Repeat: ", "Say this again: ", "Please say: "};
        for (size_t i = 0; chatEcho && i + 1 < order.size(); i += 8) {
            std::string doc;
            for (size_t k = i; k < i + 2; ++k) {
                if (!doc.empty())
                    doc += "<|eos|>\n";
                doc += "<|im_start|>user\n" + std::string(kAsk[below(3)]) + order[k] + "<|eos|>\n<|im_start|>assistant\n" + order[k];
            }
            docs.push_back(std::move(doc));
        }
    }
    if (chatEcho)
        shuffle(docs);
    return docs;
}

std::string DemoCorpus::question(const DemoFact& f)
{
    return "What is " + f.subject + "?";
}

std::string DemoCorpus::sentenceAnswer(const DemoFact& f)
{
    return capitalized(f.subject) + " is " + f.answer + ".";
}

std::vector<DemoFact> DemoCorpus::factsIn(bool heldOut) const
{
    std::vector<DemoFact> out;
    for (const auto& f : m_facts)
        if (f.heldOut == heldOut)
            out.push_back(f);
    return out;
}

std::vector<ojson> DemoCorpus::questionRecords(bool heldOut) const
{
    std::vector<DemoFact> facts = factsIn(heldOut);
    shuffle(facts);
    std::vector<ojson> out;
    for (const auto& f : facts) {
        ojson r;
        r["instruction"] = question(f);
        // A full sentence, as the model read the fact: the adapter learns to answer in the
        // phrasing that recalls it, which carries over to the held-out facts.
        r["output"] = sentenceAnswer(f);
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<ojson> DemoCorpus::chatRecords(bool heldOut) const
{
    std::vector<DemoFact> facts = factsIn(heldOut);
    shuffle(facts);
    std::vector<ojson> out;
    for (size_t i = 0; i + 1 < facts.size(); i += 2) {
        ojson messages = ojson::array();
        messages.push_back({{"role", "system"}, {"content", "You are a patient tutor. Answer in one sentence."}});
        for (size_t k = i; k < i + 2; ++k) {
            messages.push_back({{"role", "user"}, {"content", question(facts[k])}});
            messages.push_back({{"role", "assistant"}, {"content", sentenceAnswer(facts[k])}});
        }
        out.push_back({{"messages", messages}});
    }
    return out;
}

std::vector<ojson> DemoCorpus::preferenceRecords(bool heldOut) const
{
    std::vector<DemoFact> facts = factsIn(heldOut);
    shuffle(facts);
    std::map<std::string, std::vector<std::string>> answers;
    for (const auto& f : m_facts)
        answers[f.relation].push_back(f.answer);
    std::vector<ojson> out;
    for (const auto& f : facts) {
        // The generator still draws a different answer of the same relation for every fact, as the
        // demo always has: the pretraining text is generated after the pairs, so the same draws keep
        // that text, and the pretrained model, independent of how the pairs are styled.
        const auto& pool = answers[f.relation];
        std::string drawn = f.answer;
        for (int tries = 0; tries < 16 && drawn == f.answer; ++tries)
            drawn = pool[below(pool.size())];
        ojson r;
        r["prompt"] = question(f);
        r["chosen"] = "Sure! " + sentenceAnswer(f);
        r["rejected"] = sentenceAnswer(f);
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<std::string> DemoCorpus::tokenizerTrainingText() const
{
    std::vector<std::string> out;
    for (const auto& f : m_facts) {
        for (auto& s : statements(f))
            out.push_back(std::move(s));
        out.push_back(question(f));
    }
    out.push_back("You are a patient tutor. Answer in one sentence.");
    out.push_back("system user assistant");
    return out;
}

} // namespace rslora::engine
