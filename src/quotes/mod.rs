//! Quotation extraction and speaker attribution: who said what in news text.
//!
//! [`extract`] finds three kinds of quotation:
//!
//! - **direct**: text between quotation marks, in any common style (straight, curly “ ”,
//!   guillemets « » and, as German and Danish print them, » «, single ‘ ’, low-9 „ “ and
//!   ‚ ‘ as German and Czech write them, Japanese corner brackets 「 」 『 』), including
//!   quotations that run over several paragraphs
//!   (each paragraph reopens the quote and only the last one closes it);
//! - **indirect**: reported speech after or before a cue verb ("X said (that) ...",
//!   "..., X said", "According to X, ...");
//! - **mixed**: reported speech that contains a quoted fragment ("X called Y a “threat”").
//!
//! Each quotation carries its cue verb (which may carry stance: "condemned", "praised"),
//! its source mention as written, and a canonical speaker: titles and roles stripped,
//! surnames merged with full names, pronouns and "the spokesperson"-style nominals resolved
//! to the most recent compatible speaker, and quotations with no speaker in reach
//! inheriting the speaker of the quote run they continue.
//!
//! The method is rules over a light tokenization, not a trained model: it is fast (well under
//! a millisecond per thousand words), needs no model file, and fails in ways one can read.
//! Why rules: the attribution patterns of news prose are few and regular, and the gold data
//! available (PolNeAR) is small; [`evaluate`] scores the rules against it.
//!
//! All offsets are Unicode code points, `[start, end)`, into the caller's text (the text is
//! normalised first with [`crate::text::normalize`], whose origin map brings every span back
//! to the input). [`convert_offsets`] turns them into UTF-8 bytes or UTF-16 units.
//!
//! # Measured
//!
//! On PolNeAR (`../shared/data/quotes`, rules of [`evaluate`]): quoted attributions
//! P 87.0 / R 85.1 / F1 86.0 on train and P 89.0 / R 84.0 / F1 86.4 on dev; all attributions
//! (indirect included) P 84.0 / R 53.6 on train, P 86.8 / R 56.8 on dev; right speaker for
//! 92.2 % (train) and 90.2 % (dev) of matched quoted attributions. Reproduce with
//! `cargo test --release --lib quotes::tests::polnear_scores -- --ignored --nocapture`.
//! The recall on all attributions is bounded by PolNeAR's broad notion of attribution
//! (perception and attitude verbs, nominal cues such as "the consensus view from"), which a
//! cue lexicon does not reach.
//!
//! Input is never trusted: unbalanced or stray quotation marks are capped at the end of
//! their paragraph, so one missing mark cannot swallow the rest of a document; marks around
//! no word, and runs of three or more marks, quote nothing; and no input makes extraction
//! panic.

mod eval;
mod lexicon;
mod offsets;
mod speakers;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

pub use eval::{ExtractionScores, GoldAttribution, GoldDoc, Prf, evaluate, read_gold, speaker_matches};
pub use lexicon::{CueClass, CueEntry, cue_class, cue_entry};
pub use offsets::{OffsetUnit, convert_offset, convert_offsets};

use lexicon::{
    HEADLINE_LABELS, NOT_NAMES, NP_MODIFIERS, ORG_WORDS, PRE_CUE_FILLERS, PronounKind, SOURCE_NOUNS, TITLES, in_list,
    pronoun_kind,
};

use crate::text::{Normalized, normalize};
use speakers::{Entry, Resolution};

/// Whether a quotation is quoted verbatim, reported, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuoteKind {
    /// The content is text between quotation marks only.
    Direct,
    /// Reported speech with no quotation marks.
    Indirect,
    /// Reported speech containing a quoted fragment.
    Mixed,
}

/// A piece of the input: its text (spans joined by a space) and its code-point spans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    pub text: String,
    pub spans: Vec<[usize; 2]>,
}

/// One quotation with its attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub kind: QuoteKind,
    /// What was said; for direct quotations the spans include the quotation marks.
    pub content: Segment,
    /// The cue ("said", "according to", "labeled"); `None` for a quotation that inherits
    /// its speaker from a quote run or has none.
    pub cue: Option<Segment>,
    /// The source mention as written ("Pentagon spokesperson Sabrina Singh", "she").
    pub source: Option<Segment>,
    /// Canonical speaker name (see [`Speaker::name`]); `None` when unattributed.
    pub speaker: Option<String>,
    /// How sure the attribution is, 0..1 (pattern strength, not a calibrated probability).
    pub confidence: f32,
}

/// One speaker of the document with all the ways it was mentioned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speaker {
    /// Canonical name: a person's name without titles, or an organisation as first written.
    pub name: String,
    /// Other mentions that were merged into this speaker ("Singh").
    pub aliases: Vec<String>,
    /// Title or role stripped from the name ("Pentagon spokesperson").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Number of quotations attributed to this speaker.
    pub quote_count: usize,
}

/// Everything found in one document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    /// Quotations in document order.
    pub quotes: Vec<Quote>,
    /// Speakers in order of first attribution.
    pub speakers: Vec<Speaker>,
}

/// Extracts quotations and speakers from `text`. Never panics; every span lies in the text.
pub fn extract(text: &str) -> Extraction {
    let norm = normalize(text);
    let orig: Vec<char> = text.chars().collect();
    let mut eng = Engine::new(text, &orig, &norm);
    eng.run();
    eng.finish()
}

// ---------------------------------------------------------------------------------------
// Tokens and quotation marks

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tk {
    Word,
    Punct,
    /// A quotation mark (double, or a single quote that pairs up).
    Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Open,
    Close,
    Either,
}

#[derive(Debug, Clone)]
struct Tok {
    /// Normalised char range.
    start: usize,
    end: usize,
    kind: Tk,
    lower: String,
    cap: bool,
    para: usize,
    dir: Dir,
    single: bool,
}

/// A quotation between marks inside one paragraph.
#[derive(Debug, Clone)]
struct Region {
    open: usize,
    close: Option<usize>,
    /// Normalised char range, marks included.
    start: usize,
    end: usize,
    /// The region that continues this one in the next paragraph (multi-paragraph quote).
    next: Option<usize>,
    prev: Option<usize>,
}

const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "sen", "rep", "gov", "gen", "lt", "col", "st", "jr", "sr", "u.s", "u.k", "u.n", "inc",
    "corp", "co", "no", "vs", "etc", "prof", "rev", "capt", "sgt", "adm", "maj", "mt", "ft", "jan", "feb", "aug",
    "sept", "oct", "nov", "dec", "d.c", "a.m", "p.m", "e.g", "i.e",
];

const ADVERBIAL_STARTS: &[&str] = &[
    "on",
    "in",
    "at",
    "during",
    "last",
    "this",
    "earlier",
    "later",
    "today",
    "yesterday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "recently",
    "afterward",
    "afterwards",
    "before",
    "after",
    "while",
    "when",
    "then",
    "via",
    "through",
    "from",
    "to",
    "of",
    "over",
    "as",
    "late",
    "early",
    "shortly",
    "again",
    "too",
    "also",
    "tonight",
    "overnight",
    "privately",
    "publicly",
];

/// Time words skipped between a source and its cue ("Trump on Saturday tweeted").
const TIME_WORDS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "yesterday",
    "tonight",
    "night",
    "morning",
    "evening",
    "afternoon",
    "week",
    "weekend",
    "month",
    "year",
    "later",
    "earlier",
];

const TIME_PREPS: &[&str] = &["on", "last", "this", "late", "early", "next", "that"];

/// Cue lemmas that are also common nouns; their bare form counts as a verb only after a
/// pronoun or an auxiliary ("they report", not "a report").
const NOUNY: &[&str] = &[
    "comment",
    "report",
    "note",
    "post",
    "answer",
    "question",
    "attack",
    "call",
    "show",
    "state",
    "name",
    "term",
    "fear",
    "hope",
    "doubt",
    "demand",
    "counter",
    "signal",
    "release",
    "welcome",
    "project",
    "point",
    "find",
    "claim",
    "promise",
    "pledge",
    "reply",
    "remark",
    "tweet",
    "statement",
    "warning",
    "label",
    "brand",
    "want",
    "respond",
    "vow",
    "mention",
    "joke",
    "read",
    "see",
    "know",
    "feel",
    "estimate",
    "forecast",
    "fault",
    "praise",
    "blame",
    "quip",
    "boast",
    "thank",
    "continue",
    "shout",
    "chant",
    "repeat",
    "support",
    "plan",
    "offer",
    "appear",
    "back",
    "dispute",
];

const PRONOUNS_AND_AUX: &[&str] = &[
    "i",
    "we",
    "you",
    "they",
    "he",
    "she",
    "will",
    "would",
    "can",
    "could",
    "should",
    "may",
    "might",
    "must",
    "do",
    "did",
    "does",
    "not",
    "never",
    "also",
    "to",
    "people",
    "who",
    "officials",
    "experts",
    "critics",
    "analysts",
    "sources",
];

/// Words that make a span a clause rather than a subject noun phrase.
const AUXILIARIES: &[&str] = &[
    "is", "are", "was", "were", "be", "been", "being", "will", "would", "has", "have", "had", "can", "could", "should",
    "may", "might", "must", "do", "does", "did", "that", "it", "this", "there", "if", "when", "because", "while", "so",
    "far", "won", "not",
];

/// Longest sentence, in tokens, that attribution looks at as one unit.
const MAX_SENTENCE_TOKENS: usize = 250;

/// Paragraph length (chars) past which an unclosed quotation is capped at its sentence.
const LONG_PARAGRAPH: usize = 1500;

/// "R-Fla", "D-Md": a party and state tag after a US politician's name.
fn is_party_tag(lower: &str) -> bool {
    let b = lower.as_bytes();
    b.len() >= 3 && matches!(b[0], b'r' | b'd' | b'i') && b[1] == b'-' && b[2].is_ascii_alphabetic()
}

/// Abbreviated titles written with a full stop ("Mr.", "Sen.").
const TITLE_ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "sen", "rep", "gov", "gen", "lt", "col", "capt", "sgt", "adm", "maj", "prof", "rev",
    "atty", "supt", "cmdr", "st",
];

/// Lower-case particles inside a name ("Charles de Gaulle", "Ursula von der Leyen",
/// "Mohammed bin Salman"): part of the name when capitalised words stand on both sides.
const NAME_PARTICLES: &[&str] = &[
    "de", "da", "di", "du", "del", "della", "dos", "das", "van", "von", "der", "den", "ter", "ten", "bin", "ibn", "al",
    "le", "la", "zu",
];

