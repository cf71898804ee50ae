//! The batch commands `score`, `extract` and `analyze`: opening inputs and outputs
//! (JSONL or CSV, gzip, stdin/stdout, --resume), running [`stancer::batch::run`] with a
//! progress bar, and the summary; `analyze` also takes one document.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, Result};
use clap::Args;
use flate2::write::GzEncoder;
use indicatif::{ProgressBar, ProgressStyle};
use stancer::analyze;
use stancer::batch::{self, BatchOptions, Column, Format};
use stancer::model::{self, LinearModel, Task};
use stancer::train;

use crate::{ModelsDir, SummaryFile, Threads, parse_delimiter, print_json, refuse_overwrite, resolve_model};

#[derive(Args)]
pub(crate) struct ScoreArgs {
    /// Model name (found in --models) or path to a .safetensors file.
    #[arg(long)]
    model: String,
    /// Add each row's N top features, those that pushed hardest toward or away from its
    /// label: "top_features": [{"feature", "weight"}] (slower: features get their names).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=stancer::analyze::MAX_EXPLAIN as i64))]
    explain: u16,
    #[command(flatten)]
    io: BatchIo,
    #[command(flatten)]
    models: ModelsDir,
}

#[derive(Args)]
pub(crate) struct ExtractArgs {
    /// A plain-text document ('-': stdin), whose quotations go to --output (stdout by
    /// default) as one JSON object. Without it, rows are read from --input (stdin by default).
    #[arg(conflicts_with = "input")]
    file: Option<String>,
    #[command(flatten)]
    io: BatchIo,
}

#[derive(Args)]
pub(crate) struct AnalyzeArgs {
    /// A plain-text document ('-' or nothing: stdin), whose analysis goes to --output
    /// (stdout by default). Not with --input.
    #[arg(conflicts_with = "input")]
    file: Option<String>,
    /// What stance is taken toward (batch rows may carry their own "target").
    #[arg(long)]
    target: Option<String>,
    /// Top contributing features to show per prediction.
    #[arg(long, default_value_t = 0)]
    explain: usize,
    /// Stance model name or path.
    #[arg(long, default_value = "stance")]
    stance_model: String,
    /// Sentiment model name or path.
    #[arg(long, default_value = "sentiment")]
    sentiment_model: String,
    /// Batch mode: --input names the rows {"id", "text", "target"?} to analyze.
    #[command(flatten)]
    io: BatchIo,
    #[command(flatten)]
    models: ModelsDir,
}

