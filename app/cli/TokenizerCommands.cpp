// `rslora tokenize`: encode text (or decode ids) with a model folder's tokenizer, to check what the
// model will see: ids, token strings, special tokens and the tokenizer's kind.
#include "app/cli/Commands.h"

#include "common/Error.h"
#include "models/chat/ChatTemplate.h"
#include "models/tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace rslora::cli {

namespace {

struct TokenizeArgs {
    std::string path;
    std::string text;
    std::string file;
    std::string decode;
    bool noSpecial = false;
    bool plainSpecials = false;
    bool skipSpecial = false;
    bool chat = false;
    bool json = false;
    bool decodeGiven = false;  // named on the command line, maybe as "" (which encoded the empty text)
};

// Token strings shown with control characters escaped so one token stays on one line.
std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\\': out += "\\\\"; break;
        default:
            if (c < 0x20 || c == 0x7F) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out;
}

std::vector<int64_t> parseIds(const std::string& list) {
    std::vector<int64_t> ids;
    std::string item;
    // The items between commas; "[1, 2]" (a Python list) reads as "1, 2".
    std::string inner = list;
    const auto first = inner.find_first_not_of(" \t");
    const auto last = inner.find_last_not_of(" \t");
    if (first != std::string::npos && inner[first] == '[' && inner[last] == ']')
        inner = inner.substr(first + 1, last - first - 1);
    if (inner.find_first_not_of(" \t") == std::string::npos)
        inner.clear();  // no ids at all, said below (getline read " " as one empty item)
    std::stringstream ss(inner);
    while (std::getline(ss, item, ',')) {
        const auto b = item.find_first_not_of(" \t");
        const auto e = item.find_last_not_of(" \t");
        // An empty item ("1,,2", a trailing comma) was skipped, and a list of none decoded to nothing.
        if (b == std::string::npos)
            throw Error("--decode: an empty item in \"" + list + "\"; give comma-separated integer ids such as 72,105");
        const std::string t = item.substr(b, e - b + 1);
        try {
            std::size_t used = 0;
            const long long v = std::stoll(t, &used);
            if (used != t.size())
                throw std::invalid_argument(t);
            ids.push_back(v);
        } catch (const std::exception&) {
            throw Error("--decode: expected comma-separated integer ids, found \"" + t + "\"");
        }
    }
    if (ids.empty())
        throw Error("--decode: no ids given; give comma-separated integer ids such as 72,105");
    return ids;
}

