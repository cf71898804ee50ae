//! Batch scoring: rows in (JSONL or CSV, plain or gzip) -> one result row per input row
//! out (JSONL, or CSV for scores), in input order.
//!
//! Rows are read in chunks, processed in parallel (rayon) and written before the next chunk
//! is read, so memory stays bounded by the chunk size whatever the input size. A row that
//! cannot be processed becomes an output row with an `error` field: the output has exactly
//! one row per input row (blank JSONL lines are not rows), unless `max_errors` asks to stop
//! at a bad row or the input cannot be read on (the rows before it are written).
//! Because every output row depends only on its input row, a run can
//! be resumed by skipping as many input rows as the output already holds.

use std::borrow::Cow;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::features::Input;
use crate::model::{LinearModel, Task};
use crate::train::Record;

mod chunks;
mod csv_input;

/// How long a batch waits for a full chunk of rows before it takes the rows read so far:
/// the most a row of a slow stream waits for rows after it.
const STALL: Duration = Duration::from_millis(50);

/// How input rows are laid out.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// One JSON object a line: `{"id", "text", "target"?, "target_spans"?}`.
    Jsonl,
    /// CSV with a header row, fields separated by `delimiter` (`,`; a tab for TSV); the
    /// named columns hold text, id, target and label.
    Csv { text_column: String, id_column: Column, target_column: Column, label_column: Column, delimiter: u8 },
}

/// Where a CSV field other than the text comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Not read.
    Unused,
    /// A column the user named: the header must have it.
    Named(String),
    /// A default name (the JSONL field's): read when the header has it.
    IfPresent(String),
}

impl Column {
    /// `name` when the user gave one, else `default` read when present.
    pub fn named_or(name: Option<&str>, default: &str) -> Column {
        name.map_or_else(|| Column::IfPresent(default.into()), |n| Column::Named(n.into()))
    }
}

/// The field delimiter a file's name says (`.csv` or `.tsv`, before any `.gz`), if it is
/// CSV at all.
pub fn csv_delimiter(name: &str) -> Option<u8> {
    let name = name.to_ascii_lowercase();
    let name = name.trim_end_matches(".gz");
    if name.ends_with(".csv") {
        Some(b',')
    } else if name.ends_with(".tsv") {
        Some(b'\t')
    } else {
        None
    }
}

/// Whether a file's name says gzip (`.gz`, in any case).
pub fn gzip_name(name: &Path) -> bool {
    name.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// `raw`, buffered, and decompressed when it is gzip. Gzip is known by its first bytes rather
/// than by a `.gz` name, so that `curl ... | stancer score` and a misnamed file read as
/// they should; a stream in another compressed format is refused here, naming the tool that
/// unpacks it, instead of becoming an error row for every line. (No UTF-8 text starts with
/// any of these magic numbers, so plain input is never mistaken for them.)
pub fn decoded<'a>(mut raw: impl Read + Send + 'a, name: &str) -> Result<Box<dyn BufRead + Send + 'a>> {
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match raw.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(name, e)),
        }
    }
    let head = &head[..got];
    let other = match head {
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(("zstd", "zstd -dc")),
        [0xfd, b'7', b'z', b'X', b'Z', 0] => Some(("xz", "xz -dc")),
        [b'B', b'Z', b'h', b'1'..=b'9', 0x31, 0x41] => Some(("bzip2", "bzip2 -dc")),
        [b'P', b'K', 3, 4, ..] => Some(("zip", "unzip -p")),
        _ => None,
    };
    if let Some((format, tool)) = other {
        let message =
            format!("the input is {format}-compressed, which is not read: unpack it first ({tool}), or use gzip");
        return Err(Error::io(name, std::io::Error::new(std::io::ErrorKind::InvalidData, message)));
    }
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let whole = std::io::Cursor::new(head.to_vec()).chain(raw);
    Ok(if gzip {
        let gz = GzipErrors(MultiGzDecoder::new(std::io::BufReader::new(whole)));
        Box::new(std::io::BufReader::with_capacity(1 << 16, gz))
    } else {
        Box::new(std::io::BufReader::with_capacity(1 << 16, whole))
    })
}

/// A gzip reader whose errors say what they mean for the file: the decoder's own ("unexpected
/// end of file", "invalid gzip header") read as if the disk had failed, for what is most
/// often a file cut short or with other bytes after its gzip data.
struct GzipErrors<R>(R);

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                let message =
                    format!("the gzip data is cut short, corrupt, or followed by bytes that are not gzip ({e})");
                std::io::Error::new(e.kind(), message)
            }
            _ => e,
        })
    }
}

/// How output rows are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputFormat {
    /// One JSON object a line.
    Jsonl,
    /// CSV records of `columns` fields separated by `delimiter`, the id first and the error
    /// last (empty in rows without one), under a header that the caller writes.
    Csv { columns: usize, delimiter: u8 },
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Stop at the bad row that makes more than this many, instead of writing an error
    /// row for it (`Some(0)`: at the first); `None`: never stop.
    pub max_errors: Option<usize>,
    /// Longest text processed, in code points; longer rows become error rows.
    pub max_text_chars: usize,
    /// Rows processed together in parallel (and held in memory at once); fewer when the
    /// input is behind: the rows read so far go after 50 ms without a full chunk.
    pub chunk_rows: usize,
    /// Names of the input and the output, for error messages (a path, or `-`).
    pub input_name: String,
    pub output_name: String,
    /// Input rows to skip before processing (already in the output of an earlier run).
    pub skip_rows: usize,
    /// The id of the last row already in the output, when resuming: the input row it stands
    /// for must have it, or the output is another input's.
    pub resume_id: Option<String>,
    /// How error rows are written (the row function writes the others).
    pub output_format: OutputFormat,
    /// Once set (by the caller, e.g. on a signal), the run ends after writing the rows it
    /// is working on, with [`Error::Interrupted`]: the output is whole up to there, so a
    /// resumed run continues it. Looked at between chunks and while waiting for input.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_errors: None,
            max_text_chars: crate::train::data::DEFAULT_MAX_TEXT_CHARS,
            chunk_rows: 1024,
            input_name: "-".into(),
            output_name: "-".into(),
            skip_rows: 0,
            resume_id: None,
            output_format: OutputFormat::Jsonl,
            stop: None,
        }
    }
}