/// Input, output and failure handling shared by the batch commands.
#[derive(Args)]
struct BatchIo {
    /// Input file ('-' for stdin, the default): JSONL, or CSV when it ends in .csv (.tsv:
    /// tab-separated) or --text-column or --delimiter is given; gzip-compressed input is
    /// read as such, whatever its name.
    #[arg(long, value_name = "FILE")]
    input: Option<String>,
    /// Output file ('-' for stdout): JSONL, or CSV (score only) when it ends in .csv (.tsv:
    /// tab-separated); gzip-compressed when it ends in .gz.
    #[arg(long, default_value = "-", value_name = "FILE")]
    output: String,
    /// Output format [default: as the --output name says (.csv, .tsv, before any .gz), else
    /// jsonl]. CSV rows are "id,label,p_<label>...,head,top_features,error" (head for stance
    /// models, top_features with --explain), under a header; only score writes CSV, the
    /// other commands' rows being nested.
    #[arg(long, value_name = "FORMAT")]
    output_format: Option<OutputFormatArg>,
    /// CSV column holding the text (makes the input CSV).
    #[arg(long, value_name = "NAME")]
    text_column: Option<String>,
    /// Field delimiter of CSV input (makes the input CSV): one character, or "tab"
    /// [default: a tab for a .tsv input, else ","].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// CSV column holding the row id [default: "id" when the header has it; without one,
    /// and for an empty cell, the row's line number].
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// CSV column holding the target [default: "target" when the header has it].
    #[arg(long, value_name = "NAME")]
    target_column: Option<String>,
    /// Continue an interrupted run: keep the rows already in --output and process only the
    /// rest. The finished file equals an uninterrupted run's (for gzip output, once
    /// decompressed). SIGINT or SIGTERM ends a run with its output whole, ready for this
    /// (exit status 130 or 143).
    #[arg(long)]
    resume: bool,
    /// Stop at the first row that cannot be processed instead of writing an error row
    /// (--max-errors 0).
    #[arg(long, conflicts_with = "max_errors")]
    fail_fast: bool,
    /// Stop when more than N rows could not be processed (a wrong input fails early instead
    /// of writing an error row for each of millions of rows), with exit status 3; the rows
    /// before the one that stops the run are written, so --resume can continue once the
    /// input is fixed. [default: never stop]
    #[arg(long, value_name = "N")]
    max_errors: Option<usize>,
    /// Longest text processed, in characters; longer rows become error rows. It also bounds
    /// the memory a row may take: a JSONL line or CSV record over 12 bytes a character (a
    /// JSON escape's length) plus 1 MiB is an error row, read past without being held.
    #[arg(long, default_value_t = 100_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_text_chars: usize,
    /// Rows read and processed together; memory grows with it. When the input is behind (a
    /// stream on stdin), the rows read so far are processed after 50 ms without a full
    /// chunk, and the output is flushed, so a stream's rows come back as they come in.
    #[arg(long, value_name = "N", default_value = "1024")]
    chunk_rows: std::num::NonZeroUsize,
    /// Also write the run's summary as JSON to FILE when it ends: {"input", "output",
    /// "models": [{"path", "name", "task", "created_at"}], "rows", "ok", "errors",
    /// "skipped", "first_errors", "blank_lines" (JSONL lines with nothing on them, which are
    /// no rows; null for a run that stopped early), "seconds", "stopped"}, for the job that
    /// runs the batch to check ("stopped" says why a run ended before the end of its input,
    /// and is null when it did not).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    #[command(flatten)]
    threads: Threads,
}

impl BatchIo {
    /// The input file, "-" for stdin.
    fn input_name(&self) -> &str {
        self.input.as_deref().unwrap_or("-")
    }
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum OutputFormatArg {
    Jsonl,
    Csv,
    Tsv,
}

/// Counts bytes read through it, for a progress bar with an ETA on compressed input too.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Where a batch writes. A gzip member is finished explicitly, so that a failed last write
/// is reported rather than lost in a drop; a resumed run starts its member only when it has
/// a row to write, so resuming a finished file leaves it as it was.
enum BatchOut {
    Plain(Box<dyn Write>),
    /// A resumed run's gzip output before its first row (`None` only while becoming `Gz`).
    GzLater(Option<File>),
    Gz(GzThread),
}

impl BatchOut {
    fn gz(file: File, later: bool) -> std::io::Result<Self> {
        Ok(if later { BatchOut::GzLater(Some(file)) } else { BatchOut::Gz(GzThread::start(file)?) })
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            BatchOut::Plain(mut w) => w.flush(),
            BatchOut::GzLater(_) => Ok(()),
            BatchOut::Gz(g) => g.finish(),
        }
    }
}

/// A gzip file compressed on a thread of its own, so that compressing a chunk's rows runs
/// beside scoring the next instead of between them (2M rows: 7.7 s to .gz against 4.6 s
/// plain, with compressing on the batch's thread).
struct GzThread {
    to_thread: Option<std::sync::mpsc::SyncSender<GzMsg>>,
    flushed: std::sync::mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    buf: Vec<u8>,
}

enum GzMsg {
    Data(Vec<u8>),
    Flush,
}

/// Bytes handed to the thread at a time.
const GZ_BLOCK: usize = 1 << 16;

