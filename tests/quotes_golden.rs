//! Golden tests for `stancer::quotes`: short articles, one pattern each, with the quotation,
//! cue, source and canonical speaker expected.

use stancer::quotes::{Extraction, Quote, QuoteKind, extract};

fn find<'a>(x: &'a Extraction, content_part: &str) -> &'a Quote {
    x.quotes
        .iter()
        .find(|q| q.content.text.contains(content_part))
        .unwrap_or_else(|| panic!("no quote containing {content_part:?} in {x:#?}"))
}

fn check(q: &Quote, kind: QuoteKind, cue: Option<&str>, speaker: Option<&str>) {
    assert_eq!(q.kind, kind, "{q:#?}");
    assert_eq!(q.cue.as_ref().map(|c| c.text.as_str()), cue, "{q:#?}");
    assert_eq!(q.speaker.as_deref(), speaker, "{q:#?}");
    assert!((0.0..=1.0).contains(&q.confidence));
}

/// Every span slices the text (code points) and its text is what the spans cover.
fn spans_ok(text: &str, x: &Extraction) {
    let chars: Vec<char> = text.chars().collect();
    for q in &x.quotes {
        let segs = [Some(&q.content), q.cue.as_ref(), q.source.as_ref()];
        for seg in segs.into_iter().flatten() {
            let parts: Vec<String> = seg
                .spans
                .iter()
                .map(|s| {
                    assert!(s[0] < s[1] && s[1] <= chars.len(), "{s:?}");
                    chars[s[0]..s[1]].iter().collect()
                })
                .collect();
            assert_eq!(parts.join(" "), seg.text);
        }
    }
}

#[test]
fn direct_in_every_mark_style() {
    for (open, close) in [("\"", "\""), ("“", "”"), ("«", "»"), ("‘", "’")] {
        let text =
            format!("The mayor spoke on Tuesday.\n{open}We will rebuild the bridge,{close} Mayor Ana Lopez said.");
        let x = extract(&text);
        spans_ok(&text, &x);
        let q = find(&x, "We will rebuild the bridge");
        check(q, QuoteKind::Direct, Some("said"), Some("Ana Lopez"));
        assert!(q.content.text.starts_with(open), "{open}: {q:#?}");
        assert_eq!(q.source.as_ref().unwrap().text, "Mayor Ana Lopez");
    }
}

#[test]
fn inverted_and_colon_introduced_quotes() {
    let text = "“Prices will fall,” said Finance Minister Karl Berg.\n\
                The central bank disagreed: “Inflation is not beaten yet.”";
    let x = extract(text);
    spans_ok(text, &x);
    check(find(&x, "Prices will fall"), QuoteKind::Direct, Some("said"), Some("Karl Berg"));
    check(find(&x, "Inflation is not beaten"), QuoteKind::Direct, Some("disagreed:"), Some("central bank"));
}

#[test]
fn quotation_over_several_paragraphs() {
    let text = "Governor Maria Chen said: “We have a plan for the floods.\n\n\
                “It starts with the levees and ends with the schools.\n\n\
                “Nobody will be left behind.”\n\nThe legislature meets next week.";
    let x = extract(text);
    spans_ok(text, &x);
    let q = find(&x, "We have a plan");
    check(q, QuoteKind::Direct, Some("said"), Some("Maria Chen"));
    assert_eq!(q.content.spans.len(), 3, "{q:#?}");
    assert!(q.content.text.contains("Nobody will be left behind"));
    assert!(!x.quotes.iter().any(|q| q.content.text.contains("legislature")));
}

#[test]
fn unbalanced_marks_stop_at_the_paragraph() {
    let text = "Senator Tom Reid said “this bill is a disgrace.\n\n\
                The vote is on Friday. Analysts expect it to pass, officials said.";
    let x = extract(text);
    spans_ok(text, &x);
    let q = find(&x, "this bill is a disgrace");
    assert_eq!(q.speaker.as_deref(), Some("Tom Reid"));
    assert!(!q.content.text.contains("Friday"), "{q:#?}");
    // The rest of the document is still read.
    let later = find(&x, "Analysts expect it to pass");
    check(later, QuoteKind::Indirect, Some("said"), Some("officials"));
}

#[test]
fn unclosed_quote_in_text_without_paragraphs_stops_at_its_sentence() {
    let filler = "The council met again on Tuesday and discussed the budget at length. ".repeat(30);
    let text = format!("Mayor Ana Lopez said “the plan is dead. {filler}Officials said the vote would be held in May.");
    let x = extract(&text);
    spans_ok(&text, &x);
    let q = find(&x, "the plan is dead");
    assert!(q.content.text.len() < 100, "{q:#?}");
    check(find(&x, "the vote would be held"), QuoteKind::Indirect, Some("said"), Some("Officials"));
}

