//! Word lists for quotation extraction, kept as data in the source so that the crate never
//! reads `../shared` at run time.
//!
//! The cue verbs start from the GGT quote-verb list (Maite Taboada, MIT licence) and add
//! confirm/deny, warn/predict, naming/evaluation and blame/praise verbs, because verbs such
//! as "condemn" or "praise" carry stance and the analyser needs to see them. Each verb is
//! stored once as a lemma; its inflections are generated when the table is first used
//! (irregular forms are written out after `|`, a trailing `+` doubles the final consonant).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// What kind of act a cue verb reports; it tells the analyser how much stance to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CueClass {
    /// Neutral speech and writing: say, tell, add, write, tweet.
    Speech,
    /// Confirmation or denial: confirm, deny, corroborate, dispute.
    Confirm,
    /// Claims and arguments: claim, argue, insist, allege.
    Claim,
    /// Warnings, predictions and commitments: warn, predict, vow, promise.
    Warn,
    /// Naming and evaluation of a thing: call, label, describe, dub, brand.
    Naming,
    /// Blame and praise: blame, accuse, condemn, praise, hail.
    Evaluation,
    /// Reported thought or attitude (think, believe, hope): weaker evidence of speech.
    Cognition,
}

/// Lemmas and their class. Irregular verbs list `lemma|past|participle` (participle
/// optional); a trailing `+` doubles the last consonant before -ed/-ing ("admit+").
const CUE_VERBS: &[(&str, CueClass)] = {
    use CueClass::*;
    &[
        // speech
        ("say|said", Speech),
        ("tell|told", Speech),
        ("retell|retold", Speech),
        ("write|wrote|written", Speech),
        ("speak|spoke|spoken", Speech),
        ("add", Speech),
        ("state", Speech),
        ("note", Speech),
        ("explain", Speech),
        ("tweet", Speech),
        ("post", Speech),
        ("reply", Speech),
        ("respond", Speech),
        ("ask", Speech),
        ("comment", Speech),
        ("remark", Speech),
        ("announce", Speech),
        ("declare", Speech),
        ("report", Speech),
        ("continue", Speech),
        ("recall", Speech),
        ("joke", Speech),
        ("quip+", Speech),
        ("stress", Speech),
        ("emphasize", Speech),
        ("emphasise", Speech),
        ("mention", Speech),
        ("reiterate", Speech),
        ("repeat", Speech),
        ("testify", Speech),
        ("shout", Speech),
        ("chant", Speech),
        ("exclaim", Speech),
        ("answer", Speech),
        ("tell", Speech),
        ("inform", Speech),
        ("notify", Speech),
        ("observe", Speech),
        ("point", Speech),
        ("conclude", Speech),
        ("clarify", Speech),
        ("indicate", Speech),
        ("reveal", Speech),
        ("disclose", Speech),
        ("advise", Speech),
        ("urge", Speech),
        ("proclaim", Speech),
        ("restate", Speech),
        ("highlight", Speech),
        ("cite", Speech),
        ("read|read", Speech),
        ("recount", Speech),
        ("preach", Speech),
        ("mutter", Speech),
        ("whisper", Speech),
        ("scream", Speech),
        ("yell", Speech),
        ("murmur", Speech),
        ("concede", Speech),
        ("acknowledge", Speech),
        ("admit+", Speech),
        ("release", Speech),
        ("publish", Speech),
        ("reassure", Speech),
        ("assure", Speech),
        ("show", Speech),
        ("find|found", Speech),
        // confirm / deny
        ("confirm", Confirm),
        ("reconfirm", Confirm),
        ("corroborate", Confirm),
        ("verify", Confirm),
        ("deny", Confirm),
        ("dispute", Confirm),
        ("reject", Confirm),
        ("refute", Confirm),
        ("dismiss", Confirm),
        ("disclaim", Confirm),
        ("agree", Confirm),
        ("rebut+", Confirm),
        ("question", Confirm),
        // claim / argue
        ("claim", Claim),
        ("argue", Claim),
        ("assert", Claim),
        ("reassert", Claim),
        ("contend", Claim),
        ("maintain", Claim),
        ("allege", Claim),
        ("insist", Claim),
        ("suggest", Claim),
        ("propose", Claim),
        ("counter", Claim),
        ("persist", Claim),
        ("demonstrate", Claim),
        ("illustrate", Claim),
        ("boast", Claim),
        ("brag+", Claim),
        ("complain", Claim),
        ("acknowledge", Claim),
        ("explain", Claim),
        ("estimate", Claim),
        ("reckon", Claim),
        ("demand", Claim),
        ("ensure", Claim),
        // warn / predict / commit
        ("warn", Warn),
        ("caution", Warn),
        ("predict", Warn),
        ("forecast|forecast", Warn),
        ("project", Warn),
        ("vow", Warn),
        ("promise", Warn),
        ("pledge", Warn),
        ("threaten", Warn),
        ("signal", Warn),
        ("announce", Warn),
        // naming / evaluation of a thing
        ("call", Naming),
        ("label", Naming),
        ("describe", Naming),
        ("dub+", Naming),
        ("brand", Naming),
        ("term", Naming),
        ("characterize", Naming),
        ("characterise", Naming),
        ("deem", Naming),
        ("name", Naming),
        ("refer+", Naming),
        // blame / praise
        ("blame", Evaluation),
        ("accuse", Evaluation),
        ("condemn", Evaluation),
        ("criticize", Evaluation),
        ("criticise", Evaluation),
        ("denounce", Evaluation),
        ("decry", Evaluation),
        ("slam+", Evaluation),
        ("lambast", Evaluation),
        ("attack", Evaluation),
        ("fault", Evaluation),
        ("castigate", Evaluation),
        ("praise", Evaluation),
        ("applaud", Evaluation),
        ("hail", Evaluation),
        ("commend", Evaluation),
        ("laud", Evaluation),
        ("acclaim", Evaluation),
        ("welcome", Evaluation),
        ("thank", Evaluation),
        ("congratulate", Evaluation),
        ("endorse", Evaluation),
        ("defend", Evaluation),
        ("rave", Evaluation),
        ("mock", Evaluation),
        ("ridicule", Evaluation),
        // cognition / attitude
        ("think|thought", Cognition),
        ("believe", Cognition),
        ("feel|felt", Cognition),
        ("know|knew|known", Cognition),
        ("hope", Cognition),
        ("fear", Cognition),
        ("expect", Cognition),
        ("worry", Cognition),
        ("doubt", Cognition),
        ("wonder", Cognition),
        ("want", Cognition),
        ("see|saw|seen", Cognition),
    ]
};

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// All forms of one table entry: lemma, 3rd person singular, past (and participle), -ing.
fn inflect(entry: &str) -> (String, Vec<String>) {
    let mut parts = entry.split('|');
    let head = parts.next().unwrap_or_default();
    let irregular: Vec<String> = parts.map(str::to_string).collect();
    let double = head.ends_with('+');
    let lemma = head.trim_end_matches('+').to_string();
    let last = lemma.chars().last().unwrap_or('a');
    let before_last = lemma.chars().rev().nth(1).unwrap_or('a');
    let third = if lemma.ends_with('s')
        || lemma.ends_with("sh")
        || lemma.ends_with("ch")
        || lemma.ends_with('x')
        || lemma.ends_with('z')
    {
        format!("{lemma}es")
    } else if last == 'y' && !is_vowel(before_last) {
        format!("{}ies", &lemma[..lemma.len() - 1])
    } else {
        format!("{lemma}s")
    };
    let stem = if double {
        format!("{lemma}{last}")
    } else {
        lemma.clone()
    };
    let past = if last == 'e' {
        format!("{lemma}d")
    } else if last == 'y' && !is_vowel(before_last) {
        format!("{}ied", &lemma[..lemma.len() - 1])
    } else {
        format!("{stem}ed")
    };
    let ing = if last == 'e' && before_last != 'e' && lemma.len() > 2 {
        format!("{}ing", &lemma[..lemma.len() - 1])
    } else {
        format!("{stem}ing")
    };
    let mut forms = vec![lemma.clone(), third, ing];
    if irregular.is_empty() {
        forms.push(past);
    } else {
        forms.extend(irregular);
    }
    (lemma, forms)
}

