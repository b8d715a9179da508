#!/usr/bin/env python3
# Writes inputs.json: the tricky strings the tokenizer conformance test encodes with both this
# project's tokenizer and Hugging Face's reference implementation. Run again after editing.
import json
import os

base = [
    # plain text and punctuation
    "Hello world", " Hello world", "Hello world ", "hello", "HELLO", "Hello, World!", "The quick brown fox jumps over the lazy dog.",
    "a", "A", ".", ",", "!", "?", "...", "!!!", "?!?!", "—", "–", "-", "--", "a-b", "e.g.", "i.e.,", "U.S.A.",
    "“smart quotes”", "‘single’", "«guillemets»", "„German“", "@#$%^&*()", "[]{}<>", "\\\\", "~`|", "a_b_c", "__init__",
    # contractions, all cases
    "it's", "It's", "IT'S", "don't", "DON'T", "Don't", "I'm", "I'M", "you're", "YOU'RE", "we've", "WE'VE", "they'll",
    "THEY'LL", "he'd", "HE'D", "y'all", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "''", "'", "'hello'", "rock 'n' roll",
    "Let's go", "let'S", "o'clock", "it’s", "l'homme", "'ſ", "'ſt", "'K",
    # whitespace
    "", " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "\r", " \n", "\n ", " \t\n  x", "a  b",
    "a   b", "a\tb", "a\t\tb", "a\nb", "a\n\nb", "a \n b", "  x", "x  ", "   leading", "trailing   ", "mixed \t \n \r\n end",
    "\u00a0", "a\u00a0b", "\u3000", "a\u3000b", "\u2028", "a\u2028b", "\u0085", "a\u0085b", "\u200b", "a\u200bb", "\ufeff",
    "\ufeffBOM start", "\u2003em space", "a\u2009b", "\u000b\u000c", "\u001f", "\u0000", "a\u0000b", "\u007f",
    "line1\nline2\nline3", "para1\n\npara2", "    four spaces", "\ttab start", "end with newline\n", "end with spaces  ",
    # digits and numbers
    "0", "1", "12", "123", "1234", "12345", "1234567", "1234567890", "3.14159", "1,000,000", "1e-10", "0x1F", "-42",
    "+3", "100%", "$5.99", "€20", "2024-06-01", "12:30:45", "v1.2.3", "٠١٢٣٤٥٦٧٨٩", "۱۲۳", "१२३", "Ⅻ", "ⅻ", "½", "²³",
    "①②③", "２０２４", "𝟙𝟚𝟛", "9" * 40, "1" * 101, "12 34 56", "a1b2c3", "abc123def", "x2", "H2O",
    # CJK and other scripts
    "你好", "你好，世界！", "我爱北京天安门", "中文和English混合", "今天天气很好。我们去公园吧！", "繁體中文測試", "こんにちは", "カタカナ",
    "日本語のテキストです。", "ｶﾀｶﾅ", "안녕하세요", "한국어 텍스트", "\u1100\u1161\u11a8", "Привет, мир!", "Ёжик", "Γειά σου Κόσμε",
    "ελληνικά", "مرحبا بالعالم", "السلام عليكم", "שלום עולם", "नमस्ते दुनिया", "हिन्दी", "ภาษาไทย", "สวัสดีครับ", "Բարեւ",
    "გამარჯობა", "தமிழ்", "తెలుగు", "ಕನ್ನಡ", "বাংলা", "ਪੰਜਾਬੀ", "ગુજરાતી", "മലയാളം", "සිංහල", "ລາວ", "ខ្មែរ", "မြန်မာ",
    "አማርኛ", "ᚠᚢᚦᚨᚱᚲ", "Tiếng Việt", " việc", " hợp", " nhiều", " điều", " jeho", "Ελλάς", "Türkçe ğüşıöç", "Ärger über Öl",
    "naïve café", "façade", "Ångström", "Þórr", "œuvre", "ß", "ẞ", "İstanbul", "ı", "ǅ", "ﬁ", "ﬀ",
    # combining sequences and normalization-sensitive text
    "e\u0301", "cafe\u0301", "a\u0308", "A\u030a", "\u212b", "\u2126", "\u212a", "o\u0308\u0304", "\u1e0b\u0323", "q\u0307\u0323",
    "\u0344", "\u0958", "\ufb2c", "e\u0301\u0301", "\u0301", " \u0301", "\u0301a", "n\u0303o", "ñ", "n\u0303",
    # emoji
    "😀", "😀😀😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "🇯🇵🇫🇷", "1️⃣", "❤️", "❤", "☕", "🤖 robot", "I ❤️ NY",
    "emoji😀inside", " 😀", "😀 ", "🧑🏻‍💻", "👩‍❤️‍💋‍👨", "🫠", "🫨", "©®™", "✓✗", "→←↑↓", "∑∫√∞", "≠≤≥", "°C",
    # code
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}", "#include <vector>",
    "std::vector<int> v{1, 2, 3};", "if x == 1 and y != 2:", "console.log(`hello ${name}`);", "SELECT * FROM t WHERE id = 1;",
    "<div class=\"x\">text</div>", "{\"key\": \"value\", \"n\": 1}", "[1, 2, 3]", "a = b + c - d * e / f % g",
    "x += 1; y -= 2;", "x->y", "a::b::c", "=> ->", "!==", "===", "&&||", "/^[a-z]+$/i", "https://example.com/path?q=1&r=2",
    "user@example.com", "C:\\Users\\name", "~/.bashrc", "$HOME/bin", "    indented code", "\tdef g():\n\t\tpass",
    "```python\nprint('hi')\n```", "| a | b |\n|---|---|\n| 1 | 2 |", "# Heading\n\n- item 1\n- item 2", "**bold** _italic_",
    "camelCaseIdentifier", "snake_case_identifier", "SCREAMING_CASE", "kebab-case-name", "0.5f", "1_000_000",
    # special and added tokens inside text
    "<|im_start|>user\nhi<|im_end|>", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>", "text<|endoftext|>more", "<|endoftext|><|endoftext|>", " <|endoftext|> ", "a <|im_end|> b",
    "<|im_end|>", "<|im_end", "<|im_end|", "|im_end|>", "<<|im_end|>>", "<|im_end|><|im_start|>", "<|im_end|>\n\n",
    "<think>\nreasoning\n</think>\n\nanswer", "<think></think>", "<tool_call>{}</tool_call>", "<|begin_of_text|>Hello",
    "Hello<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "<|reserved_special_token_5|>",
    "<s>", "</s>", "<unk>", "<s>[INST] Hi [/INST]", "Hello</s>", " </s> ", "<s><s>", "[INST]", "<0x0A>", "<|fim_prefix|>",
    "<|vision_start|><|image_pad|><|vision_end|>", "<|box_start|>(1,2)<|box_end|>",
    # mixed and long
    "Hello, my dog is cute  12345 héllo 你好<|im_end|>\n\n", "It's 1234567 \t\n  x", "Mixed: English, 中文, русский, العربية, 😀!",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
    "a" * 300, "ab" * 150, " " * 120, "\n" * 40, "=" * 80, "-" * 64, "😀" * 30, "你" * 100,
    "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis", "antidisestablishmentarianism",
    "ThisIsAVeryLongCamelCaseWordWithoutSpacesThatKeepsGoingAndGoingForeverAndEver",
    "word " * 50, "The year 1999 and 2000 and 2024.", "Call 555-123-4567 now!", "Price: $1,234.56 (approx.)",
]

# Systematic variants: each short base string with leading space, trailing newline, and inside a sentence.
variants = []
for s in ["hello", "你好", "😀", "1234", "it's", "<|im_end|>", "é", "über", " ", "\t"]:
    variants += [" " + s, s + "\n", "x " + s + " y", s + s, "(" + s + ")", s.upper(), "\n" + s]

texts = []
seen = set()
for t in base + variants:
    if t not in seen:
        seen.add(t)
        texts.append(t)

# Invalid UTF-8 as hex: compared against the reference on the same bytes decoded with U+FFFD replacement.
invalid_hex = [
    "ff", "c3", "c328", "e282", "e28228", "f09f98", "f09f9828", "80", "8080", "bf", "c0af", "e080af", "eda080",
    "f4908080", "f8888080af", "fe", "68656c6c6fff776f726c64", "e4bda0ff", "61c3", "c3a9c3", "41e2a1ec", "f0288cbc",
]

out = {"texts": texts, "invalid_utf8_hex": invalid_hex}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inputs.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
print(len(texts), "texts,", len(invalid_hex), "invalid byte strings")
