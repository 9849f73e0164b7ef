#!/usr/bin/env node
// Golden ids and decodes from Hugging Face's own tokenizers (the Rust
// library, through its Node binding) for pkg/tokenizer's tests.
//
// Setup (once, outside the repo):  mkdir -p /tmp/hfnode && cd /tmp/hfnode &&
//   npm install tokenizers@0.23.2
// Run:  NODE_PATH=/tmp/hfnode/node_modules node scripts/gen_tokenizer_goldens.js
// Writes testdata/tokenizer/goldens.json (atomically: temp file + rename).
//
// For every tokenizer and text it records Encode with added tokens split out
// (HF encode(text, add_special_tokens=false)), the same with the
// post-processor template (add_special_tokens=true), the text with special
// tokens NOT split out (HF's encode_special_tokens=true, obtained here by
// loading the file with its special added tokens renamed), and decode(ids)
// with and without skip_special_tokens. Random id sequences are decoded too
// (they contain partial UTF-8 sequences).
'use strict';
const fs = require('fs');
const path = require('path');
const {Tokenizer} = require('tokenizers');

const root = path.join(__dirname, '..');
const tdir = path.join(root, 'testdata', 'tokenizer');

// mulberry32: a small seeded PRNG so the goldens are reproducible.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Pieces random texts are made of: every class the Qwen2 pattern
// distinguishes, contractions in all cases, U+017F (folds to "s"),
// decomposed accents (NFC), unusual white space and numbers, added tokens.
const pool = [
  'a', 'b', 'Z', 'hello', 'World', 'été', 'naïve', 'e\u0301', 'A\u030a', '\u212b', 'ſ', 'ß', 'Σ', 'ǅ',
  '0', '7', '42', '2024', '\u0663', '\u00bd', '\u216b', '\u00b2', '\u2460',
  ' ', '  ', '\t', '\n', '\r\n', '\r', '\n\n', '\u000b', '\u000c', '\u0085', '\u00a0', '\u1680', '\u2003',
  '\u2028', '\u2029', '\u202f', '\u3000', '\u200b', '\u180e', '\ufeff',
  "'", "'s", "'S", "'t", "'re", "'RE", "'Ve", "'m", "'LL", "'lL", "'d", "'D", "'ſ", "'x", '\u2019s', '"',
  '.', ',', '!?', '...', '-', '—', '(', ')', '[', ']', '{', '}', '<', '>', '|', '_', '@', '#', '$', '%',
  '^', '&', '*', '+', '=', '/', '\\', '~', '`', ';', ':', '€', '©', '®', '°',
  '中', '文字', '日本語', 'ひらがな', 'カタカナ', '한국어', 'Привет', 'مرحبا', 'שלום', 'नमस्ते', 'ไทย', 'ქართ',
  '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '\u0301', '\u200d', '\ufffd', '𝔘𝔫𝔦', '\u{10ffff}',
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>', '<|fim_prefix|>',
  '<s>', '</s>', '<unk>', '<', '<|', '|>', '<|im_', 'system', 'user', 'assistant',
];

function randomText(r) {
  const n = 1 + Math.floor(r() * 24);
  let s = '';
  for (let i = 0; i < n; i++) s += pool[Math.floor(r() * pool.length)];
  return s;
}

const fixed = [
  '', ' ', 'Hello world', ' Hello world', 'Hello World!', 'Hello, world!', "I've been 'told he's there",
  "'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
  'x\n\n\ny', 'x \n \n y', 'x   y', 'x   ', '   ', '\n', '\r\n\r\n', 'a\u00a0\u00a0b', 'a \u2028 b',
  '3333333', '1,000,000.50', 'function f(x) { return x*2; }\n', '<|im_start|>user\nhi<|im_end|>\n',
  '<|im_start|><|im_end|>', 'x<|im_end|>y', '  <|im_end|>  ', '<s>Hello</s>', ' <s> a', 'é', 'e\u0301',
  'Ǆemo', 'Ａｂｃ', '\u00e9\u0301', '🦙🦙 llama', 'Anne Elliot was walking in Bath.',
];

// stripSpecial disables matching of special added tokens by renaming them to
// strings that never occur in the texts. HF numbers added tokens that are not
// in the model vocabulary sequentially on load, so removing tokens would
// renumber the others; renamed tokens that were vocabulary tokens move to the
// end of the list for the same reason.
function stripSpecial(json) {
  const j = JSON.parse(json);
  const keep = [];
  const moved = [];
  for (const t of j.added_tokens) {
    if (!t.special) {
      keep.push(t);
      continue;
    }
    const inVocab = Object.prototype.hasOwnProperty.call(j.model.vocab, t.content);
    t.content = '\u0000disabled' + t.id + '\u0000';
    (inVocab ? moved : keep).push(t);
  }
  j.added_tokens = keep.concat(moved);
  return JSON.stringify(j);
}

