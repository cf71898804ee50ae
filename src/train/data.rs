//! Reading labelled and unlabelled rows (JSONL, or CSV through [`crate::batch::read_rows`]),
//! with errors that name file, line and field.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Read;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::error::{Error, Result};
use crate::model::Task;

/// One input row as written in the JSONL files of `../shared/data` and of `stancer score`:
/// `{"id", "text", "target"?, "target_spans"?, "label"?}`; other fields are ignored.
///
/// Its strings borrow from the line where they can (no escapes in them): a batch row is
/// scored straight from the line it was read as, with no allocation and copy of its text,
/// id, target and label (2% of a one-core `stancer score` of tweets).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Record<'a> {
    /// A string as written, any other JSON value as its JSON text, so that no id is lost.
    #[serde(default, borrow, deserialize_with = "any_text")]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text_field")]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "target_field")]
    pub target: Option<Cow<'a, str>>,
    #[serde(default)]
    pub target_spans: Option<Vec<[usize; 2]>>,
    /// A string, or a number as written (`1`, `-1`, `2.0`), which a label map can name.
    #[serde(default, borrow, deserialize_with = "label_text")]
    pub label: Option<Cow<'a, str>>,
}

fn text_field<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_any(TextOf(Accept::String, "text"))
}

fn target_field<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_any(TextOf(Accept::String, "target"))
}

/// An id: a string as written, a number as written (an id past 2^64 or with trailing zeros
/// would not survive a round trip through a float), any other value as its JSON text.
fn any_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Cow<'de, str>>, D::Error> {
    let raw = <&'de serde_json::value::RawValue>::deserialize(d)?.get();
    match raw.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => Ok(Some(Cow::Borrowed(raw))),
        _ => serde_json::Deserializer::from_str(raw)
            .deserialize_any(TextOf(Accept::Any, "id"))
            .map_err(de::Error::custom),
    }
}

/// A label as text: data sets often number their classes.
fn label_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_any(TextOf(Accept::StringOrNumber, "label"))
}

/// Which JSON values a field takes as its text (null is always no value).
#[derive(Clone, Copy, PartialEq)]
enum Accept {
    String,
    StringOrNumber,
    /// Anything, non-strings as their JSON text.
    Any,
}

/// Reads a field (named for errors) as text, borrowing strings from the input where it can.
struct TextOf(Accept, &'static str);

impl TextOf {
    /// A non-string value's JSON text, as `serde_json::Value` prints it, if this field takes it.
    fn other<E: de::Error>(
        &self,
        v: serde_json::Value,
        number: bool,
    ) -> std::result::Result<Option<Cow<'static, str>>, E> {
        match self.0 {
            Accept::Any => Ok(Some(Cow::Owned(v.to_string()))),
            Accept::StringOrNumber if number => Ok(Some(Cow::Owned(v.to_string()))),
            Accept::StringOrNumber => {
                Err(E::custom(format!("a label must be a string or a number, not {}", json_kind(&v))))
            }
            Accept::String => Err(E::custom(format!("field \"{}\" must be a string, not {}", self.1, json_value(&v)))),
        }
    }
}

/// A JSON value as an error names it: its kind, and a short value as written.
fn json_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => format!("{} ({v})", json_kind(v)),
        _ => json_kind(v).to_string(),
    }
}

