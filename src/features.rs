//! Hashing featurizer: tokens (+ target, + target mention spans) -> sparse vector.
//!
//! The hashing trick means there is no vocabulary to store, refit or keep in sync between
//! training and serving: a feature's column is a stable hash of its name. The whole
//! configuration, and the lexicon when one is used, is stored in the model file, so a
//! served model featurizes exactly as it was trained.
//!
//! Features come in groups (word n-grams, char n-grams, lexicon, target, window); each group
//! is scaled to unit norm times its weight, so the many char n-grams of a long sentence do
//! not drown its few word features.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::text::{Token, TokenBuf, TokenKind, tokenize};

/// How text becomes features. Stored in every model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturizerConfig {
    /// log2 of the number of hash buckets.
    pub hash_bits: u32,
    /// Word n-gram orders, inclusive (`[1, 3]`: unigrams to trigrams); `[0, 0]` disables.
    pub word_ngrams: [usize; 2],
    /// Character n-gram orders within words, inclusive; `[0, 0]` disables.
    pub char_ngrams: [usize; 2],
    /// Group weights: scale of each feature group after unit-normalisation.
    pub word_weight: f32,
    pub char_weight: f32,
    pub lexicon_weight: f32,
    pub target_weight: f32,
    pub window_weight: f32,
    /// Tokens on each side of a target mention that get window features; 0 disables.
    pub window: usize,
    /// Whether target-conditioned features (target words present in the text) are made.
    pub target_features: bool,
}

impl Default for FeaturizerConfig {
    fn default() -> Self {
        FeaturizerConfig {
            hash_bits: 20,
            word_ngrams: [1, 3],
            char_ngrams: [2, 5],
            word_weight: 1.0,
            char_weight: 1.0,
            lexicon_weight: 0.5,
            target_weight: 0.5,
            window_weight: 1.0,
            window: 4,
            target_features: true,
        }
    }
}

impl FeaturizerConfig {
    /// Checks ranges before any work is done.
    pub fn check(&self) -> Result<()> {
        let bad = |name, message: String| Err(Error::InvalidParam { name, message });
        if !(10..=26).contains(&self.hash_bits) {
            return bad("hash_bits", format!("{} is outside 10..=26", self.hash_bits));
        }
        for (name, [a, b]) in [("word_ngrams", self.word_ngrams), ("char_ngrams", self.char_ngrams)] {
            if a > b || b > 8 || (a == 0 && b != 0) {
                return bad(name, format!("[{a}, {b}] must be [0, 0] or 1 <= min <= max <= 8"));
            }
        }
        Ok(())
    }
}

/// Word polarity scores from the public lexicons, one column per source.
///
/// Why stored in the model: the lexicon is part of what was learned (its features have
/// weights), so serving must see the same entries even where the lexicon files are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lexicon {
    /// Source names, in column order (e.g. `["vader", "afinn", "bingliu"]`).
    pub sources: Vec<String>,
    /// Word -> score per source in [-1, 1] (0 where the source has no entry). Written
    /// sorted so that the same lexicon always gives the same model bytes.
    #[serde(serialize_with = "sorted")]
    pub entries: HashMap<String, Vec<f32>>,
}

impl Lexicon {
    /// Reads VADER, AFINN and Bing Liu from a directory laid out like
    /// `../shared/data/lexicons` (`vader/vader_lexicon.txt`, `afinn/AFINN-en-165.txt`,
    /// `bingliu/{positive,negative}-words.txt`). Missing sources are an error naming the file.
    pub fn load_dir(dir: &Path) -> Result<Lexicon> {
        let read = |rel: &str| -> Result<(std::path::PathBuf, String)> {
            let p = dir.join(rel);
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            // Bing Liu's lists are Latin-1 in places; a lossy read keeps every ASCII entry.
            Ok((p, String::from_utf8_lossy(&bytes).into_owned()))
        };
        let mut lex =
            Lexicon { sources: vec!["vader".into(), "afinn".into(), "bingliu".into()], entries: HashMap::new() };
        let mut set = |w: &str, col: usize, v: f32| {
            let e = lex.entries.entry(w.to_lowercase()).or_insert_with(|| vec![0.0; 3]);
            e[col] = v.clamp(-1.0, 1.0);
        };
        // VADER: word, mean valence in -4..4, then other columns; AFINN: word (which may
        // hold spaces), valence in -5..5. Both tab-separated.
        type Fields = fn(&str) -> Option<(&str, &str)>;
        let sources: [(&str, usize, f32, Fields); 2] = [
            ("vader/vader_lexicon.txt", 0, 4.0, |l| {
                let mut f = l.split('\t');
                Some((f.next()?, f.next()?))
            }),
            ("afinn/AFINN-en-165.txt", 1, 5.0, |l| l.rsplit_once('\t')),
        ];
        for (file, col, scale, fields) in sources {
            let (p, text) = read(file)?;
            for (i, line) in text.lines().enumerate() {
                let Some((w, v)) = fields(line) else {
                    continue;
                };
                let v: f32 = v.trim().parse().map_err(|_| Error::InvalidRecord {
                    path: p.display().to_string(),
                    line: i + 1,
                    message: format!("score {v:?} is not a number"),
                })?;
                set(w, col, v / scale);
            }
        }
        for (file, v) in [("bingliu/positive-words.txt", 1.0), ("bingliu/negative-words.txt", -1.0)] {
            let (_, text) = read(file)?;
            for line in text.lines() {
                let w = line.trim();
                if w.is_empty() || w.starts_with(';') {
                    continue;
                }
                set(w, 2, v);
            }
        }
        Ok(lex)
    }
}