/// What a batch run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Rows read in this run (skipped rows of a resumed run not included).
    pub rows: usize,
    pub ok: usize,
    pub errors: usize,
    /// Rows skipped because the output already had them (`--resume`).
    pub skipped: usize,
    /// First few error messages with their line numbers, for the run's report.
    pub first_errors: Vec<String>,
}

/// A run that ended early, with what it did before: the rows it counted are written (and
/// flushed), so a job can report them and `--resume` continues after them.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Stopped {
    pub summary: Summary,
    pub error: Error,
}

/// What processing one row gives: the output row, or the id and message of an error row.
pub type RowResult = std::result::Result<String, (String, String)>;

/// One input row: its line (JSONL) or record (CSV) number and its content.
pub type Row = (usize, RawRow);

/// An input row as read. JSONL lines are parsed by the worker that processes them, so
/// parsing runs on every core instead of in the reading thread.
#[derive(Debug, Clone)]
pub enum RawRow {
    /// A JSONL line, not parsed yet.
    Line(String),
    /// A record already parsed (CSV), or its id, when it could be read, and why the rest
    /// could not be.
    Parsed(std::result::Result<Record<'static>, (Option<String>, String)>),
    /// The input could not be read on from here (a truncated gzip file, a failing disk):
    /// the run stops after writing the rows before it, as the rest of the input is lost.
    Unreadable(String),
}

impl RawRow {
    /// The record of row `line`, or the id for its error row (the row's own id when it can
    /// be found, else the line number) and what is wrong. The row stays as it was read, to
    /// go back to the reading thread and be freed where it was allocated: freed on the
    /// cores, rows made the cores wait on the reader's allocator lock, and left the reader
    /// allocating without the free memory a thread keeps at hand (a copy of a CSV record
    /// is cheaper than either).
    pub fn parse_at(&self, line: usize) -> std::result::Result<Record<'_>, (String, String)> {
        match self {
            RawRow::Line(l) => {
                Record::parse(l).map_err(|message| (Record::id_in(l).unwrap_or(line.to_string()), message))
            }
            RawRow::Parsed(r) => r.clone().map_err(|(id, message)| (id.unwrap_or(line.to_string()), message)),
            RawRow::Unreadable(e) => Err((line.to_string(), e.clone())),
        }
    }

    /// [`parse_at`](Self::parse_at) for a reader that keeps no rows (training), which
    /// takes a CSV record rather than copying it.
    pub fn into_record(self, line: usize) -> std::result::Result<Record<'static>, (String, String)> {
        match self {
            RawRow::Parsed(r) => r.map_err(|(id, message)| (id.unwrap_or(line.to_string()), message)),
            row => row.parse_at(line).map(Record::into_owned),
        }
    }
}

/// The longest input record (a JSONL line, a CSV record) read into memory: long enough for a
/// text at `max_text_chars` written as JSON escapes (12 bytes a character: a surrogate pair,
/// `\ud83d\ude00`, as Python's `json.dumps` writes any character past ASCII) and the other
/// fields. A longer one becomes an error row without being held whole, so memory stays
/// bounded whatever the input (a file without newlines, a binary blob).
fn max_record_bytes(max_text_chars: usize) -> usize {
    max_text_chars.saturating_mul(12).saturating_add(1 << 20)
}

/// A JSONL line, or the length of one past the limit (its bytes were not kept).
enum Line {
    Bytes(Vec<u8>),
    TooLong(u64),
}

/// The next line of `input` without its '\n' (`None` at the end), as `BufRead::split`
/// would give it, but holding no more than `max` of its bytes.
fn next_line(input: &mut impl BufRead, max: usize) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut len = 0u64;
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() && !any {
            return Ok(None);
        }
        let newline = memchr::memchr(b'\n', available);
        let chunk = &available[..newline.unwrap_or(available.len())];
        if len + chunk.len() as u64 <= max as u64 {
            line.extend_from_slice(chunk);
        } else {
            line = Vec::new();
        }
        len += chunk.len() as u64;
        any = true;
        let (used, ended) = (chunk.len() + usize::from(newline.is_some()), newline.is_some() || available.is_empty());
        input.consume(used);
        if ended {
            return Ok(Some(if len > max as u64 { Line::TooLong(len) } else { Line::Bytes(line) }));
        }
    }
}

/// Ends `rows` at the first [`RawRow::Unreadable`], which it yields: a reader that failed
/// once usually fails again at once, and each failure would otherwise be another row.
fn until_unreadable(rows: impl Iterator<Item = Row>) -> impl Iterator<Item = Row> {
    let mut failed = false;
    rows.take_while(move |(_, r)| !std::mem::replace(&mut failed, matches!(r, RawRow::Unreadable(_))))
}

