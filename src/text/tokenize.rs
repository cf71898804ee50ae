//! Tokenizer for tweets and news sentences, with code-point spans into the input.

use super::normalize::{Normalized, normalize_into};

/// What a token is; features treat kinds differently (a URL is one feature, not n-grams).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Word,
    Number,
    Url,
    Mention,
    Hashtag,
    /// A word split out of a camel-case hashtag (`#StopHillary` -> `stop`, `hillary`); it
    /// shares the hashtag's span and is an extra token, so n-grams over the tweet still see
    /// the hashtag itself.
    HashtagPart,
    Punct,
    /// Any other single non-space character (emoji, symbols).
    Symbol,
}

/// One token: lower-cased text, kind, span and whether it lies in a negation scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Lower-cased, normalised text.
    pub text: String,
    pub kind: TokenKind,
    /// Code-point offset of the first character in the input.
    pub start: usize,
    /// Code-point offset one past the last character in the input.
    pub end: usize,
    /// True for tokens after a negator ("not", "never", "no", "n't", ...) up to the next
    /// clause punctuation: "not good" must not look like "good".
    pub negated: bool,
}

/// Negators ("n't" is split off by the tokenizer). A `match` compiles to a length switch;
/// this runs for every word of every row.
fn is_negator(t: &str) -> bool {
    matches!(
        t,
        "not"
            | "no"
            | "never"
            | "n't"
            | "cannot"
            | "nobody"
            | "nothing"
            | "none"
            | "neither"
            | "nor"
            | "nowhere"
            | "without"
            | "noone"
    )
}

fn ends_negation(t: &Token) -> bool {
    t.kind == TokenKind::Punct
        && matches!(t.text.as_bytes().first(), Some(b'.' | b',' | b';' | b':' | b'!' | b'?' | b'"' | b'(' | b')'))
}

/// Suffixes split off as their own tokens, Penn-Treebank style ("don't" -> "do" "n't").
const CLITICS: &[&str] = &["'s", "'re", "'ve", "'ll", "'d", "'m"];

/// Tokenizes `text`. Never panics; every span slices the input (in code points).
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut buf = TokenBuf::default();
    buf.tokenize(text);
    buf.slots.toks.truncate(buf.slots.len);
    buf.slots.toks
}

/// Tokenizes text that has already been normalised (lets callers that need the normalised
/// form too, such as quotation extraction, normalise once).
pub fn tokenize_normalized(norm: &Normalized) -> Vec<Token> {
    let mut out = Slots { toks: Vec::with_capacity(norm.chars.len() / 4 + 1), len: 0 };
    fill_normalized(norm, &mut out);
    out.toks.truncate(out.len);
    out.toks
}

/// Reusable tokenizer state: tokenizing into it again reuses its buffers and token strings,
/// so featurizing millions of rows does not allocate per row or per token.
#[derive(Debug, Default)]
pub struct TokenBuf {
    norm: Normalized,
    /// ASCII text with its one fold ('`' to '\'') applied, when it has one.
    ascii: Vec<u8>,
    slots: Slots,
}

impl TokenBuf {
    /// Tokenizes `text` exactly as [`tokenize_normalized`] would after
    /// [`normalize`](super::normalize()), and returns the tokens.
    ///
    /// ASCII text (most rows) is tokenized on its bytes: one byte is one code point, so
    /// spans need no map back to the input, and of the normalisation only '`' -> '\''
    /// changes a token (the tokenizer skips any run of spaces, folded or not). That skips
    /// building a `char` and an offset per byte (6.5% of scoring time).
    pub fn tokenize(&mut self, text: &str) -> &[Token] {
        self.slots.len = 0;
        if text.is_ascii() {
            let mut bytes = text.as_bytes();
            if bytes.contains(&b'`') {
                self.ascii.clear();
                self.ascii.extend(bytes.iter().map(|&b| if b == b'`' { b'\'' } else { b }));
                bytes = &self.ascii;
            }
            fill(bytes, &|a, b| (a, b), &mut self.slots);
        } else {
            normalize_into(text, &mut self.norm);
            fill_normalized(&self.norm, &mut self.slots);
        }
        self.tokens()
    }

    /// The tokens of the text last tokenized.
    pub fn tokens(&self) -> &[Token] {
        &self.slots.toks[..self.slots.len]
    }
}