fn sorted<S: serde::Serializer>(m: &HashMap<String, Vec<f32>>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(m.iter().collect::<std::collections::BTreeMap<_, _>>())
}

/// What to featurize: a text, optionally a target and the target's mention spans.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    pub text: &'a str,
    /// Stance target ("Hillary Clinton") or the person a sentiment is about.
    pub target: Option<&'a str>,
    /// Code-point spans `[start, end)` of the target's mentions in `text`. When empty, a
    /// featurizer with window features finds the mentions itself, by the target's tokens.
    pub target_spans: &'a [[usize; 2]],
}

/// Receives features as they are made. The fast path only keeps indices; the explain path
/// also keeps a readable name for each.
pub trait Sink {
    /// Whether the sink wants names (so the featurizer can skip building them).
    const NAMED: bool;
    fn push(&mut self, index: u32, value: f32, name: impl FnOnce() -> String);
    /// Number of features pushed so far.
    fn count(&self) -> usize;
    /// Multiplies the values of features `from..` by `factor`.
    fn scale_from(&mut self, from: usize, factor: f32);
    /// Pushes the char n-grams of `word` (`hash` is its word hash) by calling `make`, and
    /// returns the word's lexicon entry, which `lex` finds. Neither changes for a word, so a
    /// scoring sink may remember both: the next time it adds what the n-grams added (and
    /// counts them) without calling `make`, and answers without the lexicon probe, which
    /// cost a tenth of scoring time even prefetched.
    #[inline]
    fn word_chars(
        &mut self,
        _word: &str,
        _hash: u64,
        lex: impl FnOnce() -> Option<u32>,
        make: impl FnOnce(&mut Self),
    ) -> Option<u32> {
        make(self);
        lex()
    }
    /// Says early that [`word_chars`](Self::word_chars) will come for the word with `hash`,
    /// so that a sink can start loading what it remembers about it.
    #[inline]
    fn expect_word(&mut self, _hash: u64) {}
}

/// A sparse feature vector (indices may repeat; repeated indices add up).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    pub fn clear(&mut self) {
        self.indices.clear();
        self.values.clear();
    }
}

impl Sink for SparseVec {
    const NAMED: bool = false;
    #[inline]
    fn push(&mut self, index: u32, value: f32, _name: impl FnOnce() -> String) {
        self.indices.push(index);
        self.values.push(value);
    }
    fn count(&self) -> usize {
        self.indices.len()
    }
    fn scale_from(&mut self, from: usize, factor: f32) {
        for v in &mut self.values[from..] {
            *v *= factor;
        }
    }
}

/// Features with their names, for explanations.
#[derive(Debug, Clone, Default)]
pub struct NamedVec {
    pub features: Vec<(u32, f32, String)>,
}

impl Sink for NamedVec {
    const NAMED: bool = true;
    fn push(&mut self, index: u32, value: f32, name: impl FnOnce() -> String) {
        self.features.push((index, value, name()));
    }
    fn count(&self) -> usize {
        self.features.len()
    }
    fn scale_from(&mut self, from: usize, factor: f32) {
        for f in &mut self.features[from..] {
            f.1 *= factor;
        }
    }
}

// Stable 64-bit hashing (FNV-1a + a murmur3 finaliser). Must never change: model files
// store weights by these bucket numbers.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[inline]
pub(crate) fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET ^ seed;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    fmix(a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31))
}

#[inline]
pub(crate) fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// A hint only: never faults, whatever the address.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    // SAFETY: prefetching has no effect on the program's state and cannot fault, even on
    // an invalid address; SSE is part of the x86_64 baseline.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The lexicon laid out for lookups by the word hash the featurizer has already made for
/// every token: hashing each word again for a `HashMap` cost more than the rest of its
/// lexicon features.
#[derive(Debug, Clone, Default)]
struct LexIndex {
    /// Open addressing with linear probing, at most half full: (word hash, entry + 1), with
    /// entry 0 marking an empty slot.
    slots: Vec<(u64, u32)>,
    shift: u32,
    /// Entry words end to end; entry `e` is `words[starts[e]..starts[e + 1]]`.
    words: String,
    starts: Vec<u32>,
    /// `sources` scores per entry.
    scores: Vec<f32>,
    sources: usize,
}

