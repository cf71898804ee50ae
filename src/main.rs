//! The `stancer` command line: a thin layer over the library. Errors are reported with
//! anyhow here and nowhere else.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod cli_serve;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use flate2::write::GzEncoder;
use stancer::analyze;
use stancer::batch::{self, BatchOptions, Column, Format};
use stancer::features::{Input, Lexicon};
use stancer::metrics::Metrics;
use stancer::model::{self, LinearModel, Task};
use stancer::train::{self, DataInfo, ReadReport, Stage, TrainConfig};

/// Who said what, and where they stand: stance and sentiment of quotations with trained
/// linear models.
#[derive(Parser)]
#[command(name = "stancer", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on labelled rows and print its cross-validated metrics
    ///
    /// Each JSONL line is {"id", "text", "target"?, "target_spans"?, "label"}; a CSV file
    /// (.csv, or .tsv tab-separated) has a header with "text" and "label" columns, and "id"
    /// and "target" are read when present (--*-column give other names); either may be
    /// gzip-compressed (.gz), and one run may mix them. Labels are favor/against/none for
    /// stance (Emergent's for/observing are accepted) and positive/neutral/negative for
    /// sentiment. A model with window features (sentiment) finds the target's mentions in
    /// rows without spans.
    /// Example:
    ///
    ///   stancer train --task stance --data ../shared/data/stance/semeval2016-train.jsonl \
    ///       --lexicons ../shared/data/lexicons --out models/stance.safetensors
    #[command(verbatim_doc_comment)]
    Train(TrainArgs),
    /// Evaluate a model on labelled rows (JSONL or CSV, as for train): metrics as JSON on
    /// stdout, confusion matrix on stderr.
    Eval(EvalArgs),
    /// Score rows {"id", "text", "target"?, "target_spans"?} (JSONL or CSV) with a model.
    ///
    /// Writes one row per input row, in input order: {"id", "label", "probabilities":
    /// {"<label>": p, ...}, "head"?, "top_features"?}, or to a .csv output, CSV records of
    /// "id,label,p_<label>...,head?,top_features?,error". A row that cannot be scored
    /// becomes {"id", "error"}
    /// and is counted in the summary on stderr (or stops the run: --fail-fast,
    /// --max-errors). A sentiment model finds the target's mentions itself in rows without
    /// "target_spans", as the server's analyses do.
    Score(ScoreArgs),
    /// Find the quotations in news articles and who said them.
    ///
    /// Input rows {"id", "text"} (other fields ignored); output rows {"id", "quotes":
    /// [{"kind", "content": {"text", "spans"}, "cue", "source", "speaker", "confidence"}],
    /// "speakers": [{"name", "aliases", "role"?, "quote_count"}]}. Spans are [start, end)
    /// code-point offsets into the text.
    Extract(ExtractArgs),
    /// Analyze articles: quotations, who said them, their stance and sentiment, and one
    /// verdict per speaker.
    ///
    /// With FILE (or '-', or nothing: stdin) analyzes one document of plain text and prints
    /// JSON. With --input, analyzes JSONL/CSV rows {"id", "text", "target"?} in batch, one
    /// JSON row out per row in.
    Analyze(AnalyzeArgs),
    /// Score quotation extraction against gold attributions (PolNeAR format): precision,
    /// recall and F1 of quotations whose content overlaps the gold content by at least half,
    /// for quoted attributions and for all, and speaker accuracy on matched quoted ones.
    EvalQuotes(EvalQuotesArgs),
    /// Serve the gRPC API (stancer.v1) over a models directory, with health, reflection,
    /// hot reload (ReloadModels, SIGHUP, file changes), limits and Prometheus metrics.
    Serve(cli_serve::ServeArgs),
}