async function cases(file, nRandom, seed, idRange, byteIDs, extra) {
  const json = fs.readFileSync(path.join(tdir, file), 'utf8');
  const tok = Tokenizer.fromString(json);
  const noSpecial = Tokenizer.fromString(stripSpecial(json));
  const r = rng(seed);
  const texts = fixed.concat(extra || []);
  for (let i = 0; i < nRandom; i++) texts.push(randomText(r));
  const out = [];
  for (const text of texts) {
    const e = await tok.encode(text, null, {addSpecialTokens: false});
    const ids = Array.from(e.getIds());
    const tmpl = Array.from((await tok.encode(text, null, {addSpecialTokens: true})).getIds());
    const ns = Array.from((await noSpecial.encode(text, null, {addSpecialTokens: false})).getIds());
    out.push({
      text, ids, ids_template: tmpl, ids_no_special: ns,
      decode: await tok.decode(ids, false), decode_skip: await tok.decode(ids, true),
    });
  }
  const decodes = [];
  for (let i = 0; i < 300; i++) {
    const n = 1 + Math.floor(r() * 12);
    const ids = [];
    for (let k = 0; k < n; k++) {
      ids.push(r() < 0.6 ? byteIDs[Math.floor(r() * byteIDs.length)] : Math.floor(r() * idRange));
    }
    decodes.push({ids, decode: await tok.decode(ids, false), decode_skip: await tok.decode(ids, true)});
  }
  return {file, cases: out, decodes};
}

function idsOf(file, toks) {
  const t = Tokenizer.fromFile(path.join(tdir, file));
  return toks.map((s) => t.tokenToId(s)).filter((x) => x !== null && x !== undefined);
}

// writeFlagsFixture derives testdata/tokenizer/tiny-flags.json from the
// bundled tiny Qwen2 tokenizer by adding tokens that exercise the
// added-token flags (lstrip, rstrip, single_word, normalized, special).
function writeFlagsFixture() {
  const j = JSON.parse(fs.readFileSync(path.join(root, 'testdata', 'tinyqwen2', 'tokenizer.json'), 'utf8'));
  let id = Math.max(...j.added_tokens.map((t) => t.id)) + 1;
  const add = (content, o) => j.added_tokens.push(Object.assign(
    {id: id++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false}, o));
  add('<mask>', {lstrip: true, special: true});
  add('[R]', {rstrip: true});
  add('[LR]', {lstrip: true, rstrip: true, special: true});
  add('cat', {single_word: true});
  add('Cafe\u0301', {normalized: true});  // matched after NFC, i.e. as "Café"
  add('<mask>x', {});                         // longer than <mask>: leftmost-longest
  add('ma', {normalized: true, special: true});
  // Round-trip through HF so the file holds the ids HF really assigns
  // ("cat" and "ma" are already vocabulary tokens and keep their ids).
  const dst = path.join(tdir, 'tiny-flags.json');
  Tokenizer.fromString(JSON.stringify(j)).save(dst + '.tmp', false);
  fs.renameSync(dst + '.tmp', dst);
}

// writeLlama3Fixture derives testdata/tokenizer/tiny-llama3.json: the tiny
// Qwen2 tokenizer with Llama 3's pre-tokenizer pattern (numbers in runs of up
// to three digits) and ignore_merges (a word that is a token is kept whole).
function writeLlama3Fixture() {
  const j = JSON.parse(fs.readFileSync(path.join(root, 'testdata', 'tinyqwen2', 'tokenizer.json'), 'utf8'));
  j.pre_tokenizer.pretokenizers[0].pattern.Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  j.model.ignore_merges = true;
  const dst = path.join(tdir, 'tiny-llama3.json');
  Tokenizer.fromString(JSON.stringify(j)).save(dst + '.tmp', false);
  fs.renameSync(dst + '.tmp', dst);
}