/// Reads rows from `input` in `format`. CSV errors (bad quoting, a field count not the
/// header's) and JSON errors come out as `Err` rows, so they end up as error rows, not as a
/// stopped run; a failing reader ends the rows with a [`RawRow::Unreadable`], which does
/// stop it. Blank JSONL lines are no rows; each adds one to `blank_lines`.
pub fn read_rows<'a>(
    input: impl BufRead + Send + 'a,
    format: &Format,
    name: &str,
    max_text_chars: usize,
    blank_lines: Arc<AtomicUsize>,
) -> Result<Box<dyn Iterator<Item = Row> + Send + 'a>> {
    match format {
        Format::Jsonl => {
            let max_bytes = max_record_bytes(max_text_chars);
            let mut input = input;
            let mut line_no = 0;
            // Lines as bytes, so that a line that is not UTF-8 is an error row of its own and
            // any error from the reader is an error of the input.
            let lines = std::iter::from_fn(move || {
                loop {
                    line_no += 1;
                    let row = match next_line(&mut input, max_bytes) {
                        Ok(None) => return None,
                        Ok(Some(Line::TooLong(len))) => RawRow::Parsed(Err((
                            None,
                            format!(
                                "the line is {len} bytes, over the limit of {max_bytes} (12 bytes for each \
                             character of the text length limit, plus 1 MiB for the other fields)"
                            ),
                        ))),
                        Ok(Some(Line::Bytes(bytes))) => match String::from_utf8(bytes) {
                            // Blank lines, a byte order mark alone among them, are no rows.
                            Ok(l) if l.trim_start_matches('\u{feff}').trim().is_empty() => {
                                blank_lines.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            Ok(mut l) => {
                                // A CRLF line loses its '\r' in place, not by a copy of the line.
                                if l.ends_with('\r') {
                                    l.pop();
                                }
                                RawRow::Line(l)
                            }
                            Err(e) => {
                                RawRow::Parsed(Err((None, format!("the line is not valid UTF-8: {}", e.utf8_error()))))
                            }
                        },
                        Err(e) => RawRow::Unreadable(format!("the input cannot be read on from here: {e}")),
                    };
                    return Some((line_no, row));
                }
            });
            Ok(Box::new(until_unreadable(lines)))
        }
        Format::Csv { text_column, id_column, target_column, label_column, delimiter } => {
            let max_bytes = max_record_bytes(max_text_chars);
            let mut records = csv_input::Records::new(input, max_bytes, *delimiter);
            let header_error = |message: String| Error::InvalidRecord { path: name.into(), line: 1, message };
            let headers = match records.read() {
                Err(e) => return Err(header_error(format!("CSV header: {e}"))),
                Ok(None) => return Err(header_error("no header row (the input is empty)".into())),
                Ok(Some((_, Err(e)))) => return Err(header_error(format!("CSV header: {e}"))),
                Ok(Some((_, Ok(h)))) => (0..h.len())
                    .map(|i| h.get(i).and_then(|f| f.ok()).unwrap_or_default().to_string())
                    .collect::<Vec<_>>(),
            };
            let column_error = |message: String| Error::Column { path: name.into(), message };
            let col = |c: &str| -> Result<usize> {
                // Which of two columns of one name was meant cannot be known.
                if headers.iter().filter(|h| *h == c).count() > 1 {
                    return Err(column_error(format!("the header names column {c:?} more than once")));
                }
                headers.iter().position(|h| h == c).ok_or_else(|| {
                    let mut message = format!("no column {c:?} in the header (columns: {})", headers.join(", "));
                    if let [only] = &headers[..]
                        && let Some(d) = [';', '\t', '|'].into_iter().find(|&d| only.contains(d))
                    {
                        message += &format!("; are the fields separated by {d:?}? give --delimiter");
                    }
                    column_error(message)
                })
            };
            let find = |c: &Column| -> Result<(Option<usize>, String)> {
                match c {
                    Column::Unused => Ok((None, String::new())),
                    Column::Named(name) => Ok((Some(col(name)?), name.clone())),
                    Column::IfPresent(name) if headers.contains(name) => Ok((Some(col(name)?), name.clone())),
                    Column::IfPresent(name) => Ok((None, name.clone())),
                }
            };
            let text = col(text_column)?;
            let text_name = text_column.clone();
            let (id, id_name) = find(id_column)?;
            let (target, target_name) = find(target_column)?;
            let (label, label_name) = find(label_column)?;
            let mut line = 1;
            Ok(Box::new(until_unreadable(std::iter::from_fn(move || {
                let (at, fields) = match records.read() {
                    Ok(r) => r?,
                    Err(e) => {
                        let message = format!("the input cannot be read on after line {line}: {e}");
                        return Some((line + 1, RawRow::Unreadable(message)));
                    }
                };
                line = at;
                let rec = fields.map_err(|message| (None, message)).and_then(|f| {
                    let column = |c: Option<usize>, name: &str| -> std::result::Result<Option<String>, String> {
                        match c.and_then(|c| f.get(c)) {
                            None => Ok(None),
                            Some(Ok(s)) => Ok(Some(s.to_string())),
                            Some(Err(e)) => Err(format!("column {name:?} is not valid UTF-8: {e}")),
                        }
                    };
                    // An empty cell is no id: the row is known by its line instead. The id is
                    // read first so that a row with another bad cell keeps it in its error row.
                    let id = column(id, &id_name).map_err(|message| (None, message))?.filter(|s| !s.is_empty());
                    let rest = || {
                        // A field more than the header is most often a delimiter inside an
                        // unquoted text, which would cut the text and shift the columns after
                        // it; a field less, a record cut short. Either way the fields cannot
                        // be trusted to be the columns they sit under.
                        if f.len() != headers.len() {
                            let n = f.len();
                            let s = if n == 1 { "" } else { "s" };
                            let h = headers.len();
                            return Err(format!(
                                "{n} field{s}, the header has {h} (a field holding the delimiter unquoted?)"
                            ));
                        }
                        // Every column is there now that the field count is the header's.
                        Ok(Record {
                            id: id.clone().map(Cow::Owned),
                            text: column(Some(text), &text_name)?.map(Cow::Owned),
                            target: column(target, &target_name)?.map(Cow::Owned),
                            target_spans: None,
                            label: column(label, &label_name)?.map(Cow::Owned),
                        })
                    };
                    rest().map_err(|message| (id.clone(), message))
                });
                Some((at, RawRow::Parsed(rec)))
            }))))
        }
    }
}

#[derive(Serialize)]
struct ErrRow<'a> {
    id: &'a str,
    error: &'a str,
    /// The input line (JSONL) or record (CSV) the row was read from: a row with no id of
    /// its own gets the line as its id, which another row may have as its own id.
    line: usize,
}