#[derive(Args)]
struct ModelsDir {
    /// Directory where a model NAME is found as NAME.safetensors.
    #[arg(long = "models", env = "STANCER_MODELS", default_value = "models", value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Args)]
struct TrainArgs {
    /// What the model predicts.
    #[arg(long, value_parser = ["stance", "sentiment"])]
    task: String,
    /// Labelled files (one or more; JSONL, or CSV when the name ends in .csv, tab-separated
    /// in .tsv; gzip when it ends in .gz).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    data: Vec<String>,
    #[command(flatten)]
    columns: CsvColumns,
    /// Where to write the model (written atomically).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Model name recorded in the file (default: the file stem of --out).
    #[arg(long)]
    name: Option<String>,
    /// Directory with the VADER, AFINN and Bing Liu lexicons (laid out as in
    /// ../shared/data/lexicons); their entries are stored in the model.
    #[arg(long, value_name = "DIR")]
    lexicons: Option<PathBuf>,
    #[command(flatten)]
    threads: Threads,
    /// Cross-validation folds (0 skips cross-validation) [default: 5 for stance, 3 for sentiment].
    #[arg(long)]
    folds: Option<usize>,
    /// Seed for the fold split; the same data and seed give the same model bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// L2 penalty (default: the tuned value for the task).
    #[arg(long)]
    l2: Option<f64>,
    /// log2 of the number of feature hash buckets.
    #[arg(long)]
    hash_bits: Option<u32>,
    /// Word n-gram orders MIN-MAX (e.g. 1-3; 0-0 disables).
    #[arg(long, value_parser = parse_range, value_name = "MIN-MAX")]
    word_ngrams: Option<[usize; 2]>,
    /// Character n-gram orders within words, MIN-MAX (e.g. 2-5; 0-0 disables).
    #[arg(long, value_parser = parse_range, value_name = "MIN-MAX")]
    char_ngrams: Option<[usize; 2]>,
    /// Tokens on each side of a target mention that get window features (0 disables).
    #[arg(long)]
    window: Option<usize>,
    /// Stop the optimiser when the largest gradient entry is below this.
    #[arg(long)]
    tolerance: Option<f64>,
    /// Row weighting: "balanced" (rare labels count as much as common ones) or "none".
    #[arg(long, value_parser = ["balanced", "none"])]
    class_weight: Option<String>,
    /// Features seen fewer times than this in training get no weight.
    #[arg(long)]
    min_count: Option<u32>,
    /// Skip malformed or invalid lines (counted and reported) instead of stopping.
    #[arg(long)]
    skip_invalid: bool,
    /// Solver: "lbfgs" holds the data in memory and fits to convergence with k-fold
    /// cross-validation; "sgd" streams the files (AdaGrad, memory bounded by the model) and
    /// reports metrics on every 10th row held out; "auto" picks sgd above 64 MB of input
    /// (uncompressed).
    #[arg(long, default_value = "auto", value_parser = ["auto", "lbfgs", "sgd"])]
    solver: String,
    /// Also cross-validate the configuration of this existing model on the same rows and
    /// folds, and print the difference per metric.
    #[arg(long, value_name = "MODEL.safetensors")]
    compare: Option<PathBuf>,
    /// With --compare: replace that model with the new one (atomically, keeping the old file
    /// as NAME.prev.safetensors) when the new one is not worse on the primary metric (F_avg
    /// for stance, macro-F1 for sentiment). A running `stancer serve` reloads it.
    #[arg(long, requires = "compare")]
    promote: bool,
    /// Also write what the run did as JSON to FILE, for the job that retrains: {"out",
    /// "solver", "seconds", "metrics" (cross-validated, or on the held-out rows for sgd;
    /// null without), "compare" (null, or {"model", "metric", "new", "current"}: the primary
    /// metric of both), "promoted" (null without --promote), "error" (why the run failed;
    /// null when it finished)}.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Passes over the data for the sgd solver.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// AdaGrad base step for the sgd solver.
    #[arg(long, default_value_t = 0.05)]
    learning_rate: f32,
}

/// Input size above which `--solver auto` streams instead of loading.
const STREAM_ABOVE_BYTES: u64 = 64 << 20;

fn parse_range(s: &str) -> std::result::Result<[usize; 2], String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let p = |x: &str| x.trim().parse::<usize>().map_err(|_| format!("{s:?} is not MIN-MAX (e.g. 1-3)"));
    Ok([p(a)?, p(b)?])
}

#[derive(Args)]
struct EvalArgs {
    /// Model name (found in --models) or path to a .safetensors file.
    #[arg(long)]
    model: String,
    /// Labelled file: JSONL, or CSV when the name ends in .csv, tab-separated in .tsv; gzip
    /// when it ends in .gz.
    #[arg(long, value_name = "FILE")]
    data: String,
    #[command(flatten)]
    columns: CsvColumns,
    #[command(flatten)]
    models: ModelsDir,
}