void runTokenize(const TokenizeArgs& a) {
    const models::Tokenizer tok = models::Tokenizer::load(a.path);
    if (a.decodeGiven) {
        const auto ids = parseIds(a.decode);
        const std::string text = tok.decode(ids, a.skipSpecial);
        // Ids the vocabulary lacks decode to nothing (as in Hugging Face tokenizers); say which.
        std::string unknown;
        int unknownCount = 0;
        for (auto id : ids)
            if (!tok.idToToken(id) && ++unknownCount <= 8)
                unknown += (unknown.empty() ? "" : ", ") + std::to_string(id);
        if (unknownCount)
            std::cerr << "warning: "
                      << (unknownCount == 1 ? "id " + unknown + " is"
                                            : std::to_string(unknownCount) + " ids (" + unknown + (unknownCount > 8 ? ", ..." : "") + ") are")
                      << " not in the vocabulary (" << tok.vocabSize() << " tokens) and decoded as nothing\n";
        if (a.json) {
            nlohmann::json tokens = nlohmann::json::array();
            for (auto id : ids)
                tokens.push_back(tok.idToToken(id) ? nlohmann::json(*tok.idToToken(id)) : nlohmann::json(nullptr));
            std::cout << nlohmann::json{{"ids", ids}, {"tokens", tokens}, {"text", text}}.dump(2, ' ', false,
                                                                                                  nlohmann::json::error_handler_t::replace)
                      << "\n";
        } else {
            std::cout << text << "\n";
        }
        return;
    }
    std::string text = a.text;
    if (!a.file.empty()) {
        std::ostringstream ss;
        if (a.file == "-") {
            ss << std::cin.rdbuf();
        } else {
            std::ifstream in(a.file, std::ios::binary);
            if (!in)
                throw Error("cannot read " + a.file);
            ss << in.rdbuf();
        }
        text = ss.str();
    }
    const auto chat = models::ChatTemplate::fromTokenizer(tok);
    models::EncodeOptions options;
    options.addSpecialTokens = !a.noSpecial;
    if (a.plainSpecials)
        options.parseSpecialTokens = false;
    if (a.chat) {
        // The text as one user message, rendered with the model's template as a generation prompt and
        // encoded as apply_chat_template encodes it: the template writes its own specials (no BOS added).
        if (!chat)
            throw Error("--chat: " + a.path + " has no chat template (tokenizer_config.json chat_template or chat_template.jinja)");
        nlohmann::ordered_json messages = nlohmann::ordered_json::array();
        messages.push_back({{"role", "user"}, {"content", text}});
        models::ChatRenderOptions render;
        render.addGenerationPrompt = true;
        text = chat->render(messages, render);
        options.addSpecialTokens = false;
    }
    models::Encoding enc = tok.encodeDetailed(text, options);
    if (a.json) {
        nlohmann::json out = {
            {"ids", enc.ids},
            {"tokens", enc.tokens},
            {"special", enc.special},
            {"count", enc.ids.size()},
            {"decoded", tok.decode(enc.ids)},
            {"text", text},
            {"tokenizer", {{"kind", tok.kindName()},
                           {"description", tok.describe()},
                           {"vocab_size", tok.vocabSize(true)},
                           {"chat_template", chat ? chat->kindName() : "none"}}},
        };
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return;
    }
    if (a.chat)
        std::cout << "rendered   " << printable(text) << "\n";
    std::cout << "tokenizer  " << tok.describe() << "\n"
              << "chat       " << (chat ? chat->kindName() + " template" : std::string("no chat template")) << "\n"
              << "tokens     " << enc.ids.size() << (a.noSpecial ? " (no special tokens added)" : "") << "\n"
              << "ids        [";
    for (std::size_t i = 0; i < enc.ids.size(); ++i)
        std::cout << (i ? ", " : "") << enc.ids[i];
    std::cout << "]\n";
    // The vocabulary string, and the text it decodes to when that differs ("Ġworld" -> " world").
    for (std::size_t i = 0; i < enc.ids.size(); ++i) {
        const std::string piece = tok.decode({enc.ids[i]});
        std::cout << "  " << enc.ids[i] << "\t" << printable(enc.tokens[i]);
        if (enc.special[i])
            std::cout << "\t(special)";
        else if (piece != enc.tokens[i])
            std::cout << "\t\"" << printable(piece) << "\"";
        std::cout << "\n";
    }
}

} // namespace

void registerTokenizerCommands(CLI::App& app) {
    auto args = std::make_shared<TokenizeArgs>();
    auto* cmd = app.add_subcommand("tokenize", "Encode text with a model's tokenizer and show ids and tokens");
    cmd->add_option("path", args->path, "Model folder with tokenizer.json, or a tokenizer.json file")->required();
    auto* text = cmd->add_option("--text,-t", args->text, "Text to encode");
    auto* file = cmd->add_option("--file,-f", args->file, "Read the text from a file ('-' for standard input)");
    auto* decode = cmd->add_option("--decode", args->decode, "Decode comma-separated ids instead of encoding");
    text->excludes(file);
    decode->excludes(text);
    decode->excludes(file);
    cmd->add_flag("--no-special", args->noSpecial, "Do not add the BOS/EOS the tokenizer's post-processor adds");
    cmd->add_flag("--plain-specials", args->plainSpecials,
                  "Treat special-token text such as <|im_end|> in the input as plain text");
    cmd->add_flag("--skip-special", args->skipSpecial, "With --decode: leave special tokens out of the text");
    cmd->add_flag("--chat", args->chat,
                  "Render the text as a user message with the model's chat template (generation prompt) first");
    cmd->add_flag("--json", args->json, "Machine-readable output");
    cmd->callback([args, text, file, decode] {
        if (text->count() == 0 && file->count() == 0 && decode->count() == 0)
            throw CLI::ValidationError("tokenize", "give --text, --file or --decode");
        args->decodeGiven = decode->count() > 0;
        runTokenize(*args);
    });
}

} // namespace rslora::cli