impl GzThread {
    fn start(file: File) -> std::io::Result<GzThread> {
        // A few blocks ahead at most: memory stays flat when compressing is the slower side.
        let (to_thread, from_batch) = std::sync::mpsc::sync_channel::<GzMsg>(4);
        let (ack, flushed) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("gzip".into()).spawn(move || {
            let mut gz = GzEncoder::new(file, flate2::Compression::default());
            for msg in from_batch {
                match msg {
                    GzMsg::Data(bytes) => gz.write_all(&bytes)?,
                    GzMsg::Flush => {
                        gz.flush()?;
                        let _ = ack.send(());
                    }
                }
            }
            gz.finish().map(drop)
        })?;
        Ok(GzThread { to_thread: Some(to_thread), flushed, thread: Some(thread), buf: Vec::with_capacity(GZ_BLOCK) })
    }

    /// Hands `msg` to the thread; when it has stopped on an error, that error.
    fn send(&mut self, msg: GzMsg) -> std::io::Result<()> {
        match self.to_thread.as_ref().map(|t| t.send(msg)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// Why the thread stopped before it was asked to.
    fn stopped(&mut self) -> std::io::Error {
        self.join().err().unwrap_or_else(|| std::io::Error::other("the gzip thread stopped"))
    }

    /// Closes the thread's input and waits for it: what compressing and writing came to.
    fn join(&mut self) -> std::io::Result<()> {
        self.to_thread = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err(std::io::Error::other("the gzip thread stopped")),
        }
    }

    fn send_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(GZ_BLOCK));
        self.send(GzMsg::Data(block))
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.send_buf()?;
        self.join()
    }
}

impl Write for GzThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= GZ_BLOCK {
            self.send_buf()?;
        }
        Ok(buf.len())
    }

    /// Returns once the thread has compressed and written everything so far, so that a
    /// reader of the file sees every row written before.
    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()?;
        self.send(GzMsg::Flush)?;
        self.flushed.recv().map_err(|_| self.stopped())
    }
}

impl Write for BatchOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let BatchOut::GzLater(f) = self
            && let Some(f) = f.take()
        {
            *self = BatchOut::Gz(GzThread::start(f)?);
        }
        match self {
            BatchOut::Plain(w) => w.write(buf),
            BatchOut::GzLater(_) => Ok(0),
            BatchOut::Gz(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            BatchOut::Plain(w) => w.flush(),
            BatchOut::GzLater(_) => Ok(()),
            BatchOut::Gz(e) => e.flush(),
        }
    }
}

/// An opened batch: rows, output, and what the progress bar needs.
struct Opened {
    rows: Box<dyn Iterator<Item = batch::Row> + Send>,
    output: BatchOut,
    output_name: String,
    opts: BatchOptions,
    bytes_read: Arc<AtomicU64>,
    input_len: Option<u64>,
    blank_lines: Arc<AtomicUsize>,
}

/// What a command's JSONL output rows hold, so that `--resume` can refuse an output that
/// another command or model wrote (its rows would be mixed with this run's).
struct RowShape<'a> {
    /// Every key a row that is not an error row may have; the first after "id" is in all.
    keys: &'a [&'a str],
    /// The labels a score row may give.
    labels: Option<&'a [String]>,
}

const SCORE_KEYS: &[&str] = &["id", "label", "probabilities", "head", "top_features"];
const EXTRACT_ROWS: RowShape = RowShape { keys: &["id", "quotes", "speakers"], labels: None };
const ANALYZE_ROWS: RowShape = RowShape { keys: &["id", "target", "quotes", "speakers", "verdicts"], labels: None };