/// Generational suffixes that end a name ("Martin Luther King Jr.").
const NAME_SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv"];

/// Initials as a token: one capital letter ("John F. Kennedy") or letters joined by full
/// stops ("J.D. Vance", "U.S"), lower-cased.
fn is_initials(lower: &str) -> bool {
    let mut parts = lower.split('.');
    parts.all(|p| p.len() == 1 && p.as_bytes()[0].is_ascii_lowercase())
}

/// Quantifiers that can stand alone as a source ("Some chanted", "Many said").
const QUANTIFIER_HEADS: &[&str] =
    &["some", "many", "others", "several", "most", "few", "both", "all", "one", "another"];

/// First words of multi-word place and organisation names, which are not people.
const PLACE_STARTS: &[&str] = &[
    "north",
    "south",
    "east",
    "west",
    "new",
    "united",
    "saudi",
    "los",
    "san",
    "las",
    "hong",
    "sri",
    "el",
    "costa",
    "puerto",
    "great",
    "western",
    "eastern",
    "central",
    "european",
    "white",
    "supreme",
    "federal",
    "national",
    "democratic",
    "republican",
    "american",
    "islamic",
    "middle",
    "latin",
    "fox",
    "wall",
    "silicon",
    "capitol",
    "planned",
];

/// Conjunctions and prepositions that open a clause or a phrase: never at the start of a
/// source's noun phrase ("Asked if Trump's comments ..." has no source "if Trump's") or at
/// its end ("of" and "for" join the inside of one: "secretary of state Hillary Clinton").
const CLAUSE_WORDS: &[&str] = &[
    "that", "it", "to", "and", "or", "if", "whether", "about", "on", "in", "at", "by", "with", "from", "as", "than",
    "while", "when", "why", "how", "what",
];

/// Cue lemmas that report speech only when a clause or quotation follows.
const NEEDS_CLAUSE: &[&str] = &[
    "speak",
    "know",
    "add",
    "show",
    "find",
    "read",
    "continue",
    "release",
    "publish",
    "post",
    "point",
    "project",
    "signal",
    "demonstrate",
    "illustrate",
    "highlight",
    "welcome",
    "seem",
    "appear",
    "decline",
    "refuse",
    "seek",
    "plan",
    "offer",
    "shoot back",
    "fire back",
    "hit back",
    "snap back",
    "strike back",
    "push back",
    "write back",
];

/// Object pronouns and audience nouns skipped after "told", "asked" and the like.
const OBJECTS: &[&str] = &[
    "him",
    "her",
    "them",
    "us",
    "me",
    "you",
    "reporters",
    "journalists",
    "lawmakers",
    "supporters",
    "listeners",
    "viewers",
    "readers",
    "congress",
    "members",
    "it",
];

const TELL_LIKE: &[&str] = &[
    "tell", "ask", "inform", "assure", "remind", "notify", "advise", "warn", "urge", "reassure", "accuse", "blame",
    "praise", "thank", "retell", "promise", "convince",
];

/// Whether `d` after `prev` is a byte of a UTF-8 character misread as Latin-1 ("Ã¡" for
/// "á"): a Latin-1 symbol (U+0080-U+00BF) after a lead byte (U+00C2-U+00EF) or after
/// another such symbol.
/// It may follow a combining mark, as when the misread text was then decomposed ("A" and
/// U+0303 for "Ã").
fn mojibake_byte(prev: char, d: char) -> bool {
    ('\u{0080}'..='\u{00BF}').contains(&d)
        && !d.is_alphanumeric()
        && (('\u{00C2}'..='\u{00EF}').contains(&prev)
            || ('\u{0080}'..='\u{00BF}').contains(&prev)
            || is_combining_mark(prev))
}

/// A combining diacritical mark (U+0300-U+036F).
fn is_combining_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

/// Verbs that, followed by "back", report a retort ("shot back", "fired back", "hit back"):
/// the lemma of the two-word cue.
fn back_cue(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "shot" | "shoot" | "shoots" | "shooting" => "shoot back",
        "fired" | "fire" | "fires" | "firing" => "fire back",
        "hit" | "hits" | "hitting" => "hit back",
        "snapped" | "snap" | "snaps" => "snap back",
        "struck" | "strike" | "strikes" => "strike back",
        "pushed" | "push" | "pushes" | "pushing" => "push back",
        "wrote" | "writes" => "write back",
        _ => return None,
    })
}

/// An adjective made of adjectives ("Israeli-Palestinian", "Mexican-American"), which ends
/// no noun phrase.
fn compound_adjective(lower: &str) -> bool {
    lower.contains('-')
        && lower.split('-').all(|p| {
            in_list(NP_MODIFIERS, p)
                || (p.len() >= 4
                    && (p.ends_with("ian") || p.ends_with("ese") || p.ends_with("ish") || p.ends_with("li")))
        })
}

fn is_sentence_punct(t: &Tok) -> bool {
    t.kind == Tk::Punct && matches!(t.lower.as_str(), "." | "!" | "?")
}

// ---------------------------------------------------------------------------------------
// The engine

#[derive(Debug, Clone)]
struct Raw {
    kind: QuoteKind,
    /// Normalised char ranges.
    content: Vec<(usize, usize)>,
    cue: Option<(usize, usize)>,
    source: Option<(usize, usize)>,
    speaker: Option<usize>,
    conf: f32,
    para: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Order {
    /// Source noun phrase before the cue ("Singh said").
    Before,
    /// Source in a relative clause or apposition before the cue ("Yoon, who called").
    Relative,
    /// Inverted ("..., said Singh").
    After,
    /// Participle sharing the subject ("..., adding that").
    Subject,
    /// "according to X".
    According,
}

#[derive(Debug, Clone, Copy)]
struct Cue {
    tok: usize,
    end_tok: usize,
    class: CueClass,
    lemma: &'static str,
    ing: bool,
}

struct Engine<'a> {
    text: &'a str,
    orig: &'a [char],
    norm: &'a Normalized,
    toks: Vec<Tok>,
    regions: Vec<Region>,
    /// Region of each token (marks included).
    tok_region: Vec<Option<usize>>,
    consumed: Vec<bool>,
    entries: Vec<Entry>,
    raws: Vec<Raw>,
    clock: usize,
    /// Index into `raws` of the last direct or mixed quotation with a speaker.
    last_quote: Option<usize>,
    /// Attribution of a sentence ending with a colon, waiting for its quotation.
    colon_raw: Option<usize>,
    /// Lower-cased words written capitalised somewhere other than at the start of a
    /// sentence (outside title-case headlines): names, not words capitalised by position.
    /// Sorted hashes of the words ([`word_hash`]): a set of strings cost an allocation
    /// and a SipHash a word, a tenth of extraction time.
    mid_caps: Vec<u64>,
    /// Lower-cased words written in lower case somewhere: common words (sorted hashes).
    lower_words: Vec<u64>,
}

impl<'a> Engine<'a> {
    fn new(text: &'a str, orig: &'a [char], norm: &'a Normalized) -> Self {
        Engine {
            text,
            orig,
            norm,
            toks: Vec::new(),
            regions: Vec::new(),
            tok_region: Vec::new(),
            consumed: Vec::new(),
            entries: Vec::new(),
            raws: Vec::new(),
            clock: 0,
            last_quote: None,
            colon_raw: None,
            mid_caps: Vec::new(),
            lower_words: Vec::new(),
        }
    }

    fn chars(&self) -> &[char] {
        &self.norm.chars
    }

    /// The input character a normalised char came from (for the direction of curly marks).
    fn orig_char(&self, i: usize) -> char {
        self.norm.origin.get(i).and_then(|&o| self.orig.get(o)).copied().unwrap_or(' ')
    }

