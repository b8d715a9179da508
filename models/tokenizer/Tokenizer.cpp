// The encode pipeline of tokenizers' TokenizerImpl: added tokens on raw text -> normalizer per
// piece -> normalized added tokens -> pre-tokenizer -> BPE -> post-processor.
#include "models/tokenizer/Tokenizer.h"

#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "common/ReadWholeFile.h"
#include "common/Log.h"
#include "models/tokenizer/AddedTokenSources.h"
#include "models/tokenizer/BpeModel.h"
#include "models/tokenizer/Decoder.h"
#include "models/tokenizer/JsonFields.h"
#include "models/tokenizer/Normalizer.h"
#include "models/tokenizer/PostProcessor.h"
#include "models/tokenizer/PreTokenizer.h"
#include "models/tokenizer/Utf8.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace rslora::models {

struct Tokenizer::Impl {
    std::string source;
    TokenizerConfig config;
    std::unique_ptr<Normalizer> normalizer;
    std::unique_ptr<PreTokenizer> preTokenizer;
    std::unique_ptr<BpeModel> model;
    std::unique_ptr<PostProcessor> postProcessor;
    std::unique_ptr<Decoder> decoder;
    AddedVocabulary added;
    std::vector<PostProcessor::Piece> prefix, suffix;
    std::string splitPatternName; // "Qwen2", "Llama-3", "GPT-2", "custom" or empty
    bool byteLevel = false;
    bool metaspaceStyle = false;
    bool postProcessorFromConfig = false;
    int64_t idLimit = 0;
    std::size_t addedOutsideModel = 0;

    std::optional<int64_t> idOf(const std::optional<std::string>& token) const {
        if (!token)
            return std::nullopt;
        if (auto id = added.idOf(*token))
            return *id;
        if (auto id = model->tokenToId(*token))
            return *id;
        return std::nullopt;
    }
    std::optional<std::string> tokenOf(int64_t id) const {
        if (id < 0 || id > INT32_MAX)
            return std::nullopt;
        if (const std::string* s = added.decodeText(static_cast<int32_t>(id)))
            return *s;
        if (const std::string* s = model->idToToken(static_cast<int32_t>(id)))
            return *s;
        return std::nullopt;
    }
};

namespace {

// Scans the pre-tokenizer JSON for the facts describe() reports.
void inspectPreTokenizer(const nlohmann::json& j, std::string& splitName, bool& byteLevel, bool& metaspace) {
    if (!j.is_object())
        return;
    const std::string type = j.value("type", "");
    if (type == "Sequence" && j.contains("pretokenizers") && j["pretokenizers"].is_array()) {
        for (const auto& item : j["pretokenizers"])
            inspectPreTokenizer(item, splitName, byteLevel, metaspace);
    } else if (type == "Split" && j.contains("pattern") && j["pattern"].is_object()) {
        const auto& p = j["pattern"];
        if (p.contains("Regex") && p["Regex"].is_string()) {
            const std::string name = knownSplitPatternName(p["Regex"].get<std::string>());
            splitName = name.empty() ? "custom" : name;
        }
    } else if (type == "ByteLevel") {
        byteLevel = true;
        if (j.value("use_regex", true) && splitName.empty())
            splitName = "GPT-2";
    } else if (type == "Metaspace") {
        metaspace = true;
    }
}

// transformers' tokenizer classes whose __init__ rebuilds the post-processor from add_bos_token
// (default true) and add_eos_token (default false) whatever tokenizer.json holds, with the special
// tokens their constructors default to (AutoTokenizer maps the slow names to the fast classes).
struct BosEosClass {
    const char* name;
    const char* bos;
    const char* eos;
    const char* unk;
    const char* pad; // nullptr: no default
};

const BosEosClass* bosEosClass(const std::string& cls) {
    static const BosEosClass classes[] = {
        {"LlamaTokenizer", "<s>", "</s>", "<unk>", nullptr},
        {"LlamaTokenizerFast", "<s>", "</s>", "<unk>", nullptr},
        {"CodeLlamaTokenizer", "<s>", "</s>", "<unk>", nullptr},
        {"CodeLlamaTokenizerFast", "<s>", "</s>", "<unk>", nullptr},
        {"GemmaTokenizer", "<bos>", "<eos>", "<unk>", "<pad>"},
        {"GemmaTokenizerFast", "<bos>", "<eos>", "<unk>", "<pad>"},
    };
    for (const auto& c : classes)
        if (cls == c.name)
            return &c;
    return nullptr;
}

// The class's default special tokens where the config does not set the key (null counts as set).
void applyClassDefaults(const BosEosClass& cls, TokenizerConfig& config) {
    auto put = [&](const char* key, std::optional<std::string>& token, const char* value) {
        const auto& keys = config.specialTokenKeys;
        if (value && std::find(keys.begin(), keys.end(), key) == keys.end())
            token = value;
    };
    put("bos_token", config.bosToken, cls.bos);
    put("eos_token", config.eosToken, cls.eos);
    put("unk_token", config.unkToken, cls.unk);
    put("pad_token", config.padToken, cls.pad);
}

} // namespace