/// Opens a batch's input and output. `csv_header` gives the CSV header line and column
/// count, for a delimiter, of a command that can write CSV (`None`: one whose rows are
/// nested JSON).
fn open_batch(io: &BatchIo, csv_header: Option<&dyn Fn(u8) -> (String, usize)>, shape: &RowShape) -> Result<Opened> {
    io.threads.apply()?;
    let input = io.input_name();
    if io.output != "-" {
        refuse_overwrite(Path::new(input), Path::new(&io.output), "--output")?;
    }
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (raw, input_len): (Box<dyn Read + Send>, Option<u64>) = if input == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = File::open(input).with_context(|| format!("opening {input}"))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let counted = Counting { inner: raw, count: bytes_read.clone() };
    let reader = batch::decoded(counted, input)?;
    let delimiter = io.delimiter.or_else(|| batch::csv_delimiter(input));
    let format = if io.text_column.is_some() || delimiter.is_some() {
        Format::Csv {
            delimiter: delimiter.unwrap_or(b','),
            text_column: io.text_column.clone().unwrap_or_else(|| "text".into()),
            // The JSONL field names, as `train` reads them.
            id_column: Column::named_or(io.id_column.as_deref(), "id"),
            target_column: Column::named_or(io.target_column.as_deref(), "target"),
            label_column: Column::Unused,
        }
    } else {
        if let Some(flag) = [("--id-column", &io.id_column), ("--target-column", &io.target_column)]
            .into_iter()
            .find_map(|(flag, v)| v.as_ref().map(|_| flag))
        {
            usage!(
                "{flag} names a CSV column, but {} is read as JSONL, whose rows are \
                 {{\"id\", \"text\", \"target\"}}; for CSV input give a .csv or .tsv name, --text-column or --delimiter",
                if input == "-" { "stdin" } else { input }
            );
        }
        Format::Jsonl
    };
    let blank_lines = Arc::new(AtomicUsize::new(0));
    let rows = batch::read_rows(reader, &format, input, io.max_text_chars, blank_lines.clone())?;
    let csv_out = match io.output_format {
        None => batch::csv_delimiter(&io.output),
        Some(OutputFormatArg::Jsonl) => None,
        Some(OutputFormatArg::Csv) => Some(b','),
        Some(OutputFormatArg::Tsv) => Some(b'\t'),
    };
    let csv = match (csv_out, csv_header) {
        (None, _) => None,
        (Some(delimiter), Some(header)) => Some((delimiter, header(delimiter))),
        (Some(_), None) => {
            let asked =
                if io.output_format.is_some() { "--output-format".into() } else { format!("--output {}", io.output) };
            usage!(
                "{asked}: this command writes nested JSON rows, which CSV cannot hold (only score writes CSV); \
                 write JSONL (a .jsonl name, or --output-format jsonl)"
            )
        }
    };

    let (mut skip_rows, mut resume_id) = (0, None);
    if io.resume {
        if io.output == "-" {
            usage!("--resume needs an --output file to continue");
        }
        let resumed = batch::prepare_resume(Path::new(&io.output), csv.is_some())?;
        let refuse = |why: String| {
            anyhow::Error::from(stancer::Error::Resume(format!(
                "{} is not an output this run can continue: {why} (another command, model or option wrote it?)",
                io.output
            )))
        };
        if let (Some((_, (header, _))), Some(first)) = (&csv, &resumed.first)
            && first != header.as_bytes()
        {
            let first = String::from_utf8_lossy(first);
            return Err(refuse(format!("its header is {:?}, this run's {:?}", first.trim_end(), header.trim_end())));
        }
        resume_id = resumed.last_id(csv.as_ref().map(|(d, _)| *d)).map_err(refuse)?;
        // A CSV header names the labels; a JSONL row only says its own, and its keys say
        // which command wrote it (an error row, any).
        let last = resumed.last.as_deref().filter(|_| csv.is_none());
        if let Some(serde_json::Value::Object(row)) = last.and_then(|r| serde_json::from_slice(r).ok())
            && !row.contains_key("error")
        {
            let keys = shape.keys;
            let foreign = row.keys().find(|k| !keys.contains(&k.as_str()));
            if let Some(key) = foreign {
                return Err(refuse(format!("its last row has the field {key:?}, which this command does not write")));
            }
            if let Some(key) = keys.get(1).filter(|k| !row.contains_key(**k)) {
                return Err(refuse(format!(
                    "its last row has no field {key:?}, which this command writes in every row"
                )));
            }
            if let (Some(labels), Some(label)) = (shape.labels, row.get("label").and_then(|l| l.as_str()))
                && !labels.iter().any(|l| l == label)
            {
                return Err(refuse(format!("its last row has the label {label:?}, which this model does not give")));
            }
        }
        skip_rows = resumed.rows;
    }
    let mut output = if io.output == "-" {
        BatchOut::Plain(Box::new(BufWriter::new(std::io::stdout().lock())))
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(io.resume)
            .truncate(!io.resume)
            .open(&io.output)
            .with_context(|| format!("creating {}", io.output))?;
        if batch::gzip_name(Path::new(&io.output)) {
            BatchOut::gz(f, io.resume).context("starting the gzip thread")?
        } else {
            BatchOut::Plain(Box::new(BufWriter::with_capacity(1 << 16, f)))
        }
    };
    let mut output_format = batch::OutputFormat::Jsonl;
    if let Some((delimiter, (header, columns))) = csv {
        output_format = batch::OutputFormat::Csv { columns, delimiter };
        // The header is the first row of a resumed output that has it.
        if skip_rows == 0 {
            output.write_all(header.as_bytes()).with_context(|| format!("writing {}", io.output))?;
        }
        skip_rows = skip_rows.saturating_sub(1);
    }
    let opts = BatchOptions {
        output_format,
        max_errors: if io.fail_fast { Some(0) } else { io.max_errors },
        max_text_chars: io.max_text_chars,
        input_name: input.to_string(),
        output_name: if io.output == "-" { "stdout".into() } else { io.output.clone() },
        skip_rows,
        resume_id,
        chunk_rows: io.chunk_rows.get(),
        stop: Some(crate::stop_on_signals()?),
    };
    Ok(Opened { rows, output, output_name: io.output.clone(), opts, bytes_read, input_len, blank_lines })
}