#[derive(Args)]
struct ScoreArgs {
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
struct ExtractArgs {
    #[command(flatten)]
    io: BatchIo,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// A plain-text document ('-' or nothing: stdin). Not with --input.
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

#[derive(Args)]
struct EvalQuotesArgs {
    /// Gold JSONL: {"id", "text", "attributions": [{"source", "cue", "content", "quoted"}]}.
    #[arg(long, value_name = "FILE.jsonl")]
    gold: PathBuf,
}

/// Column names of labelled CSV files (train, eval).
#[derive(Args)]
struct CsvColumns {
    /// CSV column holding the text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    text_column: String,
    /// CSV column holding the label.
    #[arg(long, value_name = "NAME", default_value = "label")]
    label_column: String,
    /// CSV column holding the row id [default: "id" when the header has it].
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// CSV column holding the target [default: "target" when the header has it].
    #[arg(long, value_name = "NAME")]
    target_column: Option<String>,
    /// Field delimiter of the CSV files (.csv, .tsv): one character, or "tab" [default: a
    /// tab for .tsv, else ","].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    delimiter: Option<u8>,
}

impl CsvColumns {
    fn labelled(&self) -> train::data::LabelledColumns {
        train::data::LabelledColumns {
            text: self.text_column.clone(),
            label: self.label_column.clone(),
            id: self.id_column.clone(),
            target: self.target_column.clone(),
            delimiter: self.delimiter,
        }
    }
}

/// Input, output and failure handling shared by the batch commands.
#[derive(Args)]
struct BatchIo {
    /// Input file ('-' for stdin, the default): JSONL, or CSV when it ends in .csv (.tsv:
    /// tab-separated) or --text-column or --delimiter is given; gzip-compressed when it
    /// ends in .gz.
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
    /// decompressed).
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
    /// Longest text processed, in characters; longer rows become error rows.
    #[arg(long, default_value_t = 100_000)]
    max_text_chars: usize,
    /// Also write the run's summary as JSON to FILE when it ends: {"input", "output",
    /// "rows", "ok", "errors", "skipped", "seconds", "first_errors", "stopped"}, for the job
    /// that runs the batch to check ("stopped" says why a run ended before the end of its
    /// input, and is null when it did not).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    #[command(flatten)]
    threads: Threads,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum OutputFormatArg {
    Jsonl,
    Csv,
    Tsv,
}

/// A CSV field delimiter: one ASCII character, or `tab`.
fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s.as_bytes() {
        b"tab" | b"\\t" | b"\t" => Ok(b'\t'),
        [b'"' | b'\n' | b'\r'] => Err("a quote or line break cannot separate fields".into()),
        &[b] if b.is_ascii() => Ok(b),
        _ => Err(format!("{s:?} is not one ASCII character (or \"tab\")")),
    }
}

/// Worker threads of the commands that use every core.
#[derive(Args)]
struct Threads {
    /// Worker threads [default: one per core]: fewer leave cores to other jobs on the
    /// machine. (A batch run reads its input on one more thread.)
    #[arg(long, value_name = "N")]
    threads: Option<std::num::NonZeroUsize>,
}

impl Threads {
    fn apply(&self) -> Result<()> {
        if let Some(n) = self.threads {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.get())
                .build_global()
                .with_context(|| format!("starting {n} worker threads"))?;
        }
        Ok(())
    }
}

/// Exit status of a batch stopped by --max-errors or --fail-fast, so that a job can tell
/// bad input rows (fix the data, then --resume) from a failure to run at all (1) and from a
/// usage error (2, from clap).
const EXIT_BAD_ROWS: i32 = 3;

fn main() {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Train(a) => run_train(a),
        Command::Eval(a) => run_eval(a),
        Command::Score(a) => run_score(a),
        Command::Extract(a) => run_extract(a),
        Command::Analyze(a) => run_analyze(a),
        Command::EvalQuotes(a) => run_eval_quotes(a),
        Command::Serve(a) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(cli_serve::run_serve(a))),
    };
    if let Err(e) = r {
        if closed_pipe(&e) {
            // The reader went away (`stancer score | head`): quiet, with the status a tool
            // killed by SIGPIPE has, so that `set -o pipefail` still sees the cut.
            std::process::exit(EXIT_CLOSED_PIPE);
        }
        eprintln!("error: {e:#}");
        let bad_rows = matches!(e.downcast_ref(), Some(stancer::Error::TooManyBadRows { .. }));
        std::process::exit(if bad_rows { EXIT_BAD_ROWS } else { 1 });
    }
}

/// 128 + SIGPIPE.
const EXIT_CLOSED_PIPE: i32 = 141;

/// Whether `e` is a write to a pipe whose reader has gone.
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = match c.downcast_ref::<stancer::Error>() {
            Some(stancer::Error::Io { error, .. }) => Some(error),
            _ => c.downcast_ref::<std::io::Error>(),
        };
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints `value` as indented JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{json}").and_then(|()| out.flush()).context("writing to stdout")
}

/// Fails when `output` names the file `input` names (by any path or link): it would be
/// truncated or replaced while, or before, it is read.
fn refuse_overwrite(input: &Path, output: &Path, flag: &str) -> Result<()> {
    #[cfg(unix)]
    let id = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
    };
    #[cfg(not(unix))]
    let id = |p: &Path| std::fs::canonicalize(p).ok();
    if id(input).is_some() && id(input) == id(output) {
        bail!("{flag} {} is the input file {}: it would be overwritten", output.display(), input.display());
    }
    Ok(())
}