#[test]
fn indirect_said_that_and_trailing_said() {
    let text = "Police Chief Dana Moore said that the suspect had left the city before dawn.\n\
                The roads will reopen by the weekend, the health ministry said on Sunday.";
    let x = extract(text);
    spans_ok(text, &x);
    let q = find(&x, "the suspect had left");
    check(q, QuoteKind::Indirect, Some("said"), Some("Dana Moore"));
    assert!(q.content.text.starts_with("that the suspect"));
    let q = find(&x, "The roads will reopen");
    check(q, QuoteKind::Indirect, Some("said"), Some("health ministry"));
    assert_eq!(q.content.text, "The roads will reopen by the weekend");
}

#[test]
fn names_keep_titles_initials_particles_and_suffixes() {
    // "said Mr. Smith": the full stop of the title is not the end of the name, and three
    // people with one title are three speakers.
    let text = "“Taxes must fall,” said Mr. Smith. “Taxes must rise,” said Mr. Jones. \
                “Taxes are fine,” said Mrs. Brown.";
    let x = extract(text);
    spans_ok(text, &x);
    for (content, speaker) in [("must fall", "Smith"), ("must rise", "Jones"), ("are fine", "Brown")] {
        check(find(&x, content), QuoteKind::Direct, Some("said"), Some(speaker));
    }
    assert_eq!(x.speakers.len(), 3, "{:#?}", x.speakers);
    for (name, speaker) in [
        ("Dr. Anthony Fauci", "Anthony Fauci"),
        ("Lt. Gen. John Smith", "John Smith"),
        ("John F. Kennedy", "John F. Kennedy"),
        ("J.D. Vance", "J.D. Vance"),
        ("Martin Luther King Jr.", "Martin Luther King Jr."),
        ("Charles de Gaulle", "Charles de Gaulle"),
        ("Ursula von der Leyen", "Ursula von der Leyen"),
        ("Mohammed bin Salman", "Mohammed bin Salman"),
    ] {
        for text in
            [format!("“We are ready,” said {name}. Talks begin today."), format!("{name} said: “We are ready.”")]
        {
            let x = extract(&text);
            spans_ok(&text, &x);
            assert_eq!(find(&x, "We are ready").speaker.as_deref(), Some(speaker), "{text}: {x:#?}");
        }
    }
}

#[test]
fn fronted_phrases_and_prepositions_are_not_speakers() {
    // A participle phrase before the subject, a question's "if" clause, and "spoke to"
    // with no speech after it gave the speakers "Making the rounds on the" and "if Trump's"
    // and a quotation "to reporters on Tuesday".
    for (text, content, speaker) in [
        (
            "Making the rounds on the Sunday morning shows, Carson said the plan would fail badly and soon.",
            "the plan would fail",
            "Carson",
        ),
        (
            "Asked if Trump's comments were appropriate, Ryan said he disagreed with every one of them.",
            "he disagreed",
            "Ryan",
        ),
        ("“We will win,” said Smith, who spoke to reporters on Tuesday in the capital.", "We will win", "Smith"),
    ] {
        let x = extract(text);
        spans_ok(text, &x);
        assert_eq!(x.quotes.len(), 1, "{text}: {x:#?}");
        assert_eq!(find(&x, content).speaker.as_deref(), Some(speaker), "{text}: {x:#?}");
    }
    // The agent of a passive cue is the source, without its "by".
    let text = "A 2010 \"playbook\" published by Politico laid out how the campaign would win the state.";
    let x = extract(text);
    spans_ok(text, &x);
    assert_eq!(find(&x, "playbook").source.as_ref().map(|s| s.text.as_str()), Some("Politico"), "{x:#?}");
}

#[test]
fn according_to_in_both_orders_and_surname_merge() {
    let text = "Pentagon spokesperson Sabrina Singh said the troops had moved north.\n\
                According to Singh, the units will reach the border within days.\n\
                The strikes will continue through the winter, according to the army.";
    let x = extract(text);
    spans_ok(text, &x);
    check(find(&x, "the units will reach"), QuoteKind::Indirect, Some("According to"), Some("Sabrina Singh"));
    check(find(&x, "The strikes will continue"), QuoteKind::Indirect, Some("according to"), Some("army"));
    let singh = x.speakers.iter().find(|s| s.name == "Sabrina Singh").unwrap();
    assert_eq!(singh.quote_count, 2);
    assert_eq!(singh.role.as_deref(), Some("Pentagon spokesperson"));
    assert!(singh.aliases.iter().any(|a| a == "Singh"));
}

