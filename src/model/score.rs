//! Scoring a row straight from the featurizer, with no feature vector in between.
//!
//! Two things make it fast. Weight lookups are pipelined (see [`ScoreSink`]). And a word's
//! char n-grams are always the same, so what they add to a head's scores is remembered per
//! word: a frequent word costs one cache probe instead of a dozen n-gram hashes and
//! lookups. Char n-grams are two thirds of a row's features.

use std::cell::RefCell;

use super::WeightTable;
use crate::features::{Sink, prefetch};
use crate::train::MAX_CLASSES;

/// Scores features as the featurizer makes them: a group's features all get the same scale,
/// so its weight rows are summed first and the sum is scaled once when the featurizer closes
/// the group.
///
/// Lookups are pipelined: a feature's bitmap word is prefetched when it arrives, its row
/// is located and prefetched [`LAG`] features later, and added [`LAG`] features after that,
/// so memory latency overlaps with featurizing instead of stalling each lookup. Rows are
/// still added in arrival order, so the sums do not depend on the pipeline.
pub(super) struct ScoreSink<'a> {
    table: &'a WeightTable,
    /// Scores of the closed groups, and the unscaled sum of the open one.
    total: [f32; MAX_CLASSES],
    group: [f32; MAX_CLASSES],
    ring: [Pending; RING],
    /// Features pushed, located and added so far.
    pushed: usize,
    located: usize,
    added: usize,
    /// This thread's word sums (all tables share the slots); `None` when rows are too wide
    /// to cache.
    words: Option<&'a mut [WordSet]>,
    /// The word whose char n-grams are being summed, if any, and the features summed
    /// outside the ring.
    word: Option<WordSum>,
    extra: usize,
}

const LAG: usize = 8;
const RING: usize = 32;
const NO_ROW: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Pending {
    bucket: u32,
    value: f32,
    row: u32,
}

/// Longest word (in bytes) and widest row (in labels) whose sums are cached; longer words
/// are rare and simply not remembered.
const WORD_BYTES: usize = 16;
const WORD_K: usize = 3;
/// Cache slots per thread, shared by all tables: a (table, word) pair goes to one slot by
/// its hash, and a slot keeps [`WAYS`] words most recently used first, a newcomer evicting
/// the least recently used. 4 MB a thread, and no allocation after the first row, however many
/// heads take turns. Measured on the peer corpus: with one word a slot (2^16 slots, 2.5 MB)
/// a tenth of scoring time went to summing the n-grams of words evicted by a rarer word
/// sharing their slot; with three, 2.4%.
const SLOT_BITS: u32 = 15;
const SLOTS: usize = 1 << SLOT_BITS;
const WAYS: usize = 3;

/// The words of one slot, in two cache lines (what [`Sink::expect_word`] prefetches).
#[derive(Clone, Copy, Default)]
#[repr(C, align(128))]
struct WordSet {
    ways: [WordSum; WAYS],
}

/// One word under one table: how many char n-grams it has and their summed rows, and its
/// lexicon entry.
#[derive(Clone, Copy, Default)]
struct WordSum {
    /// The table's id (never 0, so 0 marks an empty slot).
    table: u64,
    /// The word as [`word_key`] packs it, and its length.
    key: (u64, u64),
    len: u8,
    /// At most 8 n-gram orders over 18 characters (the word and its marks): no overflow.
    count: u8,
    /// The lexicon entry + 1, 0 for none, or [`LEX_ASK`] for an entry too large to keep here
    /// (lexicons of 65,534 words or more), which is then looked up each time.
    lex: u16,
    sum: [f32; WORD_K],
}

const LEX_ASK: u16 = u16::MAX;

thread_local! {
    static WORD_SUMS: RefCell<Box<[WordSet]>> = RefCell::new(Box::default());
}