/// Processes `rows` with `f` in parallel chunks and writes one output row per input row.
/// `f` gets the row number and record and returns the output row, or `(id, message)` for
/// an error row. `progress` is called with the rows done after each chunk.
pub fn run<F>(
    rows: impl Iterator<Item = Row> + Send + 'static,
    output: impl Write,
    opts: &BatchOptions,
    f: F,
    progress: &dyn Fn(usize),
) -> std::result::Result<Summary, Stopped>
where
    F: Fn(usize, Record<'_>) -> RowResult + Sync,
{
    let mut summary = Summary::default();
    match run_counting(rows, output, opts, f, progress, &mut summary) {
        Ok(()) => Ok(summary),
        Err(error) => Err(Stopped { summary, error }),
    }
}

fn run_counting<F>(
    rows: impl Iterator<Item = Row> + Send + 'static,
    mut output: impl Write,
    opts: &BatchOptions,
    f: F,
    progress: &dyn Fn(usize),
    summary: &mut Summary,
) -> Result<()>
where
    F: Fn(usize, Record<'_>) -> RowResult + Sync,
{
    let mut to_skip = opts.skip_rows;
    let out_err = |e: std::io::Error| Error::io(&opts.output_name, e);
    let chunks = chunks::Chunks::spawn(rows, opts.chunk_rows)?;
    let stopping = || opts.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
    loop {
        if stopping() {
            output.flush().map_err(out_err)?;
            return Err(Error::Interrupted { rows: summary.rows });
        }
        let next = match chunks.ready() {
            Some(next) => next,
            None => {
                // The input is behind (a stream on stdin): the rows done so far go out now
                // rather than when the buffer fills, so whoever reads the output sees them.
                output.flush().map_err(out_err)?;
                chunks.wait(STALL)
            }
        };
        let mut chunk = match next {
            chunks::Next::Chunk(chunk) => chunk,
            chunks::Next::Waiting => continue,
            chunks::Next::End => break,
        };
        // Only ever the last row: the rows end with it.
        let unreadable = match chunk.pop_if(|(_, r)| matches!(r, RawRow::Unreadable(_))) {
            Some((line, RawRow::Unreadable(message))) => Some((line, message)),
            _ => None,
        };
        let skip = to_skip.min(chunk.len());
        if let Some(want) = opts.resume_id.as_deref().filter(|_| skip > 0 && skip == to_skip) {
            let (line, raw) = &chunk[skip - 1];
            let got = match raw.parse_at(*line) {
                Ok(rec) => rec.id.map_or_else(|| line.to_string(), Cow::into_owned),
                Err((id, _)) => id,
            };
            if got != want {
                return Err(Error::Resume(format!(
                    "the output's last row has id {want:?}, but the input row it stands for ({}:{line}) has id \
                     {got:?}: is it the output of this input?",
                    opts.input_name
                )));
            }
        }
        chunk.drain(..skip);
        to_skip -= skip;
        summary.skipped += skip;
        // Folded pieces come back in the order of their rows.
        let pieces: Vec<Piece> =
            chunk.par_iter().fold(Piece::default, |piece, row| piece.push(row, opts.output_format, &f)).collect();
        chunks.give_back(chunk);
        for Piece { text, rows } in pieces {
            let mut start = 0;
            for (line, end, error) in rows {
                if let Some(max) = opts.max_errors.filter(|&max| error.is_some() && summary.errors >= max) {
                    // The rows before it are written (a resumed run continues at it).
                    output.flush().map_err(out_err)?;
                    let (path, message) = (opts.input_name.clone(), error.unwrap_or_default());
                    return Err(Error::TooManyBadRows { path, line, message, max });
                }
                output.write_all(&text.as_bytes()[start..end]).map_err(out_err)?;
                start = end;
                // Counted once written, so that a run stopped by its output counts what it wrote.
                summary.rows += 1;
                match error {
                    None => summary.ok += 1,
                    Some(message) => {
                        summary.errors += 1;
                        if summary.first_errors.len() < 5 {
                            summary.first_errors.push(format!("{}:{line}: {message}", opts.input_name));
                        }
                    }
                }
            }
        }
        progress(summary.rows);
        if let Some((line, message)) = unreadable {
            // The rows read so far are written (a resumed run continues after them).
            output.flush().map_err(out_err)?;
            return Err(Error::InvalidRecord { path: opts.input_name.clone(), line, message });
        }
    }
    output.flush().map_err(out_err)?;
    if to_skip > 0 {
        // Finishing would leave more output rows than input rows: most likely the wrong
        // input or output file was named.
        return Err(Error::Resume(format!(
            "the output already holds {} rows but {} has only {}: is it the output of this input?",
            opts.skip_rows, opts.input_name, summary.skipped
        )));
    }
    Ok(())
}

/// The output of consecutive rows, one after another, each ending with its newline: a core
/// fills one for the run of rows that rayon hands it, so that a chunk's output is a few
/// allocations (as many as the cores took turns), however small or large its rows. Why not
/// a string per row: the writing thread freed each, which made the cores wait on their
/// allocator's lock.
#[derive(Default)]
struct Piece {
    text: String,
    /// Each row's line number, where its output ends in `text`, and its error, if any.
    rows: Vec<(usize, usize, Option<String>)>,
}

impl Piece {
    fn push(mut self, (n, raw): &Row, format: OutputFormat, f: &impl Fn(usize, Record<'_>) -> RowResult) -> Piece {
        let error = match raw.parse_at(*n).and_then(|rec| f(*n, rec)) {
            Ok(row) => {
                self.text.push_str(&row);
                None
            }
            Err((id, message)) => {
                self.text.push_str(&error_row(format, &id, &message, *n));
                Some(message)
            }
        };
        self.text.push('\n');
        self.rows.push((*n, self.text.len(), error));
        self
    }
}

/// The output row of a row that could not be processed: `{"id", "error", "line"}`, or the CSV
/// record with only its id and error fields filled.
fn error_row(format: OutputFormat, id: &str, message: &str, line: usize) -> String {
    match format {
        OutputFormat::Jsonl => serde_json::to_string(&ErrRow { id, error: message, line }).expect("row serialises"),
        OutputFormat::Csv { columns, delimiter } => {
            let mut row = String::new();
            push_csv_field(&mut row, id, delimiter);
            row.extend(std::iter::repeat_n(delimiter as char, columns.saturating_sub(1)));
            push_csv_field(&mut row, message, delimiter);
            row
        }
    }
}

/// Writes score rows for one model. Escaped labels and head names are made once, so a row
/// costs one featurization and a few string appends.
pub struct ScoreWriter<'a> {
    model: &'a LinearModel,
    labels: Vec<String>,
    heads: Vec<String>,
    /// The CSV delimiter, when writing CSV.
    csv: Option<u8>,
    /// Top features to add to each row (0: none).
    explain: usize,
    /// The longest a row can be besides its id and top features, so that a row is made in
    /// one allocation (growing it was 3.5% of a batch's time).
    row_bytes: usize,
}

impl<'a> ScoreWriter<'a> {
    /// A writer of rows in `format` (CSV under [`Self::csv_header`]), each with its `explain`
    /// top features (at most [`MAX_EXPLAIN`](crate::analyze::MAX_EXPLAIN)).
    pub fn new(model: &'a LinearModel, format: OutputFormat, explain: usize) -> Self {
        let csv = match format {
            OutputFormat::Jsonl => None,
            OutputFormat::Csv { delimiter, .. } => Some(delimiter),
        };
        let escaped = |s: &str| match csv {
            Some(delimiter) => {
                let mut out = String::new();
                push_csv_field(&mut out, s, delimiter);
                out
            }
            None => serde_json::to_string(s).expect("string serialises"),
        };
        let labels: Vec<String> = model.labels().iter().map(|l| escaped(l)).collect();
        let heads: Vec<String> = model.heads().iter().map(|h| escaped(&h.name)).collect();
        let longest = |v: &[String]| v.iter().map(String::len).max().unwrap_or(0);
        // The keys and punctuation, the label and head, and each label with its probability
        // (at most 8 characters, "0.123456").
        let row_bytes = 64 + longest(&labels) + longest(&heads) + labels.iter().map(|l| l.len() + 10).sum::<usize>();
        ScoreWriter { model, labels, heads, csv, explain: explain.min(crate::analyze::MAX_EXPLAIN), row_bytes }
    }

    /// The header line of CSV output: `id,label,p_<label>...,head,top_features,error`
    /// (`head` for stance models, `top_features` when explaining), and the number of its
    /// columns.
    pub fn csv_header(model: &LinearModel, delimiter: u8, explain: bool) -> (String, usize) {
        let mut columns = vec!["id".to_string(), "label".to_string()];
        columns.extend(model.labels().iter().map(|l| format!("p_{l}")));
        if model.task() == Task::Stance {
            columns.push("head".into());
        }
        if explain {
            columns.push("top_features".into());
        }
        columns.push("error".into());
        let mut header = String::new();
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                header.push(delimiter as char);
            }
            push_csv_field(&mut header, c, delimiter);
        }
        header.push('\n');
        (header, columns.len())
    }

    /// Scores one record into its output row:
    /// `{"id", "label", "probabilities": {"<label>": p, ...}, "head"?, "top_features"?}`
    /// (head for stance models; top features, `[{"feature", "weight"}]`, when explaining),
    /// probabilities rounded to 6 decimals; or the CSV record of those fields (the top
    /// features as that JSON array).
    pub fn score(&self, n: usize, rec: Record<'_>, max_chars: usize) -> RowResult {
        let ex = rec.into_unlabelled(n, max_chars)?;
        let mut z = [0f32; crate::train::MAX_CLASSES];
        let k = self.labels.len();
        let input = Input { text: &ex.text, target: ex.target.as_deref(), target_spans: &ex.target_spans };
        let h = self.model.predict_probabilities(&input, &mut z[..k]);
        let best = (0..k).fold(0, |b, i| if z[i] > z[b] { i } else { b });
        let top = (self.explain > 0).then(|| {
            let top = self.model.explain(h, &input, best, self.explain);
            serde_json::to_string(&top).expect("features serialise")
        });
        let mut row = String::with_capacity(self.row_bytes + ex.id.len() + top.as_ref().map_or(0, String::len));
        if let Some(delimiter) = self.csv {
            let sep = delimiter as char;
            push_csv_field(&mut row, &ex.id, delimiter);
            row.push(sep);
            row.push_str(&self.labels[best]);
            for p in &z[..k] {
                row.push(sep);
                push_prob(&mut row, *p);
            }
            if self.model.task() == Task::Stance {
                row.push(sep);
                row.push_str(&self.heads[h]);
            }
            if let Some(top) = &top {
                row.push(sep);
                push_csv_field(&mut row, top, delimiter);
            }
            // The empty error field.
            row.push(sep);
            return Ok(row);
        }
        row.push_str("{\"id\":");
        push_json_str(&mut row, &ex.id);
        row.push_str(",\"label\":");
        row.push_str(&self.labels[best]);
        row.push_str(",\"probabilities\":{");
        for (i, label) in self.labels.iter().enumerate() {
            if i > 0 {
                row.push(',');
            }
            row.push_str(label);
            row.push(':');
            push_prob(&mut row, z[i]);
        }
        row.push('}');
        if self.model.task() == Task::Stance {
            row.push_str(",\"head\":");
            row.push_str(&self.heads[h]);
        }
        if let Some(top) = &top {
            row.push_str(",\"top_features\":");
            row.push_str(top);
        }
        row.push('}');
        Ok(row)
    }
}