impl LexIndex {
    fn new(lex: &Lexicon) -> Result<Self> {
        let m = lex.sources.len();
        let bits = (2 * lex.entries.len()).max(2).next_power_of_two().trailing_zeros();
        let mut ix = LexIndex {
            slots: vec![(0, 0); 1 << bits],
            shift: 64 - bits,
            starts: vec![0],
            sources: m,
            ..LexIndex::default()
        };
        for (word, scores) in &lex.entries {
            if scores.len() != m {
                return Err(Error::Data(format!("lexicon entry {word:?} has {} scores for {m} sources", scores.len())));
            }
            let hash = fnv(NS_WORD, word.as_bytes());
            let mut i = ix.slot(hash);
            while ix.slots[i].1 != 0 {
                i = (i + 1) & (ix.slots.len() - 1);
            }
            ix.slots[i] = (hash, ix.starts.len() as u32);
            ix.words.push_str(word);
            ix.starts.push(ix.words.len() as u32);
            ix.scores.extend_from_slice(scores);
        }
        Ok(ix)
    }

    #[inline]
    fn slot(&self, hash: u64) -> usize {
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The scores of entry `e` (from [`entry`](Self::entry)); none for an entry this
    /// lexicon does not have.
    #[inline]
    fn scores(&self, e: u32) -> &[f32] {
        let e = e as usize;
        self.scores.get(e * self.sources..(e + 1) * self.sources).unwrap_or(&[])
    }

    /// The entry of `word`, whose word hash is `hash`.
    #[inline]
    fn entry(&self, hash: u64, word: &str) -> Option<u32> {
        if self.sources == 0 {
            return None;
        }
        let mut i = self.slot(hash);
        loop {
            let (h, e) = self.slots[i];
            if e == 0 {
                return None;
            }
            let e = e as usize - 1;
            if h == hash && &self.words[self.starts[e] as usize..self.starts[e + 1] as usize] == word {
                return Some(e as u32);
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }
}

// Namespaces keep groups apart: the word "no" and the char bigram "no" are different columns.
const NS_WORD: u64 = 1;
const NS_CHAR: u64 = 2;
const NS_LEX: u64 = 3;
const NS_TARGET: u64 = 4;
const NS_WINDOW: u64 = 5;
const NEG_MARK: u64 = 0x5bd1_e995_1234_5678;

/// Words too common to say whether a text mentions its target.
const STOPWORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "of",
    "is",
    "are",
    "be",
    "to",
    "in",
    "on",
    "and",
    "or",
    "for",
    "real",
    "concern",
    "movement",
    "legalization",
    "change",
];

/// Turns inputs into hashed sparse features according to a [`FeaturizerConfig`].
#[derive(Debug, Clone)]
pub struct Featurizer {
    config: FeaturizerConfig,
    lexicon: Option<Lexicon>,
    lex_index: LexIndex,
    mask: u64,
}

/// Buffers reused from row to row by [`Featurizer::featurize`].
#[derive(Debug, Default)]
struct Scratch {
    tokens: TokenBuf,
    bufs: Bufs,
}

#[derive(Debug, Default)]
struct Bufs {
    /// Word hash of every token.
    hashes: Vec<u64>,
    /// Indices of the tokens word n-grams run over (all but hashtag parts).
    seq: Vec<usize>,
    /// A word with boundary marks, and the byte offset of each of its characters.
    chars: Vec<u8>,
    bounds: Vec<usize>,
    lex_sums: Vec<[f32; 2]>,
    /// Each token's lexicon entry, as the char n-gram pass learnt it (empty when that pass
    /// did not run).
    lex_entries: Vec<Option<u32>>,
    /// Positions of the row's tokens that mention its target.
    mentions: Vec<usize>,
    /// Recent targets, tokenized, oldest first: batch rows cycle through a few targets in
    /// any order, and tokenizing the target again costs as much as the rest of the target
    /// features. Searched newest first; where nearly every row has a target of its own
    /// (NewsMTSC's people), a miss drops the oldest without moving the rest.
    targets: VecDeque<TargetWords>,
}

/// A target as the target and window features read it. An evicted entry is refilled in
/// place, so that rows which each have a target of their own allocate nothing for it.
#[derive(Debug, Default)]
struct TargetWords {
    target: String,
    /// Its tokens, which a mention repeats.
    tokens: TokenBuf,
    /// Its content words, any of which says the text names it: `[start, end)` byte ranges
    /// of `word_bytes`.
    words: Vec<(usize, usize)>,
    word_bytes: Vec<u8>,
}

impl TargetWords {
    fn fill(&mut self, target: &str) {
        self.target.clear();
        self.target.push_str(target);
        self.words.clear();
        self.word_bytes.clear();
        for t in self.tokens.tokenize(target) {
            if t.kind == TokenKind::Word && t.text.len() > 2 && !STOPWORDS.contains(&t.text.as_str()) {
                let start = self.word_bytes.len();
                self.word_bytes.extend_from_slice(t.text.as_bytes());
                self.words.push((start, self.word_bytes.len()));
            }
        }
    }

    fn words(&self) -> impl Iterator<Item = &[u8]> {
        self.words.iter().map(|&(start, end)| &self.word_bytes[start..end])
    }
}

/// How many distinct targets [`Bufs`] remembers per thread.
const TARGET_CACHE: usize = 32;

/// `target` from `cache`, tokenized into it first when it is not there.
fn target_words<'c>(cache: &'c mut VecDeque<TargetWords>, target: &str) -> &'c TargetWords {
    let at = match cache.iter().rposition(|t| t.target == target) {
        Some(at) => at,
        None => {
            let mut entry = if cache.len() == TARGET_CACHE { cache.pop_front() } else { None };
            entry.get_or_insert_default().fill(target);
            cache.extend(entry);
            cache.len() - 1
        }
    };
    &cache[at]
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Featurizer {
    pub fn new(config: FeaturizerConfig, lexicon: Option<Lexicon>) -> Result<Self> {
        config.check()?;
        let mask = (1u64 << config.hash_bits) - 1;
        let lex_index = lexicon.as_ref().map(LexIndex::new).transpose()?.unwrap_or_default();
        Ok(Featurizer { config, lexicon, lex_index, mask })
    }

    pub fn config(&self) -> &FeaturizerConfig {
        &self.config
    }

    pub fn lexicon(&self) -> Option<&Lexicon> {
        self.lexicon.as_ref()
    }

    /// Number of hash buckets (columns).
    pub fn dim(&self) -> usize {
        1usize << self.config.hash_bits
    }

    #[inline]
    fn bucket(&self, h: u64) -> u32 {
        (fmix(h) & self.mask) as u32
    }

    /// Featurizes `input` into `out` (cleared first), reusing per-thread buffers.
    pub fn featurize(&self, input: &Input<'_>, out: &mut SparseVec) {
        out.clear();
        self.featurize_into(input, out);
    }

    /// Featurizes `input` into any sink (scoring sums weights as features arrive), reusing
    /// per-thread buffers.
    pub fn featurize_into<S: Sink>(&self, input: &Input<'_>, out: &mut S) {
        SCRATCH.with(|s| {
            let Scratch { tokens, bufs } = &mut *s.borrow_mut();
            let tokens = tokens.tokenize(input.text);
            self.featurize_with(tokens, input, bufs, out);
        });
    }

    /// Featurizes with feature names, for explanations.
    pub fn featurize_named(&self, input: &Input<'_>) -> NamedVec {
        let mut out = NamedVec::default();
        let tokens = tokenize(input.text);
        self.featurize_tokens(&tokens, input, &mut out);
        out
    }

    /// Featurizes already tokenized text.
    pub fn featurize_tokens<S: Sink>(&self, tokens: &[Token], input: &Input<'_>, out: &mut S) {
        self.featurize_with(tokens, input, &mut Bufs::default(), out);
    }

    fn featurize_with<S: Sink>(&self, tokens: &[Token], input: &Input<'_>, bufs: &mut Bufs, out: &mut S) {
        let c = &self.config;
        // Per-token hashes, reused by every word n-gram order.
        let Bufs { hashes: th, seq, .. } = bufs;
        th.clear();
        seq.clear();
        let chars = c.char_ngrams[1] > 0;
        for (i, t) in tokens.iter().enumerate() {
            let key: &str = if t.kind == TokenKind::Url { "<url>" } else { &t.text };
            let h = fnv(NS_WORD, key.as_bytes());
            th.push(h);
            if chars && has_char_ngrams(t) {
                out.expect_word(h);
            }
            if t.kind != TokenKind::HashtagPart {
                // Extra tokens: unigrams only, so they do not break the tweet's n-grams.
                seq.push(i);
            }
        }

        // Word n-grams.
        let start = out.count();
        if c.word_ngrams[1] > 0 {
            for n in c.word_ngrams[0]..=c.word_ngrams[1] {
                if n == 1 {
                    for (t, &h) in tokens.iter().zip(th.iter()) {
                        let idx = self.bucket(if t.negated { h ^ NEG_MARK } else { h });
                        out.push(idx, 1.0, || {
                            let key: &str = if t.kind == TokenKind::Url { "<url>" } else { &t.text };
                            if t.negated { format!("w:{key}_NEG") } else { format!("w:{key}") }
                        });
                    }
                    continue;
                }
                if seq.len() < n {
                    continue;
                }
                for s in 0..=seq.len() - n {
                    let mut h = th[seq[s]];
                    for k in 1..n {
                        h = mix(h, th[seq[s + k]]);
                    }
                    h = mix(h, n as u64);
                    let idx = self.bucket(h);
                    out.push(idx, 1.0, || {
                        let words: Vec<&str> = seq[s..s + n].iter().map(|&i| tokens[i].text.as_str()).collect();
                        format!("w:{}", words.join(" "))
                    });
                }
            }
        }
        normalize_group(out, start, c.word_weight);

        // Char n-grams within word-like tokens.
        let start = out.count();
        let [lo, hi] = c.char_ngrams;
        bufs.lex_entries.clear();
        if hi > 0 {
            let Bufs { chars: buf, bounds, hashes, lex_entries, .. } = bufs;
            for (t, &hash) in tokens.iter().zip(hashes.iter()) {
                let e = if has_char_ngrams(t) {
                    out.word_chars(
                        &t.text,
                        hash,
                        || self.lex_index.entry(hash, &t.text),
                        |out| self.char_ngrams(&t.text, [lo, hi], buf, bounds, out),
                    )
                } else {
                    None
                };
                lex_entries.push(e);
            }
        }
        normalize_group(out, start, c.char_weight);

        // Lexicon polarity: sums per source and sign, flipped inside negation scope. Words with
        // char n-grams had their entry found with them.
        if let Some(lex) = &self.lexicon {
            let start = out.count();
            let m = lex.sources.len();
            let sums = &mut bufs.lex_sums;
            sums.clear();
            sums.resize(m, [0.0; 2]);
            for (i, (t, &h)) in tokens.iter().zip(&bufs.hashes).enumerate().filter(|(_, (t, _))| has_lexicon_lookup(t))
            {
                let entry = match bufs.lex_entries.get(i) {
                    Some(&e) if has_char_ngrams(t) => e,
                    _ => self.lex_index.entry(h, &t.text),
                };
                if let Some(scores) = entry.map(|e| self.lex_index.scores(e)) {
                    for (k, &v) in scores.iter().enumerate() {
                        let v = if t.negated { -v } else { v };
                        if v > 0.0 {
                            sums[k][0] += v;
                        } else if v < 0.0 {
                            sums[k][1] -= v;
                        }
                    }
                }
            }
            for (k, src) in lex.sources.iter().enumerate() {
                for (side, name) in [(0, "pos"), (1, "neg")] {
                    let v = sums[k][side];
                    if v > 0.0 {
                        let idx = self.bucket(mix(fnv(NS_LEX, src.as_bytes()), side as u64));
                        out.push(idx, (1.0 + v).ln(), || format!("lex:{src}:{name}"));
                    }
                }
            }
            // Unit norm would erase the strength of the evidence; only the weight applies.
            out.scale_from(start, c.lexicon_weight);
        }

        // The target as both target groups read it, looked up once.
        let target =
            input.target.filter(|_| c.target_features || c.window > 0).map(|t| target_words(&mut bufs.targets, t));

        // Target-conditioned: does the text name its target, and is that mention negated?
        if c.target_features
            && let Some(target) = target
        {
            let start = out.count();
            let mut hit = false;
            let mut neg = false;
            for t in tokens {
                // Leading '#' and '@' off, on bytes: a char-set pattern costs more per token.
                let body = t.text.as_bytes();
                let body = &body[body.iter().position(|&b| b != b'#' && b != b'@').unwrap_or(body.len())..];
                if target.words().any(|w| contains(body, w)) {
                    hit = true;
                    neg |= t.negated;
                }
            }
            let flag = |name: &str| fnv(NS_TARGET, name.as_bytes());
            let (h, name) = if hit { (flag("mentioned"), "t:mentioned") } else { (flag("absent"), "t:absent") };
            out.push(self.bucket(h), 1.0, || name.to_string());
            if neg {
                out.push(self.bucket(flag("negated")), 1.0, || "t:negated".to_string());
            }
            out.scale_from(start, c.target_weight);
        }

        // Window around the target mention: side-aware words near it, and its lexicon polarity.
        if c.window > 0 && (input.target.is_some() || !input.target_spans.is_empty()) {
            let start = out.count();
            let positions = &mut bufs.mentions;
            positions.clear();
            if let Some(target) = target.filter(|_| input.target_spans.is_empty()) {
                find_mentions(tokens, target.tokens.tokens(), positions);
            } else {
                let in_target = |t: &Token| input.target_spans.iter().any(|s| t.start < s[1] && s[0] < t.end);
                positions.extend((0..tokens.len()).filter(|&i| in_target(&tokens[i])));
            }
            if let (Some(&first), Some(&last)) = (positions.first(), positions.last()) {
                let lo = first.saturating_sub(c.window);
                let hi = (last + c.window + 1).min(tokens.len());
                for (i, t) in tokens.iter().enumerate().take(hi).skip(lo) {
                    if positions.contains(&i) || t.kind == TokenKind::HashtagPart {
                        continue;
                    }
                    let side: u64 = if i < first { 1 } else { 2 };
                    let mut h = mix(fnv(NS_WINDOW, t.text.as_bytes()), side);
                    if t.negated {
                        h ^= NEG_MARK;
                    }
                    out.push(self.bucket(h), 1.0, || format!("win:{}:{}", if side == 1 { "L" } else { "R" }, t.text));
                }
                // The token right after the mention is usually its verb ("X blamed", "X praised").
                if let Some(t) = tokens.get(last + 1) {
                    out.push(self.bucket(mix(fnv(NS_WINDOW, t.text.as_bytes()), 3)), 1.0, || {
                        format!("win:next:{}", t.text)
                    });
                }
                if let Some(t) = first.checked_sub(1).and_then(|i| tokens.get(i)) {
                    out.push(self.bucket(mix(fnv(NS_WINDOW, t.text.as_bytes()), 4)), 1.0, || {
                        format!("win:prev:{}", t.text)
                    });
                }
            }
            normalize_group(out, start, c.window_weight);
        }
    }

    /// Pushes the char n-grams of orders `lo..=hi` of one word, with fastText-style
    /// boundary marks (`<word>`).
    fn char_ngrams<S: Sink>(
        &self,
        word: &str,
        [lo, hi]: [usize; 2],
        buf: &mut Vec<u8>,
        bounds: &mut Vec<usize>,
        out: &mut S,
    ) {
        buf.clear();
        buf.push(b'<');
        buf.extend_from_slice(word.as_bytes());
        buf.push(b'>');
        if word.is_ascii() {
            // One byte per character: an n-gram is a window of bytes, hashed straight from
            // the word with no character bounds to look up.
            for n in lo..=hi.min(buf.len()) {
                for w in buf.windows(n) {
                    out.push(self.bucket(fnv(NS_CHAR, w)), 1.0, || format!("c:{}", String::from_utf8_lossy(w)));
                }
            }
            return;
        }
        bounds.clear();
        bounds.push(0);
        bounds.extend(word.char_indices().map(|(b, _)| 1 + b));
        bounds.push(buf.len() - 1);
        bounds.push(buf.len());
        let nchars = bounds.len() - 1;
        for n in lo..=hi.min(nchars) {
            for s in 0..=nchars - n {
                let piece = &buf[bounds[s]..bounds[s + n]];
                out.push(self.bucket(fnv(NS_CHAR, piece)), 1.0, || format!("c:{}", String::from_utf8_lossy(piece)));
            }
        }
    }
}

/// Pushes the positions in `tokens` of every run of tokens that reads as `target` does,
/// for rows that say what they are about but not where ("score" and "train" rows without
/// `target_spans`, and the server's analyses). Matching tokens rather than characters
/// keeps "he" from being found inside "the", and finds "Trump" in "Trump's" and
/// "Hillary Clinton" in "#HillaryClinton" (through the hashtag's parts).
fn find_mentions(tokens: &[Token], target: &[Token], positions: &mut Vec<usize>) {
    let m = target.len();
    if m == 0 || m > MAX_TARGET_TOKENS {
        return;
    }
    let mut i = 0;
    while i + m <= tokens.len() {
        if tokens[i..i + m].iter().zip(target).all(|(t, w)| t.text == w.text) {
            positions.extend(i..i + m);
            i += m;
        } else {
            i += 1;
        }
    }
}

/// Longest target (in tokens) whose mentions are searched for: no name is longer, and the
/// search takes time in proportion to the row's tokens times the target's.
const MAX_TARGET_TOKENS: usize = 16;

/// Whether `t` gets char n-grams: word-like tokens of sane length.
#[inline]
fn has_char_ngrams(t: &Token) -> bool {
    matches!(t.kind, TokenKind::Word | TokenKind::Hashtag | TokenKind::Mention | TokenKind::HashtagPart)
        && t.text.len() <= 40
}

/// Whether `t` is looked up in the lexicon (and so has its slot prefetched): words and the
/// words of hashtags.
#[inline]
fn has_lexicon_lookup(t: &Token) -> bool {
    matches!(t.kind, TokenKind::Word | TokenKind::HashtagPart)
}

/// Whether `needle` occurs in `hay`: `str::contains` with no searcher to set up, which
/// cost more than the search itself on words of a few bytes (a byte match on UTF-8 is a
/// character match, as no character's bytes start inside another's).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    hay.len() >= needle.len()
        && hay[..=hay.len() - needle.len()]
            .iter()
            .enumerate()
            .any(|(i, &b)| b == first && &hay[i + 1..i + needle.len()] == rest)
}