impl<'de> Visitor<'de> for TextOf {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let what = match self.0 {
            Accept::String => "a string",
            Accept::StringOrNumber => "a string or a number",
            Accept::Any => "any JSON value",
        };
        write!(f, "field \"{}\" as {what}", self.1)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
        self.other(v.into(), false)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        self.other(v.into(), true)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        self.other(v.into(), true)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        self.other(v.into(), true)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> std::result::Result<Self::Value, A::Error> {
        self.other(serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?, false)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> std::result::Result<Self::Value, A::Error> {
        self.other(serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?, false)
    }
}

/// `line` without the byte order mark that some exporters write at the start of a file
/// (it is not JSON, and would make the first row an error).
pub(crate) fn strip_bom(line: &str) -> &str {
    line.strip_prefix('\u{feff}').unwrap_or(line)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A row checked for use: text present and non-empty, spans inside the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub id: String,
    pub text: String,
    pub target: Option<String>,
    pub target_spans: Vec<[usize; 2]>,
    /// Index into the task's labels; `None` for unlabelled input.
    pub label: Option<usize>,
}

impl<'a> Record<'a> {
    /// Parses one JSONL line; the error says what is wrong without the location.
    pub fn parse(line: &'a str) -> std::result::Result<Record<'a>, String> {
        let line = strip_bom(line);
        // serde reads a JSON array into the fields in order, so `["a", "some text"]` would
        // pass as a row with id "a": only objects are rows.
        if !line.trim_start().starts_with('{') {
            return Err(match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => format!("a row must be a JSON object {{\"id\", \"text\", ...}}, not {}", json_kind(&v)),
                Err(e) => format!("invalid JSON: {e}"),
            });
        }
        serde_json::from_str(line).map_err(|e| {
            // serde_json counts lines within the row (always line 1): the column is what tells.
            let message = e.to_string();
            let at = format!(" at line {} column {}", e.line(), e.column());
            let message = message.strip_suffix(&at).map_or(message.clone(), |m| format!("{m} (column {})", e.column()));
            match e.classify() {
                // Valid JSON whose field has the wrong type or value (a number for the text).
                serde_json::error::Category::Data => format!("invalid field: {message}"),
                _ => format!("invalid JSON: {message}"),
            }
        })
    }

    /// The record with its strings its own, for keeping it past the line it was read from.
    pub fn into_owned(self) -> Record<'static> {
        let own = |s: Option<Cow<'a, str>>| s.map(|s| Cow::Owned(s.into_owned()));
        Record {
            id: own(self.id),
            text: own(self.text),
            target: own(self.target),
            target_spans: self.target_spans,
            label: own(self.label),
        }
    }

    /// The id of a line that [`parse`](Self::parse) refused (a field of the wrong type,
    /// say), when the line is a JSON object that has one: its error row then carries the
    /// row's own id rather than a line number that could be another row's id.
    pub fn id_in(line: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Id<'a> {
            #[serde(default, borrow, deserialize_with = "any_text")]
            id: Option<Cow<'a, str>>,
        }
        // Only an object has an id (serde would read an array's first item as one).
        let line = strip_bom(line).trim_start();
        let id = line.starts_with('{').then(|| serde_json::from_str::<Id>(line).ok()).flatten()?.id;
        id.map(Cow::into_owned)
    }

    /// The row's id, text, target and spans, checked, for unlabelled use (scoring,
    /// analysing), borrowed from the line where the record is; the error keeps the row's id
    /// for the error row that batch jobs write in its place.
    pub fn into_unlabelled(
        self,
        line: usize,
        max_text_chars: usize,
    ) -> std::result::Result<Unlabelled<'a>, (String, String)> {
        let (id, Checked { text, target, target_spans, .. }) = self.checked(line, None, max_text_chars)?;
        Ok(Unlabelled { id, text, target, target_spans })
    }

    /// Checks the row; with `task`, a label is required and must belong to the task.
    pub fn into_example(
        self,
        line: usize,
        task: Option<Task>,
        max_text_chars: usize,
    ) -> std::result::Result<Example, String> {
        let (id, Checked { text, target, target_spans, label }) =
            self.checked(line, task, max_text_chars).map_err(|(_, message)| message)?;
        Ok(Example {
            id: id.into_owned(),
            text: text.into_owned(),
            target: target.map(Cow::into_owned),
            target_spans,
            label,
        })
    }

    /// The id (or `line` when there is none) and the checked fields.
    fn checked(
        mut self,
        line: usize,
        task: Option<Task>,
        max_text_chars: usize,
    ) -> std::result::Result<(Cow<'a, str>, Checked<'a>), (String, String)> {
        let id = self.id.take().unwrap_or_else(|| Cow::Owned(line.to_string()));
        match self.check(task, max_text_chars) {
            Ok(checked) => Ok((id, checked)),
            Err(message) => Err((id.into_owned(), message)),
        }
    }

    fn check(self, task: Option<Task>, max_text_chars: usize) -> std::result::Result<Checked<'a>, String> {
        let text = self.text.ok_or("missing field \"text\"")?;
        if crate::text::is_blank(&text) {
            return Err("field \"text\" is empty".into());
        }
        let n_chars = text.chars().count();
        if n_chars > max_text_chars {
            return Err(format!("field \"text\" has {n_chars} characters, over the limit of {max_text_chars}"));
        }
        let spans = self.target_spans.unwrap_or_default();
        for s in &spans {
            if s[0] >= s[1] || s[1] > n_chars {
                return Err(format!(
                    "field \"target_spans\": [{}, {}] is not a non-empty span inside the text's {n_chars} code points",
                    s[0], s[1]
                ));
            }
        }
        let label = match task {
            None => None,
            Some(task) => {
                let raw = self.label.ok_or("missing field \"label\"")?;
                if raw.trim().is_empty() {
                    return Err("field \"label\" is empty".into());
                }
                let canon = task.canonical_label(&raw).ok_or_else(|| {
                    format!(
                        "unknown label {raw:?} for task {task} (expected one of {}, or a label map that names it)",
                        task.labels().join(", ")
                    )
                })?;
                Some(task.labels().iter().position(|l| *l == canon).expect("canonical label"))
            }
        };
        let target = self.target.filter(|t| !crate::text::is_blank(t));
        Ok(Checked { text, target, target_spans: spans, label })
    }
}

