// Stand-alone driver for the fuzz target when libFuzzer is not used: replays the seed corpus and a
// fixed number of deterministic mutations of it (byte edits and JSON-structure edits), so CTest
// exercises the target in seconds with any compiler.
// usage: fuzz_tokenizer_json_smoke <corpus-dir> [iterations] [seed]
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void run(const std::string& s) { LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

const char* const kTokens[] = {"\"", "{", "}", "[", "]", ",", ":", "null", "true", "false", "-1", "0", "1e400",
                               "\"type\"", "\"BPE\"", "\"Split\"", "\"Regex\"", "\"String\"", "\"Sequence\"",
                               "\"ByteLevel\"", "\"Metaspace\"", "\"\\u0000\"", "\"(\"", "\"a b\"", "\"\\ud800\"",
                               "\"TemplateProcessing\"", "\"merges\"", "\"vocab\"", "\"added_tokens\"", "9999999999",
                               "{%", "%}", "{{", "}}", "{%-", "-%}", "{#", "#}", "endfor", "endif", "|", "(", ")",
                               "loop.", "namespace(", "[::-1]", "[1:]", " is ", " not ", " in ", "~", "**", "//",
                               "macro", "set ", "tojson", "raise_exception('x')", "messages", "'", "range(99999)"};

std::string byteMutation(std::string s, std::mt19937& rng) {
    const int kind = static_cast<int>(rng() % 5);
    const std::size_t n = s.size();
    auto pos = [&] { return n ? rng() % n : 0; };
    switch (kind) {
    case 0: if (n) s[pos()] = static_cast<char>(rng()); break;
    case 1: if (n) { const auto p = pos(); s.erase(p, rng() % 16); } break;
    case 2: s.insert(pos(), kTokens[rng() % (sizeof kTokens / sizeof *kTokens)]); break;
    case 3: if (n) { const auto p = pos(); s.insert(pos(), s.substr(p, rng() % 32)); } break;
    default: s.resize(pos()); break;
    }
    return s;
}

nlohmann::json randomValue(std::mt19937& rng, int depth = 0) {
    switch (rng() % (depth > 2 ? 5 : 7)) {
    case 0: return nullptr;
    case 1: return static_cast<bool>(rng() % 2);
    case 2: return static_cast<int64_t>(rng() % 3 == 0 ? -1 : rng() % 70000);
    case 3: return 0.5;
    case 4: return std::string(kTokens[rng() % (sizeof kTokens / sizeof *kTokens)]);
    case 5: {
        nlohmann::json a = nlohmann::json::array();
        for (unsigned i = rng() % 3; i > 0; --i)
            a.push_back(randomValue(rng, depth + 1));
        return a;
    }
    default: {
        nlohmann::json o = nlohmann::json::object();
        o["type"] = std::string(kTokens[rng() % (sizeof kTokens / sizeof *kTokens)]);
        return o;
    }
    }
}

// Replaces one node found by a random walk with a random value.
void structuralMutation(nlohmann::json& j, std::mt19937& rng) {
    nlohmann::json* node = &j;
    for (int steps = 0; steps < 6; ++steps) {
        if (node->is_object() && !node->empty() && rng() % 4 != 0) {
            auto it = node->begin();
            std::advance(it, static_cast<long>(rng() % node->size()));
            node = &it.value();
        } else if (node->is_array() && !node->empty() && rng() % 4 != 0) {
            node = &(*node)[rng() % node->size()];
        } else {
            break;
        }
    }
    *node = randomValue(rng);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <corpus-dir> [iterations] [seed]\n", argv[0]);
        return 2;
    }
    const long iterations = argc > 2 ? std::atol(argv[2]) : 2000;
    std::mt19937 rng(argc > 3 ? static_cast<unsigned>(std::atol(argv[3])) : 12345u);
    std::vector<std::string> seeds;
    for (const auto& e : std::filesystem::directory_iterator(argv[1])) {
        std::ifstream in(e.path(), std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        seeds.push_back(ss.str());
    }
    if (seeds.empty()) {
        std::fprintf(stderr, "no seeds in %s\n", argv[1]);
        return 2;
    }
    for (const auto& s : seeds)
        run(s);
    for (long i = 0; i < iterations; ++i) {
        const std::string& seed = seeds[rng() % seeds.size()];
        if (rng() % 2 == 0) {
            std::string s = seed;
            for (unsigned k = 1 + rng() % 3; k > 0; --k)
                s = byteMutation(s, rng);
            run(s);
        } else {
            nlohmann::json j = nlohmann::json::parse(seed, nullptr, false);
            if (j.is_discarded())
                continue;
            for (unsigned k = 1 + rng() % 2; k > 0; --k)
                structuralMutation(j, rng);
            run(j.dump());
        }
    }
    std::printf("fuzz smoke: %zu seeds, %ld mutations, no crash\n", seeds.size(), iterations);
    return 0;
}
