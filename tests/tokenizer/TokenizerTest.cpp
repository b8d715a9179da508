// Unit tests of the tokenizer on small tokenizer.json files built in code: split patterns, BPE merge
// order, ignore_merges, added/special tokens, post-processing, SentencePiece-style byte fallback,
// normalizers, decoding, streaming decode, tokenizer_config.json, which folders hold a tokenizer, and
// load errors.
#include "TestTokenizers.h"

#include "common/Error.h"
#include "common/Log.h"
#include "models/chat/ChatTemplate.h"
#include "models/tokenizer/Normalizer.h"
#include "models/tokenizer/OnigRegex.h"
#include "models/tokenizer/PreTokenizer.h"
#include "models/tokenizer/Tokenizer.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

using namespace rslora::models;
using testtok::json;

namespace {

QStringList q(const std::vector<std::string>& v) {
    QStringList l;
    for (const auto& s : v)
        l << QString::fromStdString(s);
    return l;
}

json splitRegex(const char* pattern) {
    return json{{"type", "Sequence"},
                {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                                               {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}};
}

void writeFile(const QString& path, const std::string& text) {
    std::ofstream out(path.toStdString(), std::ios::binary);
    out << text;
}

} // namespace

class TokenizerTest : public QObject {
    Q_OBJECT

private slots:
    // With ignore_merges, a pre-token that is a vocabulary word becomes one token, so the tokens show
    // the pre-tokenizer's split.
    void splitPatterns_data() {
        QTest::addColumn<QString>("pattern");
        QTest::addColumn<QString>("text");
        QTest::addColumn<QStringList>("expected");
        QTest::newRow("gpt2 words and contraction") << "gpt2" << "Hello world's" << QStringList{"Hello", "Ġworld", "'s"};
        QTest::newRow("gpt2 whitespace before word") << "gpt2" << "a  x" << QStringList{"a", "Ġ", "Ġx"};
        QTest::newRow("gpt2 digits in one run") << "gpt2" << "1234567" << QStringList{"1234567"};
        QTest::newRow("llama3 digits in threes") << "llama3" << "1234567" << QStringList{"123", "456", "7"};
        QTest::newRow("qwen2 single digits") << "qwen2" << "123" << QStringList{"1", "2", "3"};
        QTest::newRow("llama3 uppercase contraction") << "llama3" << "IT'S" << QStringList{"IT", "'S"};
        QTest::newRow("llama3 space tab newline") << "llama3" << " \t\n  x" << QStringList{"ĠĉĊ", "Ġ", "Ġx"};
        QTest::newRow("qwen2 punctuation keeps newline") << "qwen2" << "x.\n\ny" << QStringList{"x", ".ĊĊ", "y"};
        // Oniguruma's own syntax, as the onig crate compiles patterns: \N is any character but a
        // newline, (?W) makes \w ASCII-only, and \N{NAME} is \N followed by literal braces.
        QTest::newRow("oniguruma \\N") << "re:\\N+" << "ab\ncd" << QStringList{"ab", "Ċ", "cd"};
        QTest::newRow("oniguruma (?W)") << "re:(?W)\\w+" << "h\u00e9llo" << QStringList{"h", "Ã", "©", "llo"};
        QTest::newRow("\\N{NAME} is not a name escape")
            << "re:\\N{LATIN SMALL LETTER A}" << "a{LATIN SMALL LETTER A}b" << QStringList{"a{LATINĠSMALLĠLETTERĠA}", "b"};
    }
    void splitPatterns() {
        QFETCH(QString, pattern);
        QFETCH(QString, text);
        QFETCH(QStringList, expected);
        testtok::ByteLevelSpec spec;
        spec.ignoreMerges = true;
        spec.words = {"Hello", "Ġworld", "'s", "Ġx", "1234567", "123", "456", "IT", "'S", "ĠĉĊ", "ĠĠ", ".ĊĊ"};
        spec.words.insert(spec.words.end(), {"ab", "cd", "llo", "a{LATINĠSMALLĠLETTERĠA}"});
        if (pattern.startsWith("re:"))
            spec.preTokenizer = splitRegex(pattern.mid(3).toStdString().c_str());
        else if (pattern == "llama3")
            spec.preTokenizer = splitRegex(patterns::kLlama3);
        else if (pattern == "qwen2")
            spec.preTokenizer = splitRegex(patterns::kQwen2);
        const Tokenizer t = testtok::make(testtok::byteLevelJson(spec));
        QCOMPARE(q(testtok::tokens(t, text.toStdString())), expected);
        QCOMPARE(QString::fromStdString(t.decode(t.encode(text.toStdString()))), text);
    }