Tokenizer Tokenizer::fromJsonString(std::string_view json, TokenizerConfig config, const std::string& where) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json.begin(), json.end());
    } catch (const nlohmann::json::exception& e) {
        throw Error(where + ": invalid JSON: " + jsonErrorText(e));
    }
    if (!j.is_object())
        throw Error(where + ": expected a JSON object at the top level, found " + std::string(j.type_name()));
    if (auto v = j.find("version"); v != j.end() && !(v->is_string() && v->get<std::string>() == "1.0"))
        throw Error(where + ": unknown tokenizer.json version " + v->dump() + " (expected \"1.0\")");
    try {
        return build(j, std::move(config), where);
    } catch (const nlohmann::json::exception& e) {
        // A field of the wrong JSON type that no specific check caught.
        throw Error(where + ": unexpected value in tokenizer.json: " + jsonErrorText(e));
    }
}

Tokenizer Tokenizer::build(const nlohmann::json& j, TokenizerConfig config, const std::string& where) {
    auto impl = std::make_shared<Impl>();
    impl->source = where;
    impl->config = std::move(config);
    const BosEosClass* bosEos = bosEosClass(impl->config.tokenizerClass);
    if (bosEos)
        applyClassDefaults(*bosEos, impl->config);
    const nlohmann::json null;
    auto field = [&](const char* key) -> const nlohmann::json& {
        auto it = j.find(key);
        return it == j.end() ? null : *it;
    };
    impl->normalizer = Normalizer::fromJson(field("normalizer"), where + ": normalizer");
    impl->preTokenizer = PreTokenizer::fromJson(field("pre_tokenizer"), where + ": pre_tokenizer");
    impl->model = BpeModel::fromJson(jsonf::require(j, "model", where), where + ": model");
    impl->postProcessor = PostProcessor::fromJson(field("post_processor"), where + ": post_processor");
    impl->decoder = Decoder::fromJson(field("decoder"), where + ": decoder");
    inspectPreTokenizer(field("pre_tokenizer"), impl->splitPatternName, impl->byteLevel, impl->metaspaceStyle);
    if (impl->model->byteFallback())
        impl->metaspaceStyle = impl->metaspaceStyle || !impl->byteLevel;

    addTokenizerJsonTokens(field("added_tokens"), *impl->model, impl->added, where + ": added_tokens");
    addConfigTokens(impl->config, *impl->model, impl->added);
    impl->idLimit = impl->model->maxId() + 1;
    for (const AddedToken& t : impl->added.tokens()) {
        impl->idLimit = std::max<int64_t>(impl->idLimit, t.id + 1);
        if (!impl->model->tokenToId(t.content))
            ++impl->addedOutsideModel;
    }
    impl->added.build(impl->normalizer.get());

    // These classes always replace the post-processor (update_post_processor() in their __init__).
    const auto& cfg = impl->config;
    if (bosEos) {
        const std::string configFile = cfg.fileName();
        std::optional<PostProcessor::Piece> bos, eos;
        auto piece = [&](const char* flag, bool add, const std::optional<std::string>& token, const char* key,
                         std::optional<PostProcessor::Piece>& out) {
            if (!add)
                return;
            if (!token)
                throw Error(configFile + ": " + flag + " is true (the default of " + cfg.tokenizerClass + " when unset) but " + key + " is null",
                            std::string("set ") + key + " to the token to add, or " + flag + " to false");
            // Every special token is an added token by now (addConfigTokens), so it has an id.
            if (auto id = impl->idOf(token))
                out = PostProcessor::Piece{static_cast<int32_t>(*id), *token};
        };
        piece("add_bos_token", cfg.addBosToken.value_or(true), cfg.bosToken, "bos_token", bos);
        piece("add_eos_token", cfg.addEosToken.value_or(false), cfg.eosToken, "eos_token", eos);
        impl->postProcessor = PostProcessor::makeBosEos(bos ? &*bos : nullptr, eos ? &*eos : nullptr);
        impl->postProcessorFromConfig = true;
    }
    if (impl->postProcessor)
        impl->postProcessor->singleAffixes(impl->prefix, impl->suffix);
    for (const auto& p : impl->prefix)
        impl->idLimit = std::max<int64_t>(impl->idLimit, p.id + 1);
    for (const auto& p : impl->suffix)
        impl->idLimit = std::max<int64_t>(impl->idLimit, p.id + 1);

    Tokenizer t;
    t.m_impl = std::move(impl);
    return t;
}