#[test]
fn naming_cues_are_mixed_quotes() {
    let text = "US President Joe Biden has labeled the deployment as “very dangerous,” echoing allies.\n\
                Prime Minister Ola Sund called the decision a “historic mistake” for the region.\n\
                Critics described the plan as “reckless and vague.”";
    let x = extract(text);
    spans_ok(text, &x);
    check(find(&x, "very dangerous"), QuoteKind::Mixed, Some("labeled"), Some("Joe Biden"));
    check(find(&x, "historic mistake"), QuoteKind::Mixed, Some("called"), Some("Ola Sund"));
    check(find(&x, "reckless and vague"), QuoteKind::Mixed, Some("described"), Some("Critics"));
    let biden = x.speakers.iter().find(|s| s.name == "Joe Biden").unwrap();
    assert_eq!(biden.role.as_deref(), Some("US President"));
}

#[test]
fn cue_inside_an_aside() {
    let text = "The talks stalled, according to Foreign Minister Lena Berg, who called the offer \
                a “provocation” by the other side.";
    let x = extract(text);
    spans_ok(text, &x);
    check(find(&x, "provocation"), QuoteKind::Mixed, Some("called"), Some("Lena Berg"));
    check(find(&x, "The talks stalled"), QuoteKind::Indirect, Some("according to"), Some("Lena Berg"));
    let text = "Ahmed Khan, who called the vote “a farce,” said he would appeal the result in court.";
    let x = extract(text);
    check(find(&x, "he would appeal"), QuoteKind::Indirect, Some("said"), Some("Ahmed Khan"));
}

#[test]
fn pronouns_nominals_and_quote_runs() {
    let text = "“The budget is balanced,” Treasury spokeswoman Mia Torres said on Monday.\n\n\
                She added that taxes would not rise this year.\n\n\
                “We have done the hard work,” the spokeswoman said.\n\n\
                “Now the economy can grow again.”\n\n\
                Opposition leader Paul Ward disagreed. “These numbers are fiction,” he said.";
    let x = extract(text);
    spans_ok(text, &x);
    check(find(&x, "taxes would not rise"), QuoteKind::Indirect, Some("added"), Some("Mia Torres"));
    check(find(&x, "hard work"), QuoteKind::Direct, Some("said"), Some("Mia Torres"));
    let run = find(&x, "Now the economy can grow");
    check(run, QuoteKind::Direct, None, Some("Mia Torres"));
    assert!(run.source.is_none());
    check(find(&x, "These numbers are fiction"), QuoteKind::Direct, Some("said"), Some("Paul Ward"));
    let torres = x.speakers.iter().find(|s| s.name == "Mia Torres").unwrap();
    assert_eq!(torres.quote_count, 4);
}

#[test]
fn pronouns_respect_gender_from_titles() {
    let text = "Mrs. Ann Cole said the school would close in June.\n\
                “We have no choice,” Mr. Tom Reed said.\n\
                “It breaks my heart,” she added.";
    let x = extract(text);
    spans_ok(text, &x);
    check(find(&x, "no choice"), QuoteKind::Direct, Some("said"), Some("Tom Reed"));
    check(find(&x, "breaks my heart"), QuoteKind::Direct, Some("added"), Some("Ann Cole"));
    let cole = x.speakers.iter().find(|s| s.name == "Ann Cole").unwrap();
    assert_eq!(cole.role.as_deref(), Some("Mrs."));
}

#[test]
fn interview_transcript_labels() {
    let text = "Matthews: Is the economy getting better for working families?\n\n\
                Lopez: Well, wages are up. But rents are up faster, and that is what people feel.";
    let x = extract(text);
    spans_ok(text, &x);
    let q = find(&x, "wages are up");
    check(q, QuoteKind::Indirect, Some(":"), Some("Lopez"));
    assert!(q.content.text.ends_with("what people feel"), "{q:#?}");
}

#[test]
fn split_quote_is_one_quotation() {
    let text = "“We are ready,” Coach Ben Ode said, “and we will win on Sunday.”";
    let x = extract(text);
    spans_ok(text, &x);
    assert_eq!(x.quotes.len(), 1, "{x:#?}");
    let q = &x.quotes[0];
    check(q, QuoteKind::Direct, Some("said"), Some("Ben Ode"));
    assert_eq!(q.content.spans.len(), 2);
}