/// Appends `s` as a JSON string. Ids are nearly always plain, and `serde_json` allocates a
/// new string for each.
fn push_json_str(row: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        row.push('"');
        row.push_str(s);
        row.push('"');
    } else {
        row.push_str(&serde_json::to_string(s).expect("string serialises"));
    }
}

/// Appends `s` as a CSV field, quoted when it holds the delimiter, a quote or a line break.
fn push_csv_field(row: &mut String, s: &str, delimiter: u8) {
    if s.bytes().any(|b| b == delimiter || matches!(b, b'"' | b'\n' | b'\r')) {
        row.push('"');
        row.push_str(&s.replace('"', "\"\""));
        row.push('"');
    } else {
        row.push_str(s);
    }
}

/// Appends probability `p` rounded to 6 decimals, exactly as `{}` prints
/// `(p * 1e6).round() / 1e6` ("0", "0.25", "0.000001", "1"): formatting floats was a
/// tenth of writing a row.
fn push_prob(row: &mut String, p: f32) {
    use std::fmt::Write as _;
    let micros = (p as f64 * 1e6).round();
    if !(0.0..=1e6).contains(&micros) {
        // Not a probability (never from softmax): printed the general way.
        let _ = write!(row, "{}", micros / 1e6);
        return;
    }
    let micros = micros as u32;
    if micros == 1_000_000 || micros == 0 {
        row.push(if micros == 0 { '0' } else { '1' });
        return;
    }
    let mut digits = *b"0.000000";
    let mut rest = micros;
    for d in digits[2..].iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let end = digits.iter().rposition(|&d| d != b'0').map_or(digits.len(), |i| i + 1);
    row.push_str(std::str::from_utf8(&digits[..end]).unwrap_or_default());
}