/// An unlabelled row checked for use, its strings borrowed from the line it was read from
/// where they can be.
#[derive(Debug, Clone, PartialEq)]
pub struct Unlabelled<'a> {
    pub id: Cow<'a, str>,
    pub text: Cow<'a, str>,
    pub target: Option<Cow<'a, str>>,
    pub target_spans: Vec<[usize; 2]>,
}

/// An [`Example`] but its id.
struct Checked<'a> {
    text: Cow<'a, str>,
    target: Option<Cow<'a, str>>,
    target_spans: Vec<[usize; 2]>,
    label: Option<usize>,
}

/// What reading a labelled file found besides the rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadReport {
    /// Invalid lines skipped with `skip_invalid`: (file, line, reason).
    pub skipped: Vec<(String, usize, String)>,
    /// Rows whose id an earlier row has (across all files read into the same report).
    pub duplicates: usize,
    /// The first [`MAX_DUPLICATES_SHOWN`] of them, with where each copy is.
    pub duplicate_ids: Vec<DuplicateId>,
    /// Every id read so far and where it was first, which is how a file's ids are checked
    /// against the files before.
    pub seen_ids: HashMap<String, (Arc<str>, usize)>,
}

/// Duplicate ids kept with their places; the rest are only counted, as a file given twice
/// would otherwise keep every id.
pub const MAX_DUPLICATES_SHOWN: usize = 100;

/// A row whose id an earlier row has: the file and line of the earlier row and of this one.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateId {
    pub id: String,
    pub first: (Arc<str>, usize),
    pub again: (Arc<str>, usize),
}

impl std::fmt::Display for DuplicateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ((f1, l1), (f2, l2)) = (&self.first, &self.again);
        write!(f, "{} ({f1}:{l1} and {f2}:{l2})", self.id)
    }
}

impl ReadReport {
    fn duplicate(&mut self, d: DuplicateId) {
        self.duplicates += 1;
        if self.duplicate_ids.len() < MAX_DUPLICATES_SHOWN {
            self.duplicate_ids.push(d);
        }
    }
}

/// Finds repeated ids among rows that are read more than once (streaming training reads
/// its files once per epoch) in 8 bytes an id, where a set of the ids would grow with
/// their text: the first read records a 64-bit hash of each id, and the second tells the
/// rows whose id's hash came more than once, with the file and line of each copy,
/// comparing the ids themselves (two ids sharing a hash are no duplicate).
#[derive(Debug, Default)]
pub struct RepeatedIds {
    hashes: Vec<u64>,
    /// From the second read: the hashes the first read saw more than once.
    repeated: Option<HashMap<u64, FirstOf>>,
    shown: usize,
}

