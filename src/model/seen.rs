//! Which texts a model was trained on, as a Bloom filter stored in its file.
//!
//! Why: `train --compare ... --promote` also scores the current model as it is on the new
//! rows. On rows it was trained on that figure flatters it, and an analyst's retraining
//! data often holds the shipped rows again (reordered, relabelled, with more added), so
//! the figure could only warn. With the filter, the comparison keeps the rows the current
//! model never saw, where its figure is honest, and promotion can go by it.
//!
//! A Bloom filter never says "not seen" of a text that was seen, and says "seen" of about
//! one unseen text in a hundred at 10 bits a text (those rows are left out of the
//! comparison too: a little less data, never a flattered model). 2,914 rows take 4 KB.
//! It can tell whether a given text was in the training data, not list the texts.

use crate::error::{Error, Result};
use crate::features::{fmix, fnv};

/// Bits per text and hash functions: 10 and 7 give about 0.8% false "seen".
const BITS_PER_TEXT: usize = 10;
pub const HASHES: u32 = 7;
/// Fewest bits, so that tiny training sets do not get a filter that is mostly ones.
const MIN_BITS: usize = 1 << 10;
/// Seed of the text hash, apart from the featurizer's namespaces.
const SEED: u64 = 0x5ee7_7e87_5ee7_7e87;

/// A Bloom filter of training texts (trimmed, as the training rows had them).
#[derive(Debug, Clone, PartialEq)]
pub struct SeenTexts {
    /// A power of two of bits, so that an index is a mask.
    words: Vec<u64>,
    hashes: u32,
}

impl SeenTexts {
    /// An empty filter sized for `texts` texts.
    pub fn for_texts(texts: usize) -> Self {
        let bits = texts.saturating_mul(BITS_PER_TEXT).max(MIN_BITS).next_power_of_two();
        SeenTexts { words: vec![0; bits / 64], hashes: HASHES }
    }

    /// Rebuilds a filter from its stored bytes (little-endian 64-bit words).
    pub fn from_bytes(bytes: &[u8], hashes: u32) -> Result<Self> {
        let bad = |m: String| Err(Error::Data(format!("seen-texts filter: {m}")));
        if bytes.len() < 8 || !bytes.len().is_power_of_two() {
            return bad(format!("{} bytes, not a power of two of 8 or more", bytes.len()));
        }
        if !(1..=32).contains(&hashes) {
            return bad(format!("{hashes} hash functions, outside 1..=32"));
        }
        let words = bytes.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes"))).collect();
        Ok(SeenTexts { words, hashes })
    }

    /// The stored form: little-endian 64-bit words.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Hash functions per text.
    pub fn hashes(&self) -> u32 {
        self.hashes
    }

    pub fn insert(&mut self, text: &str) {
        let mask = self.words.len() * 64 - 1;
        for i in indices(text, self.hashes) {
            let i = i & mask;
            self.words[i / 64] |= 1 << (i % 64);
        }
    }

    /// False only for a text that was never inserted.
    pub fn contains(&self, text: &str) -> bool {
        let mask = self.words.len() * 64 - 1;
        indices(text, self.hashes).all(|i| {
            let i = i & mask;
            self.words[i / 64] & (1 << (i % 64)) != 0
        })
    }
}

/// Double hashing: the `hashes` bit indices of a text, from two 64-bit hashes.
fn indices(text: &str, hashes: u32) -> impl Iterator<Item = usize> {
    let a = fmix(fnv(SEED, text.trim().as_bytes()));
    let b = fmix(a ^ SEED) | 1;
    (0..hashes as u64).map(move |i| a.wrapping_add(i.wrapping_mul(b)) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_texts_are_always_found_and_unseen_ones_rarely() {
        let mut f = SeenTexts::for_texts(5_000);
        for i in 0..5_000 {
            f.insert(&format!("training text {i}"));
        }
        assert!((0..5_000).all(|i| f.contains(&format!("training text {i}"))));
        // Surrounding whitespace does not make a text another.
        assert!(f.contains("  training text 7\n"));
        let false_seen = (0..100_000).filter(|i| f.contains(&format!("new text {i}"))).count();
        // 10 bits a text, rounded up to a power of two: well under 1%.
        assert!(false_seen < 1_000, "{false_seen}");
        let back = SeenTexts::from_bytes(&f.to_bytes(), f.hashes()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn a_bad_stored_filter_is_refused_by_name() {
        let err = SeenTexts::from_bytes(&[0; 12], HASHES).unwrap_err().to_string();
        assert!(err.contains("seen-texts filter: 12 bytes"), "{err}");
        assert!(SeenTexts::from_bytes(&[0; 16], 0).is_err());
    }
}