/// What an earlier run's output holds, as [`prepare_resume`] found it.
#[derive(Debug, Default, PartialEq)]
pub struct Resumed {
    /// Complete rows (in CSV output, the header counts as one).
    pub rows: usize,
    /// The first and the last complete row, with their line ends, for the caller to check
    /// that the output is this run's (its CSV header, the id of its last row); `None` when
    /// there is none, or it was over [`MAX_KEPT_ROW`] bytes.
    pub first: Option<Vec<u8>>,
    pub last: Option<Vec<u8>>,
}

impl Resumed {
    /// The id of the last row, for the run to check against the input row it stands for:
    /// `None` when no row but a CSV header is there. An output whose last row is not one
    /// this crate writes (in the format asked for: CSV with `delimiter`, else JSONL) is not
    /// one to append to, and the error says why.
    pub fn last_id(&self, delimiter: Option<u8>) -> std::result::Result<Option<String>, String> {
        let body_rows = self.rows - usize::from(delimiter.is_some() && self.rows > 0);
        if body_rows == 0 {
            return Ok(None);
        }
        let Some(row) = &self.last else {
            return Err(format!("its last row is over {} MiB, which no row of this command is", MAX_KEPT_ROW >> 20));
        };
        let id = match delimiter {
            Some(d) => match csv_input::Records::new(row.as_slice(), row.len(), d).read() {
                Ok(Some((_, Ok(fields)))) => fields.get(0).and_then(Result::ok).map(str::to_string),
                _ => None,
            },
            None => serde_json::from_slice::<serde_json::Value>(row)
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string)),
        };
        let format = if delimiter.is_some() { "a CSV record" } else { "a JSON object" };
        id.map(Some).ok_or_else(|| format!("its last row is not {format} with an id, as this run writes"))
    }
}

/// Longest output row [`prepare_resume`] keeps for checking: far past any row this crate
/// writes, and a bound on what a file that is no output of ours (no line breaks) costs.
pub const MAX_KEPT_ROW: usize = 16 << 20;

/// Gets an earlier run's output ready for a resumed run to append to, and says what it
/// holds. A plain file loses a trailing partial row (cut off by the interruption). A gzip
/// file (named `.gz`) keeps the rows that decode: when its end was cut off, they are
/// recompressed into a file that replaces it (by rename, so a second interruption loses
/// nothing), and the resumed run appends its rows as a new gzip member, which every gzip
/// reader reads as one stream. In CSV output (`csv`) a line break inside a quoted field does
/// not end a row, and the header counts as a row. Gzip data under another name is refused,
/// as the resumed run would append plain rows to it.
pub fn prepare_resume(path: &Path, csv: bool) -> Result<Resumed> {
    if gzip_name(path) {
        return prepare_resume_gz(path, csv);
    }
    let mut f = match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Resumed::default()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let counted = count_rows(&mut f, csv);
    if let Some(e) = counted.error {
        return Err(Error::io(path, e));
    }
    if counted.gzip {
        return Err(Error::Resume(format!(
            "{} holds gzip data but is not named .gz: name it .gz to resume it",
            path.display()
        )));
    }
    if counted.complete_len < counted.len {
        f.set_len(counted.complete_len).map_err(|e| Error::io(path, e))?;
    }
    Ok(counted.resumed)
}

/// What [`count_rows`] found.
struct Counted {
    resumed: Resumed,
    /// Bytes up to the end of the last complete row, and all bytes read.
    complete_len: u64,
    len: u64,
    /// Whether the bytes begin as gzip data does.
    gzip: bool,
    /// The read error that ended the count, if one did: a decoder's input cut short.
    error: Option<std::io::Error>,
}

fn count_rows(r: &mut impl Read, csv: bool) -> Counted {
    let mut buf = vec![0u8; 1 << 16];
    let mut c = Counted { resumed: Resumed::default(), complete_len: 0, len: 0, gzip: false, error: None };
    let mut quoted = false;
    // The row being read, as far as the buffers before this one hold it, unless over the
    // bound; and the last complete row, if it was not.
    let (mut open, mut open_kept) = (Vec::new(), true);
    let (mut last, mut last_kept) = (Vec::new(), false);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                c.error = Some(e);
                break;
            }
        };
        let buf = &buf[..n];
        if c.len == 0 {
            c.gzip = buf.starts_with(&[0x1f, 0x8b]);
        }
        let mut start = 0;
        for (i, &b) in buf.iter().enumerate() {
            // A quote opens or closes a quoted CSV field (a doubled quote does both).
            quoted ^= csv && b == b'"';
            if b == b'\n' && !quoted {
                c.resumed.rows += 1;
                c.complete_len = c.len + i as u64 + 1;
                last_kept = open_kept && open.len() + (i + 1 - start) <= MAX_KEPT_ROW;
                if last_kept {
                    last.clear();
                    last.extend_from_slice(&open);
                    last.extend_from_slice(&buf[start..=i]);
                    if c.resumed.rows == 1 {
                        c.resumed.first = Some(last.clone());
                    }
                }
                (open_kept, start) = (true, i + 1);
                open.clear();
            }
        }
        open_kept &= open.len() + (n - start) <= MAX_KEPT_ROW;
        if open_kept {
            open.extend_from_slice(&buf[start..]);
        } else {
            open.clear();
        }
        c.len += n as u64;
    }
    c.resumed.last = last_kept.then_some(last);
    c
}