/// Token storage whose entries past `len` are kept for reuse.
#[derive(Debug, Default)]
struct Slots {
    toks: Vec<Token>,
    len: usize,
}

impl Slots {
    /// The next token, its fields set and its text emptied for the caller to write.
    fn next(&mut self, kind: TokenKind, (start, end): (usize, usize)) -> &mut String {
        if self.len == self.toks.len() {
            self.toks.push(Token { text: String::new(), kind, start, end, negated: false });
        }
        let t = &mut self.toks[self.len];
        self.len += 1;
        *t = Token { text: std::mem::take(&mut t.text), kind, start, end, negated: false };
        t.text.clear();
        &mut t.text
    }
}

/// One unit of the text the tokenizer walks: a `char` of normalised text, or a byte of
/// ASCII text. The rules are written once, over `char`s; a byte is the `char` it encodes.
trait Unit: Copy + PartialEq {
    fn ch(self) -> char;
    /// The character classes the scan loops test on every unit: `char`'s Unicode tests,
    /// or one table load for a byte (the `char` tests would also weigh the Unicode ranges
    /// a byte can never reach).
    fn is_space(self) -> bool;
    fn is_word(self) -> bool;
    fn is_alpha(self) -> bool;
    /// Appends `units` to `out`, lower-cased or as they are.
    fn push_lower(out: &mut String, units: &[Self]);
    fn push_all(out: &mut String, units: &[Self]);
}

impl Unit for char {
    #[inline]
    fn ch(self) -> char {
        self
    }
    #[inline]
    fn is_space(self) -> bool {
        self.is_whitespace()
    }
    #[inline]
    fn is_word(self) -> bool {
        is_word_char(self)
    }
    #[inline]
    fn is_alpha(self) -> bool {
        self.is_alphabetic()
    }
    fn push_lower(out: &mut String, chars: &[char]) {
        for &c in chars {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        }
    }
    fn push_all(out: &mut String, chars: &[char]) {
        out.extend(chars);
    }
}

/// Only ever given ASCII bytes ([`TokenBuf::tokenize`] checks).
impl Unit for u8 {
    #[inline]
    fn ch(self) -> char {
        self as char
    }
    #[inline]
    fn is_space(self) -> bool {
        ASCII_CLASS[self as usize] & SPACE != 0
    }
    #[inline]
    fn is_word(self) -> bool {
        ASCII_CLASS[self as usize] & WORD != 0
    }
    #[inline]
    fn is_alpha(self) -> bool {
        ASCII_CLASS[self as usize] & ALPHA != 0
    }
    #[inline]
    fn push_lower(out: &mut String, bytes: &[u8]) {
        let from = out.len();
        Self::push_all(out, bytes);
        out[from..].make_ascii_lowercase();
    }
    #[inline]
    fn push_all(out: &mut String, bytes: &[u8]) {
        out.extend(bytes.iter().map(|&b| b as char));
    }
}

const SPACE: u8 = 1;
const WORD: u8 = 2;
const ALPHA: u8 = 4;

/// [`Unit`]'s classes of each ASCII byte, as the `char` tests give them (a unit test checks
/// all 128); bytes from 0x80 up never reach the byte path.
static ASCII_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        let space = c == b' ' || matches!(c, 0x09..=0x0d);
        let word = c.is_ascii_alphanumeric() || c == b'_';
        t[b] = (space as u8 * SPACE) | (word as u8 * WORD) | (c.is_ascii_alphabetic() as u8 * ALPHA);
        b += 1;
    }
    t
};

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Tokenizes `norm` into `out`, which must be empty (`len == 0`).
fn fill_normalized(norm: &Normalized, out: &mut Slots) {
    let n = norm.chars.len();
    let span = |a: usize, b: usize| -> (usize, usize) {
        // `b` is exclusive in normalised chars; map back to input code points.
        let start = norm.origin[a];
        let end = if b < n { norm.origin[b].max(start + 1) } else { norm.input_len };
        (start, end.max(start + 1).min(norm.input_len.max(start + 1)))
    };
    fill(&norm.chars, &span, out);
}

