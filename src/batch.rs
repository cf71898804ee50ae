//! Batch scoring: JSONL rows in -> one JSONL result row per input row out, in input order.
//!
//! Rows are read in chunks, scored in parallel (rayon) and written before the next chunk is
//! read, so memory stays bounded by the chunk size whatever the input size. A row that cannot
//! be scored becomes an output row with an `error` field: output row count always equals
//! input row count (blank lines excepted), unless `fail_fast` asks to stop at the first bad row.

use std::io::{BufRead, Write};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::features::Input;
use crate::model::{LinearModel, Task};
use crate::train::Record;

/// How to score.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Stop at the first bad row instead of writing an error row.
    pub fail_fast: bool,
    /// Longest text scored, in code points; longer rows become error rows.
    pub max_text_chars: usize,
    /// Rows scored together in parallel (and held in memory at once).
    pub chunk_rows: usize,
    /// Name of the input, for error messages (a path, or `-`).
    pub input_name: String,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            fail_fast: false,
            max_text_chars: crate::train::data::DEFAULT_MAX_TEXT_CHARS,
            chunk_rows: 8192,
            input_name: "-".into(),
        }
    }
}

/// What a batch run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub rows: usize,
    pub scored: usize,
    pub errors: usize,
    /// First few error messages with their line numbers, for the report on stderr.
    pub first_errors: Vec<String>,
}

#[derive(Serialize)]
struct OutRow<'a> {
    id: &'a str,
    label: &'a str,
    probabilities: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    head: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrRow<'a> {
    id: &'a str,
    error: &'a str,
}

/// Scores one line; `Err` holds the message for the error row.
fn score_line(
    model: &LinearModel,
    line: &str,
    lineno: usize,
    max_chars: usize,
) -> (String, std::result::Result<String, String>) {
    let rec = match Record::parse(line) {
        Ok(r) => r,
        Err(e) => return (lineno.to_string(), Err(e)),
    };
    let id = rec.id_or(lineno);
    let ex = match rec.into_example(lineno, None, max_chars) {
        Ok(ex) => ex,
        Err(e) => return (id, Err(e)),
    };
    let p = model.predict(&Input { text: &ex.text, target: ex.target.as_deref(), target_spans: &ex.target_spans }, 0);
    let probabilities = p
        .probabilities
        .iter()
        .map(|(l, v)| (l.clone(), serde_json::Value::from((*v as f64 * 1e6).round() / 1e6)))
        .collect();
    let head = (model.task() == Task::Stance).then_some(p.head.as_str());
    let row = OutRow { id: &ex.id, label: &p.label, probabilities, head };
    (id, Ok(serde_json::to_string(&row).expect("row serialises")))
}

/// Scores every JSONL row of `input` with `model`, writing result rows to `output`.
/// `progress` is called with the number of rows done after each chunk.
pub fn score_jsonl(
    model: &LinearModel,
    input: impl BufRead,
    mut output: impl Write,
    opts: &ScoreOptions,
    progress: &dyn Fn(usize),
) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut lines = input.lines().enumerate();
    let mut chunk: Vec<(usize, String)> = Vec::with_capacity(opts.chunk_rows);
    let out_err = |e: std::io::Error| Error::io("<output>", e);
    loop {
        chunk.clear();
        for (i, line) in lines.by_ref() {
            let line = line.map_err(|e| Error::InvalidRecord {
                path: opts.input_name.clone(),
                line: i + 1,
                message: format!("unreadable line: {e}"),
            })?;
            if line.trim().is_empty() {
                continue;
            }
            chunk.push((i + 1, line));
            if chunk.len() >= opts.chunk_rows {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        let results: Vec<(String, std::result::Result<String, String>)> =
            chunk.par_iter().map(|(n, l)| score_line(model, l, *n, opts.max_text_chars)).collect();
        for ((lineno, _), (id, r)) in chunk.iter().zip(results) {
            summary.rows += 1;
            match r {
                Ok(row) => {
                    summary.scored += 1;
                    output.write_all(row.as_bytes()).map_err(out_err)?;
                }
                Err(message) => {
                    if opts.fail_fast {
                        return Err(Error::InvalidRecord { path: opts.input_name.clone(), line: *lineno, message });
                    }
                    summary.errors += 1;
                    if summary.first_errors.len() < 5 {
                        summary.first_errors.push(format!("{}:{lineno}: {message}", opts.input_name));
                    }
                    let row = serde_json::to_string(&ErrRow { id: &id, error: &message }).expect("row serialises");
                    output.write_all(row.as_bytes()).map_err(out_err)?;
                }
            }
            output.write_all(b"\n").map_err(out_err)?;
        }
        progress(summary.rows);
    }
    output.flush().map_err(out_err)?;
    Ok(summary)
}