/// A batch's --summary, created (so emptied) before anything else can fail: a nightly job
/// never reads an earlier run's summary as this one's, and a run that fails before its
/// first row (a model or input that cannot be read, a refused --resume) still says why.
struct BatchSummary {
    file: Option<SummaryFile>,
    start: std::time::Instant,
}

/// What a batch's --summary holds.
#[derive(serde::Serialize)]
struct BatchReport<'a> {
    input: &'a str,
    output: &'a str,
    models: &'a [ModelUsed],
    #[serde(flatten)]
    summary: &'a batch::Summary,
    /// Blank JSONL lines read, which are no rows and have no output row: they tell apart the
    /// input's line count and the output's. Null when the run stopped early, as the reader
    /// reads ahead of the rows written.
    blank_lines: Option<usize>,
    seconds: f64,
    /// Why the run ended before the end of its input; null when it did not.
    stopped: Option<String>,
}

impl BatchSummary {
    fn create(io: &BatchIo) -> Result<BatchSummary> {
        let start = std::time::Instant::now();
        let Some(summary) = &io.summary else { return Ok(BatchSummary { file: None, start }) };
        refuse_overwrite(Path::new(io.input_name()), summary, "--summary")?;
        if io.output != "-" && crate::same_file(Path::new(&io.output), summary) {
            usage!("--summary {} is the --output file: the summary would overwrite the rows", summary.display());
        }
        Ok(BatchSummary { file: SummaryFile::create(Some(summary))?, start })
    }