/// Tokenizes `chars` into `out`, which must be empty (`len == 0`); `span` maps a range of
/// `chars` to input code points.
fn fill<U: Unit>(chars: &[U], span: &impl Fn(usize, usize) -> (usize, usize), out: &mut Slots) {
    let n = chars.len();
    let at = |k: usize| chars[k].ch();
    let lower =
        |out: &mut Slots, a: usize, b: usize, kind: TokenKind| U::push_lower(out.next(kind, span(a, b)), &chars[a..b]);

    let mut i = 0;
    // Negation is marked as tokens come, while they are in the first-level cache.
    let (mut marked, mut in_scope) = (0, false);
    while i < n {
        mark_negation(&mut out.toks[marked..out.len], &mut in_scope);
        marked = out.len;
        let c = at(i);
        if chars[i].is_space() {
            i += 1;
            continue;
        }
        // URLs: scheme or www. up to whitespace, minus trailing punctuation.
        if matches!(c, 'h' | 'H' | 'w' | 'W')
            && (starts_with_ci(chars, i, "http://")
                || starts_with_ci(chars, i, "https://")
                || starts_with_ci(chars, i, "www."))
        {
            let mut j = i;
            while j < n && !chars[j].is_space() {
                j += 1;
            }
            while j > i + 4 && matches!(at(j - 1), '.' | ',' | ')' | '!' | '?' | '"' | '\'' | ';' | ':') {
                j -= 1;
            }
            lower(out, i, j, TokenKind::Url);
            i = j;
            continue;
        }
        // @mentions and #hashtags.
        if (c == '@' || c == '#') && i + 1 < n && chars[i + 1].is_word() {
            let mut j = i + 1;
            while j < n && chars[j].is_word() {
                j += 1;
            }
            if c == '@' {
                lower(out, i, j, TokenKind::Mention);
            } else {
                lower(out, i, j, TokenKind::Hashtag);
                let parts = camel_parts(&chars[i + 1..j]);
                if parts.len() > 1 {
                    for (a, b) in parts {
                        // Parts share the whole hashtag's span.
                        U::push_lower(out.next(TokenKind::HashtagPart, span(i, j)), &chars[i + 1 + a..i + 1 + b]);
                    }
                }
            }
            i = j;
            continue;
        }
        // Numbers: digits with inner . , : separators (10,000  3.5  5:9).
        if c.is_ascii_digit() {
            let mut j = i + 1;
            while j < n
                && (at(j).is_ascii_digit()
                    || (matches!(at(j), '.' | ',' | ':') && j + 1 < n && at(j + 1).is_ascii_digit()))
            {
                j += 1;
            }
            if j < n && chars[j].is_alpha() {
                // "2016th", "3rd", "b2b": a word that starts with digits.
                while j < n && chars[j].is_word() {
                    j += 1;
                }
                lower(out, i, j, TokenKind::Word);
            } else {
                lower(out, i, j, TokenKind::Number);
            }
            i = j;
            continue;
        }
        if chars[i].is_word() {
            // A word, with inner hyphens and apostrophes ("co-belligerents", "don't").
            let mut j = i + 1;
            while j < n {
                if chars[j].is_word() {
                    j += 1;
                } else if matches!(at(j), '-' | '\'' | '.') && j + 1 < n && chars[j + 1].is_alpha() {
                    // Inner '.' only for abbreviations like "u.s": a single letter before it.
                    if at(j) == '.' && !(j >= 1 && j - i == 1 || (j >= 2 && at(j - 2) == '.')) {
                        break;
                    }
                    j += 1;
                } else {
                    break;
                }
            }
            split_clitics(out, i, j, span, &chars[i..j]);
            i = j;
            continue;
        }
        // Punctuation: runs of the same character are one token ("!!!", "...").
        if c.is_ascii_punctuation() || is_general_punct(c) {
            let mut j = i + 1;
            while j < n && at(j) == c {
                j += 1;
            }
            U::push_all(out.next(TokenKind::Punct, span(i, j)), &chars[i..j]);
            i = j;
            continue;
        }
        out.next(TokenKind::Symbol, span(i, i + 1)).push(c);
        i += 1;
    }
    mark_negation(&mut out.toks[marked..out.len], &mut in_scope);
}

fn is_general_punct(c: char) -> bool {
    matches!(c, '¡' | '¿' | '§' | '¶' | '•' | '·' | '†' | '‡' | '※')
}