namespace {

// A folder with only the slow-tokenizer files of a byte-level BPE (vocab.json + merges.txt, as GPT-2 and
// Qwen2 ship them): the equivalent tokenizer.json, as transformers' converters would write it.
std::string tokenizerJsonFromVocabAndMerges(const std::filesystem::path& dir, const TokenizerConfig& config) {
    const auto vocabPath = dir / "vocab.json";
    nlohmann::json vocab;
    try {
        vocab = nlohmann::json::parse(readWholeFile(vocabPath));
    } catch (const nlohmann::json::exception& e) {
        throw Error(vocabPath.string() + ": invalid JSON: " + jsonErrorText(e));
    }
    if (!vocab.is_object())
        throw Error(vocabPath.string() + ": expected an object mapping tokens to ids");
    nlohmann::json merges = nlohmann::json::array();
    std::istringstream lines(readWholeFile(dir / "merges.txt"));
    std::string line;
    std::size_t number = 0;
    while (std::getline(lines, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty() || line.compare(0, 8, "#version") == 0)
            continue;
        const auto space = line.find(' ');
        if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
            throw Error((dir / "merges.txt").string() + " line " + std::to_string(number) +
                        ": expected two tokens separated by one space, found \"" + line + "\"");
        merges.push_back(line);
    }
    const bool qwen = config.tokenizerClass.rfind("Qwen2", 0) == 0;
    const nlohmann::json byteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", config.addPrefixSpace},
                                      {"trim_offsets", true}, {"use_regex", !qwen}};
    nlohmann::json tok = {{"version", "1.0"}, {"normalizer", nullptr}, {"post_processor", byteLevel}, {"decoder", byteLevel}};
    if (qwen) {
        tok["normalizer"] = {{"type", "NFC"}};
        tok["pre_tokenizer"] = {{"type", "Sequence"},
                                {"pretokenizers", nlohmann::json::array({{{"type", "Split"}, {"pattern", {{"Regex", patterns::kQwen2}}},
                                                                          {"behavior", "Isolated"}, {"invert", false}},
                                                                         byteLevel})}};
    } else {
        tok["pre_tokenizer"] = byteLevel;
    }
    // The config's added_tokens_decoder and special tokens are added by build(), as transformers adds
    // them after converting.
    tok["added_tokens"] = nlohmann::json::array();
    tok["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
    return tok.dump();
}

bool hasSlowTokenizerFiles(const std::filesystem::path& dir) {
    return std::filesystem::exists(dir / "vocab.json") && std::filesystem::exists(dir / "merges.txt");
}

} // namespace