/// Resolves a model argument: an existing path, or NAME in the models directory.
fn resolve_model(arg: &str, dir: &Path) -> Result<PathBuf> {
    let p = Path::new(arg);
    if p.is_file() || arg.ends_with(".safetensors") || arg.contains('/') {
        return Ok(p.to_path_buf());
    }
    let candidate = dir.join(format!("{arg}.safetensors"));
    if !candidate.is_file() {
        bail!(stancer::Error::UnknownModel { name: arg.into(), dir: dir.display().to_string() });
    }
    Ok(candidate)
}

fn load_model(arg: &str, dir: &Path) -> Result<LinearModel> {
    Ok(model::load(&resolve_model(arg, dir)?)?)
}

/// A bar on a terminal, nothing when stderr is piped.
fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// RFC 3339 now, or SOURCE_DATE_EPOCH when set (reproducible builds of model files).
fn created_at() -> Result<String> {
    let t = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            time::OffsetDateTime::from_unix_timestamp(s.trim().parse().context("SOURCE_DATE_EPOCH is not an integer")?)?
        }
        Err(_) => time::OffsetDateTime::now_utc(),
    };
    Ok(t.replace_nanosecond(0)?.format(&time::format_description::well_known::Rfc3339)?)
}

fn run_train(a: TrainArgs) -> Result<()> {
    a.threads.apply()?;
    for d in &a.data {
        refuse_overwrite(Path::new(d), &a.out, "--out")?;
        if let Some(summary) = &a.summary {
            refuse_overwrite(Path::new(d), summary, "--summary")?;
        }
    }
    let summary = SummaryFile::create(a.summary.as_deref())?;
    let start = std::time::Instant::now();
    // A retraining job reads the summary rather than stderr, so a failed run writes one too.
    let (report, result) = match train_and_save(&a) {
        Ok(report) => (report, Ok(())),
        Err(e) => {
            (TrainReport { error: Some(format!("{e:#}")), ..TrainReport::new(&a.out, None, start, None) }, Err(e))
        }
    };
    let written = summary.map_or(Ok(()), |s| s.write(&report));
    result.and(written)
}

/// Trains, compares and promotes as `a` asks; what the summary reports.
fn train_and_save(a: &TrainArgs) -> Result<TrainReport<'_>> {
    let task: Task = a.task.parse().map_err(anyhow::Error::msg)?;
    let name = a.name.clone().unwrap_or_else(|| {
        a.out
            .file_stem()
            .map(|s| s.to_string_lossy().trim_end_matches(".prev").to_string())
            .unwrap_or_else(|| task.to_string())
    });
    let mut cfg = TrainConfig::for_task(task, &name);
    if let Some(f) = a.folds {
        cfg.folds = f;
    }
    cfg.seed = a.seed;
    if let Some(l2) = a.l2 {
        cfg.l2 = l2;
    }
    if let Some(b) = a.hash_bits {
        cfg.featurizer.hash_bits = b;
    }
    if let Some(r) = a.word_ngrams {
        cfg.featurizer.word_ngrams = r;
    }
    if let Some(r) = a.char_ngrams {
        cfg.featurizer.char_ngrams = r;
    }
    if let Some(w) = a.window {
        cfg.featurizer.window = w;
    }
    if let Some(w) = a.class_weight.as_deref() {
        cfg.class_weight = if w == "none" { train::ClassWeight::None } else { train::ClassWeight::Balanced };
    }
    if let Some(m) = a.min_count {
        cfg.min_count = m;
    }
    if let Some(t) = a.tolerance {
        cfg.tolerance = t;
    }
    let lexicon = a.lexicons.as_deref().map(Lexicon::load_dir).transpose()?;
    if lexicon.is_none() {
        cfg.featurizer.lexicon_weight = 0.0;
    }

    // Digest and size of the rows as read (gzip decompressed): the same rows give the same
    // digest, and a small .gz of a large file is not loaded whole.
    let mut hasher = Sha256::new();
    let mut total_bytes = 0u64;
    for path in &a.data {
        let f = File::open(path).with_context(|| format!("reading {path}"))?;
        let mut rows = batch::decoded(f, path);
        total_bytes += std::io::copy(&mut rows, &mut hasher).with_context(|| format!("reading {path}"))?;
    }
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let data = DataInfo { files: a.data.clone(), digest };
    let streaming = a.solver == "sgd" || (a.solver == "auto" && total_bytes > STREAM_ABOVE_BYTES);
    if streaming {
        if a.compare.is_some() {
            bail!("--compare needs the in-memory solver (--solver lbfgs); the input is {total_bytes} bytes");
        }
        return train_streaming(a, &cfg, lexicon, &data, task);
    }

    let mut examples = Vec::new();
    let mut report = ReadReport::default();
    let mut seen = HashSet::new();
    let columns = a.columns.labelled();
    for path in &a.data {
        train::data::read_labelled(path, task, &columns, a.skip_invalid, &mut examples, &mut report, &mut seen)?;
    }
    report_reading(&report);
    eprintln!("training {task} model {name:?} on {} rows from {} file(s)", examples.len(), a.data.len());

    let start = std::time::Instant::now();
    let pb = bar(0, "fitting");
    let progress = |stage: Stage, done: usize, total: usize| {
        if stage == Stage::Fit {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        }
    };
    let trained = train::train(&cfg, &examples, lexicon, &data, &created_at()?, &progress)?;
    pb.finish_and_clear();
    print_fits(&trained.model);
    if let Some(cv) = &trained.cv {
        eprintln!("{}-fold cross-validation: {}", cfg.folds, cv.summary());
        eprint!("{}", cv.confusion_table());
        print_json(cv)?;
    }

    let comparison = match &a.compare {
        Some(current) => Some(compare(&cfg, &examples, &data, current, trained.cv.as_ref())?),
        None => None,
    };
    let better = comparison.as_ref().map(|c| c.new >= c.current);
    let mut promoted = None;
    match (a.promote, &a.compare, better) {
        (true, Some(current), Some(true)) => {
            model::save(&trained.model, &a.out)?;
            promote(&a.out, current)?;
            promoted = Some(true);
        }
        (true, Some(current), _) => {
            eprintln!("not promoted: the new model is worse than {} on {}", current.display(), task.primary_metric());
            if a.out != *current {
                model::save(&trained.model, &a.out)?;
            }
            promoted = Some(false);
        }
        _ => model::save(&trained.model, &a.out)?,
    }
    let size = std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0);
    eprintln!("wrote {} ({:.1} MB) in {:.1} s", a.out.display(), size as f64 / 1e6, start.elapsed().as_secs_f64());
    Ok(TrainReport { compare: comparison, promoted, ..TrainReport::new(&a.out, Some("lbfgs"), start, trained.cv) })
}