/// The first row of a repeated hash in the second read.
#[derive(Debug)]
enum FirstOf {
    Unseen,
    /// Its id and place; `None` past [`MAX_DUPLICATES_SHOWN`] repeated ids, which are then
    /// counted without comparing them.
    Seen(Option<(String, Arc<str>, usize)>),
}

/// Ids a [`RepeatedIds`] checks: the rows past them are not checked (32 MB of hashes, held
/// only during the first read).
pub const MAX_CHECKED_IDS: usize = 4_000_000;

impl RepeatedIds {
    fn hash(id: &str) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(id)
    }

    /// Records a row of the first read.
    pub fn first_read(&mut self, id: &str) {
        if self.hashes.len() < MAX_CHECKED_IDS {
            self.hashes.push(Self::hash(id));
        }
    }

    /// Checks a row of the second read, at `line` of `file`, recording it in `report` when
    /// an earlier row has its id.
    pub fn second_read(&mut self, id: &str, file: &Arc<str>, line: usize, report: &mut ReadReport) {
        let repeated = self.repeated.get_or_insert_with(|| {
            let mut hashes = std::mem::take(&mut self.hashes);
            hashes.sort_unstable();
            let twice = hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| (w[0], FirstOf::Unseen));
            twice.collect()
        });
        let Some(first) = repeated.get_mut(&Self::hash(id)) else { return };
        match first {
            FirstOf::Unseen => {
                let keep = self.shown < MAX_DUPLICATES_SHOWN;
                self.shown += usize::from(keep);
                *first = FirstOf::Seen(keep.then(|| (id.to_string(), file.clone(), line)));
            }
            FirstOf::Seen(Some((first_id, first_file, first_line))) if first_id == id => {
                let again = (file.clone(), line);
                report.duplicate(DuplicateId { id: id.into(), first: (first_file.clone(), *first_line), again });
            }
            FirstOf::Seen(Some(_)) => {}
            FirstOf::Seen(None) => report.duplicates += 1,
        }
    }
}

/// Longest text accepted when no other limit is given, in code points.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 100_000;

/// How labelled files are read: the column names of CSV files, and the labels a data set
/// spells its own way. Text and label must be in the header; an id or target column named
/// here must be too, and without a name the `id` and `target` columns are read when present.
#[derive(Debug, Clone)]
pub struct LabelledColumns {
    pub text: String,
    pub label: String,
    pub id: Option<String>,
    pub target: Option<String>,
    /// Field delimiter of the CSV files (those named `.csv` or `.tsv`, and, when given, any
    /// file not named as JSONL); `None`: as each name says (`.tsv`: a tab).
    pub delimiter: Option<u8>,
    /// Labels as the files write them -> labels of the task (`"-1"` -> `"negative"`), for
    /// data sets that number their classes or name them otherwise; matched as
    /// [`same_label`] says. A label the map does not name is read as it is.
    pub label_map: Vec<(String, String)>,
}

/// Whether a label as the data writes it is `from` of a label map: in any case, as the
/// task's own labels are read, and as a number when both are numbers (`1.0`, as a float
/// column exports it, is `1`).
pub fn same_label(from: &str, label: &str) -> bool {
    from.eq_ignore_ascii_case(label) || matches!((from.parse::<f64>(), label.parse::<f64>()), (Ok(a), Ok(b)) if a == b)
}

/// The JSONL field names.
impl Default for LabelledColumns {
    fn default() -> Self {
        LabelledColumns {
            text: "text".into(),
            label: "label".into(),
            id: None,
            target: None,
            delimiter: None,
            label_map: Vec::new(),
        }
    }
}