// writePreTokenizerFixtures derives two more tokenizers from the tiny one:
// tiny-gpt2.json (ByteLevel pre-tokenizer with GPT-2's regex and
// add_prefix_space) and tiny-mixed.json (Digits, literal and regex Split
// with every behaviour, Contiguous, then ByteLevel without regex).
function writePreTokenizerFixtures() {
  const base = fs.readFileSync(path.join(root, 'testdata', 'tinyqwen2', 'tokenizer.json'), 'utf8');
  const save = (name, j) => {
    const dst = path.join(tdir, name);
    Tokenizer.fromString(JSON.stringify(j)).save(dst + '.tmp', false);
    fs.renameSync(dst + '.tmp', dst);
  };
  const g = JSON.parse(base);
  g.pre_tokenizer = {type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true};
  save('tiny-gpt2.json', g);
  const m = JSON.parse(base);
  m.pre_tokenizer = {type: 'Sequence', pretokenizers: [
    {type: 'Digits', individual_digits: false},
    {type: 'Split', pattern: {String: '-'}, behavior: 'MergedWithPrevious', invert: false},
    {type: 'Split', pattern: {Regex: '[.,;]'}, behavior: 'MergedWithNext', invert: false},
    {type: 'Split', pattern: {String: '='}, behavior: 'Removed', invert: false},
    {type: 'Split', pattern: {Regex: '[!?]'}, behavior: 'Contiguous', invert: false},
    {type: 'WhitespaceSplit'},
    {type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false},
  ]};
  save('tiny-mixed.json', m);
}

const flagTexts = [
  'a <mask> b', 'a   <mask>b', '<mask>', '  <mask>  ', 'x<mask>x', '<mask>xy', 'a [R]   b', '[R]\n\nz', '  [LR]  q',
  'cat', 'a cat b', 'concat', 'cats', '_cat', 'cat_', 'cat.', 'é cat', 'Café', 'Cafe\u0301 au lait', 'CAFÉ',
  'mama', 'ma<mask>ma', '<|im_start|>cat<|im_end|>', 'the cat sat on the [LR] mat <mask>',
];

(async () => {
  writeFlagsFixture();
  writeLlama3Fixture();
  writePreTokenizerFixtures();
  // Byte-level single-byte tokens for 0x80..0xFF (continuation and lead
  // bytes), so random decodes hit ill-formed UTF-8.
  const bl = JSON.parse(fs.readFileSync(path.join(tdir, 'qwen2-tokenizer.json'), 'utf8'));
  const b2u = [];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    b2u.push(printable ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++));
  }
  const qwenBytes = [];
  for (let b = 0x80; b < 0x100; b++) qwenBytes.push(bl.model.vocab[b2u[b]]);
  qwenBytes.push(151643, 151645, 151667);
  const hex = [];
  for (let b = 0; b < 256; b++) hex.push('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>');
  const res = {
    generator: 'scripts/gen_tokenizer_goldens.js with npm tokenizers@' +
      require('tokenizers/package.json').version,
    tokenizers: [
      await cases('qwen2-tokenizer.json', 1500, 1, 151669, qwenBytes),
      await cases('llama-legacy.json', 300, 2, 630, idsOf('llama-legacy.json', hex.slice(0x80).concat(['<s>', '</s>']))),
      await cases('llama-metaspace.json', 300, 3, 630, idsOf('llama-metaspace.json', hex.slice(0x80).concat(['<s>', '</s>']))),
      await cases('tiny-flags.json', 200, 4, 8199, qwenBytes.slice(0, 128).map((x) => x % 8189).concat([8190, 8192, 8193, 8196]),
        flagTexts),
      await cases('tiny-llama3.json', 300, 5, 8192, qwenBytes.slice(0, 128).concat([8190, 8191]),
        ['12345678', '3.14159265', 'year 2024, 100000 items', '٣٣٣٣٣', '½½½½']),
      await cases('tiny-gpt2.json', 300, 6, 8192, qwenBytes.slice(0, 128).concat([8190, 8191]), []),
      await cases('tiny-mixed.json', 300, 7, 8192, qwenBytes.slice(0, 128).concat([8190, 8191]),
        ['a-b-c', 'x=y==z', 'one. two, three;', 'wow!!?! ok', '12-34.56=78', '--==..!!', 'a = b - c']),
    ],
  };
  const dst = path.join(tdir, 'goldens.json');
  fs.writeFileSync(dst + '.tmp', JSON.stringify(res));
  fs.renameSync(dst + '.tmp', dst);
  let total = 0;
  for (const t of res.tokenizers) total += t.cases.length + t.decodes.length;
  console.log('wrote ' + dst + ': ' + total + ' cases');
})().catch((e) => { console.error(e); process.exit(1); });