/// What `train --summary` writes.
#[derive(serde::Serialize)]
struct TrainReport<'a> {
    out: &'a Path,
    /// None when the run failed before choosing one.
    solver: Option<&'static str>,
    seconds: f64,
    metrics: Option<Metrics>,
    compare: Option<Comparison>,
    promoted: Option<bool>,
    /// Why the run failed (exit status 1); null when it finished.
    error: Option<String>,
}

impl<'a> TrainReport<'a> {
    /// A run that started at `start` and compared with nothing.
    fn new(out: &'a Path, solver: Option<&'static str>, start: std::time::Instant, metrics: Option<Metrics>) -> Self {
        let seconds = start.elapsed().as_secs_f64();
        TrainReport { out, solver, seconds, metrics, compare: None, promoted: None, error: None }
    }
}

/// A `--summary` file, created when the run starts so that a path that cannot be written
/// fails the run before its work rather than after, and written when it ends.
struct SummaryFile {
    path: PathBuf,
    file: File,
}

impl SummaryFile {
    fn create(path: Option<&Path>) -> Result<Option<SummaryFile>> {
        let Some(path) = path else { return Ok(None) };
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Some(SummaryFile { path: path.to_path_buf(), file }))
    }

    fn write(mut self, report: &impl serde::Serialize) -> Result<()> {
        let json = serde_json::to_string_pretty(report).expect("report serialises") + "\n";
        self.file.write_all(json.as_bytes()).with_context(|| format!("writing {}", self.path.display()))
    }
}

/// The primary metric of a new model and of the current one, cross-validated on the same
/// rows and folds.
#[derive(serde::Serialize)]
struct Comparison {
    model: PathBuf,
    metric: &'static str,
    new: f64,
    current: f64,
}

/// Cross-validates the current model's configuration on the same rows and folds as the new
/// one, prints both and the difference per metric, and returns the primary metric of both.
fn compare(
    cfg: &TrainConfig,
    examples: &[train::Example],
    data: &DataInfo,
    current: &Path,
    new_cv: Option<&Metrics>,
) -> Result<Comparison> {
    let new_cv = new_cv.context("--compare needs cross-validation (--folds 2 or more)")?;
    let cur = model::load(current)?;
    if cur.task() != cfg.task {
        bail!("{} is a {} model; cannot compare with a {} model", current.display(), cur.task(), cfg.task);
    }
    let cur_cfg = TrainConfig { folds: cfg.folds, seed: cfg.seed, ..TrainConfig::from_meta(cur.meta()) };
    eprintln!("cross-validating the configuration of {} on the same {} folds...", current.display(), cfg.folds);
    let cur_cv = train::train(&cur_cfg, examples, cur.featurizer().lexicon().cloned(), data, "-", &|_, _, _| {})?
        .cv
        .expect("folds >= 2");
    let mut names: Vec<(String, f64, f64)> = ["accuracy", "macro_f1", "f_avg"]
        .iter()
        .filter_map(|m| Some((m.to_string(), new_cv.get(m)?, cur_cv.get(m)?)))
        .collect();
    for (n, c) in new_cv.per_class.iter().zip(&cur_cv.per_class) {
        names.push((format!("f1 {}", n.label), n.f1, c.f1));
    }
    eprintln!("{:<16} {:>9} {:>9} {:>8}", "metric", "new", "current", "diff");
    for (name, n, c) in &names {
        eprintln!("{name:<16} {:>9.2} {:>9.2} {:>+8.2}", 100.0 * n, 100.0 * c, 100.0 * (n - c));
    }
    let metric = cfg.task.primary_metric();
    Ok(Comparison {
        model: current.to_path_buf(),
        metric,
        new: new_cv.get(metric).unwrap_or(0.0),
        current: cur_cv.get(metric).unwrap_or(0.0),
    })
}