    fn tokenize(&mut self) {
        let n = self.norm.chars.len();
        let mut toks = Vec::with_capacity(n / 5 + 1);
        let mut para = 0usize;
        let mut para_has_tokens = false;
        // A low-9 mark („ ‚) opened a quotation in this paragraph: the German and Czech
        // style closes it with “ ‘, which elsewhere open one.
        let mut low_double_open = false;
        let mut low_single_open = false;
        // Guillemets open in this paragraph: « ... » (French, Swiss, Italian style) or
        // » ... « (German and Danish style), told apart by which comes first.
        let mut guillemet_open = false;
        let mut reversed_guillemet_open = false;
        let chars = self.chars();
        // Where « and newlines are, so that a » can tell whether a « follows it in its
        // paragraph.
        let left_guillemets: Vec<usize> =
            (0..n).filter(|&k| chars[k] == '"' && self.orig_char(k) == '\u{00AB}').collect();
        let newlines: Vec<usize> = (0..n).filter(|&k| chars[k] == '\n').collect();
        let left_guillemet_follows = |i: usize| {
            let para_end = newlines.get(newlines.partition_point(|&k| k < i)).copied().unwrap_or(n);
            left_guillemets.get(left_guillemets.partition_point(|&k| k <= i)).is_some_and(|&k| k < para_end)
        };
        let mut i = 0;
        while i < n {
            let c = chars[i];
            if c == '\n' {
                if para_has_tokens {
                    para += 1;
                    para_has_tokens = false;
                }
                low_double_open = false;
                low_single_open = false;
                guillemet_open = false;
                reversed_guillemet_open = false;
                i += 1;
                continue;
            }
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            para_has_tokens = true;
            if c.is_alphanumeric() {
                let mut j = i + 1;
                // Start of the current part of the word (after its last joining mark).
                let mut part = i;
                while j < n {
                    let d = chars[j];
                    if d.is_alphanumeric() || is_combining_mark(d) {
                        // Combining marks belong to their letter ("José" decomposed).
                        j += 1;
                    } else if mojibake_byte(chars[j - 1], d)
                        && chars[j + 1..]
                            .iter()
                            .find(|c| !mojibake_byte('\u{00C2}', **c))
                            .is_some_and(|c| c.is_alphanumeric())
                    {
                        // "SarukhÃÂ¡n": UTF-8 read as Latin-1 leaves symbols inside a name.
                        j += 1;
                    } else if matches!(d, '-' | '\'' | '.' | '&') && j + 1 < n && chars[j + 1].is_alphanumeric() {
                        // "said.Trump": a full stop with no space after it ends a sentence
                        // rather than joining an abbreviation ("U.S", "J.D", "Ph.D") when a
                        // lower-case part of two letters or more ends before it and a
                        // capitalised word starts after it.
                        if d == '.'
                            && j - part >= 2
                            && chars[j - 1].is_lowercase()
                            && chars[j + 1].is_uppercase()
                            && chars.get(j + 2).is_some_and(|c| c.is_lowercase())
                        {
                            break;
                        }
                        part = j + 1;
                        j += 2;
                    } else {
                        break;
                    }
                }
                let word: String = chars[i..j].iter().collect();
                // "al-Assad", "el-Sisi": a name behind a lower-case article.
                let article_name = matches!(word.split_once('-'), Some(("al" | "el", rest))
                    if rest.starts_with(char::is_uppercase));
                toks.push(Tok {
                    start: i,
                    end: j,
                    kind: Tk::Word,
                    cap: c.is_uppercase() || article_name,
                    lower: word.to_lowercase(),
                    para,
                    dir: Dir::Either,
                    single: false,
                });
                i = j;
                continue;
            }
            let prev = if i > 0 { chars[i - 1] } else { '\n' };
            let next = if i + 1 < n { chars[i + 1] } else { '\n' };
            if c == '\'' && next == '\'' {
                // Two apostrophes as a double quotation mark (''like this'', as in some
                // wire copy).
                let after = if i + 2 < n { chars[i + 2] } else { '\n' };
                let open_ctx = prev.is_whitespace() || matches!(prev, '(' | '[' | '-');
                let close_ctx = after.is_whitespace() || matches!(after, '.' | ',' | ';' | ':' | '!' | '?' | ')' | '-');
                let dir = match (open_ctx, close_ctx) {
                    (true, false) => Dir::Open,
                    (false, true) => Dir::Close,
                    _ => Dir::Either,
                };
                toks.push(Tok {
                    start: i,
                    end: i + 2,
                    kind: Tk::Mark,
                    lower: "\"".to_string(),
                    cap: false,
                    para,
                    dir,
                    single: false,
                });
                i += 2;
                continue;
            }
            let opening_ctx = prev.is_whitespace() || matches!(prev, '(' | '[' | '-' | '/');
            let closing_ctx =
                next.is_whitespace() || matches!(next, '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '-' | '"');
            let (kind, dir, single) = if c == '"' {
                let o = self.orig_char(i);
                let dir = match o {
                    '\u{201C}' | '\u{201D}' if low_double_open => {
                        low_double_open = false;
                        Dir::Close
                    }
                    '\u{201E}' => {
                        low_double_open = true;
                        Dir::Open
                    }
                    '\u{00AB}' if reversed_guillemet_open => {
                        reversed_guillemet_open = false;
                        Dir::Close
                    }
                    '\u{00AB}' => {
                        guillemet_open = true;
                        Dir::Open
                    }
                    '\u{00BB}' if guillemet_open => {
                        guillemet_open = false;
                        Dir::Close
                    }
                    // "»Das ist falsch«, sagte Merkel.": a » with a « after it in its
                    // paragraph, and no « before it, opens.
                    '\u{00BB}' if left_guillemet_follows(i) => {
                        reversed_guillemet_open = true;
                        Dir::Open
                    }
                    '\u{201C}' | '\u{301D}' => Dir::Open,
                    '\u{201D}' | '\u{00BB}' | '\u{301E}' => Dir::Close,
                    _ if opening_ctx && !closing_ctx => Dir::Open,
                    _ if closing_ctx && !opening_ctx => Dir::Close,
                    _ => Dir::Either,
                };
                (Tk::Mark, dir, false)
            } else if matches!(c, '\u{300C}' | '\u{300E}') {
                // Japanese corner brackets 「 」 and 『 』 (not folded by normalisation).
                (Tk::Mark, Dir::Open, false)
            } else if matches!(c, '\u{300D}' | '\u{300F}') {
                (Tk::Mark, Dir::Close, false)
            } else if c == '\'' {
                let o = self.orig_char(i);
                let low_close = low_single_open && o == '\u{2018}';
                if opening_ctx && (next.is_alphanumeric() || next == '"') && o != '\u{2019}' && !low_close {
                    low_single_open |= o == '\u{201A}';
                    (Tk::Mark, Dir::Open, true)
                } else if closing_ctx && !prev.is_whitespace() && (o != '\u{2018}' || low_close) {
                    low_single_open &= !low_close;
                    (Tk::Mark, Dir::Close, true)
                } else {
                    (Tk::Punct, Dir::Either, false)
                }
            } else {
                (Tk::Punct, Dir::Either, false)
            };
            toks.push(Tok { start: i, end: i + 1, kind, lower: c.to_string(), cap: false, para, dir, single });
            i += 1;
        }
        self.toks = toks;
    }

    /// Pairs quotation marks paragraph by paragraph. Double marks first; single marks only
    /// outside double quotations and only when they pair up (otherwise they are apostrophes).
    fn pair_marks(&mut self) {
        let nt = self.toks.len();
        self.tok_region = vec![None; nt];
        let mut p0 = 0;
        // Unclosed region at the end of the previous paragraph, waiting for a reopening mark.
        let mut dangling: Option<usize> = None;
        while p0 < nt {
            let para = self.toks[p0].para;
            let mut p1 = p0;
            while p1 < nt && self.toks[p1].para == para {
                p1 += 1;
            }
            let para_end = self.toks[p1 - 1].end;
            let first_region = self.regions.len();
            // Double marks. Three or more in a row open and close nothing: they are debris
            // (a broken encoding, a separator line), and pairing them would make a quotation
            // of each pair, or swallow what follows.
            let double = |t: usize| self.toks[t].kind == Tk::Mark && !self.toks[t].single;
            let mut debris = vec![false; p1 - p0];
            let mut t = p0;
            while t < p1 {
                let mut u = t;
                while u < p1 && double(u) {
                    u += 1;
                }
                if u - t >= 3 {
                    debris[t - p0..u - p0].fill(true);
                }
                t = u.max(t + 1);
            }
            let mut open: Option<usize> = None;
            for t in p0..p1 {
                let tk = &self.toks[t];
                if tk.kind != Tk::Mark || tk.single || debris[t - p0] {
                    continue;
                }
                match (open, tk.dir) {
                    (None, Dir::Open | Dir::Either) => open = Some(t),
                    (None, Dir::Close) => {}
                    (Some(o), Dir::Close | Dir::Either) => {
                        self.add_region(o, Some(t), self.toks[t].end);
                        open = None;
                    }
                    (Some(o), Dir::Open) if !(o + 1..t).any(|k| self.toks[k].kind == Tk::Word) => {
                        // Two marks around nothing ("“ “Yes,”"): one opening, written twice.
                    }
                    (Some(o), Dir::Open) => {
                        // Two opening marks: the first quotation was never closed. End it
                        // before the new mark rather than guess.
                        let end = self.toks[t - 1].end.max(self.toks[o].end);
                        self.add_region(o, None, end);
                        open = Some(t);
                    }
                }
            }
            if let Some(o) = open {
                // An unclosed quotation ends with its paragraph; in a very long paragraph
                // (text without paragraph breaks) it ends with its sentence instead, so that
                // one missing mark cannot swallow the document.
                let mut end = para_end;
                if para_end - self.toks[o].start > LONG_PARAGRAPH
                    && let Some(t) = (o + 1..p1.saturating_sub(1)).find(|&t| {
                        is_sentence_punct(&self.toks[t]) && self.toks[t + 1].kind == Tk::Word && self.toks[t + 1].cap
                    })
                {
                    end = self.toks[t].end;
                }
                self.add_region(o, None, end);
            }
            // Single marks outside double regions.
            let mut open: Option<usize> = None;
            for t in p0..p1 {
                if self.tok_region[t].is_some() {
                    open = None;
                    continue;
                }
                let tk = &self.toks[t];
                if tk.kind != Tk::Mark || !tk.single {
                    continue;
                }
                match (open, tk.dir) {
                    (None, Dir::Open) => open = Some(t),
                    (Some(o), Dir::Close) if t > o + 1 => {
                        self.add_region(o, Some(t), self.toks[t].end);
                        open = None;
                    }
                    _ => {}
                }
            }
            // Single marks that did not pair are apostrophes.
            for t in p0..p1 {
                if self.toks[t].single && self.tok_region[t].is_none() {
                    self.toks[t].kind = Tk::Punct;
                }
            }
            // Multi-paragraph quotations: an unclosed quotation continues when the next
            // paragraph opens with a quotation mark.
            if let Some(d) = dangling.take() {
                let starts_here =
                    self.regions[first_region..].iter().position(|r| r.open == p0).map(|k| first_region + k);
                if let Some(r) = starts_here {
                    self.regions[d].next = Some(r);
                    self.regions[r].prev = Some(d);
                }
            }
            if let Some(last) = self.regions[first_region..]
                .iter()
                .rposition(|r| r.close.is_none() && r.end == para_end && !self.toks[r.open].single)
            {
                dangling = Some(first_region + last);
            }
            p0 = p1;
        }
        self.consumed = vec![false; self.regions.len()];
    }

    /// Records the quotation opened by mark `open` and ending at char `end`, unless it holds
    /// no word: marks around nothing quote nothing.
    fn add_region(&mut self, open: usize, close: Option<usize>, end: usize) {
        let mut inside = (open + 1..self.toks.len()).take_while(|&t| self.toks[t].start < end);
        if !inside.any(|t| self.toks[t].kind == Tk::Word) {
            return;
        }
        let id = self.regions.len();
        let start = self.toks[open].start;
        let mut t = open;
        while t < self.toks.len() && self.toks[t].start < end {
            if self.tok_region[t].is_none() {
                self.tok_region[t] = Some(id);
            }
            t += 1;
        }
        self.regions.push(Region { open, close, start, end, next: None, prev: None });
    }

    /// Sentences as token ranges; no boundary inside a quotation.
    fn sentences(&self) -> Vec<(usize, usize)> {
        let nt = self.toks.len();
        let mut out = Vec::new();
        let mut s = 0;
        for t in 0..nt {
            let last_of_para = t + 1 == nt || self.toks[t + 1].para != self.toks[t].para;
            if last_of_para {
                out.push((s, t + 1));
                s = t + 1;
                continue;
            }
            // Run-on text (no full stops) is cut into bounded pieces: attribution work per
            // sentence is quadratic in the worst case, and no real sentence is this long.
            let too_long = t + 1 - s >= MAX_SENTENCE_TOKENS;
            if self.boundary_after(t) || too_long {
                out.push((s, t + 1));
                s = t + 1;
            }
        }
        out
    }

    fn boundary_after(&self, t: usize) -> bool {
        let nx = &self.toks[t + 1];
        let next_ok = match nx.kind {
            Tk::Word => nx.cap || nx.lower.starts_with(|c: char| c.is_ascii_digit()),
            Tk::Mark => self.tok_region[t + 1].is_some_and(|r| self.regions[r].open == t + 1),
            Tk::Punct => false,
        };
        if !next_ok {
            return false;
        }
        let tk = &self.toks[t];
        if is_sentence_punct(tk) && self.tok_region[t].is_none() {
            if tk.lower == "." && t > 0 {
                let p = &self.toks[t - 1];
                if p.kind == Tk::Word
                    && (ABBREVIATIONS.contains(&p.lower.as_str()) || (is_initials(&p.lower) && p.cap))
                    && p.end == tk.start
                {
                    return false;
                }
            }
            return true;
        }
        if tk.kind == Tk::Mark
            && let Some(r) = self.tok_region[t]
            && self.regions[r].close == Some(t)
            && t > 0
        {
            let p = &self.toks[t - 1];
            return is_sentence_punct(p) || (p.kind == Tk::Punct && p.lower == "-");
        }
        false
    }

    // -- noun phrases ------------------------------------------------------------------

    fn free_word(&self, t: usize) -> bool {
        self.toks[t].kind == Tk::Word && self.tok_region[t].is_none()
    }

    fn is_np_word(&self, t: usize) -> bool {
        if !self.free_word(t) {
            return false;
        }
        let tk = &self.toks[t];
        let l = tk.lower.as_str();
        if in_list(NP_MODIFIERS, l) || in_list(SOURCE_NOUNS, l) || in_list(TITLES, l) {
            return true;
        }
        if let Some(stem) = l.strip_suffix("'s")
            && (in_list(SOURCE_NOUNS, stem) || in_list(ORG_WORDS, stem))
        {
            // "the company's chief executive"
            return true;
        }
        tk.cap && !in_list(NOT_NAMES, l) && !tk.lower.chars().all(|c| c.is_ascii_digit())
    }

    /// Whether the full stop `t` belongs to the name around it: it closes an abbreviated
    /// title or an initial written against it ("Mr. Smith", "John F. Kennedy", "J.D.
    /// Vance"), and a name word follows.
    fn name_stop(&self, t: usize) -> bool {
        let tk = &self.toks[t];
        t > 0
            && t + 1 < self.toks.len()
            && tk.lower == "."
            && self.tok_region[t].is_none()
            && self.free_word(t - 1)
            && self.toks[t - 1].end == tk.start
            && (in_list(TITLE_ABBREVIATIONS, &self.toks[t - 1].lower)
                || (self.toks[t - 1].cap && is_initials(&self.toks[t - 1].lower)))
            && self.free_word(t + 1)
            // "Ms. van der Berg": the name may open with its particles.
            && (self.toks[t + 1].cap || self.name_particle(t + 1))
    }

    /// Whether `t` is the full stop of an abbreviated title written against it ("Ms.").
    fn title_stop(&self, t: usize) -> bool {
        t > 0
            && t < self.toks.len()
            && self.toks[t].lower == "."
            && self.tok_region[t].is_none()
            && self.free_word(t - 1)
            && self.toks[t - 1].end == self.toks[t].start
            && in_list(TITLE_ABBREVIATIONS, &self.toks[t - 1].lower)
    }

    /// Whether `t` is a particle inside a name: a lower-case [`NAME_PARTICLES`] word with
    /// a capitalised word (or an abbreviated title: "Ms. van der Berg") before it and a
    /// capitalised word after it, at most one other particle between.
    fn name_particle(&self, t: usize) -> bool {
        let particle =
            |k: usize| k < self.toks.len() && self.free_word(k) && in_list(NAME_PARTICLES, &self.toks[k].lower);
        let cap = |k: usize| k < self.toks.len() && self.free_word(k) && self.toks[k].cap;
        let before = |k: usize| cap(k) || self.title_stop(k);
        particle(t)
            && (before(t.wrapping_sub(1)) || (t >= 2 && particle(t - 1) && before(t - 2)))
            && (cap(t + 1) || (particle(t + 1) && cap(t + 2)))
    }

    fn is_head(&self, t: usize) -> bool {
        if !self.free_word(t) {
            return false;
        }
        let tk = &self.toks[t];
        let l = tk.lower.as_str();
        if tk.cap && in_list(NP_MODIFIERS, l) {
            // "“...,” Young said": a modifier capitalised mid-sentence, alone after a
            // punctuation mark and right before a cue verb, is a surname.
            return in_list(SOURCE_NOUNS, l)
                || !self.opens_sentence(t)
                    && self.toks[t - 1].kind != Tk::Word
                    && !in_list(NOT_NAMES, l)
                    && !in_list(ORG_WORDS, l)
                    && !in_list(PLACE_STARTS, l)
                    && self
                        .toks
                        .get(t + 1)
                        .is_some_and(|n| self.free_word(t + 1) && !n.cap && lexicon::cue_entry(&n.lower).is_some());
        }
        (tk.cap && !in_list(NOT_NAMES, l) && !compound_adjective(l)) || in_list(SOURCE_NOUNS, l)
    }

    fn is_of_link(&self, t: usize, lo: usize, hi: usize) -> bool {
        t > lo
            && t + 1 < hi
            && self.toks[t].lower == "of"
            && self.free_word(t)
            && self.toks[t - 1].cap
            && self.toks[t + 1].cap
    }

    /// Noun phrase ending at token `end` (inclusive), not before `lo`.
    fn np_back(&self, end: usize, lo: usize) -> Option<(usize, usize)> {
        if end < lo || end >= self.toks.len() {
            return None;
        }
        if self.toks[end].lower == ")" && self.tok_region[end].is_none() {
            // "Rep. Elijah Cummings (D-Md.)": skip the parenthesis, keep it in the phrase.
            let k = (end.saturating_sub(8).max(lo)..end).rev().find(|&k| self.toks[k].lower == "(")?;
            return self.np_back(k.checked_sub(1)?, lo).map(|(a, _)| (a, end));
        }
        if !self.free_word(end) {
            return None;
        }
        if pronoun_kind(&self.toks[end].lower).is_some() && self.toks[end].lower != "her" {
            return Some((end, end));
        }
        if in_list(QUANTIFIER_HEADS, &self.toks[end].lower) {
            // "Some chanted", "Both denounced": the quantifier is the source.
            return Some((end, end));
        }
        if !self.is_head(end) {
            return None;
        }
        let mut a = end;
        while a > lo {
            let p = a - 1;
            if self.is_np_word(p) || self.is_of_link(p, lo, end + 1) || self.name_particle(p) {
                a = p;
            } else if p > lo && self.name_stop(p) {
                // "Mr. Trump", "Sen. Marco Rubio", "John F. Kennedy": the abbreviated title
                // or initial belongs to the name.
                a = p - 1;
            } else {
                break;
            }
            if end - a > 10 {
                break;
            }
        }
        // Drop sentence-initial connectives ("But", "Meanwhile").
        while a < end {
            let l = self.toks[a].lower.as_str();
            if (in_list(NOT_NAMES, l) && !matches!(l, "the" | "a" | "an") && !self.is_head(a)) || l == "of" {
                a += 1;
            } else {
                break;
            }
        }
        Some((a, end))
    }

    /// Noun phrase starting at token `a`, not reaching `hi`. With `loose`, up to three
    /// lower-case words may precede the name ("said retired neurosurgeon Ben Carson").
    fn np_forward(&self, a: usize, hi: usize, loose: bool) -> Option<(usize, usize)> {
        if a >= hi || !self.free_word(a) {
            return None;
        }
        if loose && self.toks[a].lower == "by" {
            // The agent of a passive cue: "written by Kenneth P. Cohen".
            return self.np_forward(a + 1, hi, true);
        }
        if loose && pronoun_kind(&self.toks[a].lower).is_none() && !self.is_head(a) {
            let mut k = a;
            while k < hi
                && k < a + 3
                && self.free_word(k)
                && !self.toks[k].cap
                && lexicon::cue_entry(&self.toks[k].lower).is_none()
                && !in_list(CLAUSE_WORDS, &self.toks[k].lower)
            {
                k += 1;
            }
            if k > a
                && k < hi
                && self.is_head(k)
                && let Some((_, b)) = self.np_forward(k, hi, false)
            {
                return Some((a, b));
            }
        }
        if matches!(pronoun_kind(&self.toks[a].lower), Some(k) if k != PronounKind::Deictic)
            && self.toks[a].lower != "her"
        {
            return Some((a, a));
        }
        let mut b = a;
        while b < hi
            && (self.is_np_word(b)
                || self.is_of_link(b, a, hi)
                || (b > a && b + 1 < hi && (self.name_particle(b) || self.name_stop(b))))
            && b - a < 10
        {
            b += 1;
        }
        while b > a && !self.is_head(b - 1) {
            b -= 1;
        }
        if b == a { None } else { Some((a, b - 1)) }
    }

    // -- cues ----------------------------------------------------------------------------

    fn cues_in(&self, s: usize, e: usize) -> Vec<Cue> {
        let mut out = Vec::new();
        for t in s..e {
            if !self.free_word(t) && self.toks[t].lower != ":" {
                continue;
            }
            let tk = &self.toks[t];
            if tk.lower == "according" && t + 1 < e && self.toks[t + 1].lower == "to" {
                out.push(Cue { tok: t, end_tok: t + 1, class: CueClass::Speech, lemma: "according to", ing: false });
                continue;
            }
            if tk.lower == ":" && t > s && t + 1 < e && self.speaker_label(s, t) {
                out.push(Cue { tok: t, end_tok: t, class: CueClass::Speech, lemma: "label:", ing: false });
                continue;
            }
            if tk.lower == ":"
                && t > s
                && self.tok_region[t].is_none()
                && self.tok_region.get(t + 1).copied().flatten().is_some_and(|r| self.regions[r].open == t + 1)
            {
                let p = &self.toks[t - 1];
                if p.kind == Tk::Word && lexicon::cue_entry(&p.lower).is_some() {
                    continue;
                }
                // "The central bank disagreed: “...”": the verb joins the cue.
                let verb = p.kind == Tk::Word && !p.cap && p.lower.ends_with("ed") && t - 1 > s;
                out.push(Cue {
                    tok: if verb { t - 1 } else { t },
                    end_tok: t,
                    class: CueClass::Speech,
                    lemma: ":",
                    ing: false,
                });
                continue;
            }
            if matches!(tk.lower.as_str(), "put" | "puts") && t + 1 < e && self.toks[t + 1].lower == "it" {
                out.push(Cue { tok: t, end_tok: t + 1, class: CueClass::Speech, lemma: "put", ing: false });
                continue;
            }
            // "Bennett shot back", "the campaign fired back": a verb of striking and "back"
            // answer a charge.
            if !tk.cap
                && t + 1 < e
                && self.free_word(t + 1)
                && self.toks[t + 1].lower == "back"
                && let Some(lemma) = back_cue(&tk.lower)
            {
                let ing = tk.lower.ends_with("ing");
                out.push(Cue { tok: t, end_tok: t + 1, class: CueClass::Claim, lemma, ing });
                continue;
            }
            let entry = match lexicon::cue_entry(&tk.lower) {
                Some(entry) => entry,
                None => {
                    // "“Go back to Univision,” Trump barked": after a quotation that opens
                    // the sentence and its source, any past-tense verb is the cue.
                    let opens = self.tok_region[s].is_some_and(|r| self.regions[r].open == s);
                    if opens
                        && !tk.cap
                        && tk.lower.ends_with("ed")
                        && t > s
                        && self.source_after_quote(s, t - 1).is_some()
                    {
                        out.push(Cue { tok: t, end_tok: t, class: CueClass::Speech, lemma: "", ing: false });
                    }
                    continue;
                }
            };
            let naming_with_quote = entry.class == CueClass::Naming && (t + 1..e).any(|k| self.tok_region[k].is_some());
            let after_possessive = t > s && self.toks[t - 1].lower.ends_with("'s");
            if in_list(NOUNY, entry.lemma) && after_possessive {
                // "Bill Clinton's comments"
                continue;
            }
            if t > s && tk.lower != entry.lemma && tk.lower.ends_with('s') && {
                // "many disputes", "several reports": a plural noun after a quantifier.
                let p = &self.toks[t - 1];
                p.kind == Tk::Word && matches!(p.lower.as_str(), "many" | "several" | "few" | "both" | "all" | "some")
            } {
                continue;
            }
            let after_plural = t > s && {
                let p = &self.toks[t - 1];
                p.kind == Tk::Word && !p.cap && (in_list(SOURCE_NOUNS, &p.lower) && p.lower.ends_with('s'))
            };
            if in_list(NOUNY, entry.lemma)
                && tk.lower == entry.lemma
                && !naming_with_quote
                && !after_plural
                && !(t > s && in_list(PRONOUNS_AND_AUX, &self.toks[t - 1].lower))
            {
                continue;
            }
            if tk.cap && t != s {
                continue;
            }
            if t > s {
                let p = &self.toks[t - 1];
                let progressive =
                    tk.lower.ends_with("ing") && matches!(p.lower.as_str(), "is" | "was" | "were" | "are" | "been");
                if !progressive
                    && matches!(
                        p.lower.as_str(),
                        "is" | "was"
                            | "were"
                            | "are"
                            | "be"
                            | "been"
                            | "being"
                            | "the"
                            | "a"
                            | "an"
                            | "this"
                            | "that"
                            | "his"
                            | "her"
                            | "their"
                            | "its"
                            | "our"
                            | "my"
                            | "your"
                            | "to"
                            | "get"
                            | "got"
                            | "so"
                    )
                {
                    continue;
                }
            }
            let next = self.toks.get(t + 1).filter(|_| t + 1 < e);
            if matches!(entry.lemma, "call" | "name" | "term" | "brand" | "label") {
                // Naming needs what is named: a quotation later in the sentence, or
                // "called for/on" (a demand).
                let has_quote = (t + 1..e).any(|k| self.tok_region[k].is_some());
                let demand = next.is_some_and(|n| matches!(n.lower.as_str(), "for" | "on"));
                if !has_quote && !demand {
                    continue;
                }
            }
            if entry.lemma == "refer" && next.is_none_or(|n| n.lower != "to") {
                continue;
            }
            let ing = tk.lower.ends_with("ing");
            out.push(Cue {
                tok: t,
                end_tok: if matches!(entry.lemma, "refer" | "point") { (t + 1).min(e - 1) } else { t },
                class: entry.class,
                lemma: entry.lemma,
                ing,
            });
        }
        out
    }

    fn find_source(
        &self,
        s: usize,
        e: usize,
        cue: &Cue,
        prev_source: Option<(usize, usize)>,
    ) -> Option<((usize, usize), Order)> {
        if cue.lemma == "according to" {
            if let Some(np) = self.np_forward(cue.end_tok + 1, e, true) {
                return Some((np, Order::According));
            }
            // Any short phrase up to the next comma: "according to a pool report".
            let a = cue.end_tok + 1;
            let mut b = a;
            while b < e && b < a + 12 && self.toks[b].kind == Tk::Word {
                b += 1;
            }
            let stop = b >= e || matches!(self.toks[b].lower.as_str(), "," | "." | ";" | ")");
            return (b > a && stop).then_some(((a, b - 1), Order::According));
        }
        if cue.lemma == "label:" {
            return self.np_back(cue.tok - 1, s).map(|np| (np, Order::Before));
        }
        if cue.lemma == ":" {
            let end = cue.tok.checked_sub(1)?;
            return self
                .np_back(end, s)
                .filter(|&(a, _)| a == s || matches!(self.toks[a - 1].lower.as_str(), "," | "-" | ":"))
                .map(|np| (np, Order::Before));
        }
        let mut j = cue.tok;
        loop {
            if j <= s || !self.free_word(j - 1) {
                break;
            }
            let l = self.toks[j - 1].lower.as_str();
            if in_list(PRE_CUE_FILLERS, l) || (cue.ing && matches!(l, "is" | "are" | "was" | "were" | "been")) {
                j -= 1;
            } else if in_list(TIME_WORDS, l) {
                j -= 1;
                if j > s && in_list(TIME_PREPS, &self.toks[j - 1].lower) {
                    j -= 1;
                }
            } else {
                break;
            }
        }
        if j == s {
            // "Said Comey, “...”"
            if cue.tok == s && !cue.ing && self.toks[s].cap {
                return self.np_forward(cue.end_tok + 1, e, true).map(|np| (np, Order::After));
            }
            return None;
        }
        let p = j - 1;
        let pl = self.toks[p].lower.as_str();
        // "“...,” former Bush speechwriter Noam Neusner wrote": everything between the
        // closing mark and the cue is the source.
        if let Some(src) = self.source_after_quote(s, p) {
            return Some((src, Order::Before));
        }
        if matches!(pl, "who" | "which") {
            if p > s + 1 && self.toks[p - 1].lower == "," {
                return self.np_back(p - 2, s).map(|np| (np, Order::Relative));
            }
            return None;
        }
        if (pl == "," && cue.ing) || matches!(pl, "and" | "but") {
            if let Some(src) = prev_source {
                return Some((src, Order::Subject));
            }
            let mut s2 = s;
            while s2 < p
                && (self.toks[s2].kind == Tk::Punct
                    || matches!(self.toks[s2].lower.as_str(), "but" | "and" | "so" | "yet" | "then"))
            {
                s2 += 1;
            }
            return self
                .np_forward(s2, p, false)
                .filter(|&(_, b)| {
                    // The subject must be followed by a verb-like word, not be a fronted
                    // phrase: accept when the next word is lower-case.
                    b + 1 < p && self.toks[b + 1].kind == Tk::Word && !self.toks[b + 1].cap
                })
                .map(|np| (np, Order::Subject));
        }
        if pl == ")" {
            // "Sen. Marco Rubio (R-Fla.) said": skip the parenthesis.
            let lo = p.saturating_sub(12).max(s);
            if let Some(k) = (lo..p).rev().find(|&k| self.toks[k].lower == "(")
                && k > s
            {
                return self.np_back(k - 1, s).map(|np| (np, Order::Before));
            }
            return None;
        }
        let closing_mark =
            self.toks[p].kind == Tk::Mark && self.tok_region[p].is_some_and(|r| self.regions[r].close == Some(p));
        if pl == "," || pl == "-" || closing_mark {
            if pl == "," || closing_mark {
                // Apposition or aside: "Singh, a Pentagon spokesperson, said".
                let lo = p.saturating_sub(25).max(s);
                for k in (lo..p).rev() {
                    if self.toks[k].lower == "," && self.tok_region[k].is_none() && k > s {
                        let first = &self.toks[k + 1];
                        let marked = matches!(
                            first.lower.as_str(),
                            "who" | "who's" | "whose" | "a" | "an" | "the" | "speaking" | "citing" | "in"
                        ) || (first.kind == Tk::Word && !first.cap && first.lower.ends_with("ing"))
                            || (pl == "," && (k + 1..p).all(|t| self.is_np_word(t)));
                        if closing_mark && !matches!(first.lower.as_str(), "who" | "whose") {
                            break;
                        }
                        let marked = marked || (first.kind == Tk::Word && self.is_np_word(k + 1));
                        if let Some(np) = self.np_back(k - 1, s) {
                            if pl == ","
                                && let Some(src) = self.role_then_name(s, np, k, p)
                            {
                                return Some((src, Order::Relative));
                            }
                            if np.0 == np.1 && is_party_tag(&self.toks[np.0].lower) {
                                // "Sen. Marco Rubio, R-Fla., appearing on ..., said": the
                                // party tag is part of the aside; look further back.
                                continue;
                            }
                            let clean_start = np.0 == s
                                || matches!(self.toks[np.0 - 1].lower.as_str(), "," | ":")
                                || self.toks[np.0 - 1].kind == Tk::Mark;
                            if marked || clean_start {
                                return Some((np, Order::Relative));
                            }
                        }
                        break;
                    }
                }
                // "..., Gov. John Kasich (R-OH), said": the phrase between the commas is
                // the source itself.
                if pl == ","
                    && !cue.ing
                    && p > s
                    && let Some(np) = self.np_back(p - 1, s)
                    && (np.0 == s || matches!(self.toks[np.0 - 1].lower.as_str(), "," | ":"))
                    && self.toks[np.0].cap
                {
                    return Some((np, Order::Before));
                }
            }
            if cue.ing {
                return None;
            }
            return self.np_forward(cue.end_tok + 1, e, true).map(|np| (np, Order::After));
        }
        if let Some(np) = self.np_back(p, s) {
            return Some((np, Order::Before));
        }
        // A long subject at the start of the sentence ("A U.S. law enforcement official
        // familiar with the investigation said"), for speech-like cues only.
        let speechy = matches!(cue.class, CueClass::Speech | CueClass::Claim | CueClass::Confirm | CueClass::Warn);
        if speechy
            && !cue.ing
            && !self.toks[cue.tok].cap
            && p >= s
            && p - s < 12
            && (s..=p).all(|t| {
                let tk = &self.toks[t];
                self.tok_region[t].is_none()
                    && (tk.kind == Tk::Word
                        && lexicon::cue_entry(&tk.lower).is_none()
                        && !in_list(AUXILIARIES, &tk.lower)
                        || matches!(tk.lower.as_str(), "%" | "-" | "." | "'"))
            })
            && self.toks[s].kind == Tk::Word
            && (self.toks[s].cap || self.toks[s].lower.starts_with(|c: char| c.is_ascii_digit()))
            && (!in_list(NOT_NAMES, &self.toks[s].lower) || matches!(self.toks[s].lower.as_str(), "the" | "a" | "an"))
            && !(s..=p).any(|t| matches!(self.toks[t].lower.as_str(), "according" | "as" | "when"))
            // A subject ends on a noun, not "... on the" (what is left of "Making the rounds
            // on the Sunday morning shows" once the time words are set aside).
            && !in_list(CLAUSE_WORDS, &self.toks[p].lower)
            && !matches!(self.toks[p].lower.as_str(), "the" | "a" | "an" | "of" | "for")
        {
            return Some(((s, p), Order::Before));
        }
        None
    }

    /// "The opposition leader, Kemi Badenoch, said": a role (a noun phrase `np` ending on a
    /// lower-case noun) and the name in apposition between the commas `comma` and `p`. The
    /// source is both, the role's leading determiner and modifiers included; the name is
    /// the speaker (see [`Engine::resolve`]).
    fn role_then_name(&self, s: usize, np: (usize, usize), comma: usize, p: usize) -> Option<(usize, usize)> {
        let role_head = &self.toks[np.1];
        if role_head.cap || np.1 + 1 != comma || !in_list(TITLES, &role_head.lower) {
            return None;
        }
        let name = self.np_forward(comma + 1, p, false)?;
        if name != (comma + 1, p - 1)
            || !self.toks[p - 1].cap
            || !self.toks[comma + 1].cap
            || (comma + 1..p).all(|t| !self.toks[t].cap || in_list(TITLES, &self.toks[t].lower))
        {
            return None;
        }
        // "The opposition leader": np_back stops at words it does not know as modifiers;
        // take them when a determiner opens the sentence and only plain words follow it.
        let mut a = np.0;
        let det = matches!(self.toks[s].lower.as_str(), "the" | "a" | "an" | "his" | "her" | "their" | "its");
        if det
            && np.0 > s
            && np.0 - s <= 4
            && (s..np.0).all(|t| {
                let tk = &self.toks[t];
                self.free_word(t)
                    && lexicon::cue_entry(&tk.lower).is_none()
                    && !in_list(AUXILIARIES, &tk.lower)
                    && !in_list(CLAUSE_WORDS, &tk.lower)
            })
        {
            a = s;
        }
        Some((a, p - 1))
    }

    /// "Matthews: Well, ..." at the start of a paragraph: a speaker label in an interview
    /// transcript (one to three capitalised words, the first tokens of the paragraph).
    fn speaker_label(&self, s: usize, colon: usize) -> bool {
        let para_start = s == 0 || self.toks[s - 1].para != self.toks[s].para;
        para_start
            && colon - s <= 3
            && self.tok_region[colon].is_none()
            && (s..colon).all(|t| self.free_word(t) && self.toks[t].cap)
            && !in_list(NOT_NAMES, &self.toks[s].lower)
            && !in_list(HEADLINE_LABELS, &self.toks[s].lower)
    }

    /// "Breaking: “The talks have collapsed,” a spokesman said": one to three capitalised
    /// words and a colon opening a paragraph are a headline label, not a speaker, when the
    /// first word is a known label ("Breaking", "Breaking News", "Editor's Note"), or when
    /// the word cannot head a speaker label ("Meanwhile: “...”") and a quotation follows.
    /// A name before the colon ("Johnson: “We will win.”") is a speaker label instead (see
    /// [`Engine::speaker_label`]). Returns where the sentence proper starts.
    fn headline_label(&self, s: usize, e: usize) -> Option<usize> {
        let para_start = s == 0 || self.toks[s - 1].para != self.toks[s].para;
        if !para_start || s + 2 >= e || !self.free_word(s) || !self.toks[s].cap {
            return None;
        }
        let colon = (s + 1..(s + 4).min(e)).find(|&t| self.toks[t].kind != Tk::Word)?;
        if self.toks[colon].lower != ":"
            || self.toks[colon].kind != Tk::Punct
            || self.tok_region[colon].is_some()
            || colon + 1 >= e
            || !(s..colon).all(|t| self.free_word(t) && self.toks[t].cap)
        {
            return None;
        }
        if in_list(HEADLINE_LABELS, &self.toks[s].lower) {
            return Some(colon + 1);
        }
        let quote_follows = self.tok_region[colon + 1].is_some_and(|r| self.regions[r].open == colon + 1);
        (colon == s + 1 && quote_follows && !self.speaker_label(s, colon)).then_some(colon + 1)
    }

    /// Where the sentence proper starts after a speaker label that opens it and is directly
    /// followed by a quotation ("Johnson: “...”"): the quotation's mark. Other attributions
    /// in the sentence ("Lee: “...,” a spokesman said") take their content from there.
    fn label_body(&self, s: usize, e: usize) -> Option<usize> {
        let colon = (s + 1..(s + 4).min(e)).find(|&t| self.toks[t].kind != Tk::Word)?;
        let quote_follows =
            colon + 1 < e && self.tok_region[colon + 1].is_some_and(|r| self.regions[r].open == colon + 1);
        (self.toks[colon].lower == ":" && quote_follows && self.speaker_label(s, colon)).then_some(colon + 1)
    }

    /// The words between a closing quotation mark and a cue, when they look like a source:
    /// at most 14 tokens, no cue verb, no other quotation mark, at least one name-like word.
    fn source_after_quote(&self, s: usize, p: usize) -> Option<(usize, usize)> {
        let lo = p.saturating_sub(24).max(s);
        let c = (lo..=p).rev().find(|&k| self.toks[k].kind == Tk::Mark)?;
        let r = self.tok_region[c]?;
        if self.regions[r].close != Some(c) || c == 0 {
            return None;
        }
        let before_mark = &self.toks[c - 1];
        if !matches!(before_mark.lower.as_str(), "," | "?" | "!" | "-") {
            return None;
        }
        let mut a = c + 1;
        while a <= p && self.toks[a].kind == Tk::Punct {
            a += 1;
        }
        if a > p || !self.free_word(a) {
            return None;
        }
        let mut b = p;
        while b > a && self.toks[b].kind == Tk::Punct && self.toks[b].lower != ")" {
            b -= 1;
        }
        let ok = (a..=b).all(|t| {
            let tk = &self.toks[t];
            match tk.kind {
                Tk::Word => {
                    tk.cap
                        || lexicon::cue_entry(&tk.lower).is_none_or(|c| in_list(NOUNY, c.lemma) && c.lemma == tk.lower)
                }
                Tk::Punct => matches!(tk.lower.as_str(), "," | "." | "(" | ")" | "-" | "&"),
                Tk::Mark => false,
            }
        }) && ((a..=b).any(|t| {
            self.toks[t].kind == Tk::Word && (self.toks[t].cap || pronoun_kind(&self.toks[t].lower).is_some())
        }) || (b - a < 6
            && matches!(self.toks[a].lower.as_str(), "the" | "a" | "an" | "his" | "her" | "their" | "its" | "one")));
        // A lone lower-case word is a verb more often than a source ("..., was").
        if !ok || (a == b && !self.is_head(a) && pronoun_kind(&self.toks[a].lower).is_none()) {
            return None;
        }
        // The phrase must end in a name, a pronoun or a source noun, and start like a noun
        // phrase ("repeatedly, before he stopped" is a clause, not a source).
        let ends_ok = {
            let tb = &self.toks[b];
            (tb.kind == Tk::Word
                && (self.is_head(b) || pronoun_kind(&tb.lower).is_some() || in_list(QUANTIFIER_HEADS, &tb.lower)))
                || tb.lower == ")"
        };
        let ta = &self.toks[a];
        let starts_ok = ta.cap
            || pronoun_kind(&ta.lower).is_some()
            || self.is_np_word(a)
            || in_list(QUANTIFIER_HEADS, &ta.lower)
            || ta.lower.starts_with(|c: char| c.is_ascii_digit());
        if !starts_ok && !ends_ok {
            return None;
        }
        Some((a, b))
    }

    /// Trims punctuation (but not quotation marks) at both ends of a token range.
    fn trim(&self, mut a: usize, mut b: usize) -> Option<(usize, usize)> {
        while a < b && self.toks[a].kind == Tk::Punct && self.tok_region[a].is_none() {
            a += 1;
        }
        while b > a && self.toks[b - 1].kind == Tk::Punct && self.tok_region[b - 1].is_none() {
            b -= 1;
        }
        if a < b { Some((a, b)) } else { None }
    }

    fn free_words(&self, a: usize, b: usize) -> usize {
        (a..b).filter(|&t| self.free_word(t)).count()
    }

    fn regions_in(&self, a: usize, b: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for t in a..b {
            if let Some(r) = self.tok_region[t]
                && out.last() != Some(&r)
            {
                out.push(r);
            }
        }
        out
    }

    /// The whole chain (multi-paragraph quotation) a region belongs to.
    fn chain(&self, r: usize) -> Vec<usize> {
        let mut first = r;
        let mut guard = 0;
        while let Some(p) = self.regions[first].prev {
            first = p;
            guard += 1;
            if guard > self.regions.len() {
                break;
            }
        }
        let mut out = vec![first];
        let mut cur = first;
        while let Some(n) = self.regions[cur].next {
            if out.len() > self.regions.len() {
                break;
            }
            out.push(n);
            cur = n;
        }
        out
    }

    /// Content of token range `[a, b)`: kind, char spans; marks the regions used.
    fn content(&mut self, a: usize, b: usize) -> Option<(QuoteKind, Vec<(usize, usize)>)> {
        let (a, b) = self.trim(a, b)?;
        let regions = self.regions_in(a, b);
        let outside = self.free_words(a, b);
        let mut spans = Vec::new();
        let mut used = Vec::new();
        for &r in &regions {
            for c in self.chain(r) {
                if !used.contains(&c) {
                    used.push(c);
                }
            }
        }
        let kind = if regions.is_empty() {
            QuoteKind::Indirect
        } else if outside == 0 {
            QuoteKind::Direct
        } else {
            QuoteKind::Mixed
        };
        if outside == 0 && regions.is_empty() {
            return None;
        }
        if kind == QuoteKind::Direct {
            for &r in &used {
                spans.push((self.regions[r].start, self.regions[r].end));
            }
        } else {
            let mut start = self.toks[a].start;
            let mut end = self.toks[b - 1].end;
            for &r in &used {
                let reg = &self.regions[r];
                if reg.end > start && reg.start < end {
                    start = start.min(reg.start);
                    end = end.max(reg.end);
                }
            }
            spans.push((start, end));
            for &r in &used {
                let reg = &self.regions[r];
                if reg.end <= start || reg.start >= end {
                    spans.push((reg.start, reg.end));
                }
            }
        }
        for r in used {
            self.consumed[r] = true;
        }
        spans.sort_unstable();
        Some((kind, spans))
    }

    /// Start of the reported content after a cue: skips the audience of "told", "asked".
    fn after_cue(&self, cue: &Cue, order: Order, src: (usize, usize), e: usize) -> usize {
        let mut a = cue.end_tok + 1;
        if order == Order::After || order == Order::According {
            a = src.1 + 1;
        }
        if in_list(TELL_LIKE, cue.lemma) && a < e && self.free_word(a) {
            if in_list(OBJECTS, &self.toks[a].lower) {
                a += 1;
            } else if let Some((_, b)) = self.np_forward(a, e, false)
                && b + 1 < e
                && matches!(self.toks[b + 1].lower.as_str(), "that" | "," | ":" | "on" | "in")
            {
                a = b + 1;
            }
        }
        a
    }

    fn adverbial_only(&self, a: usize, b: usize) -> bool {
        let Some((a, b)) = self.trim(a, b) else {
            return true;
        };
        if !self.regions_in(a, b).is_empty() {
            return false;
        }
        // "said Tuesday in Paris, noting that ...": only the part before a participle or
        // relative clause needs to be adverbial.
        let b = (a..b)
            .find(|&t| {
                self.toks[t].lower == ","
                    && self.toks.get(t + 1).is_some_and(|n| {
                        n.kind == Tk::Word
                            && (n.lower.ends_with("ing") || matches!(n.lower.as_str(), "who" | "which" | "according"))
                    })
            })
            .unwrap_or(b);
        let words = self.free_words(a, b);
        words <= 7 && in_list(ADVERBIAL_STARTS, &self.toks[a].lower) && !(a..b).any(|t| self.toks[t].lower == "that")
    }

    fn attribute_sentence(&mut self, s: usize, e: usize, pending: &mut Option<Raw>) {
        let s = self.headline_label(s, e).unwrap_or(s);
        // "X observed, the biggest victor was ...:" followed by a quotation: the quotation
        // belongs to that attribution.
        if let Some(ri) = self.colon_raw.take()
            && self.tok_region[s].is_some_and(|r| self.regions[r].open == s && !self.consumed[r])
        {
            let regs = self.regions_in(s, e);
            let last = regs.last().map(|&r| self.regions[r].close.unwrap_or(e - 1));
            let b = last.map_or(e, |t| t + 1).min(e);
            if let Some((_, spans)) = self.content(s, b) {
                let raw = &mut self.raws[ri];
                raw.content.extend(spans);
                raw.content.sort_unstable();
                if raw.kind == QuoteKind::Indirect {
                    raw.kind = QuoteKind::Mixed;
                }
                self.last_quote = Some(ri);
            }
        }
        let before = self.raws.len();
        self.attribute_sentence_inner(s, e, pending);
        self.note_subject(s, e);
        let ends_with_colon = self.toks[e - 1].lower == ":" && self.tok_region[e - 1].is_none();
        if ends_with_colon && self.raws.len() > before {
            self.colon_raw = Some(self.raws.len() - 1);
        }
    }

    fn attribute_sentence_inner(&mut self, s: usize, e: usize, pending: &mut Option<Raw>) {
        let para = self.toks[s].para;
        // A cue that announced a quotation ("Breitbart News responded:") takes this
        // sentence when it opens with a quotation.
        let opens_quote = self.tok_region[s].is_some_and(|r| self.regions[r].open == s);
        let block = pending.as_ref().is_some_and(|p| para > p.para) && !opens_quote && self.regions_in(s, e).is_empty();
        if block && let Some(mut p) = pending.take() {
            // "In a speech last July, he said:" and a block quotation as the next paragraph.
            if let Some((kind, spans)) = self.content(s, e) {
                p.kind = kind;
                p.content = spans;
                p.para = para;
                p.conf *= 0.7;
                self.push_raw(p);
            }
        } else if let Some(mut p) = pending.take()
            && opens_quote
            && self.tok_region[s].is_some_and(|r| !self.consumed[r])
        {
            let regs = self.regions_in(s, e);
            let last = regs.iter().rev().find_map(|&r| self.regions[r].close.or(Some(self.regions[r].open)));
            let b = last.map_or(e, |t| t + 1).min(e);
            if let Some((kind, spans)) = self.content(s, b) {
                p.kind = kind;
                p.content = spans;
                p.para = para;
                self.push_raw(p);
            }
        }
        let cues = self.cues_in(s, e);
        // After a speaker label ("Lee: “...,” a spokesman said"), the other attributions'
        // content starts at the quotation, not at the label.
        let body = self.label_body(s, e).unwrap_or(s);
        let mut made = 0;
        let mut prev_source = None;
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for &cue in &cues {
            if covered.iter().any(|&(a, b)| cue.tok >= a && cue.tok < b) && cue.class == CueClass::Cognition {
                continue;
            }
            let Some((src, order)) = self.find_source(s, e, &cue, prev_source) else {
                continue;
            };
            let after_start = self.after_cue(&cue, order, src, e);
            let before_end = match order {
                Order::Before | Order::Relative | Order::Subject => src.0,
                Order::After => cue.tok,
                Order::According => cue.tok,
            };
            let cs = if cue.lemma == "label:" { s } else { body.min(before_end) };
            let before = self.trim(cs, before_end);
            let before_regions = before.map(|(a, b)| self.regions_in(a, b)).unwrap_or_default();
            let before_ends_with_quote = before
                .is_some_and(|(_, b)| self.tok_region[b - 1].is_some_and(|r| self.regions[r].close == Some(b - 1)));
            let (ca, mut cb);
            let trailing;
            match order {
                Order::After if cue.tok == s => {
                    (ca, cb) = (after_start, e);
                    trailing = false;
                }
                Order::After => {
                    (ca, cb) = (cs, before_end);
                    trailing = true;
                }
                Order::According if cue.tok > cs && before.is_some() => {
                    (ca, cb) = (cs, before_end);
                    trailing = true;
                }
                Order::According => {
                    (ca, cb) = (after_start, e);
                    trailing = false;
                }
                Order::Before if cue.lemma == "label:" => {
                    // Interview transcript: the answer runs to the end of the paragraph.
                    let mut pe = e;
                    while pe < self.toks.len() && self.toks[pe].para == para {
                        pe += 1;
                    }
                    (ca, cb) = (after_start, pe);
                    trailing = false;
                }
                Order::Before => {
                    // "“...,” X said" (the quotation opens the sentence) or "..., X said
                    // on Monday." (nothing reported after the cue).
                    let opens_with_quote = self.tok_region[cs].is_some_and(|r| self.regions[r].open == cs);
                    let use_before = before.is_some()
                        && ((before_ends_with_quote && opens_with_quote) || self.adverbial_only(after_start, e));
                    if use_before {
                        (ca, cb) = (cs, before_end);
                        trailing = true;
                    } else {
                        (ca, cb) = (after_start, e);
                        trailing = false;
                    }
                }
                Order::Relative | Order::Subject => {
                    (ca, cb) = (after_start, e);
                    trailing = false;
                }
            }
            if !trailing && cue.class == CueClass::Naming {
                // The naming ends with the name given: cut after the last quotation.
                if let Some(&r) = self.regions_in(ca, cb).last() {
                    let end_tok = self.regions[r].close.unwrap_or(cb.saturating_sub(1));
                    cb = (end_tok + 1).min(cb);
                }
            }
            if !trailing && order != Order::According {
                // Cut before a later inverted or trailing attribution in the same sentence.
                for t in ca + 1..cb {
                    if self.toks[t].lower == ","
                        && self.tok_region[t].is_none()
                        && t + 2 < cb
                        && self.toks[t + 1].lower == "according"
                        && self.toks[t + 2].lower == "to"
                    {
                        cb = t;
                        break;
                    }
                }
            }
            if !trailing && order != Order::According && in_list(NEEDS_CLAUSE, cue.lemma) {
                // "adds complexity", "showed the way": these verbs report speech only with a
                // clause or a quotation after them.
                let first = (ca..cb).find(|&t| self.toks[t].kind != Tk::Punct);
                let clause = first.is_some_and(|t| {
                    self.tok_region[t].is_some()
                        || matches!(
                            self.toks[t].lower.as_str(),
                            "that" | "how" | "what" | "why" | "whether" | "if" | "when" | "where"
                        )
                        // "vowed to ...", but "spoke to reporters".
                        || (self.toks[t].lower == "to" && cue.lemma != "speak")
                });
                let colon = ca < cb && matches!(self.toks[ca].lower.as_str(), ":" | ",");
                if !clause && !colon {
                    continue;
                }
            }
            let mut quote_content = None;
            if trailing && !before_regions.is_empty() {
                // Split quotation: "“A,” he said, “B.”" takes B along.
                let mut k = after_start;
                while k < e && !self.free_word(k) && self.tok_region[k].is_none() {
                    k += 1;
                }
                while k < e && self.free_word(k) && in_list(ADVERBIAL_STARTS, &self.toks[k].lower) {
                    k += 1;
                }
                let mut k2 = k;
                while k2 < e && k2 < k + 25 && self.tok_region[k2].is_none() {
                    k2 += 1;
                }
                let gap_has_cue = (k..k2).any(|t| {
                    self.free_word(t) && !self.toks[t].cap && lexicon::cue_entry(&self.toks[t].lower).is_some()
                });
                if k2 < e && self.tok_region[k2].is_some() && !gap_has_cue {
                    let regs = self.regions_in(k2, e);
                    if let Some(&r) = regs.last() {
                        let endt = self.regions[r].close.unwrap_or(e - 1);
                        quote_content = Some((k2, (endt + 1).min(e)));
                    }
                }
            }
            if matches!(cue.lemma, ":" | "label:")
                && cues.iter().any(|c| {
                    c.tok > ca
                        && c.tok < cb
                        && self.find_source(s, e, c, None).is_some_and(|(src, _)| {
                            let before = (ca..src.0).rev().find(|&t| self.toks[t].kind != Tk::Punct);
                            src.0 > ca
                                && src.1 < cb
                                && before.is_some_and(|t| {
                                    self.tok_region[t].is_some_and(|r| self.regions[r].close == Some(t))
                                })
                        })
                })
            {
                // "Lee: “...,” a spokesman told reporters": the attribution after the
                // quotation claims it, and a quotation must not have two speakers.
                continue;
            }
            let Some((kind, mut spans)) = self.content(ca, cb) else {
                if !trailing && order != Order::According && self.trim(after_start, e).is_none() {
                    // "X said:" with the quotation in the next sentence or paragraph.
                    let speaker = self.resolve(src);
                    *pending = Some(Raw {
                        kind: QuoteKind::Direct,
                        content: Vec::new(),
                        cue: Some((cue.tok, cue.end_tok)),
                        source: Some(src),
                        speaker: speaker.map(|x| x.0),
                        conf: 0.85,
                        para,
                    });
                }
                continue;
            };
            let mut kind = kind;
            if let Some((qa, qb)) = quote_content
                && let Some((k2, more)) = self.content(qa, qb)
            {
                spans.extend(more);
                spans.sort_unstable();
                if k2 != QuoteKind::Direct {
                    kind = QuoteKind::Mixed;
                }
            }
            let words = spans.iter().map(|&(a, b)| b - a).sum::<usize>();
            if kind == QuoteKind::Indirect && words < 8 {
                continue;
            }
            covered.push((ca, cb));
            prev_source = Some(src);
            let resolved = self.resolve(src);
            let mut conf: f32 = match (kind, order) {
                (QuoteKind::Direct, Order::Before | Order::After) => 0.9,
                (QuoteKind::Direct, _) => 0.8,
                (QuoteKind::Mixed, _) => 0.75,
                (QuoteKind::Indirect, _) => 0.65,
            };
            if let Some((_, how)) = resolved {
                conf *= match how {
                    Resolution::Named => 1.0,
                    Resolution::Pronoun => 0.9,
                    Resolution::Nominal => 0.85,
                };
            }
            if cue.class == CueClass::Cognition {
                conf *= 0.6;
            }
            if spans.iter().any(|&(_, b)| self.unclosed_at(b)) {
                conf *= 0.8;
            }
            self.push_raw(Raw {
                kind,
                content: spans,
                cue: Some((cue.tok, cue.end_tok)),
                source: Some(src),
                speaker: resolved.map(|x| x.0),
                conf,
                para,
            });
            made += 1;
        }
        // Quotations left over: a standalone quoted sentence continues the quote run.
        let regs = self.regions_in(s, e);
        let free: Vec<usize> =
            regs.into_iter().filter(|&r| !self.consumed[r] && self.regions[r].next.is_none()).collect();
        let opens = self.tok_region[s].is_some_and(|r| self.regions[r].open == s);
        let limit = if opens { 8 } else { 3 };
        if free.is_empty() || self.free_words(s, e) > limit || made > 0 {
            return;
        }
        let first = self.regions[free[0]].open;
        let last = free.iter().rev().find_map(|&r| self.regions[r].close).unwrap_or(e - 1).max(first);
        let Some((kind, spans)) = self.content(first, (last + 1).min(e)) else {
            return;
        };
        // Length as Latin-script text would have it: a CJK character carries about as much
        // as a short word ("「選挙に勝つ」" is a whole quoted clause).
        let width = |c: &char| if *c >= '\u{2E80}' { 3 } else { 1 };
        let len: usize =
            spans.iter().map(|&(a, b)| self.chars().get(a..b).unwrap_or(&[]).iter().map(width).sum::<usize>()).sum();
        // "»Das ist falsch«, sagte Merkel.": a name just after a quotation set off by a
        // comma, with a cue the lexicon does not know, is a speaker of its own, not the
        // quote run's.
        let set_off = last > 0
            && (matches!(self.toks[last - 1].lower.as_str(), "," | "?" | "!")
                || self.toks.get(last + 1).is_some_and(|t| t.lower == ","));
        let named_after = opens
            && set_off
            && (last + 1..e).filter(|&t| self.toks[t].kind == Tk::Word).take(3).any(|t| {
                let tk = &self.toks[t];
                self.free_word(t) && tk.cap && pronoun_kind(&tk.lower).is_none() && !in_list(NOT_NAMES, &tk.lower)
            });
        if let Some(li) = self.last_quote.filter(|_| !named_after) {
            let last = &self.raws[li];
            let same_para = last.para == para;
            let near = para <= last.para + 1;
            if same_para && li + 1 == self.raws.len() {
                let raw = &mut self.raws[li];
                raw.content.extend(spans);
                raw.content.sort_unstable();
                return;
            }
            if near {
                let speaker = last.speaker;
                self.push_raw(Raw { kind, content: spans, cue: None, source: None, speaker, conf: 0.55, para });
                return;
            }
        }
        if len >= 12 {
            self.push_raw(Raw { kind, content: spans, cue: None, source: None, speaker: None, conf: 0.3, para });
        }
    }

    fn unclosed_at(&self, end: usize) -> bool {
        self.regions.iter().any(|r| r.end == end && r.close.is_none())
    }

    fn push_raw(&mut self, raw: Raw) {
        // Two cues claiming the same words ("tweeted, saying: “...”"): the first one wins.
        if self.raws.iter().rev().take(8).any(|r| r.content == raw.content) {
            return;
        }
        self.clock += 1;
        if let Some(sp) = raw.speaker {
            self.entries[sp].quote_count += 1;
            self.entries[sp].last = self.clock;
        }
        let quoted = raw.kind != QuoteKind::Indirect;
        self.raws.push(raw);
        if quoted {
            self.last_quote = Some(self.raws.len() - 1);
        }
    }

    // -- output ---------------------------------------------------------------------------

    /// Input text for a normalised char range `[a, b)`.
    fn orig_text(&self, a: usize, b: usize) -> String {
        let [s, e] = self.orig_span(a, b);
        self.orig[s..e].iter().collect()
    }

    /// Code-point span in the input for a normalised char range `[a, b)`.
    fn orig_span(&self, a: usize, b: usize) -> [usize; 2] {
        let n = self.norm.chars.len();
        if a >= b || a >= n {
            let p = self.norm.input_len;
            return [p, p];
        }
        let b = b.min(n);
        let s = self.norm.origin[a];
        let e = (self.norm.origin[b - 1] + 1).min(self.norm.input_len);
        [s, e.max(s)]
    }

    fn segment(&self, ranges: &[(usize, usize)]) -> Segment {
        let mut spans: Vec<[usize; 2]> = Vec::new();
        for &(a, b) in ranges {
            // Trim whitespace (newlines) at the ends of each range.
            let (mut a, mut b) = (a, b.min(self.norm.chars.len()));
            while a < b && self.norm.chars[a].is_whitespace() {
                a += 1;
            }
            while b > a && self.norm.chars[b - 1].is_whitespace() {
                b -= 1;
            }
            if a < b {
                let sp = self.orig_span(a, b);
                if sp[0] < sp[1] {
                    spans.push(sp);
                }
            }
        }
        let text = spans.iter().map(|s| self.orig[s[0]..s[1]].iter().collect::<String>()).collect::<Vec<_>>().join(" ");
        Segment { text, spans }
    }

    fn tok_segment(&self, (a, b): (usize, usize)) -> Segment {
        self.segment(&[(self.toks[a].start, self.toks[b].end)])
    }

    fn run(&mut self) {
        self.tokenize();
        if self.toks.is_empty() {
            return;
        }
        self.pair_marks();
        self.note_capitalisation();
        let mut pending = None;
        for (s, e) in self.sentences() {
            self.attribute_sentence(s, e, &mut pending);
        }
    }

    fn finish(self) -> Extraction {
        debug_assert!(self.text.chars().count() == self.norm.input_len);
        let mut quotes: Vec<(usize, Quote)> = self
            .raws
            .iter()
            .filter(|r| !r.content.is_empty())
            .map(|r| {
                let content = self.segment(&r.content);
                let first = content.spans.first().map_or(0, |s| s[0]);
                (
                    first,
                    Quote {
                        kind: r.kind,
                        content,
                        cue: r.cue.map(|c| self.tok_segment(c)),
                        source: r.source.map(|c| self.tok_segment(c)),
                        speaker: r.speaker.map(|i| self.entries[i].name.clone()),
                        confidence: (r.conf * 100.0).round() / 100.0,
                    },
                )
            })
            .filter(|(_, q)| !q.content.spans.is_empty())
            .collect();
        quotes.sort_by_key(|(k, _)| *k);
        let mut seen = HashSet::new();
        let quotes: Vec<Quote> = quotes
            .into_iter()
            .map(|(_, q)| q)
            .filter(|q| seen.insert((q.content.spans.clone(), q.cue.clone())))
            .collect();
        let speakers = self
            .entries
            .iter()
            .filter(|e| e.quote_count > 0)
            .map(|e| Speaker {
                name: e.name.clone(),
                aliases: e.aliases.clone(),
                role: e.role.clone(),
                quote_count: e.quote_count,
            })
            .collect();
        Extraction { quotes, speakers }
    }
}

fn strip_the(s: &str) -> &str {
    for p in ["the ", "The ", "THE "] {
        if let Some(r) = s.strip_prefix(p) {
            return r;
        }
    }
    s
}

#[cfg(test)]
mod tests;