    // Lowest rank first; ties go to the leftmost pair; both merge syntaxes give the same model.
    void mergeOrder() {
        testtok::ByteLevelSpec spec;
        spec.words = {"ab", "bc", "abc"};
        spec.merges = {{"b", "c"}, {"a", "b"}, {"a", "bc"}};
        QCOMPARE(q(testtok::tokens(testtok::make(testtok::byteLevelJson(spec)), "abc")), QStringList{"abc"});
        spec.pairMerges = true;
        QCOMPARE(q(testtok::tokens(testtok::make(testtok::byteLevelJson(spec)), "abc")), QStringList{"abc"});
        spec.merges = {{"a", "b"}, {"b", "c"}, {"a", "bc"}};
        QCOMPARE(q(testtok::tokens(testtok::make(testtok::byteLevelJson(spec)), "abc")), QStringList({"ab", "c"}));
        // "aaaa" with merge a+a: leftmost first gives aa|aa, not a|aa|a.
        spec.words = {"aa"};
        spec.merges = {{"a", "a"}};
        QCOMPARE(q(testtok::tokens(testtok::make(testtok::byteLevelJson(spec)), "aaaaa")), QStringList({"aa", "aa", "a"}));
    }

    void ignoreMerges() {
        testtok::ByteLevelSpec spec;
        spec.words = {"ab", "abc"};
        spec.merges = {{"a", "b"}};
        QCOMPARE(q(testtok::tokens(testtok::make(testtok::byteLevelJson(spec)), "abc")), QStringList({"ab", "c"}));
        spec.ignoreMerges = true;
        QCOMPARE(q(testtok::tokens(testtok::make(testtok::byteLevelJson(spec)), "abc")), QStringList({"abc"}));
    }

    void longWordWithoutMerges() {
        testtok::ByteLevelSpec spec;
        spec.words = {"aa", "aaaa"};
        spec.merges = {{"a", "a"}, {"aa", "aa"}};
        const Tokenizer t = testtok::make(testtok::byteLevelJson(spec));
        const std::string text(1001, 'a');
        const auto ids = t.encode(text);
        QCOMPARE(ids.size(), std::size_t(251)); // 250 x "aaaa" + "a"
        QCOMPARE(t.decode(ids), text);
        QCOMPARE(t.encode(text), ids); // cached path gives the same ids
    }

    void addedTokens() {
        testtok::ByteLevelSpec spec;
        spec.addedTokens = json::array({testtok::addedToken("<|im_end|>"),
                                        testtok::addedToken("<mask>", true, false, true, true),
                                        testtok::addedToken("cat", false, false, false, false, true),
                                        testtok::addedToken("<a>"), testtok::addedToken("<a><b>"),
                                        testtok::addedToken("<think>", false)});
        const Tokenizer t = testtok::make(testtok::byteLevelJson(spec));
        // Split out anywhere, even inside words, before the pre-tokenizer.
        QCOMPARE(q(testtok::tokens(t, "hi<|im_end|>x")), QStringList({"h", "i", "<|im_end|>", "x"}));
        // lstrip / rstrip absorb the surrounding whitespace.
        QCOMPARE(q(testtok::tokens(t, "a  <mask>  b")), QStringList({"a", "<mask>", "b"}));
        // single_word: not inside a word.
        QCOMPARE(q(testtok::tokens(t, "concat")).count("cat"), 0);
        QCOMPARE(q(testtok::tokens(t, "a cat b")).count("cat"), 1);
        // leftmost-longest
        QCOMPARE(q(testtok::tokens(t, "<a><b>")), QStringList({"<a><b>"}));
        // parseSpecialTokens=false leaves special tokens as text but still splits non-special ones.
        EncodeOptions o;
        o.addSpecialTokens = false;
        o.parseSpecialTokens = false;
        QCOMPARE(t.encodeDetailed("<|im_end|>", o).tokens.size(), std::size_t(10));
        QCOMPARE(t.encodeDetailed("<think>", o).tokens, std::vector<std::string>({"<think>"}));
        // skip_special_tokens drops special tokens only.
        const auto ids = t.encode("x<|im_end|><think>y");
        QCOMPARE(t.decode(ids), std::string("x<|im_end|><think>y"));
        QCOMPARE(t.decode(ids, true), std::string("x<think>y"));
        QVERIFY(t.isSpecialId(*t.tokenToId("<|im_end|>")));
        QVERIFY(!t.isSpecialId(*t.tokenToId("<think>")));
        QCOMPARE(t.vocabSize(true), std::size_t(256 + 6));
    }