/// A cue verb form looked up in the lexicon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CueEntry {
    pub lemma: &'static str,
    pub class: CueClass,
}

static CUE_FORMS: LazyLock<HashMap<String, CueEntry>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for &(entry, class) in CUE_VERBS {
        let (lemma, forms) = inflect(entry);
        // Lemmas must be 'static for the entry; leak-free: point into the table entry.
        let lemma_static: &'static str = &entry[..lemma.len()];
        for f in forms {
            map.entry(f).or_insert(CueEntry {
                lemma: lemma_static,
                class,
            });
        }
    }
    map
});

/// Looks up a lower-cased word form ("warned", "says", "labeling").
pub fn cue_entry(word_lower: &str) -> Option<CueEntry> {
    CUE_FORMS.get(word_lower).copied()
}

/// The class of a cue verb form, case-insensitive; `None` if it is not a cue verb.
pub fn cue_class(word: &str) -> Option<CueClass> {
    cue_entry(&word.to_lowercase()).map(|e| e.class)
}

/// Titles and roles that precede a name and are stripped from the canonical speaker name
/// ("Pentagon spokesperson Sabrina Singh" -> "Sabrina Singh"). Lower-case forms.
pub const TITLES: &[&str] = &[
    "president", "vice", "secretary", "secretary-general", "minister", "prime", "senator",
    "sen", "sen.", "rep", "rep.", "representative", "gov", "gov.", "governor", "mayor",
    "chancellor", "director", "chairman", "chairwoman", "chair", "chief", "general", "gen",
    "gen.", "judge", "justice", "dr", "dr.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.",
    "spokesperson", "spokesman", "spokeswoman", "ceo", "ambassador", "attorney", "lt", "lt.",
    "col", "col.", "officer", "commissioner", "speaker", "leader", "king", "queen", "pope",
    "prince", "princess", "foreign", "defense", "defence", "deputy", "former", "candidate",
    "sheriff", "professor", "prof", "prof.", "executive", "founder", "adviser", "advisor",
    "analyst", "economist", "lawyer", "official", "officials", "head", "councilman",
    "councilwoman", "congressman", "congresswoman", "state", "white", "house", "press",
    "spokespeople", "admiral", "adm.", "sgt.", "captain", "capt.", "commander", "leader",
    "majority", "minority", "democratic", "republican", "gop", "presidential", "hopeful",
    "nominee", "frontrunner", "front-runner", "author", "columnist", "editor", "reporter",
    "correspondent", "host", "anchor", "pastor", "rev.", "reverend", "coach", "manager",
    "strategist", "pollster", "aide", "activist", "researcher", "scientist", "expert",
    "u.s.", "us", "uk", "u.k.", "nato", "un", "u.n.", "eu",
];