#[test]
fn organisations_are_speakers() {
    let text = "The Pentagon has confirmed that the convoy crossed the border.\n\
                North Korea’s state media claimed that the drills were defensive.\n\
                Western governments have warned that sanctions will follow.";
    let x = extract(text);
    spans_ok(text, &x);
    check(find(&x, "the convoy crossed"), QuoteKind::Indirect, Some("confirmed"), Some("The Pentagon"));
    check(
        find(&x, "the drills were defensive"),
        QuoteKind::Indirect,
        Some("claimed"),
        Some("North Korea’s state media"),
    );
    check(find(&x, "sanctions will follow"), QuoteKind::Indirect, Some("warned"), Some("Western governments"));
}

#[test]
fn stance_verbs_are_reported_as_cues() {
    let text = "Senator Amy Lowe condemned the raid as “a shameful act.”\n\
                Mayor Rob Hale praised the firefighters for “extraordinary courage.”";
    let x = extract(text);
    check(find(&x, "shameful act"), QuoteKind::Mixed, Some("condemned"), Some("Amy Lowe"));
    check(find(&x, "extraordinary courage"), QuoteKind::Mixed, Some("praised"), Some("Rob Hale"));
}

#[test]
fn unattributed_quotation_has_no_speaker() {
    let text = "The storm reached the coast at noon.\n\n“Nobody expected the water to rise so fast.”";
    let x = extract(text);
    spans_ok(text, &x);
    let q = find(&x, "Nobody expected");
    check(q, QuoteKind::Direct, None, None);
    assert!(q.source.is_none());
    assert!(q.confidence < 0.5);
}

#[test]
fn scare_quotes_without_a_cue_are_not_quotations() {
    let text = "The so-called “peace plan” was published on Monday.";
    let x = extract(text);
    assert!(x.quotes.is_empty(), "{x:#?}");
}

#[test]
fn offsets_convert_to_bytes_and_utf16() {
    use stancer::quotes::{OffsetUnit, convert_offsets};
    let text = "Émile Roux said: “Très bien 😀.”";
    let x = extract(text);
    let q = find(&x, "Très bien");
    let bytes = convert_offsets(text, &q.content.spans, OffsetUnit::Utf8Bytes);
    assert_eq!(&text[bytes[0][0]..bytes[0][1]], "“Très bien 😀.”");
    let utf16 = convert_offsets(text, &q.content.spans, OffsetUnit::Utf16Units);
    let units: Vec<u16> = text.encode_utf16().collect();
    assert_eq!(String::from_utf16(&units[utf16[0][0]..utf16[0][1]]).unwrap(), "“Très bien 😀.”");
}

#[test]
fn output_serialises_in_the_documented_shape() {
    let x = extract("“Yes,” Anna Berg said.");
    let v = serde_json::to_value(&x).unwrap();
    let q = &v["quotes"][0];
    assert_eq!(q["kind"], "direct");
    assert_eq!(q["content"]["spans"][0][0], 0);
    assert_eq!(q["cue"]["text"], "said");
    assert_eq!(q["speaker"], "Anna Berg");
    assert!(q["confidence"].is_number());
    let sp = &v["speakers"][0];
    assert_eq!(sp["name"], "Anna Berg");
    assert!(sp.get("role").is_none());
    assert_eq!(sp["quote_count"], 1);
}

/// The example article of `../shared/examples`, when present.
#[test]
fn news_article_example() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/news-article.txt");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return;
    };
    let x = extract(&text);
    spans_ok(&text, &x);
    let names: Vec<&str> = x.speakers.iter().map(|s| s.name.as_str()).collect();
    for person in ["Sabrina Singh", "Mark Rutte", "Yoon Suk-yeol", "Joe Biden"] {
        assert_eq!(names.iter().filter(|n| **n == person).count(), 1, "{person} in {names:?}");
    }
    let singh = x.speakers.iter().find(|s| s.name == "Sabrina Singh").unwrap();
    assert!(singh.quote_count >= 2, "{singh:?}");
    assert!(singh.aliases.iter().any(|a| a == "Singh"));
    for org in ["The Pentagon", "North Korea’s state media", "Western governments"] {
        assert!(names.contains(&org), "{org} in {names:?}");
    }
    let biden = find(&x, "very dangerous");
    check(biden, QuoteKind::Mixed, Some("labeled"), Some("Joe Biden"));
    let yoon = find(&x, "serious threat");
    check(yoon, QuoteKind::Mixed, Some("called"), Some("Yoon Suk-yeol"));
    assert!(
        x.quotes.iter().any(|q| q.cue.as_ref().is_some_and(|c| c.text == "According to")
            && q.speaker.as_deref() == Some("Sabrina Singh"))
    );
}