fn prepare_resume_gz(path: &Path, csv: bool) -> Result<Resumed> {
    use flate2::{Compression, read::MultiGzDecoder, write::GzEncoder};
    let decoder = || {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Ok::<_, Error>(MultiGzDecoder::new(std::io::BufReader::new(f)))
    };
    let mut magic = Vec::with_capacity(2);
    match std::fs::File::open(path) {
        Ok(f) => f.take(2).read_to_end(&mut magic).map_err(|e| Error::io(path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Resumed::default()),
        Err(e) => return Err(Error::io(path, e)),
    };
    if magic.is_empty() {
        return Ok(Resumed::default());
    }
    if magic != [0x1f, 0x8b] {
        // Not an interrupted gzip output: never overwrite it.
        return Err(Error::Resume(format!("{} is named .gz but is not gzip", path.display())));
    }
    let counted = count_rows(&mut decoder()?, csv);
    if counted.error.is_none() && counted.complete_len == counted.len {
        return Ok(counted.resumed);
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".resume-tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let rewrite = || {
        let write_err = |e| Error::io(&tmp, e);
        let file = std::fs::File::create(&tmp).map_err(write_err)?;
        let mut encoder = GzEncoder::new(std::io::BufWriter::new(file), Compression::default());
        let kept = std::io::copy(&mut decoder()?.take(counted.complete_len), &mut encoder);
        if kept.map_err(|e| Error::io(path, e))? != counted.complete_len {
            return Err(Error::Resume(format!("{} changed while it was read", path.display())));
        }
        let file = encoder.finish().and_then(|w| w.into_inner().map_err(|e| e.into_error())).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    };
    rewrite().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(counted.resumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out one byte a read, as a slow pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((&b, rest)) = self.0.split_first() else { return Ok(0) };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn a_line_past_the_limit_is_an_error_row_and_is_not_held() {
        let lines = |input: &[u8], max: usize| {
            let mut input = std::io::BufReader::with_capacity(3, Trickle(input));
            let mut out = Vec::new();
            while let Some(line) = next_line(&mut input, max).unwrap() {
                out.push(match line {
                    Line::Bytes(b) => String::from_utf8(b).unwrap(),
                    Line::TooLong(n) => format!("<{n}>"),
                });
            }
            out
        };
        assert_eq!(lines(b"ab\nxxxxxxxx\n\ncd", 4), ["ab", "<8>", "", "cd"]);
        assert_eq!(lines(b"abcd\nabcde\n", 4), ["abcd", "<5>"]);
        assert_eq!(lines(b"", 4), Vec::<String>::new());
        assert_eq!(lines(b"\n", 4), [""]);

        // Through read_rows: the rows around it are read as usual, line numbers kept.
        let long = format!("{{\"id\": \"big\", \"text\": \"{}\"}}", "x".repeat(max_record_bytes(10) + 1));
        let input = format!("{{\"text\": \"a\"}}\n{long}\n\n{{\"text\": \"b\"}}\n");
        let rows: Vec<_> = read_rows(input.as_bytes(), &Format::Jsonl, "x.jsonl", 10, Default::default())
            .unwrap()
            .map(|(n, r)| (n, r.into_record(n)))
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[1].0, rows[2].0), (2, 4));
        let (id, message) = rows[1].1.as_ref().unwrap_err();
        assert_eq!(id, "2");
        assert!(message.contains(&format!("the line is {} bytes, over the limit of 1048696", long.len())), "{message}");
        assert_eq!(rows[2].1.as_ref().unwrap().text.as_deref(), Some("b"));

        // A text at the limit written as JSON escapes (12 bytes an emoji) is a row, whatever
        // the other fields hold.
        let max = 200_000;
        let escaped = format!("{{\"id\": \"e\", \"text\": \"{}\"}}", "\\ud83d\\ude00".repeat(max));
        let rows: Vec<_> = read_rows(escaped.as_bytes(), &Format::Jsonl, "x.jsonl", max, Default::default())
            .unwrap()
            .map(|(n, r)| r.into_record(n).map(|r| r.text.map(|t| t.chars().count())))
            .collect();
        assert_eq!(rows, [Ok(Some(max))]);
    }

    #[test]
    fn gzip_is_known_by_its_bytes_and_other_compressions_are_refused_by_name() {
        use flate2::{Compression, write::GzEncoder};
        let read = |bytes: &[u8], name: &str| -> Result<Vec<u8>> {
            let mut out = Vec::new();
            decoded(Trickle(bytes), name)?.read_to_end(&mut out).map_err(|e| Error::io(name, e))?;
            Ok(out)
        };
        let text = b"{\"text\": \"a\"}\n{\"text\": \"b\"}\n";
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(text).unwrap();
        let gz = gz.finish().unwrap();
        // Whatever the name: gzip is unpacked, plain text passes through, short inputs too.
        for name in ["-", "rows.jsonl", "rows.jsonl.gz"] {
            assert_eq!(read(&gz, name).unwrap(), text);
            assert_eq!(read(text, name).unwrap(), text);
        }
        for short in [&b""[..], b"x", b"\x1f", b"BZh9"] {
            assert_eq!(read(short, "-").unwrap(), short);
        }
        for (magic, format) in [
            (&b"\x28\xb5\x2f\xfd\x04\x58"[..], "zstd"),
            (b"\xfd7zXZ\x00\x00", "xz"),
            (b"BZh91AY&SY", "bzip2"),
            (b"PK\x03\x04\x14\x00", "zip"),
        ] {
            let e = read(magic, "in.jsonl").unwrap_err().to_string();
            assert!(e.starts_with("in.jsonl: ") && e.contains(&format!("{format}-compressed")), "{e}");
        }
    }

    #[test]
    fn jsonl_lines_end_at_lf_or_crlf_and_blank_lines_are_not_rows() {
        let input: &[u8] = b"{\"text\": \"a\"}\r\n\r\n{\"text\": \"b\"}\n\xff\n \t\n";
        let blank = Arc::new(AtomicUsize::new(0));
        let rows: Vec<(usize, String)> = read_rows(input, &Format::Jsonl, "x.jsonl", 100, blank.clone())
            .unwrap()
            .map(|(n, r)| match r {
                RawRow::Line(l) => (n, l),
                RawRow::Parsed(r) => (n, r.unwrap_err().1),
                RawRow::Unreadable(m) => (n, m),
            })
            .collect();
        assert_eq!(rows[..2], [(1, r#"{"text": "a"}"#.to_string()), (3, r#"{"text": "b"}"#.to_string())]);
        assert!(rows[2].0 == 4 && rows[2].1.contains("not valid UTF-8"), "{rows:?}");
        assert_eq!(rows.len(), 3);
        assert_eq!(blank.load(Ordering::Relaxed), 2, "line 2 and the spaces of line 5");
    }

    /// CSV with a text column and, when the header has them, id and target.
    fn csv_format() -> Format {
        Format::Csv {
            text_column: "text".into(),
            id_column: Column::IfPresent("id".into()),
            target_column: Column::IfPresent("target".into()),
            label_column: Column::Unused,
            delimiter: b',',
        }
    }

    #[test]
    fn a_bad_csv_record_keeps_its_id_when_the_id_cell_reads() {
        let input: &[u8] = b"id,text,target\nr1,\xff,t\nr2\n,\xff,t\n\xfe,ok,t\nr5,\"open\n";
        let ids: Vec<String> = read_rows(input, &csv_format(), "x.csv", 100, Default::default())
            .unwrap()
            .map(|(n, r)| r.parse_at(n).unwrap_err().0)
            .collect();
        // The id cell read: its id; empty or not UTF-8, or the record unreadable: the line.
        assert_eq!(ids, ["r1", "r2", "4", "5", "6"]);
    }

    #[test]
    fn a_record_with_more_or_fewer_fields_than_the_header_is_an_error_row() {
        // An unquoted comma in a text would otherwise cut the text and shift the target.
        let input: &[u8] = b"id,text,target\nr1,fine,t\nr2,hello, world,t\nr3,short\nr4,\"quoted, fine\",t\n";
        let rows: Vec<_> = read_rows(input, &csv_format(), "x.csv", 100, Default::default())
            .unwrap()
            .map(|(n, r)| r.into_record(n))
            .collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].as_ref().unwrap().text.as_deref(), Some("fine"));
        assert_eq!(
            rows[1].as_ref().unwrap_err(),
            &("r2".to_string(), "4 fields, the header has 3 (a field holding the delimiter unquoted?)".to_string())
        );
        assert_eq!(rows[2].as_ref().unwrap_err().0, "r3");
        assert!(rows[2].as_ref().unwrap_err().1.starts_with("2 fields, the header has 3"), "{rows:?}");
        assert_eq!(rows[3].as_ref().unwrap().text.as_deref(), Some("quoted, fine"));
        // A column read twice in the header: which one is meant cannot be known.
        for header in ["id,text,text", "id,text,target,id"] {
            let input = format!("{header}\nr1,a,b\n");
            let err =
                read_rows(input.as_bytes(), &csv_format(), "x.csv", 100, Default::default()).err().unwrap().to_string();
            assert!(err.contains("x.csv:1") && err.contains("more than once"), "{err}");
        }
        // Columns the run does not read may repeat.
        assert!(read_rows(&b"id,text,x,x\nr1,a,b,c\n"[..], &csv_format(), "x.csv", 100, Default::default()).is_ok());
    }

    #[test]
    fn a_run_stopped_by_its_output_counts_the_rows_it_wrote() {
        /// Takes `room` bytes, then fails as a full disk does.
        struct Full {
            room: usize,
            got: Vec<u8>,
        }
        impl Write for Full {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.got.len() + buf.len() > self.room {
                    return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
                }
                self.got.extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let input = "{\"text\": \"a\"}\nnot json\n".repeat(10);
        let rows =
            read_rows(std::io::Cursor::new(input.into_bytes()), &Format::Jsonl, "x", 100, Default::default()).unwrap();
        let mut out = Full { room: 100, got: Vec::new() };
        let f = |n: usize, _: Record| Ok(format!("row {n}"));
        let Err(Stopped { summary, .. }) = run(rows, &mut out, &BatchOptions::default(), f, &|_| {}) else {
            panic!("the output is full")
        };
        let written = out.got.iter().filter(|&&b| b == b'\n').count();
        assert!(written > 0 && written < 20, "{written}");
        assert_eq!((summary.rows, summary.ok + summary.errors), (written, written));
    }

    #[test]
    fn rows_keep_their_order_and_a_bad_row_stops_the_run_exactly_across_chunks_and_pieces() {
        // 1,000 rows in chunks of 100 (several pieces each); every 97th line is bad.
        let input: String = (1..=1000)
            .map(|n| {
                if n % 97 == 0 { "not json\n".to_string() } else { format!("{{\"id\": \"r{n}\", \"text\": \"t\"}}\n") }
            })
            .collect();
        let rows = |input: &str| {
            read_rows(std::io::Cursor::new(input.as_bytes().to_vec()), &Format::Jsonl, "x", 100, Default::default())
        };
        let f = |n: usize, r: Record| Ok(format!("{n} {}", r.id.unwrap_or_default()));
        let opts = BatchOptions { chunk_rows: 100, ..BatchOptions::default() };
        let mut out = Vec::new();
        let summary = run(rows(&input).unwrap(), &mut out, &opts, f, &|_| {}).unwrap();
        let lines: Vec<String> = String::from_utf8(out).unwrap().lines().map(String::from).collect();
        assert_eq!((summary.rows, summary.errors), (1000, 10));
        for (i, line) in lines.iter().enumerate() {
            let n = i + 1;
            if n % 97 == 0 {
                assert!(line.starts_with(&format!("{{\"id\":\"{n}\",\"error\":")), "{line}");
            } else {
                assert_eq!(*line, format!("{n} r{n}"));
            }
        }
        // The fourth bad row (line 388) is past --max-errors 3: the 387 rows before it are
        // written, and no row after it.
        let mut out = Vec::new();
        let opts = BatchOptions { max_errors: Some(3), ..opts };
        let Err(Stopped { summary, error }) = run(rows(&input).unwrap(), &mut out, &opts, f, &|_| {}) else {
            panic!("the fourth bad row stops the run")
        };
        assert!(matches!(error, Error::TooManyBadRows { line: 388, max: 3, .. }), "{error}");
        assert_eq!((summary.rows, summary.errors), (387, 3));
        assert_eq!(String::from_utf8(out).unwrap().lines().collect::<Vec<_>>(), lines[..387]);
    }

    #[test]
    fn probabilities_print_as_rounded_floats_do() {
        let mut values = vec![0.0f32, 1.0, 0.5, 1e-7, 4e-7, 6e-7, 1e-6, 0.9999994, 0.9999996, 0.1, 0.25, f32::NAN, 1.5];
        let mut x = 0x2545_f491_u32;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            values.push(x as f32 / u32::MAX as f32);
        }
        for p in values {
            let mut got = String::new();
            push_prob(&mut got, p);
            assert_eq!(got, format!("{}", (p as f64 * 1e6).round() / 1e6), "{p}");
        }
    }

    #[test]
    fn ids_are_json_strings() {
        for id in ["plain-id 7", "", "quote\"d", "back\\slash", "tab\there", "é🎉"] {
            let mut got = String::new();
            push_json_str(&mut got, id);
            assert_eq!(got, serde_json::to_string(id).unwrap());
        }
    }
}