/// Lower-case nouns that can head or sit inside a source noun phrase ("the spokesperson",
/// "Western governments", "North Korea's state media").
pub const SOURCE_NOUNS: &[&str] = &[
    "spokesperson", "spokesman", "spokeswoman", "spokespeople", "official", "officials",
    "government", "governments", "media", "sources", "source", "analysts", "analyst",
    "experts", "expert", "police", "authorities", "leaders", "leader", "lawmakers",
    "critics", "aides", "aide", "report", "reports", "statement", "ministry", "agency",
    "newspaper", "paper", "spokespersons", "president", "minister", "secretary",
    "senator", "governor", "mayor", "chairman", "director", "judge", "lawyer", "lawyers",
    "attorney", "prosecutors", "prosecutor", "investigators", "researchers", "study",
    "survey", "poll", "polls", "data", "documents", "officers", "military", "army",
    "campaign", "administration", "commission", "committee", "council", "department",
    "office", "agency", "company", "group", "organization", "organisation", "union",
    "residents", "witnesses", "activists", "protesters", "supporters", "opponents",
    "democrats", "republicans", "voters", "economists", "scientists", "diplomats",
    "candidate", "nominee", "author", "authors", "writer", "editor", "editorial",
    "reporter", "reporters", "correspondent", "columnist", "host", "agency", "service",
    "state", "ministers", "leadership", "regime", "party", "board", "court", "people",
    "officer", "doctors", "teachers", "workers", "members", "member", "chief", "head",
    "advisers", "adviser", "advisor", "advisors", "executive", "executives", "founder",
    "website", "outlet", "network", "magazine", "broadcaster", "tv", "television",
    "press", "correspondents", "commentators", "pundits", "observers", "watchdog",
    "senators", "representatives", "congressman", "congresswoman", "governments",
    "bank", "person", "woman", "man", "official", "ministry", "spokeswoman", "union",
    "residents", "friend", "neighbor", "neighbour", "father", "mother", "son", "daughter",
    "wife", "husband", "brother", "sister", "owner", "president", "lawmaker", "voter",
    "supporter", "student", "teacher", "doctor", "nurse", "farmer", "worker", "resident",
    "victim", "witness", "employee", "employees", "staff", "spokesperson", "rival",
];

/// Lower-case modifiers allowed inside a source noun phrase before its head.
pub const NP_MODIFIERS: &[&str] = &[
    "the", "a", "an", "his", "her", "their", "its", "our", "some", "many", "several",
    "other", "both", "two", "three", "four", "senior", "former", "top", "local", "state",
    "federal", "foreign", "military", "western", "eastern", "european", "american",
    "chinese", "russian", "news", "white", "house", "campaign", "government", "party",
    "defense", "defence", "security", "intelligence", "health", "justice", "election",
    "police", "city", "county", "national", "international", "unnamed", "anonymous",
    "administration", "department", "agency", "u.s.", "press", "new", "most", "all",
    "one", "another", "these", "those", "gop", "democratic", "republican", "presidential",
    "conservative", "liberal", "independent", "leading", "prominent", "outside",
    "economic", "legal", "medical", "fellow", "longtime", "veteran", "chief", "deputy",
    "assistant", "associate", "vice", "executive", "managing", "general", "public",
    "central", "regional", "provincial", "young", "old", "elderly", "retired", "british",
    "french", "german", "israeli", "iranian", "ukrainian", "japanese", "korean", "indian",
];

