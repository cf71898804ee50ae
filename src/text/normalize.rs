//! Character-level normalisation that keeps a map back to the caller's offsets.
//!
//! News text and tweets spell the same punctuation many ways (“ ” « » ‘ ’ – — …, NBSP).
//! Features must not depend on which one an editor's software picked, so every variant is
//! folded to its ASCII form before tokenising. The fold is done one input character at a
//! time so that each output character remembers the code point it came from: spans reported
//! to users always point into the text they sent, never into our normalised copy.

/// Text after normalisation, with the origin of every character.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// The normalised characters.
    pub chars: Vec<char>,
    /// For each entry of `chars`, the code-point offset of the input character it came from.
    pub origin: Vec<usize>,
    /// Number of code points in the input (the end offset of the last character).
    pub input_len: usize,
}

/// Folds one character to its normalised form; `None` means "keep as is".
///
/// Why a table and not NFKC: NFKC would also rewrite letters (ligatures, full-width forms)
/// one-to-many in ways that change n-gram features, and costs a lookup per character on the
/// hot path. The quotation marks, dashes, spaces and ellipses listed here are what varies
/// between news sources and tweets in practice.
#[inline]
pub fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}' | '\u{2033}' | '\u{301D}'
        | '\u{301E}' | '\u{FF02}' => "\"",
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2039}' | '\u{203A}' | '\u{2032}' | '\u{FF07}'
        | '\u{0060}' | '\u{00B4}' => "'",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}' | '\u{2212}' | '\u{FE58}'
        | '\u{FE63}' | '\u{FF0D}' => "-",
        '\u{2026}' => "...",
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}'
        | '\t'
        | '\r'
        | '\u{000B}'
        | '\u{000C}' => " ",
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => "",
        _ => return None,
    })
}

/// Whether `text` has nothing to read: only whitespace and the characters normalisation
/// drops (zero-width spaces and joiners, the byte-order mark, the soft hyphen). Such a text
/// normalises to nothing, so it is as empty as "" to everything downstream and is refused
/// where an empty one is.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || fold_char(c) == Some(""))
}

/// Normalises `text`: folds punctuation variants, turns every space-like character into a
/// plain space, and collapses runs of spaces (newlines are kept, as paragraph breaks matter
/// to quotation extraction).
pub fn normalize(text: &str) -> Normalized {
    let mut out = Normalized::default();
    normalize_into(text, &mut out);
    out
}

/// [`normalize`] into `out`, reusing its buffers (the scoring hot path normalises every row).
pub fn normalize_into(text: &str, out: &mut Normalized) {
    out.chars.clear();
    out.origin.clear();
    out.chars.reserve(text.len());
    out.origin.reserve(text.len());
    let mut last_space = true;
    if text.is_ascii() {
        // Most rows: one byte per character, and the only folds are space-likes and '`'.
        for (i, &b) in text.as_bytes().iter().enumerate() {
            let c = match b {
                b' ' | b'\t' | b'\r' | 0x0B | 0x0C => {
                    if !last_space {
                        out.chars.push(' ');
                        out.origin.push(i);
                    }
                    last_space = true;
                    continue;
                }
                b'`' => '\'',
                _ => b as char,
            };
            last_space = false;
            out.chars.push(c);
            out.origin.push(i);
        }
        out.input_len = text.len();
        return;
    }
    let mut n = 0;
    for (i, c) in text.chars().enumerate() {
        n = i + 1;
        match if c == ' ' { Some(" ") } else { fold_char(c) } {
            None => {
                last_space = false;
                out.chars.push(c);
                out.origin.push(i);
            }
            Some(" ") => {
                if !last_space {
                    out.chars.push(' ');
                    out.origin.push(i);
                }
                last_space = true;
            }
            Some(rep) => {
                for r in rep.chars() {
                    out.chars.push(r);
                    out.origin.push(i);
                }
                last_space = false;
            }
        }
    }
    out.input_len = n;
}

/// Normalises to a plain string (no offsets), for callers that only need the text.
pub fn normalize_str(text: &str) -> String {
    normalize(text).chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_quotes_dashes_spaces_and_ellipses() {
        assert_eq!(normalize_str("“very dangerous,” – he\u{00A0}said…"), "\"very dangerous,\" - he said...");
        assert_eq!(normalize_str("«non» ‘yes’ a  \t b"), "\"non\" 'yes' a b");
    }

    #[test]
    fn origin_points_back_to_input_code_points() {
        let n = normalize("a…b");
        assert_eq!(n.chars.iter().collect::<String>(), "a...b");
        assert_eq!(n.origin, vec![0, 1, 1, 1, 2]);
        assert_eq!(n.input_len, 3);
    }

    #[test]
    fn ascii_text_normalises_as_the_general_path_does() {
        // A trailing non-ASCII character sends the same text down the general path.
        for text in ["a\tb`c  d\r\n e\x0B\x0Cf ", "  x", "", "don't  stop\t\t!"] {
            let fast = normalize(text);
            let general = normalize(&format!("{text}é"));
            assert_eq!(fast.chars[..], general.chars[..general.chars.len() - 1], "{text:?}");
            assert_eq!(fast.origin[..], general.origin[..general.origin.len() - 1], "{text:?}");
            assert_eq!(fast.input_len, text.len());
        }
    }

    #[test]
    fn zero_width_characters_vanish() {
        assert_eq!(normalize_str("a\u{200B}b"), "ab");
    }

    #[test]
    fn blank_is_whitespace_and_zero_width_only() {
        for blank in ["", " \n\t", "\u{200B}", "\u{200C}\u{200D}", "\u{FEFF}", "\u{2060}", "\u{00A0}\u{200B} \u{3000}"]
        {
            assert!(is_blank(blank), "{blank:?}");
            assert!(normalize_str(blank).trim().is_empty(), "{blank:?}");
        }
        for text in ["a", "\u{200B}a\u{200B}", "\u{200E}", "."] {
            assert!(!is_blank(text), "{text:?}");
        }
    }
}
