//! The `stancer` command line: a thin layer over the library. The commands live in
//! `cli_train` (train, eval), `cli_batch` (score, extract, analyze) and `cli_serve`
//! (serve); this file holds the command table, what they share and how a run ends (its exit
//! status). Errors are reported with anyhow in the binary and nowhere in the library.

/// Returns early with a [`Usage`] error: `bail!` for a mistake in the command line.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new(crate::Usage(format!($($arg)*))))
    };
}

mod cli_batch;
mod cli_serve;
mod cli_train;

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use stancer::model::{self, LinearModel};

use cli_batch::{AnalyzeArgs, ExtractArgs, ScoreArgs, run_analyze, run_extract, run_score};
use cli_train::{EvalArgs, TrainArgs, run_eval, run_train};

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
    /// gzip-compressed (known by content, not name), and one run may mix them. Labels are
    /// favor/against/none for stance (also read, in any case: favour, for, pro, con, and
    /// neither, observing or neutral for none) and positive/neutral/negative for sentiment
    /// (also pos, neu, neg). A model with window features (sentiment) finds the target's
    /// mentions in rows without spans.
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
    /// becomes {"id", "error", "line"} (its input line)
    /// and is counted in the summary on stderr (or stops the run: --fail-fast,
    /// --max-errors). A sentiment model finds the target's mentions itself in rows without
    /// "target_spans", as the server's analyses do.
    Score(ScoreArgs),
    /// Find the quotations in news articles and who said them.
    ///
    /// With FILE ('-': stdin), one document of plain text; otherwise rows {"id", "text"}
    /// (other fields ignored) from --input (stdin by default), one output row per row in.
    /// Each result is {"id" (rows only), "quotes": [{"kind", "content": {"text", "spans"},
    /// "cue", "source", "speaker", "confidence"}], "speakers": [{"name", "aliases", "role"?,
    /// "quote_count"}]}. Spans are [start, end) code-point offsets into the text.
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
struct EvalQuotesArgs {
    /// Gold JSONL: {"id", "text", "attributions": [{"source", "cue", "content", "quoted"}]}.
    #[arg(long, value_name = "FILE.jsonl")]
    gold: PathBuf,
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
            // The work is all computing: threads past the cores only take turns on them, each
            // with its own buffers (and, scoring, a 4 MB cache): 1,000 made training take 45 s
            // instead of 0.36 s.
            let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
            let n = if n.get() > cores {
                eprintln!("--threads {n} is more than the {cores} cores here; using {cores}");
                cores
            } else {
                n.get()
            };
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
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

/// A mistake in the command line that clap cannot see (two options naming one file, an
/// option that does not apply to the input): exit status 2, as clap's own usage errors, so
/// that a job can tell a command to fix from a run that failed.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Exit status of a usage error.
const EXIT_USAGE: i32 = 2;

/// 128 + SIGPIPE.
const EXIT_CLOSED_PIPE: i32 = 141;

/// The signal that asked a batch to stop (0: none yet).
static STOP_SIGNAL: LazyLock<Arc<AtomicUsize>> = LazyLock::new(Default::default);

/// A flag the first SIGINT or SIGTERM sets, so that a batch ends between chunks with its
/// output whole (a gzip file closed), its summary written and its exit status 128 + the
/// signal, as a shell reports a process killed by it.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    on_first_signal(move |sig| {
        STOP_SIGNAL.store(sig as usize, Ordering::Relaxed);
        flag.store(true, Ordering::Relaxed);
    })?;
    Ok(stop)
}

/// Runs `f` on a thread of its own when the first SIGINT or SIGTERM arrives, with the
/// signal's number; a second one ends the process at once (status 128 + the signal), as
/// without a handler, so that a run that does not stop soon enough can still be killed.
fn on_first_signal(f: impl FnOnce(i32) + Send + 'static) -> Result<()> {
    use signal_hook::{consts::signal::*, flag, iterator::Signals};
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so that it sees the flag as the signal before this one left it.
        flag::register_conditional_shutdown(sig, 128 + sig, seen.clone()).context("installing a signal handler")?;
        flag::register(sig, seen.clone()).context("installing a signal handler")?;
    }
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing a signal handler")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                f(sig);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

/// The name of a signal [`on_first_signal`] passes on.
fn signal_name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The name of the signal that asked a batch to stop.
fn stop_signal_name() -> &'static str {
    signal_name(STOP_SIGNAL.load(Ordering::Relaxed) as i32)
}

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
        if let Some(stancer::Error::Interrupted { .. }) = e.downcast_ref() {
            eprintln!("{e:#}; --resume continues the run");
            std::process::exit(128 + STOP_SIGNAL.load(Ordering::Relaxed) as i32);
        }
        eprintln!("error: {e:#}");
        let status = match () {
            _ if e.downcast_ref::<Usage>().is_some() => EXIT_USAGE,
            _ if e.chain().any(|c| matches!(c.downcast_ref(), Some(stancer::Error::Column { .. }))) => EXIT_USAGE,
            _ if matches!(e.downcast_ref(), Some(stancer::Error::TooManyBadRows { .. })) => EXIT_BAD_ROWS,
            _ => 1,
        };
        std::process::exit(status);
    }
}

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
    if input.exists() && same_file(input, output) {
        usage!("{flag} {} is the input file {}: it would be overwritten", output.display(), input.display());
    }
    Ok(())
}

/// Whether two paths name one file: by any path or link when both exist, else (a file
/// about to be created) by their absolute paths.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    let id = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
    };
    #[cfg(not(unix))]
    let id = |p: &Path| std::fs::canonicalize(p).ok();
    match (id(a), id(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => std::path::absolute(a).ok().is_some_and(|a| std::path::absolute(b).ok() == Some(a)),
        _ => false,
    }
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