/// Replaces `current` with the model at `new` atomically (a serving `stancer serve` reloads
/// it), keeping the old file as NAME.prev.safetensors.
fn promote(new: &Path, current: &Path) -> Result<()> {
    let prev = current.with_extension("prev.safetensors");
    if current.exists() {
        let tmp = prev.with_extension("tmp");
        std::fs::copy(current, &tmp).with_context(|| format!("copying {} to {}", current.display(), tmp.display()))?;
        std::fs::rename(&tmp, &prev).with_context(|| format!("writing {}", prev.display()))?;
    }
    if new != current {
        let tmp = current.with_extension("promote.tmp");
        std::fs::copy(new, &tmp).with_context(|| format!("copying {} to {}", new.display(), tmp.display()))?;
        std::fs::rename(&tmp, current).with_context(|| format!("replacing {}", current.display()))?;
    }
    eprintln!("promoted: {} now holds the new model; the old one is kept as {}", current.display(), prev.display());
    Ok(())
}

fn report_reading(report: &ReadReport) {
    for (path, line, msg) in report.skipped.iter().take(10) {
        eprintln!("skipped {path}:{line}: {msg}");
    }
    if !report.skipped.is_empty() {
        eprintln!("skipped {} invalid line(s)", report.skipped.len());
    }
    if !report.duplicate_ids.is_empty() {
        eprintln!(
            "warning: {} duplicate id(s), e.g. {}",
            report.duplicate_ids.len(),
            report.duplicate_ids.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    }
}

fn print_fits(model: &LinearModel) {
    for (head, fit) in model.meta().heads.iter().zip(&model.meta().training.fit) {
        eprintln!(
            "head {head:<34} loss {:.5}  |grad|max {:.1e}  {} iterations{}",
            fit.loss,
            fit.grad_max,
            fit.iterations,
            if fit.converged { "" } else { "  (not converged to the tolerance)" }
        );
    }
}

/// The streaming path: rows are read from the files on every epoch, never all held.
fn train_streaming<'a>(
    a: &'a TrainArgs,
    cfg: &TrainConfig,
    lexicon: Option<Lexicon>,
    data: &DataInfo,
    task: Task,
) -> Result<TrainReport<'a>> {
    let skipped = Arc::new(std::sync::Mutex::new(ReadReport::default()));
    let first_pass = std::sync::atomic::AtomicBool::new(true);
    let columns = a.columns.labelled();
    let source = || -> stancer::Result<Box<dyn Iterator<Item = stancer::Result<train::Example>>>> {
        let record_skips = first_pass.swap(false, Ordering::Relaxed);
        let mut iters: Vec<Box<dyn Iterator<Item = stancer::Result<train::Example>>>> = Vec::new();
        for path in &a.data {
            let (skipped, file) = (skipped.clone(), path.clone());
            let skip = move |line, message| {
                if record_skips {
                    skipped.lock().expect("not poisoned").skipped.push((file.clone(), line, message));
                }
            };
            iters.push(Box::new(train::data::labelled_examples(path, task, &columns, a.skip_invalid, skip)?));
        }
        Ok(Box::new(iters.into_iter().flatten()))
    };
    let sgd = train::SgdConfig { epochs: a.epochs, learning_rate: a.learning_rate, ..Default::default() };
    eprintln!(
        "training {task} model {:?} by streaming {} file(s), {} epochs (sgd)",
        cfg.name,
        a.data.len(),
        sgd.epochs
    );
    let start = std::time::Instant::now();
    let pb = bar(0, "epochs");
    let progress = |_: Stage, done: usize, total: usize| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    };
    let trained = train::train_streaming(cfg, &sgd, &source, lexicon, data, &created_at()?, &progress)?;
    pb.finish_and_clear();
    report_reading(&skipped.lock().expect("not poisoned"));
    model::save(&trained.model, &a.out)?;
    print_fits(&trained.model);
    if let Some(m) = &trained.cv {
        eprintln!("held-out rows (every {}th): {}", sgd.holdout, m.summary());
        eprint!("{}", m.confusion_table());
        print_json(m)?;
    }
    eprintln!("wrote {} in {:.1} s", a.out.display(), start.elapsed().as_secs_f64());
    Ok(TrainReport::new(&a.out, Some("sgd"), start, trained.cv))
}