impl LabelledColumns {
    /// How `path` is read: CSV when its name says so, or when a delimiter is given and the
    /// name does not say JSONL (stdin, a pipe, `data.txt`); else JSONL.
    fn format(&self, path: &str) -> crate::batch::Format {
        use crate::batch::Column;
        let jsonl = [".jsonl", ".jsonl.gz", ".json", ".ndjson"].iter().any(|e| path.to_lowercase().ends_with(e));
        let Some(delimiter) = crate::batch::csv_delimiter(path).or(self.delimiter.filter(|_| !jsonl)) else {
            return crate::batch::Format::Jsonl;
        };
        crate::batch::Format::Csv {
            delimiter: self.delimiter.unwrap_or(delimiter),
            text_column: self.text.clone(),
            label_column: Column::Named(self.label.clone()),
            id_column: Column::named_or(self.id.as_deref(), "id"),
            target_column: Column::named_or(self.target.as_deref(), "target"),
        }
    }
}

/// Reads labelled rows of `task` from `input`, the file `name`, into `out` (formats as in
/// [`labelled_examples`]), recording skipped rows and ids seen before in `report`.
pub fn read_labelled(
    input: impl Read + Send,
    name: &str,
    task: Task,
    columns: &LabelledColumns,
    skip_invalid: bool,
    out: &mut Vec<Example>,
    report: &mut ReadReport,
) -> Result<()> {
    let mut skipped = Vec::new();
    let file: Arc<str> = name.into();
    for (line, ex) in
        labelled_rows(input, name, task, columns, skip_invalid, |line, message| skipped.push((line, message)))?
    {
        let ex = ex?;
        match report.seen_ids.entry(ex.id.clone()) {
            Entry::Occupied(first) => {
                let first = first.get().clone();
                report.duplicate(DuplicateId { id: ex.id.clone(), first, again: (file.clone(), line) });
            }
            Entry::Vacant(v) => {
                v.insert((file.clone(), line));
            }
        }
        out.push(ex);
    }
    report.skipped.extend(skipped.into_iter().map(|(line, message)| (name.to_string(), line, message)));
    Ok(())
}

/// The examples of `input`, a labelled file of `task` called `name`: JSONL, or CSV with
/// `columns` when the name ends in `.csv` (or `.tsv`), either gzip-compressed (known by its
/// bytes). The caller opens it, so that it can be a copy of a pipe or stdin reported by the
/// name the user gave. An invalid row is an error naming the file and line, unless
/// `skip_invalid`, in which case its line and reason go to `skipped` and it is left out. A
/// row without an id gets `FILE:LINE`, so that id-less files read together report no
/// duplicates. An input that cannot be read on (a gzip file cut off) ends the rows with an
/// error, as the rest is lost.
pub fn labelled_examples<'a, F: FnMut(usize, String) + Send + 'a>(
    input: impl Read + Send + 'a,
    name: &str,
    task: Task,
    columns: &LabelledColumns,
    skip_invalid: bool,
    skipped: F,
) -> Result<impl Iterator<Item = Result<Example>> + Send + 'a> {
    Ok(labelled_rows(input, name, task, columns, skip_invalid, skipped)?.map(|(_, row)| row))
}

