//! Speaker resolution: from a source mention to a canonical speaker.
//!
//! Titles and roles are split off the name ("Pentagon spokesperson Sabrina Singh" ->
//! "Sabrina Singh" + role "Pentagon spokesperson"); a surname alone merges with the full
//! name seen before it (and a full name upgrades an entry known by its surname); pronouns
//! resolve to the most recent compatible speaker (person or organisation, gender when known);
//! "the spokesperson"-style nominals resolve to the most recent speaker with that role.
//! Organisations ("The Pentagon", "North Korea's state media", "Western governments") are
//! speakers too, named as first written.

use super::lexicon::{
    FEMALE_FIRST_NAMES, MALE_FIRST_NAMES, ORG_WORDS, PronounKind, TITLES, cue_entry, in_list, pronoun_kind,
};
use super::{
    AUXILIARIES, CLAUSE_WORDS, Engine, NAME_PARTICLES, NAME_SUFFIXES, PLACE_STARTS, TITLE_ABBREVIATIONS, Tk,
    is_initials, strip_the,
};

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) key: String,
    pub(super) aliases: Vec<String>,
    pub(super) role: Option<String>,
    pub(super) org: bool,
    pub(super) quote_count: usize,
    /// Order of the last attribution to this speaker (for recency).
    pub(super) last: usize,
    /// Grammatical gender when marked by a title or role word ("Mr.", "the chairman"), so
    /// that "she" does not resolve to a man quoted just before.
    gender: Option<Gender>,
    /// Gender learned from a pronoun resolved to this speaker: a weak signal, which only
    /// orders candidates and never rules one out (a wrong guess must not cascade).
    learned: Option<Gender>,
    /// Not a person ("Shortly", "Labor Day", "Some"): never the referent of "he"/"she" or
    /// of "the candidate".
    pub(super) nonperson: bool,
    /// Last reached by a pronoun that passed over nearer candidates (see `resolve`).
    guessed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gender {
    Male,
    Female,
}

/// Gender marked by a title or role word, if any.
fn gender_of_word(lower: &str) -> Option<Gender> {
    match lower.trim_end_matches('.') {
        "mr" | "he" | "him" | "his" | "spokesman" | "chairman" | "congressman" | "councilman" | "king" | "prince"
        | "father" | "son" | "brother" | "husband" | "man" => Some(Gender::Male),
        "mrs" | "ms" | "she" | "her" | "spokeswoman" | "chairwoman" | "congresswoman" | "councilwoman" | "queen"
        | "princess" | "mother" | "daughter" | "sister" | "wife" | "woman" => Some(Gender::Female),
        _ => None,
    }
}

/// Gender hinted by the first name of a person's full name ("Mary Smith"), if it is a very
/// common one; a weak hint, used only to choose between candidates.
fn first_name_gender(name: &str) -> Option<Gender> {
    let mut words = name.split(' ');
    let first = words.next()?.to_lowercase();
    words.next()?;
    if in_list(MALE_FIRST_NAMES, &first) {
        Some(Gender::Male)
    } else if in_list(FEMALE_FIRST_NAMES, &first) {
        Some(Gender::Female)
    } else {
        None
    }
}

/// Words that stand for an indefinite someone, never a named person ("Everyone wants",
/// "Neither wanted", "Some chanted").
const INDEFINITES: &[&str] = &[
    "some",
    "many",
    "others",
    "several",
    "most",
    "few",
    "both",
    "all",
    "another",
    "everyone",
    "everybody",
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "nobody",
    "none",
    "neither",
    "either",
    "people",
    "each",
];

/// Single words naming a holiday or season, never a person.
const HOLIDAYS: &[&str] =
    &["christmas", "thanksgiving", "easter", "halloween", "hanukkah", "ramadan", "passover", "yom", "diwali"];

/// First words of holiday and calendar names ending in "Day", "Eve" or a weekday ("Labor
/// Day", "Election Day", "Super Tuesday", "Black Friday").
const HOLIDAY_STARTS: &[&str] = &[
    "labor",
    "labour",
    "memorial",
    "election",
    "independence",
    "veterans",
    "veterans'",
    "presidents",
    "presidents'",
    "inauguration",
    "inaugural",
    "christmas",
    "thanksgiving",
    "new",
    "mother's",
    "father's",
    "valentine's",
    "boxing",
    "columbus",
    "patriots",
    "flag",
    "armistice",
    "remembrance",
    "victory",
    "primary",
    "caucus",
    "super",
    "black",
    "cyber",
    "ash",
    "good",
    "easter",
    "groundhog",
    "tax",
    "opening",
    "judgment",
    "doomsday",
    "may",
    "earth",
    "leap",
    "halloween",
    "mlk",
    "d-day",
    "voting",
];