fn run_eval(a: EvalArgs) -> Result<()> {
    let model = load_model(&a.model, &a.models.dir)?;
    let task = model.task();
    let mut examples = Vec::new();
    let columns = a.columns.labelled();
    train::data::read_labelled(
        &a.data,
        task,
        &columns,
        false,
        &mut examples,
        &mut ReadReport::default(),
        &mut HashSet::new(),
    )?;
    if examples.is_empty() {
        bail!("{}: no rows to evaluate", a.data);
    }
    let gold: Vec<usize> = examples.iter().map(|e| e.label.expect("labelled")).collect();
    let pred: Vec<usize> = examples
        .iter()
        .map(|e| {
            model.predict_index(&Input { text: &e.text, target: e.target.as_deref(), target_spans: &e.target_spans })
        })
        .collect();
    let m = Metrics::compute(model.labels(), &gold, &pred);
    print_json(&m)?;
    eprintln!("{} on {} rows of {}: {}", model.name(), m.rows, a.data, m.summary());
    eprint!("{}", m.confusion_table());
    Ok(())
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
    Gz(BufWriter<GzEncoder<File>>),
}

impl BatchOut {
    fn gz(file: File, later: bool) -> Self {
        if later { BatchOut::GzLater(Some(file)) } else { BatchOut::Gz(gz_encoder(file)) }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            BatchOut::Plain(mut w) => w.flush(),
            BatchOut::GzLater(_) => Ok(()),
            BatchOut::Gz(e) => e.into_inner().map_err(|e| e.into_error())?.finish().map(drop),
        }
    }
}

fn gz_encoder(f: File) -> BufWriter<GzEncoder<File>> {
    BufWriter::with_capacity(1 << 16, GzEncoder::new(f, flate2::Compression::default()))
}

impl Write for BatchOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let BatchOut::GzLater(f) = self
            && let Some(f) = f.take()
        {
            *self = BatchOut::Gz(gz_encoder(f));
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
    summary: Option<SummaryFile>,
    opts: BatchOptions,
    bytes_read: Arc<AtomicU64>,
    input_len: Option<u64>,
}

/// Opens a batch's input and output. `csv_header` gives the CSV header line and column
/// count, for a delimiter, of a command that can write CSV (`None`: one whose rows are
/// nested JSON).
fn open_batch(io: &BatchIo, csv_header: Option<&dyn Fn(u8) -> (String, usize)>) -> Result<Opened> {
    io.threads.apply()?;
    let input = io.input.as_deref().unwrap_or("-");
    if io.output != "-" {
        refuse_overwrite(Path::new(input), Path::new(&io.output), "--output")?;
    }
    if let Some(summary) = &io.summary {
        refuse_overwrite(Path::new(input), summary, "--summary")?;
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
    let reader = batch::decoded(counted, input);
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
        Format::Jsonl
    };
    let rows = batch::read_rows(reader, &format, input, io.max_text_chars)?;
    let csv_out = match io.output_format {
        None => batch::csv_delimiter(&io.output),
        Some(OutputFormatArg::Jsonl) => None,
        Some(OutputFormatArg::Csv) => Some(b','),
        Some(OutputFormatArg::Tsv) => Some(b'\t'),
    };
    let csv = match (csv_out, csv_header) {
        (None, _) => None,
        (Some(delimiter), Some(header)) => Some((delimiter, header(delimiter))),
        (Some(_), None) => match io.output_format {
            Some(_) => bail!(
                "--output-format: this command writes nested JSON rows, which CSV cannot hold (only score writes \
                 CSV); give --output-format jsonl or leave it out"
            ),
            None => bail!(
                "--output {}: this command writes nested JSON rows, which CSV cannot hold (only score writes CSV); \
                 name a .jsonl file or give --output-format jsonl",
                io.output
            ),
        },
    };

    let mut skip_rows = 0;
    if io.resume {
        if io.output == "-" {
            bail!("--resume needs an --output file to continue");
        }
        skip_rows = batch::prepare_resume(Path::new(&io.output), csv.is_some())?;
    }
    let summary = SummaryFile::create(io.summary.as_deref())?;

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
        if io.output.ends_with(".gz") {
            BatchOut::gz(f, io.resume)
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
        skip_rows,
        ..Default::default()
    };
    Ok(Opened { rows, output, output_name: io.output.clone(), summary, opts, bytes_read, input_len })
}