fn starts_with_ci<U: Unit>(chars: &[U], i: usize, pat: &str) -> bool {
    let mut k = i;
    for p in pat.chars() {
        match chars.get(k) {
            Some(c) if c.ch().to_ascii_lowercase() == p => k += 1,
            _ => return false,
        }
    }
    true
}

/// Splits a hashtag body at lower->upper and letter<->digit boundaries
/// (`StopHillary2016` -> Stop, Hillary, 2016; `NRA` stays whole). Returns char ranges.
fn camel_parts<U: Unit>(body: &[U]) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut start = 0;
    let is_ = |k: usize, c: char| body[k].ch() == c;
    for k in 1..body.len() {
        let (p, c) = (body[k - 1].ch(), body[k].ch());
        let next_lower = body.get(k + 1).is_some_and(|x| x.ch().is_lowercase());
        let boundary = (p.is_lowercase() && c.is_uppercase())
            || (p.is_alphabetic() && c.is_ascii_digit())
            || (p.is_ascii_digit() && c.is_alphabetic())
            || (p.is_uppercase() && c.is_uppercase() && next_lower)
            || c == '_'
            || p == '_';
        if boundary {
            if k > start && !is_(start, '_') {
                parts.push((start, k));
            }
            start = k;
        }
    }
    if start < body.len() && !is_(start, '_') {
        parts.push((start, body.len()));
    }
    parts.retain(|&(a, b)| !(b - a == 1 && is_(a, '_')));
    parts
}

/// Pushes the word in chars `i..j` of the normalised text, lower-cased, splitting "n't"
/// and clitics off.
fn split_clitics<U: Unit>(
    out: &mut Slots,
    i: usize,
    j: usize,
    span: &impl Fn(usize, usize) -> (usize, usize),
    raw: &[U],
) {
    let n_chars = j - i;
    let slot = out.len;
    U::push_lower(out.next(TokenKind::Word, span(i, j)), raw);
    if !raw.iter().any(|u| u.ch() == '\'') {
        // Every clitic, "n't" included, holds an apostrophe.
        return;
    }
    let word = &out.toks[slot].text;
    let mut cut = None;
    if word.ends_with("n't") && n_chars > 3 {
        cut = Some(n_chars - 3);
    } else {
        for cl in CLITICS {
            if word.ends_with(cl) && n_chars > cl.len() {
                cut = Some(n_chars - cl.chars().count());
                break;
            }
        }
    }
    // Lower-casing can change the char count (rare: 'İ'); only split when counts agree.
    let Some(k) = cut.filter(|_| word.chars().count() == n_chars) else {
        return;
    };
    let split_byte = word.char_indices().nth(k).map_or(word.len(), |(b, _)| b);
    // The clitic is ASCII and at most 3 bytes ("n't", "'ll").
    let mut tail = [0u8; 3];
    let tail_len = word.len() - split_byte;
    tail[..tail_len].copy_from_slice(&word.as_bytes()[split_byte..]);
    let tail = std::str::from_utf8(&tail[..tail_len]).unwrap_or_default();
    let head = &mut out.toks[slot];
    head.text.truncate(split_byte);
    if tail == "n't" && (head.text == "ca" || head.text == "wo") {
        let full = if head.text == "ca" { "can" } else { "will" };
        head.text.clear();
        head.text.push_str(full);
    }
    (head.start, head.end) = span(i, i + k);
    out.next(TokenKind::Word, span(i + k, j)).push_str(tail);
}