    /// Passes `r` on; an error is first written to the summary as why the run stopped.
    fn check<T>(&mut self, io: &BatchIo, r: Result<T>) -> Result<T> {
        if let Err(e) = &r
            && let Some(file) = self.file.take()
        {
            let report = BatchReport {
                input: io.input_name(),
                output: &io.output,
                models: &[],
                summary: &batch::Summary::default(),
                blank_lines: None,
                seconds: self.start.elapsed().as_secs_f64(),
                stopped: Some(format!("{e:#}")),
            };
            if let Err(w) = file.write(&report) {
                eprintln!("error: {w:#}");
            }
        }
        r
    }
}

/// A model that a batch ran, as its summary names it: a nightly job can tell which model
/// wrote which night's rows, also across promotions.
#[derive(serde::Serialize)]
struct ModelUsed {
    path: PathBuf,
    name: String,
    task: Task,
    created_at: String,
}

/// Loads the model `arg` names (in `dir`, or a path) and says which it is.
fn load_model_used(arg: &str, dir: &Path) -> Result<(LinearModel, ModelUsed)> {
    let path = resolve_model(arg, dir)?;
    let model = model::load(&path)?;
    let meta = model.meta();
    let used = ModelUsed { name: meta.name.clone(), task: meta.task, created_at: meta.created_at.clone(), path };
    Ok((model, used))
}

/// Runs a batch with a progress bar (rows, rows/s, and an ETA when the input size is known)
/// on a terminal, and a summary on stderr.
fn run_batch<F>(opened: Opened, summary_file: BatchSummary, models: &[ModelUsed], f: F) -> Result<()>
where
    F: Fn(usize, stancer::train::Record<'_>) -> batch::RowResult + Sync,
{
    let Opened { rows, mut output, output_name, opts, bytes_read, input_len, blank_lines } = opened;
    let pb =
        if std::io::stderr().is_terminal() { ProgressBar::new(input_len.unwrap_or(0)) } else { ProgressBar::hidden() };
    let template = if input_len.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} eta {eta}"
    } else {
        "{msg} {bytes} read, {elapsed}"
    };
    pb.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    let start = std::time::Instant::now();
    let progress = |n: usize| {
        let rate = n as f64 / start.elapsed().as_secs_f64().max(1e-9);
        pb.set_message(format!("{n} rows, {rate:.0} rows/s"));
        pb.set_position(bytes_read.load(Ordering::Relaxed));
    };
    let (summary, mut stopped) = match batch::run(rows, &mut output, &opts, f, &progress) {
        Ok(summary) => (summary, None),
        Err(batch::Stopped { summary, error: error @ stancer::Error::Interrupted { .. } }) => {
            (summary, Some(anyhow::Error::from(error).context(format!("{} received", crate::stop_signal_name()))))
        }
        Err(batch::Stopped { summary, error }) => (summary, Some(anyhow::Error::from(error))),
    };
    // A stopped run's rows are written too, and a gzip file closed, so it reads whole.
    if let Err(e) = output.finish().with_context(|| format!("writing {output_name}")) {
        stopped.get_or_insert(e);
    }
    pb.finish_and_clear();
    let blank_lines = Some(blank_lines.load(Ordering::Relaxed)).filter(|_| stopped.is_none());
    let secs = start.elapsed().as_secs_f64();
    // A refused resume skipped those rows only to find it could not continue after them.
    let refused =
        stopped.as_ref().and_then(|e| e.downcast_ref()).is_some_and(|e| matches!(e, stancer::Error::Resume(_)));
    if summary.skipped > 0 && !refused {
        eprintln!("resumed after {} rows already in the output", summary.skipped);
    }
    eprintln!(
        "processed {} of {} rows, {} error row(s), in {secs:.1} s ({:.0} rows/s){}",
        summary.ok,
        summary.rows,
        summary.errors,
        summary.rows as f64 / secs.max(1e-9),
        if stopped.is_some() { ", then stopped" } else { "" }
    );
    if let Some(n) = blank_lines.filter(|&n| n > 0) {
        eprintln!("  {n} blank line(s) skipped: they are no rows");
    }
    for e in &summary.first_errors {
        eprintln!("  {e}");
    }
    if summary.ok == 0
        && !summary.first_errors.is_empty()
        && summary.first_errors.iter().all(|e| e.contains("invalid JSON"))
    {
        // Most likely an article given where rows were expected.
        eprintln!(
            "  no row read as JSON: rows are JSON objects, one a line (or CSV: --text-column); a plain-text article is \
             read whole by `stancer extract FILE` or `stancer analyze --target T FILE`"
        );
    }
    if let Some(file) = summary_file.file {
        let report = BatchReport {
            input: &opts.input_name,
            output: &output_name,
            models,
            summary: &summary,
            blank_lines,
            seconds: secs,
            stopped: stopped.as_ref().map(|e| format!("{e:#}")),
        };
        file.write(&report)?;
    }
    stopped.map_or(Ok(()), Err)
}