/// Runs a batch with a progress bar (rows, rows/s, and an ETA when the input size is known)
/// on a terminal, and a summary on stderr.
fn run_batch<F>(opened: Opened, f: F) -> Result<()>
where
    F: Fn(usize, stancer::train::Record) -> batch::RowResult + Sync,
{
    let Opened { rows, mut output, output_name, summary: summary_file, opts, bytes_read, input_len } = opened;
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
        Err(batch::Stopped { summary, error }) => (summary, Some(anyhow::Error::from(error))),
    };
    // A stopped run's rows are written too, and a gzip file closed, so it reads whole.
    if let Err(e) = output.finish().with_context(|| format!("writing {output_name}")) {
        stopped.get_or_insert(e);
    }
    pb.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if summary.skipped > 0 {
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
    for e in &summary.first_errors {
        eprintln!("  {e}");
    }
    if let Some(file) = summary_file {
        #[derive(serde::Serialize)]
        struct Report<'a> {
            input: &'a str,
            output: &'a str,
            #[serde(flatten)]
            summary: &'a batch::Summary,
            seconds: f64,
            /// Why the run ended before the end of its input; null when it did not.
            stopped: Option<String>,
        }
        let report = Report {
            input: &opts.input_name,
            output: &output_name,
            summary: &summary,
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

fn run_extract(a: ExtractArgs) -> Result<()> {
    let opened = open_batch(&a.io, None)?;
    let max = a.io.max_text_chars;
    run_batch(opened, |n, rec| {
        let ex = rec.into_unlabelled(n, max)?;
        let found = stancer::quotes::extract(&ex.text);
        serde_json::to_string(&WithId { id: &ex.id, rest: &found }).map_err(|e| (ex.id.clone(), e.to_string()))
    })
}

fn run_analyze(a: AnalyzeArgs) -> Result<()> {
    let stance = load_model(&a.stance_model, &a.models.dir)?;
    let sentiment = load_model(&a.sentiment_model, &a.models.dir)?;
    if a.io.input.is_some() {
        let opened = open_batch(&a.io, None)?;
        return run_batch(opened, |n, rec| {
            let train::Example { id, text, target, .. } = rec.into_unlabelled(n, a.io.max_text_chars)?;
            let target = target
                .or_else(|| a.target.clone())
                .ok_or_else(|| (id.clone(), "no target: give --target or a \"target\" field".to_string()))?;
            let analysis = analyze::analyze_document(&text, &target, &stance, &sentiment, a.explain)
                .map_err(|e| (id.clone(), e.to_string()))?;
            serde_json::to_string(&WithId { id: &id, rest: &analysis }).map_err(|e| (id.clone(), e.to_string()))
        });
    }
    let target = a.target.as_deref().context("--target is required: stance is always toward a target")?;
    let text = match a.file.as_deref() {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the document from stdin")?;
            s
        }
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
    };
    let analysis = analyze::analyze_document(&text, target, &stance, &sentiment, a.explain)
        .with_context(|| format!("analysing {}", a.file.as_deref().unwrap_or("-")))?;
    print_json(&analysis)?;
    Ok(())
}

fn run_eval_quotes(a: EvalQuotesArgs) -> Result<()> {
    let gold = stancer::quotes::read_gold(&a.gold)?;
    let start = std::time::Instant::now();
    let predicted: Vec<_> = gold.iter().map(|d| stancer::quotes::extract(&d.text)).collect();
    let secs = start.elapsed().as_secs_f64();
    let scores = stancer::quotes::evaluate(&gold, &predicted)?;
    print_json(&scores)?;
    let pct = |x: f64| 100.0 * x;
    eprintln!(
        "{} documents in {secs:.2} s: quoted P/R/F1 {:.1}/{:.1}/{:.1}, all P/R/F1 {:.1}/{:.1}/{:.1}, speaker {:.1}% ({}/{})",
        gold.len(),
        pct(scores.quoted.precision),
        pct(scores.quoted.recall),
        pct(scores.quoted.f1),
        pct(scores.all.precision),
        pct(scores.all.recall),
        pct(scores.all.f1),
        pct(scores.speaker_accuracy),
        scores.speaker_correct,
        scores.speaker_checked
    );
    Ok(())
}

fn run_score(a: ScoreArgs) -> Result<()> {
    let model = load_model(&a.model, &a.models.dir)?;
    let explain = usize::from(a.explain);
    let header = |delimiter| batch::ScoreWriter::csv_header(&model, delimiter, explain > 0);
    let opened = open_batch(&a.io, Some(&header))?;
    let max = a.io.max_text_chars;
    let writer = batch::ScoreWriter::new(&model, opened.opts.output_format, explain);
    run_batch(opened, |n, rec| writer.score(n, rec, max))
}