/// Runs `f` with a sink for `table`, which uses (and fills) this thread's word sums.
pub(super) fn with_sink<R>(table: &WeightTable, f: impl FnOnce(&mut ScoreSink<'_>) -> R) -> R {
    if table.k() > WORD_K {
        return f(&mut ScoreSink::new(table, None));
    }
    WORD_SUMS.with(|cell| {
        let mut slots = cell.borrow_mut();
        if slots.is_empty() {
            *slots = vec![WordSet::default(); SLOTS].into_boxed_slice();
        }
        f(&mut ScoreSink::new(table, Some(&mut slots)))
    })
}

impl<'a> ScoreSink<'a> {
    fn new(table: &'a WeightTable, words: Option<&'a mut [WordSet]>) -> Self {
        ScoreSink {
            table,
            total: [0.0; MAX_CLASSES],
            group: [0.0; MAX_CLASSES],
            ring: [Pending { bucket: 0, value: 0.0, row: NO_ROW }; RING],
            pushed: 0,
            located: 0,
            added: 0,
            words,
            word: None,
            extra: 0,
        }
    }

    #[inline]
    fn locate_next(&mut self) {
        let e = &mut self.ring[self.located % RING];
        e.row = self.table.locate(e.bucket).unwrap_or(NO_ROW);
        if e.row != NO_ROW {
            self.table.prefetch_row(e.row);
        }
        self.located += 1;
    }

    #[inline]
    fn add_next(&mut self) {
        let e = self.ring[self.added % RING];
        if e.row != NO_ROW {
            add_row(&mut self.group, e.value, self.table.row_at(e.row));
        }
        self.added += 1;
    }

    /// Writes bias plus the scores into `z`.
    pub(super) fn finish(&mut self, bias: &[f32], z: &mut [f32]) {
        self.scale_from(0, 1.0);
        for ((zc, b), t) in z.iter_mut().zip(bias).zip(&self.total) {
            *zc = b + t;
        }
    }
}

#[inline]
fn add_row(acc: &mut [f32], value: f32, row: &[f32]) {
    match *row {
        // Three labels (both shipped tasks): unrolled, no loop over the row.
        [a, b, c] => {
            acc[0] += value * a;
            acc[1] += value * b;
            acc[2] += value * c;
        }
        _ => {
            for (g, w) in acc.iter_mut().zip(row) {
                *g += value * w;
            }
        }
    }
}

/// Slot of a word (from the featurizer's hash of it) under a table: the high bits of a
/// product, so that one word under two tables lands in unrelated slots.
#[inline]
fn slot(table: u64, hash: u64) -> usize {
    ((hash ^ table.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xff51_afd7_ed55_8ccd) >> (64 - SLOT_BITS))
        as usize
}

/// Packs a word of 1..=16 bytes into two integers that, with its length, tell it apart from
/// every other word: two overlapping loads instead of a byte-by-byte comparison (a call to
/// `memcmp` for every word of every row). The pieces cover every byte: the first and last 8
/// of 8..=16 bytes, the first and last 4 of 4..=7, bytes 0, n/2 and n-1 of 1..=3.
#[inline]
fn word_key(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    let at8 = |i: usize| b[i..i + 8].try_into().map_or(0, u64::from_le_bytes);
    let at4 = |i: usize| b[i..i + 4].try_into().map_or(0, u32::from_le_bytes) as u64;
    match n {
        8.. => (at8(0), at8(n - 8)),
        4..8 => (at4(0) | at4(n - 4) << 32, 0),
        1..4 => (b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16, 0),
        0 => (0, 0),
    }
}

impl Sink for ScoreSink<'_> {
    const NAMED: bool = false;
    #[inline]
    fn push(&mut self, bucket: u32, value: f32, _name: impl FnOnce() -> String) {
        if let Some(w) = &mut self.word {
            // A word being remembered: summed on its own, looked up at once (a cache miss
            // is rare enough not to need the pipeline).
            if let Some(row) = self.table.row(bucket) {
                add_row(&mut w.sum, value, row);
            }
            w.count += 1;
            return;
        }
        self.ring[self.pushed % RING] = Pending { bucket, value, row: NO_ROW };
        self.table.prefetch_block(bucket);
        self.pushed += 1;
        if self.pushed - self.located > LAG {
            self.locate_next();
        }
        if self.located - self.added > LAG {
            self.add_next();
        }
    }
    fn count(&self) -> usize {
        self.pushed + self.extra
    }
    /// The featurizer scales each group once, right after making it (`from` is the group's
    /// start), so the open sum is exactly the features `from..`.
    fn scale_from(&mut self, _from: usize, factor: f32) {
        while self.located < self.pushed {
            self.locate_next();
        }
        while self.added < self.pushed {
            self.add_next();
        }
        let k = self.table.k();
        for (t, g) in self.total[..k].iter_mut().zip(&mut self.group[..k]) {
            *t += factor * *g;
            *g = 0.0;
        }
    }
    #[inline]
    fn expect_word(&mut self, hash: u64) {
        if let Some(words) = self.words.as_deref() {
            let set = &words[slot(self.table.id(), hash)];
            prefetch(set);
            prefetch(&set.ways[WAYS - 1]);
        }
    }
    /// Adds the word's remembered sum, or sums its n-grams and remembers them (and its
    /// lexicon entry). Either way the same sum is added at the same point and the same entry
    /// returned, so a row scores the same whatever the cache holds.
    #[inline]
    fn word_chars(
        &mut self,
        word: &str,
        hash: u64,
        lex: impl FnOnce() -> Option<u32>,
        make: impl FnOnce(&mut Self),
    ) -> Option<u32> {
        let bytes = word.as_bytes();
        if self.words.is_none() || bytes.is_empty() || bytes.len() > WORD_BYTES || self.word.is_some() {
            make(self);
            return lex();
        }
        let tag = self.table.id();
        let at = slot(tag, hash);
        let k = self.table.k();
        let key = word_key(bytes);
        let found = self.words.as_deref_mut().and_then(|words| {
            let ways = &mut words[at].ways;
            let i = ways.iter().position(|s| s.table == tag && s.key == key && s.len as usize == bytes.len())?;
            ways[..=i].rotate_right(1);
            Some(ways[0])
        });
        let (w, entry) = match found {
            Some(w) => {
                let entry = match w.lex {
                    0 => None,
                    LEX_ASK => lex(),
                    e => Some(e as u32 - 1),
                };
                (w, entry)
            }
            None => {
                let entry = lex();
                let lex = entry.map_or(0, |e| u16::try_from(e + 1).ok().filter(|&e| e != LEX_ASK).unwrap_or(LEX_ASK));
                self.word = Some(WordSum { table: tag, key, len: bytes.len() as u8, lex, ..WordSum::default() });
                make(self);
                let w = self.word.take().expect("set above");
                if let Some(words) = self.words.as_deref_mut() {
                    let ways = &mut words[at].ways;
                    ways.copy_within(..WAYS - 1, 1);
                    ways[0] = w;
                }
                (w, entry)
            }
        };
        for (g, s) in self.group[..k].iter_mut().zip(&w.sum) {
            *g += s;
        }
        self.extra += w.count as usize;
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Featurizer, FeaturizerConfig, Input, Lexicon, SparseVec};

    fn table(seed: u32) -> WeightTable {
        // Every fourth bucket empty, the rest pseudo-random weights.
        let dense: Vec<f32> = (0..4096u32 * 3)
            .map(|i| {
                if (i / 3) % 4 == 0 {
                    0.0
                } else {
                    ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0
                }
            })
            .collect();
        WeightTable::from_dense(&dense, 3)
    }

    fn score(f: &Featurizer, t: &WeightTable, text: &str) -> [f32; 3] {
        let mut z = [0f32; 3];
        let input = Input { text, target: Some("climate change"), target_spans: &[] };
        with_sink(t, |sink| {
            f.featurize_into(&input, sink);
            sink.finish(&[0.1, 0.2, 0.3], &mut z);
        });
        z
    }

    #[test]
    fn remembered_words_score_the_same_as_featurized_ones_whatever_the_cache_holds() {
        let f = Featurizer::new(FeaturizerConfig { hash_bits: 12, ..FeaturizerConfig::default() }, None).unwrap();
        let (a, b) = (table(1), table(2));
        let texts = [
            "Climate change is real, and the climate is changing fast",
            "not the same the same THE SAME #ClimateChange @someone",
            "naïve café résumé: ünïcödé wörds and a verylongwordthatisnotcached",
            "x",
            "",
        ];
        // Each thread has its own cache: this one's is empty.
        let fresh_b: Vec<[f32; 3]> =
            std::thread::scope(|s| s.spawn(|| texts.iter().map(|t| score(&f, &b, t)).collect()).join().unwrap());
        let cold: Vec<[f32; 3]> = texts.iter().map(|t| score(&f, &a, t)).collect();
        // Warm cache, another table's sums in between, and then nearly every slot overwritten
        // by other words, under the other table and under this one.
        let warm: Vec<[f32; 3]> = texts.iter().map(|t| score(&f, &a, t)).collect();
        let other: Vec<[f32; 3]> = texts.iter().map(|t| score(&f, &b, t)).collect();
        let many: String = (0..100_000).map(|i| format!("w{i} ")).collect();
        score(&f, &b, &many);
        score(&f, &a, &many);
        let evicted: Vec<[f32; 3]> = texts.iter().map(|t| score(&f, &a, t)).collect();
        assert_eq!(cold, warm);
        assert_eq!(cold, evicted);
        assert_eq!(other, fresh_b, "the two tables must not share sums");
        // And each agrees with scoring the explicit feature vector.
        for (text, got) in texts.iter().zip(&cold) {
            let want = score_explicit(&f, &a, text);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{text:?}: {got:?} vs {want:?}");
            }
        }
    }

    /// Scores `text` from its explicit feature vector, with no cache in the way.
    fn score_explicit(f: &Featurizer, t: &WeightTable, text: &str) -> [f32; 3] {
        let mut v = SparseVec::default();
        f.featurize(&Input { text, target: Some("climate change"), target_spans: &[] }, &mut v);
        let mut want = [0.1f32, 0.2, 0.3];
        for (&i, &x) in v.indices.iter().zip(&v.values) {
            if let Some(row) = t.row(i) {
                add_row(&mut want, x, row);
            }
        }
        want
    }

    #[test]
    fn remembered_lexicon_entries_are_each_words_own_however_large_the_lexicon() {
        // 70,000 entries: those numbered 65,534 and up (about one in sixteen, so some of the
        // 300 spread words) do not fit beside a remembered word's sums and are looked up each
        // time; "fast" and "real" are entries like any other.
        let mut lex = Lexicon { sources: vec!["a".into(), "b".into()], entries: Default::default() };
        for i in 0..70_000 {
            lex.entries.insert(format!("w{i}"), vec![(i % 7) as f32 / 7.0 - 0.4, (i % 3) as f32 - 1.0]);
        }
        lex.entries.insert("fast".into(), vec![0.5, 0.25]);
        lex.entries.insert("real".into(), vec![-0.75, 0.0]);
        let f = Featurizer::new(FeaturizerConfig { hash_bits: 12, ..FeaturizerConfig::default() }, Some(lex)).unwrap();
        let (a, b) = (table(5), table(6));
        let spread: String = (0..300).map(|i| format!("w{} ", i * 233)).collect();
        let texts = ["climate change is real and fast", "it is not real , not fast", &spread];
        let every: String = (0..70_000).map(|i| format!("w{i} ")).collect();
        // Cold, then with every word remembered under `a` (and half of them evicted by `b`).
        for pass in 0..2 {
            for text in texts {
                for t in [&a, &b] {
                    let (got, want) = (score(&f, t, text), score_explicit(&f, t, text));
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "pass {pass}, {text:.40}: {got:?} vs {want:?}");
                    }
                }
            }
            let (cold, warm) = (score(&f, &a, &every), score(&f, &a, &every));
            assert_eq!(cold, warm);
            score(&f, &b, &every[..every.len() / 2]);
        }
    }

    #[test]
    fn word_keys_see_every_byte() {
        assert_eq!(std::mem::size_of::<WordSum>(), 40);
        assert_eq!(std::mem::size_of::<WordSet>(), 128);
        let base = b"abcdefghijklmnop";
        for n in 1..=WORD_BYTES {
            let word = &base[..n];
            for i in 0..n {
                let mut other = word.to_vec();
                other[i] = b'z';
                assert_ne!(word_key(word), word_key(&other), "{n} bytes, byte {i}");
            }
        }
    }

    #[test]
    fn a_table_never_gets_the_sums_of_another() {
        let f = Featurizer::new(FeaturizerConfig { hash_bits: 12, ..FeaturizerConfig::default() }, None).unwrap();
        let a = table(3);
        let text: String = (0..1000).map(|i| format!("word{i} ")).collect();
        score(&f, &a, &text);
        // Empty tables score only their bias. With 1000 words remembered under `a`, these
        // tables put words in slots `a` filled (3% of their words), which must not match.
        for _ in 0..1000 {
            let empty = WeightTable::from_rows(4096, 3, []).unwrap();
            let z = score(&f, &empty, &text);
            assert_eq!(z, [0.1, 0.2, 0.3]);
        }
    }
}