    // The tokenizers library does not use the stored id of an added token: content in the model
    // vocabulary keeps the model's id, anything else gets the next free id (the vocabulary size, or the
    // largest added id + 1) in list order. Expected ids from the tokenizers npm package 0.23.2.
    void addedTokenIdsFollowTheReference_data() {
        QTest::addColumn<QString>("vocab");
        QTest::addColumn<QString>("added");
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::addColumn<int>("vocabSize");
        const QString abc = R"({"a": 0, "b": 1, "ab": 2})";
        QTest::newRow("gap after the vocabulary") << abc << R"([{"id": 5, "content": "<x>"}])" << "a<x>b" << "[0,3,1]" << 4;
        QTest::newRow("list order, not id order") << abc << R"([{"id": 4, "content": "<y>"}, {"id": 3, "content": "<x>"}])" << "<x><y>" << "[4,3]" << 5;
        QTest::newRow("id of a model token") << abc << R"([{"id": 1, "content": "<x>"}])" << "a<x>b" << "[0,3,1]" << 4;
        QTest::newRow("content in the vocabulary") << abc << R"([{"id": 7, "content": "ab"}, {"id": 9, "content": "<x>"}])" << "ab<x>" << "[2,3]" << 4;
        QTest::newRow("same content twice") << abc << R"([{"id": 3, "content": "<x>"}, {"id": 4, "content": "<x>"}, {"id": 5, "content": "<y>"}])"
                                            << "<x><y>" << "[3,4]" << 5;
        QTest::newRow("id beyond 2^31") << abc << R"([{"id": 4000000000, "content": "<x>"}])" << "<x>" << "[3]" << 4;
        // Ids with gaps: the next free id counts entries, so the third token lands on the model's "ab".
        QTest::newRow("vocabulary with gaps") << R"({"a": 0, "b": 1, "ab": 5})"
                                              << R"([{"id": 9, "content": "<x>"}, {"id": 9, "content": "<y>"}, {"id": 9, "content": "<z>"}])"
                                              << "ab<x><y><z>" << "[5,3,4,5]" << 6;
    }
    void addedTokenIdsFollowTheReference() {
        QFETCH(QString, vocab);
        QFETCH(QString, added);
        QFETCH(QString, text);
        QFETCH(QString, expected);
        QFETCH(int, vocabSize);
        json addedTokens = json::parse(added.toStdString());
        for (auto& t : addedTokens)
            t.update(testtok::addedToken(t["content"]));
        const json j = {{"version", "1.0"}, {"added_tokens", addedTokens},
                        {"model", {{"type", "BPE"}, {"vocab", json::parse(vocab.toStdString())}, {"merges", json::array({"a b"})}}}};
        const Tokenizer t = testtok::make(j);
        QCOMPARE(QString::fromStdString(json(t.encode(text.toStdString())).dump()), expected);
        QCOMPARE(t.vocabSize(true), std::size_t(vocabSize));
        if (QTest::currentDataTag() == QString("vocabulary with gaps")) {
            QCOMPARE(t.decode({5}), std::string("<z>"));
            QCOMPARE(t.idLimit(), int64_t(6));
        }
    }