/// A batch output row: the input's id first, then the result's fields. Written straight
/// from the result, not through `serde_json::Value`, which would widen its f32 numbers to
/// f64 (0.9 printed as 0.8999999761581421) and sort its keys.
#[derive(serde::Serialize)]
struct WithId<'a, T> {
    id: &'a str,
    #[serde(flatten)]
    rest: &'a T,
}

pub(crate) fn run_extract(a: ExtractArgs) -> Result<()> {
    if let Some(name) = &a.file {
        refuse_batch_options(&a.io)?;
        let text = read_document(name, a.io.max_text_chars)?;
        let found = stancer::quotes::extract(&text);
        return write_document(&found, name, &a.io.output);
    }
    let mut summary = BatchSummary::create(&a.io)?;
    let opened = summary.check(&a.io, open_batch(&a.io, None, &EXTRACT_ROWS))?;
    let max = a.io.max_text_chars;
    run_batch(opened, summary, &[], |n, rec| {
        let ex = rec.into_unlabelled(n, max)?;
        let found = stancer::quotes::extract(&ex.text);
        serde_json::to_string(&WithId { id: &ex.id, rest: &found }).map_err(|e| (ex.id.into_owned(), e.to_string()))
    })
}

pub(crate) fn run_analyze(a: AnalyzeArgs) -> Result<()> {
    // One document (no --input) needs its target, said before the models load.
    let one_target = match (&a.io.input, a.target.as_deref()) {
        (Some(_), _) => None,
        (None, target) => {
            refuse_batch_options(&a.io)?;
            let Some(target) = target else { usage!("--target is required: stance is always toward a target") };
            Some(target)
        }
    };
    let mut summary = BatchSummary::create(&a.io)?;
    let models = || {
        let (stance, stance_used) = load_model_used(&a.stance_model, &a.models.dir)?;
        let (sentiment, sentiment_used) = load_model_used(&a.sentiment_model, &a.models.dir)?;
        // Checked once here: in a batch, a wrong model would otherwise fail every row.
        analyze::check_task(&stance, Task::Stance, "--stance-model")?;
        analyze::check_task(&sentiment, Task::Sentiment, "--sentiment-model")?;
        Ok((stance, sentiment, [stance_used, sentiment_used]))
    };
    let (stance, sentiment, used) = summary.check(&a.io, models())?;
    let Some(target) = one_target else {
        let opened = summary.check(&a.io, open_batch(&a.io, None, &ANALYZE_ROWS))?;
        return run_batch(opened, summary, &used, |n, rec| {
            let train::Unlabelled { id, text, target, .. } = rec.into_unlabelled(n, a.io.max_text_chars)?;
            let failed = |message: String| (id.to_string(), message);
            let target = target
                .as_deref()
                .or(a.target.as_deref())
                .ok_or_else(|| failed("no target: give --target or a \"target\" field".to_string()))?;
            let analysis =
                analyze::analyze_document(&text, target, &stance, &sentiment, a.explain, usize::MAX, &|| false)
                    .map_err(|e| failed(e.to_string()))?;
            serde_json::to_string(&WithId { id: &id, rest: &analysis }).map_err(|e| failed(e.to_string()))
        });
    };
    let name = a.file.as_deref().unwrap_or("-");
    let text = read_document(name, a.io.max_text_chars)?;
    let analysis = analyze::analyze_document(&text, target, &stance, &sentiment, a.explain, usize::MAX, &|| false)
        .with_context(|| format!("analysing {name}"))?;
    write_document(&analysis, name, &a.io.output)
}