/// Marks `toks`, the tokens after those already marked; `in_scope` carries the scope over.
fn mark_negation(toks: &mut [Token], in_scope: &mut bool) {
    for t in toks.iter_mut() {
        if ends_negation(t) {
            *in_scope = false;
            continue;
        }
        if *in_scope {
            t.negated = true;
        }
        if t.kind == TokenKind::Word && is_negator(&t.text) {
            *in_scope = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn a_reused_buffer_tokenizes_like_a_fresh_call() {
        let texts = [
            "I don't think #StopHillary2016 is not good, @User! http://t.co/x",
            "x",
            "",
            "İstanbul CAN'T «wait» — 10,000 won't…",
            "It's the U.S. co-belligerents' 3rd #NRA rally 🙂🙂",
            "no",
        ];
        let mut buf = TokenBuf::default();
        for _ in 0..2 {
            for t in texts {
                assert_eq!(buf.tokenize(t), tokenize(t).as_slice(), "{t}");
            }
        }
    }

    #[test]
    fn byte_classes_are_the_char_classes() {
        for b in 0u8..128 {
            let c = b as char;
            assert_eq!(b.is_space(), c.is_space(), "{b:#x}");
            assert_eq!(b.is_word(), c.is_word(), "{b:#x}");
            assert_eq!(b.is_alpha(), c.is_alpha(), "{b:#x}");
        }
    }

    #[test]
    fn words_contractions_and_numbers() {
        assert_eq!(
            texts("I don't think 10,000 troops can't win."),
            ["i", "do", "n't", "think", "10,000", "troops", "can", "n't", "win", "."]
        );
        assert_eq!(texts("It's the U.S. co-belligerents"), ["it", "'s", "the", "u.s", ".", "co-belligerents"]);
    }

    #[test]
    fn urls_mentions_hashtags() {
        let t = tokenize("Read https://example.com/a?b=1. @HillaryClinton #StopHillary2016 #NRA");
        let kinds: Vec<_> = t.iter().map(|t| (t.text.as_str(), t.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("read", TokenKind::Word),
                ("https://example.com/a?b=1", TokenKind::Url),
                (".", TokenKind::Punct),
                ("@hillaryclinton", TokenKind::Mention),
                ("#stophillary2016", TokenKind::Hashtag),
                ("stop", TokenKind::HashtagPart),
                ("hillary", TokenKind::HashtagPart),
                ("2016", TokenKind::HashtagPart),
                ("#nra", TokenKind::Hashtag),
            ]
        );
    }

    #[test]
    fn negation_scope_runs_to_punctuation() {
        let t = tokenize("This is not good at all, but fine");
        let neg: Vec<_> = t.iter().filter(|t| t.negated).map(|t| t.text.as_str()).collect();
        assert_eq!(neg, ["good", "at", "all"]);
        let t = tokenize("I didn't like it.");
        assert!(t.iter().find(|t| t.text == "like").unwrap().negated);
    }

    #[test]
    fn curly_and_straight_quotes_tokenize_alike() {
        assert_eq!(texts("“very dangerous,”"), texts("\"very dangerous,\""));
    }

    #[test]
    fn spans_are_code_points_into_input() {
        let s = "Café… “déjà vu” 🎉!";
        let chars: Vec<char> = s.chars().collect();
        for t in tokenize(s) {
            let piece: String = chars[t.start..t.end].iter().collect();
            assert!(!piece.is_empty(), "{t:?}");
        }
        let t = tokenize(s);
        assert_eq!((t[0].start, t[0].end), (0, 4));
        assert_eq!(t[0].text, "café");
        assert_eq!(t[1].text, "...");
        assert_eq!((t[1].start, t[1].end), (4, 5));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn spans_slice_any_unicode(s in "\\PC*") {
            let n = s.chars().count();
            for t in tokenize(&s) {
                prop_assert!(t.start < t.end && t.end <= n, "{:?} in {:?}", t, s);
            }
        }

        #[test]
        fn ascii_bytes_tokenize_as_normalised_chars_do(
            s in "([ \t\r\n\x0B\x0C\x00\x1F\x7F`'\"@#_.,:;!?()-]|[a-zA-Z0-9]{1,8}|n't|https?://x\\.y|www\\.|[A-Z][a-z]+){0,40}"
        ) {
            use crate::text::normalize;
            prop_assert_eq!(tokenize(&s), tokenize_normalized(&normalize(&s)), "{:?}", s);
        }

        #[test]
        fn spans_slice_tricky_mixes(s in "([\"“”«»‘’'@#.,!?…\u{00A0}\u{200B} \n-]|[a-zA-Z0-9]{1,6}|[İßéñ🎉]|https?://x\\.y){0,40}") {
            let n = s.chars().count();
            let toks = tokenize(&s);
            for t in &toks {
                prop_assert!(t.start < t.end && t.end <= n);
            }
            // Tokens come in input order.
            for w in toks.windows(2) {
                prop_assert!(w[0].start <= w[1].start);
            }
        }
    }
}