const DAY_WORDS: &[&str] =
    &["day", "eve", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "weekend"];

/// A calendar name ("Labor Day", "Super Tuesday", "Christmas Eve"), given lower-cased words.
fn calendar_name(words: &[&str]) -> bool {
    match words {
        [w] => in_list(HOLIDAYS, w) || in_list(DAY_WORDS, w),
        [first, .., last] => in_list(DAY_WORDS, last) && in_list(HOLIDAY_STARTS, first),
        [] => false,
    }
}

/// A one-word name written like a brand or a site ("HuffPollster", "BuzzFeed",
/// "ReganBooks"): a capital inside the word after three or more lower-case letters, which
/// name prefixes ("McCain", "MacArthur", "DeSantis", "LaHood") do not have.
pub(super) fn camel_case_brand(word: &str) -> bool {
    let chars: Vec<char> = word.chars().collect();
    let Some(k) = (1..chars.len()).find(|&k| chars[k].is_uppercase()) else {
        return false;
    };
    k >= 4
        && chars[0].is_uppercase()
        && chars[1..k].iter().all(|c| c.is_lowercase())
        && chars.get(k + 1).is_some_and(|c| c.is_lowercase())
        && !chars[..k].iter().collect::<String>().to_lowercase().starts_with("mac")
}

/// Role words that name the same kind of person: "the candidate" is the "Republican
/// front-runner".
const ROLE_GROUPS: &[&[&str]] =
    &[&["candidate", "nominee", "front-runner", "frontrunner", "contender", "hopeful", "challenger"]];

/// Abbreviated titles and the role they stand for: "the Ohio governor" is "Ohio Gov. John
/// Kasich". There are many senators, so these count only with a place named ("the Florida
/// senator"), not for a bare "the senator".
const TITLE_GROUPS: &[&[&str]] =
    &[&["senator", "sen."], &["governor", "gov."], &["congressman", "congresswoman", "representative", "rep."]];

/// Whether a (lower-cased) role names the kind of person "the `head`" stands for: a word of
/// the head's group (and with `placed`, of its title group).
fn role_names(role: &str, head: &str, placed: bool) -> bool {
    let groups = ROLE_GROUPS.iter().chain(TITLE_GROUPS.iter().filter(|_| placed));
    groups.into_iter().any(|group| group.contains(&head) && role.split(' ').any(|w| group.contains(&w)))
}

/// A word's 64-bit hash, for the document's sets of words: a collision would only make one
/// word look written as another is, once in 2^64.
fn word_hash(lower: &str) -> u64 {
    crate::features::fmix(crate::features::fnv(0, lower.as_bytes()))
}

/// How a source mention resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Resolution {
    Named,
    Pronoun,
    Nominal,
}