/// Scales features `start..` to unit L2 norm (counting each entry once) times `weight`.
fn normalize_group<S: Sink>(out: &mut S, start: usize, weight: f32) {
    let n = out.count() - start;
    if n > 0 {
        out.scale_from(start, weight / (n as f32).sqrt());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fz(config: FeaturizerConfig) -> Featurizer {
        Featurizer::new(config, None).unwrap()
    }

    #[test]
    fn same_input_same_features_and_in_range() {
        let f = fz(FeaturizerConfig::default());
        let input =
            Input { text: "Hillary is not good for #America!", target: Some("Hillary Clinton"), target_spans: &[] };
        let (mut a, mut b) = (SparseVec::default(), SparseVec::default());
        f.featurize(&input, &mut a);
        f.featurize(&input, &mut b);
        assert_eq!(a, b);
        assert!(a.indices.iter().all(|&i| (i as usize) < f.dim()));
    }

    #[test]
    fn named_and_fast_paths_agree() {
        let f = fz(FeaturizerConfig::default());
        let spans = [[0usize, 5usize]];
        let input = Input { text: "Trump blamed the press.", target: Some("Trump"), target_spans: &spans };
        let mut fast = SparseVec::default();
        f.featurize(&input, &mut fast);
        let named = f.featurize_named(&input);
        let idx: Vec<u32> = named.features.iter().map(|x| x.0).collect();
        assert_eq!(idx, fast.indices);
        assert!(named.features.iter().any(|x| x.2 == "win:next:blamed"));
        assert!(named.features.iter().any(|x| x.2 == "w:the press"));
        assert!(named.features.iter().any(|x| x.2 == "c:<the>"));
    }

    #[test]
    fn reused_buffers_featurize_like_fresh_ones() {
        let mut lex = Lexicon { sources: vec!["t".into()], entries: HashMap::new() };
        lex.entries.insert("good".into(), vec![1.0]);
        let f = Featurizer::new(FeaturizerConfig::default(), Some(lex)).unwrap();
        let spans = [[0usize, 5usize]];
        let inputs = [
            Input {
                text: "Hillary is not good for #MakeAmericaGreat!",
                target: Some("Hillary Clinton"),
                target_spans: &[],
            },
            Input { text: "Trump blamed the press.", target: Some("Trump"), target_spans: &spans },
            Input { text: "good", target: None, target_spans: &[] },
            Input { text: "Clinton won't win", target: Some("Hillary Clinton"), target_spans: &[] },
        ];
        // More distinct targets than the per-thread cache holds, then the first ones again.
        let many: Vec<String> = (0..TARGET_CACHE + 8).map(|i| format!("Target{i} Clinton")).collect();
        let more = many.iter().chain(&many).map(|t| Input {
            text: "Clinton said target7",
            target: Some(t),
            target_spans: &[],
        });
        let mut v = SparseVec::default();
        for input in inputs.iter().copied().chain(inputs.iter().copied()).chain(more) {
            f.featurize(&input, &mut v);
            let mut fresh = SparseVec::default();
            f.featurize_tokens(&tokenize(input.text), &input, &mut fresh);
            assert_eq!(v, fresh, "{} / {:?}", input.text, input.target);
        }
    }

    #[test]
    fn rows_without_spans_have_their_target_mentions_found_by_tokens() {
        let f = fz(FeaturizerConfig { window: 2, ..Default::default() });
        let window = |text: &str, target: &str, spans: &[[usize; 2]]| -> Vec<String> {
            let named = f.featurize_named(&Input { text, target: Some(target), target_spans: spans });
            named.features.into_iter().map(|x| x.2).filter(|n| n.starts_with("win:")).collect()
        };
        // The same windows as the spans of the mention give.
        let text = "Yesterday Trump's aides blamed the press";
        assert_eq!(window(text, "Trump", &[]), window(text, "Trump", &[[10, 15]]));
        assert_eq!(
            window(text, "trump", &[]),
            ["win:L:yesterday", "win:R:'s", "win:R:aides", "win:next:'s", "win:prev:yesterday"]
        );
        let accents = "Élan said ÉLAN and élan.";
        let found = window(accents, "élan", &[]);
        assert_eq!(found, window(accents, "élan", &[[0, 4], [10, 14], [19, 23]]));
        assert_eq!(found, ["win:R:said", "win:R:and", "win:R:.", "win:next:."]);
        // Whole tokens only: "he" is not in "the" or "hence"; a hashtag's parts count.
        assert_eq!(window("the hence", "He", &[]), Vec::<String>::new());
        assert_eq!(window("so he left", "He", &[]), window("so he left", "He", &[[3, 5]]));
        let tagged = window("go #HillaryClinton now", "Hillary Clinton", &[]);
        assert!(tagged.contains(&"win:R:now".to_string()), "{tagged:?}");
        // Every mention widens the window; no target and no spans, no window.
        assert_eq!(window("a b x c d e f g x h", "x", &[]), window("a b x c d e f g x h", "x", &[[4, 5], [16, 17]]));
        let none = f.featurize_named(&Input { text: "Trump spoke", target: None, target_spans: &[] });
        assert!(none.features.iter().all(|x| !x.2.starts_with("win:")));
        // A target too long to be a name is not searched for.
        let long = "w ".repeat(MAX_TARGET_TOKENS + 1);
        assert_eq!(window(&long, &long, &[]), Vec::<String>::new());
    }

    #[test]
    fn char_ngrams_hash_the_bytes_of_ascii_and_other_words_alike() {
        let f = fz(FeaturizerConfig { word_ngrams: [0, 0], target_features: false, ..Default::default() });
        for text in ["hello", "héllo", "ab"] {
            let named = f.featurize_named(&Input { text, ..Default::default() });
            let chars: Vec<_> = named.features.iter().filter(|x| x.2.starts_with("c:")).collect();
            let n = text.chars().count() + 2;
            assert_eq!(chars.len(), (2..=5).filter(|k| *k <= n).map(|k| n - k + 1).sum::<usize>(), "{text}");
            for (index, _, name) in chars {
                assert_eq!(*index, f.bucket(fnv(NS_CHAR, &name.as_bytes()["c:".len()..])), "{name}");
            }
        }
    }

    #[test]
    fn byte_contains_agrees_with_str_contains() {
        let hay = ["", "a", "clinton", "hillaryclinton", "naïve", "ïv", "aaab"];
        for h in hay {
            for n in hay.iter().chain(&["ab", "aab", "ton", "ïve", "e"]) {
                assert_eq!(contains(h.as_bytes(), n.as_bytes()), h.contains(n), "{h:?} {n:?}");
            }
        }
    }

    #[test]
    fn groups_are_unit_normalised() {
        let cfg = FeaturizerConfig { char_ngrams: [0, 0], target_features: false, window: 0, ..Default::default() };
        let f = fz(cfg);
        let mut v = SparseVec::default();
        f.featurize(&Input { text: "a b c", ..Default::default() }, &mut v);
        // 3 unigrams + 2 bigrams + 1 trigram, each 1/sqrt(6).
        assert_eq!(v.values.len(), 6);
        let norm: f32 = v.values.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn negation_changes_unigram_column() {
        let cfg = FeaturizerConfig { word_ngrams: [1, 1], char_ngrams: [0, 0], ..Default::default() };
        let f = fz(cfg);
        let named = f.featurize_named(&Input { text: "not good", ..Default::default() });
        let names: Vec<&str> = named.features.iter().map(|x| x.2.as_str()).collect();
        assert_eq!(names, ["w:not", "w:good_NEG"]);
    }

    #[test]
    fn bad_config_is_refused() {
        let cfg = FeaturizerConfig { hash_bits: 40, ..Default::default() };
        assert!(matches!(Featurizer::new(cfg, None), Err(Error::InvalidParam { name: "hash_bits", .. })));
        let cfg = FeaturizerConfig { word_ngrams: [3, 1], ..Default::default() };
        assert!(Featurizer::new(cfg, None).is_err());
    }

    #[test]
    fn lexicon_features_flip_under_negation() {
        let mut lex = Lexicon { sources: vec!["t".into()], entries: HashMap::new() };
        lex.entries.insert("good".into(), vec![1.0]);
        let cfg =
            FeaturizerConfig { word_ngrams: [0, 0], char_ngrams: [0, 0], target_features: false, ..Default::default() };
        let f = Featurizer::new(cfg, Some(lex)).unwrap();
        let pos = f.featurize_named(&Input { text: "good", ..Default::default() });
        let neg = f.featurize_named(&Input { text: "not good", ..Default::default() });
        assert_eq!(pos.features[0].2, "lex:t:pos");
        assert_eq!(neg.features[0].2, "lex:t:neg");
    }

    #[test]
    fn every_lexicon_entry_is_found_by_its_word_hash_and_nothing_else_is() {
        let mut lex = Lexicon { sources: vec!["a".into(), "b".into()], entries: HashMap::new() };
        for i in 0..3000 {
            lex.entries.insert(format!("w{i}"), vec![i as f32, -(i as f32)]);
        }
        let ix = LexIndex::new(&lex).unwrap();
        let get = |w: &str| ix.entry(fnv(NS_WORD, w.as_bytes()), w).map(|e| ix.scores(e));
        for i in 0..3000 {
            assert_eq!(get(&format!("w{i}")), Some(&[i as f32, -(i as f32)][..]));
            assert_eq!(get(&format!("x{i}")), None);
        }
        // The right hash for another word must not find an entry: words are compared too.
        assert_eq!(ix.entry(fnv(NS_WORD, b"w7"), "w8"), None);
        assert_eq!(LexIndex::default().entry(fnv(NS_WORD, b"w7"), "w7"), None);
        let empty = Lexicon { sources: vec!["a".into()], entries: HashMap::new() };
        assert_eq!(LexIndex::new(&empty).unwrap().entry(fnv(NS_WORD, b"w7"), "w7"), None);
        // An entry number from elsewhere has no scores here.
        assert_eq!(ix.scores(3000), &[] as &[f32]);
    }
}