/// The plain-text document `name` ('-': stdin; gzip read as such), refused past
/// `max_chars` code points as a batch's rows are, and not read whole then: 4 bytes a code
/// point at most.
fn read_document(name: &str, max_chars: usize) -> Result<String> {
    let raw: Box<dyn Read + Send> = match name {
        "-" => Box::new(std::io::stdin()),
        path => Box::new(File::open(path).with_context(|| format!("opening {path}"))?),
    };
    let cap = 4 * max_chars as u64 + 4;
    let mut bytes = Vec::new();
    batch::decoded(raw, name)?.take(cap).read_to_end(&mut bytes).with_context(|| format!("reading {name}"))?;
    let over = || anyhow::anyhow!("{name}: the document is over --max-text-chars, {max_chars} code points");
    if bytes.len() as u64 == cap {
        return Err(over());
    }
    let text = String::from_utf8(bytes).with_context(|| format!("reading {name}: not UTF-8 text"))?;
    if text.chars().count() > max_chars {
        return Err(over());
    }
    Ok(text)
}

/// Writes one document's result as pretty JSON to `output` ('-': stdout; a .gz name
/// compressed, as a batch's output is), refusing to overwrite the document `input`.
fn write_document(value: &impl serde::Serialize, input: &str, output: &str) -> Result<()> {
    if output == "-" {
        return print_json(value);
    }
    refuse_overwrite(Path::new(input), Path::new(output), "--output")?;
    let json = serde_json::to_string_pretty(value)? + "\n";
    let write = || -> std::io::Result<()> {
        if batch::gzip_name(Path::new(output)) {
            let mut gz = GzEncoder::new(File::create(output)?, flate2::Compression::default());
            gz.write_all(json.as_bytes())?;
            gz.finish().map(drop)
        } else {
            std::fs::write(output, &json)
        }
    };
    write().with_context(|| format!("writing {output}"))
}

/// Options of a batch of rows given to `analyze` of one document, which would not use them:
/// said rather than ignored.
fn refuse_batch_options(io: &BatchIo) -> Result<()> {
    let given = [
        ("--resume", io.resume),
        ("--fail-fast", io.fail_fast),
        ("--max-errors", io.max_errors.is_some()),
        ("--summary", io.summary.is_some()),
        ("--output-format", io.output_format.is_some()),
        ("--text-column", io.text_column.is_some()),
        ("--delimiter", io.delimiter.is_some()),
        ("--id-column", io.id_column.is_some()),
        ("--target-column", io.target_column.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        usage!("{flag} is for a batch of rows (--input FILE); one document is read without it");
    }
    Ok(())
}

pub(crate) fn run_score(a: ScoreArgs) -> Result<()> {
    let mut summary = BatchSummary::create(&a.io)?;
    let (model, used) = summary.check(&a.io, load_model_used(&a.model, &a.models.dir))?;
    let explain = usize::from(a.explain);
    let header = |delimiter| batch::ScoreWriter::csv_header(&model, delimiter, explain > 0);
    let shape = RowShape { keys: SCORE_KEYS, labels: Some(model.labels()) };
    let opened = summary.check(&a.io, open_batch(&a.io, Some(&header), &shape))?;
    let max = a.io.max_text_chars;
    let writer = batch::ScoreWriter::new(&model, opened.opts.output_format, explain);
    run_batch(opened, summary, &[used], |n, rec| writer.score(n, rec, max))
}