    void templateProcessingAddsBosOnlyWhenAsked() {
        testtok::ByteLevelSpec spec;
        spec.addedTokens = json::array({json{{"id", 256}, {"content", "<bos>"}, {"special", true}, {"normalized", false}}});
        spec.postProcessor = {{"type", "TemplateProcessing"},
                              {"single", json::array({{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                              {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", json::array({256})}, {"tokens", json::array({"<bos>"})}}}}}};
        const Tokenizer t = testtok::make(testtok::byteLevelJson(spec));
        QCOMPARE(t.encode("a", true), std::vector<int64_t>({256, t.encode("a", false)[0]}));
        QCOMPARE(t.encode("a", false).size(), std::size_t(1));
        QCOMPARE(t.prefixSpecialIds(), std::vector<int64_t>({256}));
        QVERIFY(t.suffixSpecialIds().empty());
        QVERIFY(QString::fromStdString(t.describe()).contains("<bos> $text"));
    }

    // Llama-2 legacy: "▁" prepended to every piece, byte fallback for characters outside the vocabulary.
    void sentencePieceByteFallback() {
        const Tokenizer t = testtok::make(testtok::spmJson({"▁Hello", "▁world", "▁"}, {}));
        QCOMPARE(q(testtok::tokens(t, "Hello world")), QStringList({"▁Hello", "▁world"}));
        QCOMPARE(q(testtok::tokens(t, "Hello €")), QStringList({"▁Hello", "▁", "<0xE2>", "<0x82>", "<0xAC>"}));
        QCOMPARE(t.encode("Hello").front(), int64_t(1)); // <s>
        QCOMPARE(t.decode(t.encode("Hello world €"), true), std::string("Hello world €"));
        // Invalid byte runs decode to one U+FFFD per byte.
        QCOMPARE(t.decode({*t.tokenToId("<0xE2>"), *t.tokenToId("<0x82>")}), std::string("\xEF\xBF\xBD\xEF\xBF\xBD"));
        // After a special token the next piece gets "▁" too (Prepend applies per piece).
        QCOMPARE(q(testtok::tokens(t, "</s>Hello")), QStringList({"</s>", "▁Hello"}));
        QCOMPARE(t.kindName(), std::string("sentencepiece-bpe"));
    }

    void unknownCharactersWithoutByteTokens() {
        const Tokenizer fused = testtok::make(testtok::spmJson({"▁a", "▁"}, {}, true, false));
        QCOMPARE(q(testtok::tokens(fused, "a €€")), QStringList({"▁a", "▁", "<unk>"}));
        const Tokenizer unfused = testtok::make(testtok::spmJson({"▁a", "▁"}, {}, false, false));
        QCOMPARE(q(testtok::tokens(unfused, "a €€")), QStringList({"▁a", "▁", "<unk>", "<unk>"}));
    }

    // Metaspace "first" adds "▁" only at the very start, "always" after special tokens too.
    void metaspacePrependScheme() {
        const json first = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}};
        const Tokenizer t = testtok::make(testtok::spmJson({"▁Hi", "Hi"}, {}, true, true, nullptr, first));
        QCOMPARE(q(testtok::tokens(t, "Hi</s>Hi")), QStringList({"▁Hi", "</s>", "Hi"}));
        json always = first;
        always["prepend_scheme"] = "always";
        const Tokenizer a = testtok::make(testtok::spmJson({"▁Hi", "Hi"}, {}, true, true, nullptr, always));
        QCOMPARE(q(testtok::tokens(a, "Hi</s>Hi")), QStringList({"▁Hi", "</s>", "▁Hi"}));
        QVERIFY(testtok::tokens(a, "").empty());
        // "first" means the piece's first character is the input's first (the reference checks original
        // offsets): after Strip removed the leading spaces no piece qualifies; after NFKC expanded "½"
        // into "1⁄2", every piece made from it does.
        const json strip = {{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}};
        const Tokenizer s = testtok::make(testtok::spmJson({"▁Hi", "Hi"}, {}, true, true, strip, first));
        QCOMPARE(q(testtok::tokens(s, "  Hi")), QStringList({"Hi"}));
        QCOMPARE(q(testtok::tokens(s, "Hi")), QStringList({"▁Hi"}));
        const json digits = {{"type", "Sequence"},
                             {"pretokenizers", json::array({{{"type", "Digits"}, {"individual_digits", true}}, first})}};
        const Tokenizer n = testtok::make(testtok::spmJson({"▁1", "▁2", "1", "2"}, {}, true, true, {{"type", "NFKC"}}, digits));
        const QStringList half = q(testtok::tokens(n, "\u00bd2"));
        QVERIFY2(half.first() == "▁1" && half.contains("▁2") && half.last() == "2", qPrintable(half.join(' ')));
    }

    // The reference splits on the punctuation of its `unicode_categories` crate (Unicode 8.0: not
    // U+2E43, U+061D or U+0A76, added later; U+166D and U+111C9, punctuation then) and on the numbers of
    // Rust's char::is_numeric (Unicode 16: Garay digits such as U+10D49), whatever utf8proc's version.
    void punctuationAndDigitsAsTheReferenceSplits() {
        auto split = [](const json& j, const char* text) {
            const auto p = PreTokenizer::fromJson(j, "test");
            std::vector<PreToken> pieces{{text}};
            p->apply(pieces);
            QStringList out;
            for (const auto& x : pieces)
                out << QString::fromStdString(x.text);
            return out;
        };
        auto u = [](const char* s) { return QString::fromUtf8(s); };
        const json punct = {{"type", "Punctuation"}, {"behavior", "Isolated"}};
        QCOMPARE(split(punct, "a\u2E43b\u166Dc\u061Dd!e\u0A76"), QStringList({u("a\u2E43b"), u("\u166D"), u("c\u061Dd"), "!", u("e\u0A76")}));
        QCOMPARE(split({{"type", "BertPreTokenizer"}}, "a\U000111C9b \u0C77c"), QStringList({"a", u("\U000111C9"), "b", u("\u0C77c")}));
        const json digits = {{"type", "Digits"}, {"individual_digits", true}};
        QCOMPARE(split(digits, "x\U00010D49y\U000116D21"), QStringList({"x", u("\U00010D49"), "y", u("\U000116D2"), "1"}));
    }

    // Split patterns match with the reference's Unicode 16 classes whatever the system Oniguruma's
    // version: CJK Extension H (U+31350) and Garay (U+10D50) letters, Garay digits (U+10D40), U+1C89 as
    // \w; negated classes leave them out; (?W) keeps \w ASCII-only.
    void regexClassesAsTheReferenceHasThem() {
        using Matches = std::vector<std::pair<std::size_t, std::size_t>>;
        const std::string ext = "a\xF0\xB1\x8D\x90" "b"; // a U+31350 b
        const std::string garay = "\xF0\x90\xB5\x90\xF0\x90\xB5\x80"; // U+10D50 U+10D40
        QCOMPARE(OnigRegex("\\p{L}+").findAll(ext), Matches({{0, 6}}));
        QCOMPARE(OnigRegex("[^\\r\\n\\p{L}\\p{N}]").findAll(ext + garay), Matches());
        QCOMPARE(OnigRegex("\\P{L}+").findAll(ext), Matches());
        QCOMPARE(OnigRegex("\\p{^L}").findAll(ext), Matches());
        QCOMPARE(OnigRegex("\\p{L}|(\\p{N})").findAll(garay), Matches({{0, 4}, {4, 8}}));
        QCOMPARE(OnigRegex("\\d").findAll(garay), Matches({{4, 8}}));
        QCOMPARE(OnigRegex("\\w+").findAll("\xE1\xB2\x89x"), Matches({{0, 4}})); // U+1C89 x
        QCOMPARE(OnigRegex("\\W").findAll("\xE1\xB2\x89"), Matches());
        QCOMPARE(OnigRegex("(?W)\\w+").findAll("\xE1\xB2\x89x"), Matches({{3, 4}}));
        QCOMPARE(OnigRegex("[\\]\\p{L}]+").findAll("]" + ext), Matches({{0, 7}}));
        // The Llama-3 pattern keeps such a letter in its word, as the reference does.
        QCOMPARE(OnigRegex(patterns::kLlama3).findAll(" x" + ext), Matches({{0, 8}}));
    }

    void nfcNormalizer() {
        testtok::ByteLevelSpec spec;
        spec.normalizer = {{"type", "NFC"}};
        spec.words = {"Ã©"};
        spec.merges = {{"Ã", "©"}};
        const Tokenizer t = testtok::make(testtok::byteLevelJson(spec));
        QCOMPARE(t.encode("e\xCC\x81"), t.encode("\xC3\xA9")); // e + combining acute == é
        QCOMPARE(t.encode("\xC3\xA9").size(), std::size_t(1));
    }

    // Outputs of the tokenizers library's own normalizers (npm `tokenizers` 0.23.2): Lowercase maps
    // each character alone with Unicode 17 (no final sigma; Unicode 16 letters included); the
    // normalization forms and StripAccents use Unicode 9.0 tables, so later characters are left alone
    // and every mark of that version (Mn, Mc, Me) is stripped.
    void normalizersFollowTheReference_data() {
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("input");
        QTest::addColumn<QString>("expected");
        QTest::newRow("lowercase") << "Lowercase" << QString::fromUtf8("\u1C89 \uA7DC \u0391\u03A3 \u03A3\u0391\u03A3. \u0130")
                                   << QString::fromUtf8("\u1C8A \u019B \u03B1\u03C3 \u03C3\u03B1\u03C3. i\u0307");
        QTest::newRow("nfkc") << "NFKC" << QString::fromUtf8("\u32FF \u33F3 \uFB01") << QString::fromUtf8("\u32FF 20\u65E5 fi");
        QTest::newRow("nfd") << "NFD" << QString::fromUtf8("\U00011938 a\u0301\u07FD \u00E9")
                             << QString::fromUtf8("\U00011938 a\u0301\u07FD e\u0301");
        QTest::newRow("nfc") << "NFC" << QString::fromUtf8("\U00011935\U00011930 e\u0301")
                             << QString::fromUtf8("\U00011935\U00011930 \u00E9");
        QTest::newRow("strip accents") << "StripAccents"
                                       << QString::fromUtf8("a\u0903b\u20DDc\u07FDd\u1CF2e\U000111C9f\u0301")
                                       << QString::fromUtf8("abc\u07FDde\U000111C9f");
    }
    void normalizersFollowTheReference() {
        QFETCH(QString, type);
        QFETCH(QString, input);
        QFETCH(QString, expected);
        const auto normalizer = Normalizer::fromJson(json{{"type", type.toStdString()}}, "test normalizer");
        std::string text = input.toStdString();
        normalizer->normalize(text);
        QCOMPARE(QString::fromStdString(text), expected);
    }

    // Invalid UTF-8: each maximal invalid subsequence becomes U+FFFD before encoding.
    void invalidUtf8() {
        const Tokenizer t = testtok::make(testtok::byteLevelJson({}));
        QCOMPARE(t.encode("a\xFF" "b"), t.encode("a\xEF\xBF\xBD" "b"));
        QCOMPARE(t.encode("\xE2\x82"), t.encode("\xEF\xBF\xBD"));        // truncated sequence: one U+FFFD
        QCOMPARE(t.encode("\xC0\xAF"), t.encode("\xEF\xBF\xBD\xEF\xBF\xBD")); // overlong: one per byte
    }

    void decodeStreamHoldsIncompleteCharacters() {
        const Tokenizer t = testtok::make(testtok::byteLevelJson({}));
        const auto ids = t.encode("a你b"); // 你 is three byte tokens
        QCOMPARE(ids.size(), std::size_t(5));
        DecodeStream stream(t);
        std::vector<std::string> out;
        for (auto id : ids)
            out.push_back(stream.step(id));
        QCOMPARE(out, std::vector<std::string>({"a", "", "", "你", "b"}));
    }

    void configLayer() {
        QTemporaryDir dir;
        testtok::ByteLevelSpec spec;
        spec.addedTokens = json::array({json{{"id", 256}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
                                        json{{"id", 257}, {"content", "</s>"}, {"special", true}, {"normalized", false}}});
        writeFile(dir.filePath("tokenizer.json"), testtok::byteLevelJson(spec).dump());
        writeFile(dir.filePath("tokenizer_config.json"),
                  json{{"tokenizer_class", "LlamaTokenizerFast"},
                       {"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}}},
                       {"eos_token", "</s>"},
                       {"add_bos_token", true},
                       {"add_eos_token", true},
                       {"chat_template", json::array({{{"name", "default"}, {"template", "A"}}, {{"name", "tool_use"}, {"template", "B"}}})}}
                      .dump());
        Tokenizer t = Tokenizer::load(dir.path().toStdString());
        QCOMPARE(t.bosId(), std::optional<int64_t>(256));
        QCOMPARE(t.eosId(), std::optional<int64_t>(257));
        // transformers rebuilds the Llama post-processor from add_bos_token / add_eos_token.
        QCOMPARE(t.encode("x"), std::vector<int64_t>({256, t.encode("x", false)[0], 257}));
        QCOMPARE(*t.config().chatTemplate("tool_use"), std::string("B"));
        QCOMPARE(*t.config().chatTemplate(), std::string("A"));
        // chat_template.jinja wins over the tokenizer_config.json field; a file path loads the same.
        writeFile(dir.filePath("chat_template.jinja"), "C");
        t = Tokenizer::load((dir.path() + "/tokenizer.json").toStdString());
        QCOMPARE(*t.config().chatTemplate(), std::string("C"));
        QVERIFY(QString::fromStdString(t.describe()).contains("from tokenizer_config.json"));
    }

    // transformers adds what tokenizer_config.json declares and tokenizer.json lacks: added_tokens_decoder
    // entries (the key is not the id: the library assigns the next free one), then special tokens that
    // are not added tokens yet, as special tokens. Ids from the tokenizers npm package 0.23.2, adding
    // the tokens as transformers does.
    void configTokensBecomeAddedTokens() {
        const json spm = testtok::spmJson({"▁Hi"}, {}); // 264 entries, "▁Hi" = 263
        auto withConfig = [&](const json& cfg) {
            return testtok::make(spm, TokenizerConfig::fromJson(cfg, "cfg/tokenizer_config.json"));
        };
        const json imEnd = {{"content", "<|im_end|>"}, {"special", true}, {"normalized", false}, {"lstrip", false},
                            {"rstrip", false}, {"single_word", false}};
        QCOMPARE(testtok::make(spm).encode("Hi<|im_end|>", false).size(), std::size_t(11)); // plain text without the config
        const Tokenizer t = withConfig({{"eos_token", "<|im_end|>"},
                                        {"added_tokens_decoder", {{"264", imEnd}}},
                                        {"additional_special_tokens", json::array({"<tool_call>"})}});
        QCOMPARE(t.encode("Hi<|im_end|>", false), std::vector<int64_t>({263, 264}));
        QCOMPARE(t.encode("Hi<tool_call>x", false), std::vector<int64_t>({263, 265, 259, 123}));
        QCOMPARE(t.decode(t.encode("Hi<tool_call>x", false), true), std::string("Hi x"));
        QCOMPARE(t.eosId(), std::optional<int64_t>(264));
        QCOMPARE(t.vocabSize(true), std::size_t(266));
        QCOMPARE(t.idLimit(), int64_t(266));
        // A key that is not the next free id does not decide the id.
        const Tokenizer gap = withConfig({{"eos_token", "<|im_end|>"}, {"added_tokens_decoder", {{"300", imEnd}}}});
        QCOMPARE(gap.eosId(), std::optional<int64_t>(264));
        // A special token only the config names is added even without added_tokens_decoder; one already in
        // the vocabulary keeps its id and becomes special (skipped when decoding).
        const Tokenizer named = withConfig({{"eos_token", "<|im_end|>"}, {"mask_token", "▁Hi"}});
        QCOMPARE(named.encode("Hi<|im_end|>", false), std::vector<int64_t>({263, 264}));
        QCOMPARE(named.encode("a▁Hi", false), std::vector<int64_t>({259, 100, 263}));
        QVERIFY(named.isSpecialId(263));
        QCOMPARE(named.decode(named.encode("a▁Hi", false), true), std::string("a"));
        // An added_tokens_decoder entry marked non-special is special when it is a named special token.
        json sep = imEnd;
        sep["content"] = "<sep>";
        sep["special"] = false;
        const Tokenizer sepTok = withConfig({{"sep_token", "<sep>"}, {"added_tokens_decoder", {{"264", sep}}}});
        QVERIFY(sepTok.isSpecialId(264));
    }

    // A folder saved by transformers 5: no special_tokens_map.json, no added_tokens_decoder or
    // add_bos_token in tokenizer_config.json, the generic TokenizersBackend class, extra_special_tokens as
    // a list, the model's named tokens in model_specific_special_tokens, and chat_template.jinja.
    void transformersV5Folder() {
        QTemporaryDir dir;
        writeFile(dir.filePath("tokenizer.json"), testtok::spmJson({"\u2581Hi"}, {}).dump());
        writeFile(dir.filePath("tokenizer_config.json"), R"({
            "backend": "tokenizers", "tokenizer_class": "TokenizersBackend", "is_local": true,
            "bos_token": "<s>", "eos_token": "<|im_end|>", "unk_token": "<unk>", "pad_token": null,
            "extra_special_tokens": ["<tool_call>"],
            "model_specific_special_tokens": {"image_token": "<image>", "audio_tokens": ["<a1>", "<a2>"]},
            "model_max_length": 131072, "clean_up_tokenization_spaces": false, "split_special_tokens": false})");
        writeFile(dir.filePath("chat_template.jinja"),
                  "{{ bos_token }}{% for m in messages %}{{ image_token }}{{ m.content }}{{ eos_token }}{% endfor %}");
        const Tokenizer t = Tokenizer::load(dir.path().toStdString());
        for (const char* token : {"<|im_end|>", "<tool_call>", "<image>", "<a1>", "<a2>"}) {
            const auto ids = t.encode(std::string("Hi") + token, false);
            QCOMPARE(ids.size(), std::size_t(2));
            QVERIFY2(t.isSpecialId(ids[1]), token);
        }
        QCOMPARE(t.decode(t.encode("Hi<image>Hi<tool_call>", true), true), std::string("Hi Hi"));
        QCOMPARE(t.encode("Hi", true).front(), int64_t(1)); // tokenizer.json's post-processor is kept
        const auto chat = ChatTemplate::fromTokenizer(t);
        QVERIFY(chat);
        const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");
        QCOMPARE(QString::fromStdString(chat->render(messages)), QString("<s><image>Hi<|im_end|>"));
    }

    // LlamaTokenizerFast and GemmaTokenizerFast replace the post-processor in __init__ whatever
    // tokenizer.json holds, with add_bos_token defaulting to true and add_eos_token to false, and
    // their constructors' default special tokens where the config sets none.
    void llamaFamilyAlwaysRebuildsThePostProcessor() {
        json spm = testtok::spmJson({"\u2581Hi"}, {}); // "<s>" = 1, "</s>" = 2, "▁Hi" = 263 of 264
        spm["post_processor"] = nullptr;
        auto withConfig = [&](const json& cfg) {
            return testtok::make(spm, TokenizerConfig::fromJson(cfg, "cfg/tokenizer_config.json"));
        };
        QCOMPARE(withConfig({{"tokenizer_class", "LlamaTokenizer"}, {"bos_token", "<s>"}, {"eos_token", "</s>"}}).encode("Hi"),
                 std::vector<int64_t>({1, 263}));
        QCOMPARE(withConfig({{"tokenizer_class", "LlamaTokenizerFast"}}).encode("Hi"), std::vector<int64_t>({1, 263}));
        QCOMPARE(withConfig({{"tokenizer_class", "LlamaTokenizer"}, {"add_eos_token", true}}).encode("Hi"),
                 std::vector<int64_t>({1, 263, 2}));
        // Gemma's defaults are not in this vocabulary: they become added tokens (bos, eos, then pad).
        const Tokenizer gemma = withConfig({{"tokenizer_class", "GemmaTokenizer"}});
        QCOMPARE(gemma.encode("Hi"), std::vector<int64_t>({264, 263}));
        QCOMPARE(gemma.eosId(), std::optional<int64_t>(265));
        QCOMPARE(gemma.padId(), std::optional<int64_t>(266));
        // Other classes keep tokenizer.json's post-processor (here none).
        QCOMPARE(withConfig({{"tokenizer_class", "PreTrainedTokenizerFast"}, {"bos_token", "<s>"}}).encode("Hi"),
                 std::vector<int64_t>({263}));
        try {
            withConfig({{"tokenizer_class", "LlamaTokenizer"}, {"bos_token", nullptr}});
            QFAIL("expected an error for add_bos_token without a bos_token");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("cfg/tokenizer_config.json: add_bos_token is true"), e.what());
        }
    }

    // Folders with only vocab.json + merges.txt (GPT-2 style) and special_tokens_map.json.
    void slowTokenizerFiles() {
        QTemporaryDir dir;
        testtok::ByteLevelSpec spec;
        spec.words = {"He", "ll", "Hell", "Hello", "<|endoftext|>"};
        spec.merges = {{"H", "e"}, {"l", "l"}, {"He", "ll"}, {"Hell", "o"}};
        const json full = testtok::byteLevelJson(spec);
        writeFile(dir.filePath("vocab.json"), full["model"]["vocab"].dump());
        std::string merges = "#version: 0.2\n";
        for (const auto& m : full["model"]["merges"])
            merges += m.get<std::string>() + "\n";
        writeFile(dir.filePath("merges.txt"), merges);
        writeFile(dir.filePath("special_tokens_map.json"), R"({"eos_token": "<|endoftext|>"})");
        const Tokenizer t = Tokenizer::load(dir.path().toStdString());
        QCOMPARE(q(testtok::tokens(t, "Hello<|endoftext|>")), QStringList({"Hello", "<|endoftext|>"}));
        QCOMPARE(t.eosId(), t.tokenToId("<|endoftext|>"));
        writeFile(dir.filePath("merges.txt"), "#version: 0.2\nH e x\n");
        try {
            Tokenizer::load(dir.path().toStdString());
            QFAIL("expected an error for the bad merges line");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("merges.txt line 2"), e.what());
        }
    }

    // The rule callers use to ask whether a folder has a tokenizer is the loader's own: tokenizer.json,
    // or vocab.json with merges.txt (`rslora inspect` and `generate` used to want tokenizer.json).
    void existsInFollowsTheLoader() {
        QTemporaryDir dir;
        const std::filesystem::path path = dir.path().toStdString();
        QVERIFY(!Tokenizer::existsIn(path));
        QVERIFY(!Tokenizer::existsIn(path / "missing"));
        testtok::ByteLevelSpec spec;
        const json full = testtok::byteLevelJson(spec);
        writeFile(dir.filePath("vocab.json"), full["model"]["vocab"].dump());
        QVERIFY(!Tokenizer::existsIn(path));  // vocab.json alone does not load
        writeFile(dir.filePath("merges.txt"), "#version: 0.2\n");
        QVERIFY(Tokenizer::existsIn(path));
        QCOMPARE(Tokenizer::load(path).idLimit(), int64_t(256));
        QVERIFY(!Tokenizer::existsIn(path / "vocab.json"));  // a file is not a folder
        QTemporaryDir fast;
        writeFile(fast.filePath("tokenizer.json"), full.dump());
        QVERIFY(Tokenizer::existsIn(fast.path().toStdString()));
    }

    // The tokenizers library applies BPE dropout at random when encoding; the workbench encodes
    // deterministically and says so once, naming the file and the value.
    void bpeDropoutIsReported() {
        std::vector<std::string> warnings;
        rslora::setLogCallback([&](rslora::LogLevel level, const std::string& m) {
            if (level == rslora::LogLevel::Warning)
                warnings.push_back(m);
        });
        json j = testtok::byteLevelJson({});
        j["model"]["dropout"] = 0.25;
        const Tokenizer t = Tokenizer::fromJsonString(j.dump(), {}, "drop/tokenizer.json");
        j["model"]["dropout"] = 0.0;
        Tokenizer::fromJsonString(j.dump(), {}, "zero/tokenizer.json");
        rslora::setLogCallback({});
        QCOMPARE(warnings.size(), std::size_t(1));
        QVERIFY2(QString::fromStdString(warnings[0]).contains("drop/tokenizer.json: model.dropout is 0.25: BPE dropout is not applied"),
                 warnings[0].c_str());
        QCOMPARE(t.encode("hello"), t.encode("hello")); // deterministic
    }

    // A Python-style \N{NAME} in a split pattern compiles as the reference compiles it, with a warning
    // that names the file, the escape and what it matches instead.
    void unicodeNameEscapeIsReported() {
        std::vector<std::string> warnings;
        rslora::setLogCallback([&](rslora::LogLevel level, const std::string& m) {
            if (level == rslora::LogLevel::Warning)
                warnings.push_back(m);
        });
        testtok::ByteLevelSpec spec;
        spec.preTokenizer = splitRegex("\\N{GREEK SMALL LETTER ALPHA}|\\N{2}");
        Tokenizer::fromJsonString(testtok::byteLevelJson(spec).dump(), {}, "names/tokenizer.json");
        spec.preTokenizer = splitRegex("\\\\N{GREEK SMALL LETTER ALPHA}|\\N{2,3}"); // an escaped backslash; a repeat count
        Tokenizer::fromJsonString(testtok::byteLevelJson(spec).dump(), {}, "plain/tokenizer.json");
        rslora::setLogCallback({});
        QCOMPARE(warnings.size(), std::size_t(1));
        const QString w = QString::fromStdString(warnings[0]);
        QVERIFY2(w.contains("names/tokenizer.json") && w.contains("\\N{GREEK SMALL LETTER ALPHA} is not a Unicode name escape"),
                 warnings[0].c_str());
    }

    void loadErrorsAreSpecific_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("message");
        for (const auto& [name, text, message] : testtok::badTokenizerFiles())
            QTest::newRow(name) << QString::fromStdString(text) << QString::fromStdString(message);
    }
    void loadErrorsAreSpecific() {
        QFETCH(QString, json);
        QFETCH(QString, message);
        try {
            Tokenizer::fromJsonString(json.toStdString(), {}, "bad/tokenizer.json");
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(message) && what.contains("bad/tokenizer.json"), qPrintable(what));
        }
    }

    void missingFolderIsAnError() {
        QVERIFY_THROWS_EXCEPTION(rslora::Error, Tokenizer::load("/nonexistent/model"));
        QTemporaryDir dir;
        try {
            Tokenizer::load(dir.path().toStdString());
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY(QString::fromUtf8(e.what()).contains("no tokenizer.json"));
        }
    }
};

QTEST_GUILESS_MAIN(TokenizerTest)
#include "TokenizerTest.moc"