bool Tokenizer::existsIn(const std::filesystem::path& dir) {
    return std::filesystem::is_directory(dir) &&
           (std::filesystem::exists(dir / "tokenizer.json") || hasSlowTokenizerFiles(dir));
}

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
    std::filesystem::path file = path;
    std::filesystem::path dir;
    if (std::filesystem::is_directory(path)) {
        dir = path;
        file = path / "tokenizer.json";
        if (!std::filesystem::exists(file) && hasSlowTokenizerFiles(path)) {
            TokenizerConfig config = TokenizerConfig::loadFromDirectory(dir);
            const std::string json = tokenizerJsonFromVocabAndMerges(dir, config); // before config is moved
            return fromJsonString(json, std::move(config), (path / "vocab.json").string() + " + merges.txt");
        }
        if (!std::filesystem::exists(file))
            throw Error("no tokenizer.json (nor vocab.json + merges.txt) in " + path.string(),
                        "the workbench reads fast-tokenizer files; convert the model's tokenizer with transformers "
                        "(AutoTokenizer.from_pretrained(...).save_pretrained(...)) to get one");
    } else if (std::filesystem::exists(path)) {
        dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    } else {
        throw Error("tokenizer path " + path.string() + " does not exist");
    }
    TokenizerConfig config = TokenizerConfig::loadFromDirectory(dir);
    return fromJsonString(readWholeFile(file), std::move(config), file.string());
}

Encoding Tokenizer::encodeDetailed(std::string_view input, const EncodeOptions& options) const {
    const Impl& d = *m_impl;
    const std::string text = utf8::sanitize(input);
    const bool encodeSpecial = !options.parseSpecialTokens.value_or(!d.config.splitSpecialTokens);

    Encoding enc;
    auto pushAdded = [&](int32_t id) {
        enc.ids.push_back(id);
        const std::string* s = d.added.decodeText(id);
        enc.tokens.push_back(s ? *s : std::string());
        enc.special.push_back(true);
    };
    std::vector<int32_t> ids;
    std::vector<PreToken> pieces;
    auto encodePiece = [&](std::string piece, std::size_t startBytes) {
        pieces.clear();
        pieces.push_back({std::move(piece), startBytes});
        if (d.preTokenizer)
            d.preTokenizer->apply(pieces);
        for (const auto& p : pieces) {
            ids.clear();
            d.model->tokenize(p.text, ids);
            for (int32_t id : ids) {
                enc.ids.push_back(id);
                const std::string* s = d.model->idToToken(id);
                enc.tokens.push_back(s ? *s : std::string());
                enc.special.push_back(false);
            }
        }
    };

    for (const auto& seg : d.added.split(text, false, encodeSpecial)) {
        if (seg.id >= 0) {
            pushAdded(seg.id);
            continue;
        }
        std::string piece = text.substr(seg.begin, seg.end - seg.begin);
        // The bytes that come from the input's first character (what Metaspace's "first" looks for),
        // followed through the normalizer.
        std::size_t startBytes = 0;
        if (seg.begin == 0 && !piece.empty()) {
            char32_t cp;
            startBytes = utf8::decode(piece, 0, cp);
        }
        if (d.normalizer)
            d.normalizer->normalizeTracking(piece, startBytes);
        for (const auto& seg2 : d.added.split(piece, true, encodeSpecial)) {
            if (seg2.id >= 0)
                pushAdded(seg2.id);
            else
                encodePiece(piece.substr(seg2.begin, seg2.end - seg2.begin),
                            seg2.begin < startBytes ? std::min(startBytes, seg2.end) - seg2.begin : 0);
        }
    }

    if (options.addSpecialTokens && (!d.prefix.empty() || !d.suffix.empty())) {
        Encoding wrapped;
        for (const auto& p : d.prefix) {
            wrapped.ids.push_back(p.id);
            wrapped.tokens.push_back(p.token);
            wrapped.special.push_back(true);
        }
        wrapped.ids.insert(wrapped.ids.end(), enc.ids.begin(), enc.ids.end());
        wrapped.tokens.insert(wrapped.tokens.end(), enc.tokens.begin(), enc.tokens.end());
        wrapped.special.insert(wrapped.special.end(), enc.special.begin(), enc.special.end());
        for (const auto& p : d.suffix) {
            wrapped.ids.push_back(p.id);
            wrapped.tokens.push_back(p.token);
            wrapped.special.push_back(true);
        }
        return wrapped;
    }
    return enc;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool addSpecialTokens) const {
    EncodeOptions o;
    o.addSpecialTokens = addSpecialTokens;
    return encodeDetailed(text, o).ids;
}

