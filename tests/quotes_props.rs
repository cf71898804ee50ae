//! Property tests: `quotes::extract` never panics and every span it returns lies inside
//! the text, start < end, whatever the input.

use proptest::prelude::*;
use stancer::quotes::{OffsetUnit, convert_offsets, extract};

fn check(text: &str) {
    let n = text.chars().count();
    let x = extract(text);
    let mut all = Vec::new();
    for q in &x.quotes {
        assert!((0.0..=1.0).contains(&q.confidence));
        let segs = [Some(&q.content), q.cue.as_ref(), q.source.as_ref()];
        for seg in segs.into_iter().flatten() {
            assert!(!seg.spans.is_empty());
            for s in &seg.spans {
                assert!(s[0] < s[1] && s[1] <= n, "span {s:?} in text of {n}: {text:?}");
            }
            all.extend_from_slice(&seg.spans);
        }
    }
    // One conversion for the whole document (each call is linear in the text).
    for c in convert_offsets(text, &all, OffsetUnit::Utf8Bytes) {
        assert!(text.get(c[0]..c[1]).is_some());
    }
    let units = text.encode_utf16().count();
    for c in convert_offsets(text, &all, OffsetUnit::Utf16Units) {
        assert!(c[0] < c[1] && c[1] <= units);
    }
    for sp in &x.speakers {
        assert!(!sp.name.is_empty());
    }
}

/// Words, quotation marks of every style, punctuation and newlines: the material that
/// exercises mark pairing and paragraph handling.
fn quoteish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\"".to_string()),
        Just("“".to_string()),
        Just("”".to_string()),
        Just("«".to_string()),
        Just("»".to_string()),
        Just("‘".to_string()),
        Just("’".to_string()),
        Just("'".to_string()),
        Just("''".to_string()),
        Just("\n".to_string()),
        Just("\n\n".to_string()),
        Just(", ".to_string()),
        Just(". ".to_string()),
        Just(": ".to_string()),
        Just(" said ".to_string()),
        Just(" according to ".to_string()),
        Just(" who called ".to_string()),
        Just(" he ".to_string()),
        Just(" the spokesperson ".to_string()),
        Just(" President Ana Ruiz ".to_string()),
        Just("Singh".to_string()),
        Just(" (D-Fla.) ".to_string()),
        "[a-zA-Z]{1,8}".prop_map(|w| format!(" {w} ")),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn arbitrary_strings_with_controls_never_panic(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn quote_marks_newlines_and_words_never_panic(text in quoteish()) {
        check(&text);
    }
}

#[test]
fn edge_cases() {
    for t in [
        "",
        "\"",
        "“",
        "”",
        "''",
        "'",
        "\n\n\n",
        "“\n“\n“",
        "said",
        ": “",
        "“a” said",
        "“a,” said",
        "According to",
        "according to ,",
        ", who called",
        "\u{200B}“\u{200B}”",
        "…“…”…",
        "Mr. . said.",
        "( ) said",
        "“x,” (",
        "A, B, C, said",
        "“”“”“”",
    ] {
        check(t);
    }
}

/// Pathological inputs stay fast: no quadratic blow-up on run-on text full of cue verbs,
/// quotation marks or names.
#[test]
fn pathological_inputs_are_fast() {
    let cases = [
        "called “x” said ".repeat(20_000),
        "“".repeat(50_000),
        "\"a\" ".repeat(30_000),
        "Mr. Singh, who said, ".repeat(10_000),
        "according to X, ".repeat(20_000),
        "he said: ".repeat(20_000),
        "'".repeat(50_000),
    ];
    for text in &cases {
        let t0 = std::time::Instant::now();
        check(text);
        let dt = t0.elapsed();
        eprintln!("{} bytes: {dt:?}", text.len());
        assert!(dt < std::time::Duration::from_secs(3), "{} chars took {dt:?}", text.len());
    }
}