/// Refuses a label map that maps to a label the task does not have.
pub fn check_label_map(task: Task, map: &[(String, String)]) -> Result<()> {
    for (from, to) in map {
        if task.canonical_label(to).is_none() {
            return Err(Error::InvalidParam {
                name: "label_map",
                message: format!(
                    "{from:?} is mapped to {to:?}, which is not a label of task {task} (one of {})",
                    task.labels().join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// [`labelled_examples`] with the line each row starts on.
pub fn labelled_rows<'a, F: FnMut(usize, String) + Send + 'a>(
    input: impl Read + Send + 'a,
    name: &str,
    task: Task,
    columns: &LabelledColumns,
    skip_invalid: bool,
    mut skipped: F,
) -> Result<impl Iterator<Item = (usize, Result<Example>)> + Send + 'a> {
    check_label_map(task, &columns.label_map)?;
    let label_map = columns.label_map.clone();
    let rows = crate::batch::read_rows(
        crate::batch::decoded(input, name)?,
        &columns.format(name),
        name,
        DEFAULT_MAX_TEXT_CHARS,
        Default::default(),
    )?;
    let path = name.to_string();
    Ok(rows.filter_map(move |(line, raw)| {
        let invalid = |message| Error::InvalidRecord { path: path.clone(), line, message };
        if let crate::batch::RawRow::Unreadable(message) = raw {
            return Some((line, Err(invalid(message))));
        }
        let example = raw.into_record(line).map_err(|(_, message)| message).and_then(|mut r| {
            if let Some(label) = &mut r.label
                && let Some((_, to)) = label_map.iter().find(|(from, _)| same_label(from, label.trim()))
            {
                *label = Cow::Owned(to.clone());
            }
            let named = r.id.is_some();
            let mut ex = r.into_example(line, Some(task), DEFAULT_MAX_TEXT_CHARS)?;
            if !named {
                ex.id = format!("{path}:{line}");
            }
            Ok(ex)
        });
        match example {
            Ok(ex) => Some((line, Ok(ex))),
            Err(message) if skip_invalid => {
                skipped(line, message);
                None
            }
            Err(message) => Some((line, Err(invalid(message)))),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_map_keys_match_in_any_case_and_as_numbers() {
        assert!(same_label("Agree", "agree") && same_label("1", "1.0") && same_label("-1", "-1.00"));
        assert!(!same_label("1", "10") && !same_label("agree", "disagree") && !same_label("NaN", "NaN "));
    }

    fn ex(line: &str) -> std::result::Result<Example, String> {
        Record::parse(line).and_then(|r| r.into_example(7, Some(Task::Stance), 1000))
    }

    #[test]
    fn repeated_ids_are_told_on_the_second_read_with_both_places() {
        let ids = ["a", "b", "a", "c", "b", "a"];
        let mut repeated = RepeatedIds::default();
        ids.iter().for_each(|id| repeated.first_read(id));
        let (mut report, file) = (ReadReport::default(), Arc::<str>::from("f.jsonl"));
        for (line, id) in ids.iter().enumerate() {
            repeated.second_read(id, &file, line + 1, &mut report);
        }
        let shown: Vec<String> = report.duplicate_ids.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            ["a (f.jsonl:1 and f.jsonl:3)", "b (f.jsonl:2 and f.jsonl:5)", "a (f.jsonl:1 and f.jsonl:6)"]
        );
        assert_eq!(report.duplicates, 3);
        // Past the ids shown, repeats are still counted.
        let mut repeated = RepeatedIds::default();
        let ids: Vec<String> =
            (0..2 * MAX_DUPLICATES_SHOWN + 10).map(|i| (i % (MAX_DUPLICATES_SHOWN + 5)).to_string()).collect();
        ids.iter().for_each(|id| repeated.first_read(id));
        let mut report = ReadReport::default();
        for (line, id) in ids.iter().enumerate() {
            repeated.second_read(id, &file, line + 1, &mut report);
        }
        assert_eq!((report.duplicates, report.duplicate_ids.len()), (MAX_DUPLICATES_SHOWN + 5, MAX_DUPLICATES_SHOWN));
    }

    #[test]
    fn unlabelled_rows_keep_their_id_in_errors() {
        fn row(line: &str) -> std::result::Result<Unlabelled<'_>, (String, String)> {
            Record::parse(line).unwrap().into_unlabelled(7, 1000)
        }
        assert_eq!(row(r#"{"id": "a1"}"#), Err(("a1".into(), "missing field \"text\"".into())));
        assert_eq!(row(r#"{"id": 12, "text": " "}"#), Err(("12".into(), "field \"text\" is empty".into())));
        assert_eq!(row(r#"{"text": ""}"#).unwrap_err().0, "7");
        let ok = row(r#"{"id": "b", "text": "hi", "target": " ", "label": "zzz"}"#).unwrap();
        assert_eq!((&*ok.id, &*ok.text, ok.target), ("b", "hi", None));
    }

    #[test]
    fn only_json_objects_are_rows_and_a_byte_order_mark_is_skipped() {
        let e = ex("\u{feff}{\"id\": \"bom\", \"text\": \"hi\", \"label\": \"favor\"}").unwrap();
        assert_eq!(e.id, "bom");
        for (line, kind) in [
            (r#"["a", "some text", null, null, "favor"]"#, "an array"),
            (r#""text""#, "a string"),
            ("3", "a number"),
            ("null", "null"),
        ] {
            let err = ex(line).unwrap_err();
            assert!(err.starts_with("a row must be a JSON object") && err.ends_with(kind), "{line}: {err}");
        }
        assert!(ex("[1,").unwrap_err().starts_with("invalid JSON"));
    }

    #[test]
    fn a_refused_line_still_gives_its_id() {
        let line = r#"{"id": "s4", "text": "abc", "target_spans": "x"}"#;
        assert!(Record::parse(line).unwrap_err().starts_with("invalid field: invalid type: string \"x\""));
        assert_eq!(Record::id_in(line).as_deref(), Some("s4"));
        assert_eq!(Record::id_in(r#"{"id": 7, "text": 1}"#).as_deref(), Some("7"));
        assert_eq!(Record::id_in(r#"{"text": 1}"#), None);
        assert_eq!(Record::id_in("{not json"), None);
    }

    #[test]
    fn ids_of_any_json_type_are_kept_as_their_json_text() {
        let id = |v: &str| ex(&format!(r#"{{"id": {v}, "text": "hi", "label": "favor"}}"#)).unwrap().id;
        assert_eq!(id("12"), "12");
        // Numbers as written, whatever a float would make of them.
        assert_eq!(id("12345678901234567891234"), "12345678901234567891234");
        assert_eq!(id("1.50"), "1.50");
        assert_eq!(id("-7e400"), "-7e400");
        assert_eq!(id(r#""esc\"aped""#), "esc\"aped");
        assert_eq!(id("true"), "true");
        assert_eq!(id(r#"{"doc": 1}"#), r#"{"doc":1}"#);
        assert_eq!(id("null"), "7");
    }

    #[test]
    fn fields_borrow_from_the_line_unless_escapes_must_be_decoded() {
        let line = r#"{"id": "a\"1", "text": "plain text", "target": "caf\u00e9", "label": -1, "x": {"y": [1]}}"#;
        let r = Record::parse(line).unwrap();
        assert!(matches!(r.text, Some(Cow::Borrowed("plain text"))));
        assert!(matches!(&r.id, Some(Cow::Owned(id)) if id == "a\"1"));
        assert!(matches!(&r.target, Some(Cow::Owned(t)) if t == "café"));
        assert_eq!(r.label.as_deref(), Some("-1"));
        for (field, value, want) in [
            ("text", "7", "field \"text\" must be a string, not a number (7) (column 21)"),
            ("target", "[1]", "field \"target\" must be a string, not an array (column"),
            ("label", "true", "a label must be a string or a number, not a boolean"),
        ] {
            let err = Record::parse(&format!(r#"{{"id": "i", "{field}": {value}}}"#)).unwrap_err();
            assert!(err.starts_with(&format!("invalid field: {want}")), "{field}: {err}");
        }
    }

    #[test]
    fn accepts_aliases_and_ignores_extra_fields() {
        let e = ex(r#"{"id": 5, "text": "hi", "label": "observing", "extra": [1]}"#).unwrap();
        assert_eq!(e.id, "5");
        assert_eq!(e.label, Some(2));
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(ex(r#"{"label": "favor"}"#).unwrap_err(), "missing field \"text\"");
        assert_eq!(ex(r#"{"text": "  ", "label": "favor"}"#).unwrap_err(), "field \"text\" is empty");
        // Zero-width characters normalise to nothing: such a text is as empty as "", as the
        // server holds it.
        assert_eq!(ex(r#"{"text": "\u200b \u00ad\ufeff", "label": "favor"}"#).unwrap_err(), "field \"text\" is empty");
        assert!(ex(r#"{"text": "a", "label": "maybe"}"#).unwrap_err().contains("unknown label \"maybe\""));
        assert_eq!(ex(r#"{"text": "a", "label": " "}"#).unwrap_err(), "field \"label\" is empty");
        assert!(
            ex(r#"{"text": "abc", "label": "favor", "target_spans": [[2, 9]]}"#).unwrap_err().contains("target_spans")
        );
        assert!(ex("{not json").unwrap_err().starts_with("invalid JSON"));
        assert_eq!(ex(r#"{"text": "a"}"#).unwrap_err(), "missing field \"label\"");
    }
}