namespace {

std::string cleanUpTokenization(std::string s) {
    static const std::pair<const char*, const char*> rules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : rules) {
        const std::string f = from;
        std::string out;
        std::size_t last = 0, pos;
        while ((pos = s.find(f, last)) != std::string::npos) {
            out.append(s, last, pos - last);
            out += to;
            last = pos + f.size();
        }
        out.append(s, last, std::string::npos);
        s = std::move(out);
    }
    return s;
}

} // namespace

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skipSpecialTokens, bool cleanUp) const {
    const Impl& d = *m_impl;
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int64_t id : ids) {
        auto t = d.tokenOf(id);
        if (!t)
            continue;
        if (skipSpecialTokens && d.added.isSpecialContent(*t))
            continue;
        tokens.push_back(std::move(*t));
    }
    std::string text;
    if (d.decoder) {
        text = d.decoder->decode(std::move(tokens));
    } else {
        for (std::size_t i = 0; i < tokens.size(); ++i)
            text += (i ? " " : "") + tokens[i];
    }
    return cleanUp ? cleanUpTokenization(std::move(text)) : text;
}

std::optional<int64_t> Tokenizer::tokenToId(std::string_view token) const {
    if (auto id = m_impl->added.idOf(token))
        return *id;
    if (auto id = m_impl->model->tokenToId(token))
        return *id;
    return std::nullopt;
}

std::optional<std::string> Tokenizer::idToToken(int64_t id) const { return m_impl->tokenOf(id); }

std::size_t Tokenizer::vocabSize(bool withAddedTokens) const {
    return m_impl->model->vocabSize() + (withAddedTokens ? m_impl->addedOutsideModel : 0);
}

int64_t Tokenizer::idLimit() const { return m_impl->idLimit; }

bool Tokenizer::isSpecialId(int64_t id) const {
    if (id < 0 || id > INT32_MAX)
        return false;
    const AddedToken* t = m_impl->added.byId(static_cast<int32_t>(id));
    return t && t->special;
}

const std::vector<AddedToken>& Tokenizer::addedTokens() const { return m_impl->added.tokens(); }
const TokenizerConfig& Tokenizer::config() const { return m_impl->config; }
const std::string& Tokenizer::source() const { return m_impl->source; }

std::optional<std::string> Tokenizer::bosToken() const { return m_impl->config.bosToken; }
std::optional<std::string> Tokenizer::eosToken() const { return m_impl->config.eosToken; }
std::optional<std::string> Tokenizer::padToken() const { return m_impl->config.padToken; }
std::optional<int64_t> Tokenizer::bosId() const { return m_impl->idOf(m_impl->config.bosToken); }
std::optional<int64_t> Tokenizer::eosId() const { return m_impl->idOf(m_impl->config.eosToken); }
std::optional<int64_t> Tokenizer::padId() const { return m_impl->idOf(m_impl->config.padToken); }