impl Engine<'_> {
    /// Records which words the document writes capitalised mid-sentence and which in lower
    /// case, outside title-case headlines (see [`Engine::not_a_person`]).
    pub(super) fn note_capitalisation(&mut self) {
        let n = self.toks.len();
        let mut p0 = 0;
        while p0 < n {
            let para = self.toks[p0].para;
            let p1 = (p0..n).find(|&t| self.toks[t].para != para).unwrap_or(n);
            let words: Vec<usize> = (p0..p1).filter(|&t| self.toks[t].kind == Tk::Word).collect();
            let caps = words.iter().filter(|&&t| self.toks[t].cap).count();
            let title_case = words.len() >= 3 && caps * 5 >= words.len() * 3;
            for &t in &words {
                let tk = &self.toks[t];
                if !tk.cap {
                    self.lower_words.push(word_hash(&tk.lower));
                } else if !title_case && !self.opens_sentence(t) {
                    self.mid_caps.push(word_hash(&tk.lower));
                }
            }
            p0 = p1;
        }
        for set in [&mut self.lower_words, &mut self.mid_caps] {
            set.sort_unstable();
            set.dedup();
        }
    }

    /// Whether token `t` is the first word of a sentence, a paragraph, a quotation or a
    /// clause after a colon or a dash, where any word is capitalised.
    pub(super) fn opens_sentence(&self, t: usize) -> bool {
        t == 0
            || self.toks[t - 1].para != self.toks[t].para
            || self.tok_region[t - 1].is_some_and(|r| self.regions[r].open == t - 1)
            || matches!(self.toks[t - 1].lower.as_str(), "." | "!" | "?" | ":" | "-" | "(")
    }

    /// Whether the words `name` (a would-be person's name with no title) name no person: an
    /// indefinite ("Everyone", "Neither"), a calendar name ("Labor Day", "Christmas"), or
    /// one word capitalised only because it opens a sentence ("Shortly after ...", "Beyond
    /// the footage, ...", "People are responding"): the document never capitalises it
    /// elsewhere, and writes it in lower case or it is an adverb in -ly.
    pub(super) fn not_a_person(&self, name: &[usize]) -> bool {
        let words: Vec<&str> = name.iter().map(|&t| self.toks[t].lower.as_str()).collect();
        if calendar_name(&words) {
            return true;
        }
        let [t] = name else {
            return false;
        };
        let l = self.toks[*t].lower.as_str();
        in_list(INDEFINITES, l)
            || (self.opens_sentence(*t)
                && self.mid_caps.binary_search(&word_hash(l)).is_err()
                && (self.lower_words.binary_search(&word_hash(l)).is_ok() || (l.len() >= 5 && l.ends_with("ly"))))
    }
    /// Records a person named as the subject of a sentence ("Opposition leader Paul Ward
    /// disagreed."), so that a later "he said" can refer to them even before they are
    /// quoted. Only multi-word names that do not look like places or organisations.
    ///
    /// A comma-delimited appositive may sit between the name and its verb ("Mary Smith, the
    /// mayor, spoke at noon."); when it is a role ("the mayor"), it is the speaker's role.
    pub(super) fn note_subject(&mut self, s: usize, e: usize) {
        let Some((a, b)) = self.np_forward(s, e, false) else {
            return;
        };
        let appositive = self.appositive_after(b, e);
        let verb = appositive.map_or(b + 1, |(_, c2)| c2 + 1);
        if verb >= e
            || !self.free_word(verb)
            || self.toks[verb].cap
            || !self.toks[verb].lower.starts_with(char::is_alphabetic)
        {
            return;
        }
        let next = self.toks[verb].lower.as_str();
        if matches!(next, "of" | "and" | "or" | "in" | "on" | "at" | "for" | "to" | "who") {
            return;
        }
        let words: Vec<usize> = (a..=b).collect();
        let k =
            words.iter().rposition(|&t| !self.toks[t].cap || in_list(TITLES, &self.toks[t].lower)).map_or(0, |k| k + 1);
        let name = &words[k..];
        if name.len() < 2
            || name.len() > 4
            || name.iter().any(|&t| {
                let l = self.toks[t].lower.as_str();
                in_list(ORG_WORDS, l) || in_list(PLACE_STARTS, l) || l.ends_with("'s")
            })
            || (k == 0 && self.not_a_person(name))
        {
            return;
        }
        let name_text = name.iter().map(|&t| self.word_text(t)).collect::<Vec<_>>().join(" ");
        let role = (k > 0).then(|| words[..k].iter().map(|&t| self.word_text(t)).collect::<Vec<_>>().join(" "));
        let appositive_role = appositive.and_then(|(c1, c2)| self.appositive_role(c1 + 1, c2));
        let gender =
            appositive_role.as_ref().and_then(|r| r.split(' ').find_map(|w| gender_of_word(&w.to_lowercase())));
        let role = role.or(appositive_role);
        let mention = self.orig_text(self.toks[a].start, self.toks[b].end);
        let i = self.upsert(name_text, &mention, role, false);
        if self.entries[i].gender.is_none() {
            self.entries[i].gender = gender;
        }
        self.clock += 1;
        self.entries[i].last = self.clock;
    }

    /// The commas around an appositive right after token `b` ("Mary Smith, the mayor,
    /// spoke", "Mary Smith, 54, spoke"): a short phrase of plain words, no clause (no
    /// relative pronoun, auxiliary, conjunction or cue verb).
    fn appositive_after(&self, b: usize, e: usize) -> Option<(usize, usize)> {
        let c1 = b + 1;
        if c1 >= e || self.toks[c1].lower != "," || self.tok_region[c1].is_some() {
            return None;
        }
        let c2 = (c1 + 1..(c1 + 8).min(e)).find(|&t| self.toks[t].kind != Tk::Word)?;
        let plain = |t: usize| {
            let l = self.toks[t].lower.as_str();
            self.free_word(t)
                && cue_entry(l).is_none()
                && !in_list(AUXILIARIES, l)
                && !in_list(CLAUSE_WORDS, l)
                && !matches!(l, "who" | "whom" | "whose" | "which" | "where")
        };
        (c2 > c1 + 1 && self.toks[c2].lower == "," && self.tok_region[c2].is_none() && (c1 + 1..c2).all(plain))
            .then_some((c1, c2))
    }

    /// The role an appositive names ("the mayor" -> "mayor", "a former senator" -> "former
    /// senator"): its words without the article, when the last is a lower-case role word.
    fn appositive_role(&self, a: usize, b: usize) -> Option<String> {
        let mut a = a;
        while a < b && matches!(self.toks[a].lower.as_str(), "the" | "a" | "an") {
            a += 1;
        }
        let head = self.toks.get(b.checked_sub(1)?)?;
        (a < b && !head.cap && in_list(TITLES, &head.lower))
            .then(|| (a..b).map(|t| self.word_text(t)).collect::<Vec<_>>().join(" "))
    }

    pub(super) fn word_text(&self, t: usize) -> String {
        self.chars()[self.toks[t].start..self.toks[t].end].iter().collect()
    }

    pub(super) fn most_recent(&self, pred: impl Fn(&Entry) -> bool) -> Option<usize> {
        self.entries.iter().enumerate().filter(|(_, e)| pred(e)).max_by_key(|(_, e)| e.last).map(|(i, _)| i)
    }

    /// Resolves a source noun phrase to a speaker entry (creating one when new).
    pub(super) fn resolve(&mut self, (a, b): (usize, usize)) -> Option<(usize, Resolution)> {
        if a == b
            && let Some(kind) = pronoun_kind(&self.toks[a].lower)
        {
            return match kind {
                PronounKind::Person => {
                    let g = gender_of_word(&self.toks[a].lower);
                    // A title's gender rules a candidate out; so does a common first name of
                    // the other gender, unless no other candidate is left. A gender learned
                    // from an earlier pronoun only orders the candidates.
                    let fits = |e: &Entry| !e.org && !e.nonperson && (e.gender.is_none() || e.gender == g);
                    let named_ok = |e: &Entry| g.is_none() || first_name_gender(&e.name).is_none_or(|n| Some(n) == g);
                    let learned_ok = |e: &Entry| g.is_none() || e.learned.is_none_or(|l| Some(l) == g);
                    let i = self
                        .most_recent(|e| fits(e) && named_ok(e) && learned_ok(e))
                        .or_else(|| self.most_recent(|e| fits(e) && named_ok(e)))
                        .or_else(|| self.most_recent(fits))?;
                    // Learn the gender only from the nearest person (a resolution that passed
                    // over others is a guess), and never against a first name.
                    // A person who is most recent only through such a guess ("she ... she")
                    // stays a guess until named again.
                    let nearest = self.most_recent(|e| !e.org && !e.nonperson) == Some(i);
                    let e = &mut self.entries[i];
                    let guess = !nearest || e.guessed;
                    if !guess && e.gender.is_none() && first_name_gender(&e.name).is_none_or(|n| Some(n) == g) {
                        e.learned = g;
                    }
                    e.guessed = guess;
                    Some((i, Resolution::Pronoun))
                }
                PronounKind::Group => {
                    self.most_recent(|e| e.org).or_else(|| self.most_recent(|_| true)).map(|i| (i, Resolution::Pronoun))
                }
                PronounKind::Deictic => None,
            };
        }
        let mention = self.orig_text(self.toks[a].start, self.toks[b].end);
        // The naming part ends at the first comma or parenthesis ("Sarah Warbelow, legal
        // director for ..."); what follows is role.
        let mut cut =
            (a..=b).find(|&t| matches!(self.toks[t].lower.as_str(), "," | "(" | "-") && t > a).unwrap_or(b + 1);
        // Unless the part before the comma is only a role and a name follows ("The
        // opposition leader, Kemi Badenoch"): then the two read as one ("The opposition
        // leader Kemi Badenoch"), the role split off below as for any title.
        let role_named = cut < b && self.toks[cut].lower == "," && {
            let before = &self.toks[cut - 1];
            let after: Vec<usize> = (cut + 1..=b).filter(|&t| self.toks[t].kind == Tk::Word).collect();
            before.kind == Tk::Word
                && !before.cap
                && in_list(TITLES, &before.lower)
                && !after.is_empty()
                && (cut + 1..=b).all(|t| self.toks[t].kind == Tk::Word || self.name_stop(t))
                && after.iter().all(|&t| self.toks[t].cap || self.name_particle(t))
        };
        if role_named {
            cut = b + 1;
        }
        let tail: Vec<usize> = (cut..=b).filter(|&t| self.toks[t].kind == Tk::Word).collect();
        let b = (a..cut).rev().find(|&t| self.toks[t].kind == Tk::Word).unwrap_or(a);
        let mut idx: Vec<usize> = (a..=b).filter(|&t| self.toks[t].kind == Tk::Word).collect();
        if idx.is_empty() {
            return None;
        }
        // Split off "of ..." ("Joel Pollak of Breitbart California").
        let mut suffix: Vec<usize> = Vec::new();
        if let Some(k) = idx.iter().position(|&t| self.toks[t].lower == "of")
            && k > 0
        {
            suffix = idx.split_off(k);
        }
        while idx.len() > 1 && matches!(self.toks[idx[0]].lower.as_str(), "the" | "a" | "an") {
            idx.remove(0);
        }
        // "North Korea's state media" is named as written; "Clinton's attorney, David
        // Kendall" is David Kendall (and so is "Clinton's attorney David Kendall", below).
        let mut possessive = !role_named && idx.iter().any(|&t| self.toks[t].lower.ends_with("'s"));
        // A generational suffix shows the word before it to be a surname, even one that is
        // also a title ("Martin Luther King Jr.").
        let suffixed = idx.len() >= 3 && in_list(NAME_SUFFIXES, &self.toks[idx[idx.len() - 1]].lower);
        let titled = if suffixed { &idx[..idx.len() - 2] } else { &idx[..] };
        let last_title = titled.iter().rposition(|&t| {
            let tk = &self.toks[t];
            (!tk.cap && !self.name_particle(t)) || in_list(TITLES, &tk.lower)
        });
        let name_toks: Vec<usize> = match last_title {
            Some(k) => idx[k + 1..].to_vec(),
            None => idx.clone(),
        };
        let role_toks: Vec<usize> = match last_title {
            Some(k) => idx[..=k].to_vec(),
            None => Vec::new(),
        };
        let join = |ts: &[usize]| -> String {
            ts.iter()
                .map(|&t| {
                    let mut w = self.word_text(t);
                    let tk = &self.toks[t];
                    let dotted = self.toks.get(t + 1).is_some_and(|n| n.lower == "." && n.start == tk.end)
                        && (in_list(TITLE_ABBREVIATIONS, &tk.lower)
                            || in_list(NAME_SUFFIXES, &tk.lower)
                            || (tk.cap && is_initials(&tk.lower)));
                    if dotted {
                        w.push('.');
                    }
                    w
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        // "The company's spokesman John Doe", "Labour's health spokesman Wes Streeting": an
        // organisation's possessive and role words before a capitalised name are the role,
        // the name is the speaker. The role keeps its determiner ("The company's").
        let possessive_role = possessive
            && !name_toks.is_empty()
            && suffix.is_empty()
            && role_toks.last().is_some_and(|&t| {
                let tk = &self.toks[t];
                !tk.lower.ends_with("'s") && (!tk.cap || in_list(TITLES, &tk.lower))
            })
            && role_toks.iter().any(|&t| self.toks[t].lower.ends_with("'s"))
            && name_toks.iter().all(|&t| {
                let tk = &self.toks[t];
                (tk.cap || self.name_particle(t)) && !tk.lower.ends_with("'s") && !in_list(ORG_WORDS, &tk.lower)
            });
        let role_toks = if possessive_role {
            possessive = false;
            let first = role_toks.first().copied().unwrap_or(a);
            (a..=first).filter(|&t| t < first && self.toks[t].kind == Tk::Word).chain(role_toks).collect()
        } else {
            role_toks
        };
        let mut role = if role_toks.is_empty() { None } else { Some(join(&role_toks)) };
        suffix.extend(tail);
        if !suffix.is_empty() {
            let suf = join(&suffix);
            role = Some(match role {
                Some(r) => format!("{r} {suf}"),
                None => suf,
            });
        }
        let org_word = |t: &usize| {
            let l = self.toks[*t].lower.as_str();
            in_list(ORG_WORDS, l)
                || (self.toks[*t].end - self.toks[*t].start >= 2
                    && self.chars()[self.toks[*t].start..self.toks[*t].end].iter().all(|c| c.is_uppercase()))
        };
        if possessive || name_toks.is_empty() {
            let head = self.toks[b].lower.clone();
            let determined = matches!(self.toks[a].lower.as_str(), "the" | "his" | "her" | "their");
            let person_role = in_list(TITLES, &head) && !head.ends_with('s') && !org_word(&b);
            if !possessive && determined && person_role {
                // "the spokesperson": the most recent speaker with that role, else the most
                // recent person whose role is unknown ("the mayor" is not the senator). A
                // role of the same kind counts ("the candidate", the "front-runner"), and
                // a capitalised word must be in it too ("the Florida senator").
                let places: Vec<String> =
                    (a + 1..b).filter(|&t| self.toks[t].cap).map(|t| self.toks[t].lower.clone()).collect();
                let found = self
                    .most_recent(|e| {
                        !e.org
                            && !e.nonperson
                            && e.role.as_deref().is_some_and(|r| {
                                let r = r.to_lowercase();
                                (r.contains(&head) || role_names(&r, &head, !places.is_empty()))
                                    && places.iter().all(|p| r.contains(p.as_str()))
                            })
                    })
                    .or_else(|| self.most_recent(|e| !e.org && !e.nonperson && e.role.is_none()));
                if let Some(i) = found {
                    return Some((i, Resolution::Nominal));
                }
            }
            let name = if possessive { mention.clone() } else { strip_the(&mention).to_string() };
            let person = person_role && !possessive;
            return Some((self.upsert(name, &mention, None, !person), Resolution::Named));
        }
        let name = join(&name_toks);
        let brand = name_toks.len() == 1 && camel_case_brand(&self.word_text(name_toks[0]));
        let is_org = name_toks.iter().any(org_word) && name_toks.len() <= 3
            || (name_toks.len() == 1 && idx.len() == 1 && org_word(&name_toks[0]))
            || brand;
        if is_org {
            let name = if matches!(self.toks[a].lower.as_str(), "the") && !brand { mention.clone() } else { name };
            return Some((self.upsert(name, &mention, role, true), Resolution::Named));
        }
        // A word that names no person still speaks for the quotation ("Some said"), but is
        // no referent for a later "he" or "she"; one mention as a person is enough to be one.
        let nonperson = role_toks.is_empty() && self.not_a_person(&name_toks);
        let known = self.entries.len();
        let i = self.upsert(name, &mention, role, false);
        if !nonperson {
            self.entries[i].nonperson = false;
        } else if i >= known {
            self.entries[i].nonperson = true;
        }
        Some((i, Resolution::Named))
    }

    /// Finds or creates the entry for `name`, merging surnames with full names.
    pub(super) fn upsert(&mut self, name: String, mention: &str, role: Option<String>, org: bool) -> usize {
        let key = strip_the(&name).to_lowercase();
        let last_word = |s: &str| s.rsplit(' ').next().unwrap_or("").to_lowercase();
        let words = key.split(' ').count();
        let found = self.entries.iter().position(|e| e.key == key && e.org == org).or_else(|| {
            if org {
                return None;
            }
            if words == 1 {
                // A surname: the most recent person whose name ends with it.
                self.most_recent(|e| !e.org && last_word(&e.key) == key)
            } else if key.split(' ').rev().skip(1).all(|w| in_list(NAME_PARTICLES, w)) {
                // A surname with its particles ("de Vos" after "Pierre de Vos").
                let tail = format!(" {key}");
                self.most_recent(|e| !e.org && e.key.ends_with(&tail))
            } else {
                // A full name: a person known so far by the surname alone.
                self.entries.iter().position(|e| !e.org && e.key == last_word(&key))
            }
        });
        let i = match found {
            Some(i) => {
                let e = &mut self.entries[i];
                if words > e.key.split(' ').count() && !org {
                    let old = std::mem::replace(&mut e.name, name.clone());
                    e.key = key;
                    if !e.aliases.contains(&old) {
                        e.aliases.push(old);
                    }
                }
                i
            }
            None => {
                self.entries.push(Entry {
                    name: name.clone(),
                    key,
                    aliases: Vec::new(),
                    role: None,
                    org,
                    quote_count: 0,
                    last: self.clock,
                    gender: None,
                    learned: None,
                    nonperson: false,
                    guessed: false,
                });
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[i];
        e.guessed = false;
        if e.gender.is_none() && !org {
            e.gender = mention.split(|c: char| c.is_whitespace()).find_map(|w| gender_of_word(&w.to_lowercase()));
        }
        if e.role.is_none() {
            e.role = role;
        }
        if mention != e.name && !e.aliases.iter().any(|x| x == mention) {
            e.aliases.push(mention.to_string());
        }
        i
    }
}