/// Personal pronouns that can be a source, with what they may refer to.
pub fn pronoun_kind(lower: &str) -> Option<PronounKind> {
    Some(match lower {
        "he" | "she" | "him" | "her" => PronounKind::Person,
        "they" | "it" => PronounKind::Group,
        "i" | "we" | "you" => PronounKind::Deictic,
        _ => return None,
    })
}

/// What a pronoun can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PronounKind {
    /// he / she: the most recent person speaker.
    Person,
    /// they / it: the most recent organisation, else the most recent speaker.
    Group,
    /// I / we / you: the author or reader; kept as written, not resolved.
    Deictic,
}

/// Words that mark an organisation rather than a person.
pub const ORG_WORDS: &[&str] = &[
    "pentagon", "ministry", "department", "agency", "house", "party", "committee",
    "council", "media", "news", "times", "post", "journal", "government", "governments",
    "office", "police", "army", "military", "commission", "administration", "bank",
    "fund", "union", "association", "institute", "university", "court", "congress",
    "senate", "parliament", "kremlin", "nato", "campaign", "network", "press", "reuters",
    "ap", "cnn", "fox", "bbc", "company", "corp", "corp.", "inc", "inc.", "group",
    "organization", "organisation", "foundation", "center", "centre", "council", "board",
    "service", "agency", "officials", "authorities", "sources", "report", "statement",
    "study", "survey", "poll", "website", "magazine", "newspaper", "broadcaster", "tv",
    "state", "regime", "leadership", "republicans", "democrats", "daily", "tribune",
    "herald", "telegraph", "guardian", "gazette", "globe", "examiner", "breitbart",
    "washington", "moscow", "beijing", "pyongyang", "kyiv", "seoul", "tokyo",
];

/// Capitalised words that start sentences or name days and months: never a source alone.
pub const NOT_NAMES: &[&str] = &[
    "the", "a", "an", "it", "this", "that", "these", "those", "there", "here", "but",
    "and", "or", "so", "yet", "if", "when", "while", "as", "after", "before", "in", "on",
    "at", "for", "with", "by", "from", "of", "to", "meanwhile", "however", "still",
    "also", "then", "now", "today", "yesterday", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april",
    "may", "june", "july", "august", "september", "october", "november", "december",
    "what", "which", "who", "why", "how", "where", "some", "many", "most", "all", "no",
    "not", "one", "his", "her", "their", "its", "our", "my", "your", "said", "says",
    "according", "both", "each", "every", "other", "such", "because", "since", "though",
    "although", "just", "only", "even", "instead", "indeed", "thus", "therefore",
    "hours", "days", "minutes", "weeks", "months", "years", "moments", "later", "earlier",
    "asked", "speaking", "like", "unlike", "despite", "during", "under", "we", "they",
    "he", "she", "i", "you", "if", "yes", "oh", "well", "last", "next", "first",
];

/// Auxiliaries and adverbs allowed between a source and its cue verb ("Rutte also
/// corroborated", "Biden has repeatedly said").
pub const PRE_CUE_FILLERS: &[&str] = &[
    "also", "has", "have", "had", "previously", "later", "then", "repeatedly", "recently",
    "publicly", "again", "further", "will", "would", "reportedly", "once", "often",
    "already", "frequently", "initially", "first", "last", "earlier", "subsequently",
    "privately", "flatly", "explicitly", "openly", "separately", "quickly", "simply",
    "clearly", "specifically", "finally", "actually", "angrily", "bluntly", "strongly",
    "sharply", "correctly", "wrongly", "falsely", "famously", "memorably", "even",
    "never", "always", "not", "did", "does", "do", "could", "may", "might", "can",
    "should", "must", "just", "still", "quietly", "loudly", "proudly", "only", "had",
    "immediately", "personally", "directly", "specifically", "tearfully", "curtly",
];

/// Lower-cased membership test over one of the word lists above.
pub fn in_list(list: &[&str], lower: &str) -> bool {
    list.contains(&lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflections_are_generated() {
        for w in [
            "say", "says", "said", "saying", "warned", "warning", "denies", "denied",
            "admitted", "admitting", "labeled", "argues", "arguing", "wrote", "written",
            "thought", "praises", "condemned", "dubbed", "referred", "forecast",
        ] {
            assert!(cue_entry(w).is_some(), "{w}");
        }
        assert_eq!(cue_entry("said").unwrap().lemma, "say");
        assert_eq!(cue_class("Condemned"), Some(CueClass::Evaluation));
        assert_eq!(cue_entry("table"), None);
    }
}