std::vector<int64_t> Tokenizer::prefixSpecialIds() const {
    std::vector<int64_t> v;
    for (const auto& p : m_impl->prefix)
        v.push_back(p.id);
    return v;
}

std::vector<int64_t> Tokenizer::suffixSpecialIds() const {
    std::vector<int64_t> v;
    for (const auto& p : m_impl->suffix)
        v.push_back(p.id);
    return v;
}

std::string Tokenizer::kindName() const {
    if (m_impl->byteLevel)
        return "byte-level-bpe";
    if (m_impl->metaspaceStyle)
        return "sentencepiece-bpe";
    return "bpe";
}

std::string Tokenizer::describe() const {
    const Impl& d = *m_impl;
    std::string s;
    if (d.byteLevel)
        s = "byte-level BPE";
    else if (d.metaspaceStyle)
        s = std::string("SentencePiece-style BPE") + (d.model->byteFallback() ? " with byte fallback" : "");
    else
        s = "BPE";
    if (!d.splitPatternName.empty())
        s += " (" + d.splitPatternName + " split pattern)";
    if (d.model->ignoreMerges())
        s += ", ignore_merges";
    s += ", vocab " + std::to_string(d.model->vocabSize()) + " + " + std::to_string(d.addedOutsideModel) +
         " added, " + std::to_string(d.model->mergeCount()) + " merges";
    s += ", normalizer " + (d.normalizer ? d.normalizer->describe() : std::string("none"));
    if (d.prefix.empty() && d.suffix.empty()) {
        s += ", adds no special tokens";
    } else {
        s += ", adds";
        for (const auto& p : d.prefix)
            s += " " + p.token;
        s += " $text";
        for (const auto& p : d.suffix)
            s += " " + p.token;
        if (d.postProcessorFromConfig)
            s += " (from tokenizer_config.json)";
    }
    auto tok = [&](const char* name, const std::optional<std::string>& t) {
        std::string r = std::string("; ") + name + " ";
        if (!t)
            return r + "none";
        r += *t;
        if (auto id = d.idOf(t))
            r += " (" + std::to_string(*id) + ")";
        else
            r += " (not in vocabulary)";
        return r;
    };
    s += tok("bos", d.config.bosToken) + tok("eos", d.config.eosToken);
    if (d.config.padToken)
        s += tok("pad", d.config.padToken);
    s += "; chat templates: " + std::to_string(d.config.chatTemplates.size());
    return s;
}

DecodeStream::DecodeStream(Tokenizer tokenizer, bool skipSpecialTokens)
    : m_tokenizer(std::move(tokenizer)), m_skipSpecial(skipSpecialTokens) {}

std::string DecodeStream::step(int64_t id) {
    m_ids.push_back(id);
    const std::string text = m_tokenizer.decode(m_ids, m_skipSpecial);
    static const std::string replacement = utf8::encode(utf8::kReplacementChar);
    const bool endsWithReplacement = text.size() >= replacement.size() &&
                                     text.compare(text.size() - replacement.size(), replacement.size(), replacement) == 0;
    if (text.size() <= m_prefix.size() || endsWithReplacement)
        return {};
    std::string fresh;
    if (text.compare(0, m_prefix.size(), m_prefix) == 0)
        fresh = text.substr(m_prefix.size());
    else
        fresh = text; // the decoder rewrote earlier text (e.g. a leading-space strip); emit all of it
    const std::size_t newPrefixIndex = m_ids.size() - m_prefixIndex;
    m_ids.erase(m_ids.begin(), m_ids.begin() + static_cast<std::ptrdiff_t>(m_prefixIndex));
    m_prefix = m_tokenizer.decode(m_ids, m_skipSpecial);
    m_prefixIndex = newPrefixIndex;
    return fresh;
}

} // namespace rslora::models
