//! `stancer train` and `stancer eval`: reading labelled files, training in memory or by
//! streaming, comparing with and promoting over the current model, and the run's summary.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use clap::Args;
use sha2::{Digest, Sha256};
use stancer::batch;
use stancer::features::Lexicon;
use stancer::metrics::Metrics;
use stancer::model::{self, LinearModel, Task};
use stancer::train::data::RepeatedIds;
use stancer::train::{self, DataInfo, ReadReport, Stage, TrainConfig};

use crate::{ModelsDir, SummaryFile, Threads, bar, load_model, parse_delimiter, print_json, refuse_overwrite};

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// What the model predicts.
    #[arg(long, value_parser = ["stance", "sentiment"])]
    task: String,
    /// Labelled files (one or more; JSONL, or CSV when the name ends in .csv, tab-separated
    /// in .tsv, or with --delimiter unless the name ends in .jsonl; gzip-compressed or not,
    /// whatever the name). `-` is stdin; it and other pipes (`<(zcat ...)`) are copied to a
    /// temporary file first, as training reads its data more than once.
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
    /// Stop the optimiser when the largest gradient entry is below this (and below a tenth of
    /// where it started).
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
    /// cross-validation; "sgd" streams the files (AdaGrad, memory bounded by the model),
    /// holds out one text in 10 (all rows with that text; the model is not trained on them)
    /// and reports metrics on them; "auto" picks sgd above 64 MB of input (uncompressed).
    #[arg(long, default_value = "auto", value_parser = ["auto", "lbfgs", "sgd"])]
    solver: String,
    /// Also cross-validate the configuration of this existing model on the same rows and
    /// folds (with sgd: train it on the same rows and measure it on the same held-out
    /// rows), score the model itself as it is on those rows, and print the differences per
    /// metric.
    #[arg(long, value_name = "MODEL.safetensors")]
    compare: Option<PathBuf>,
    /// The --compare model as read when the run starts (set by `check_out_and_compare`):
    /// compared with, and checked to be still the file that promotion replaces.
    #[arg(skip)]
    current: Option<Box<Current>>,
    /// With --compare: replace that model with the new one (atomically, keeping the old file
    /// as NAME.prev.safetensors) when the new one is not worse on the primary metric (F_avg
    /// for stance, macro-F1 for sentiment) than that model's configuration, measured on at
    /// least 100 distinct texts, and not worse than that model as it is on the texts it was
    /// not trained on, when there are 100 or more (its file records which texts it saw; a
    /// file written before that record was kept only gets a warning). A running `stancer
    /// serve` reloads it.
    #[arg(long, requires = "compare")]
    promote: bool,
    /// Also write what the run did as JSON to FILE, for the job that retrains: {"out",
    /// "solver", "seconds", "metrics" (cross-validated, or on the held-out rows for sgd;
    /// null without), "compare" (null, or {"model", "metric", "new", "current",
    /// "current_as_is"}: the primary metric of each, "current_trained_on_this_data", and
    /// "unseen": null, or {"rows", "texts", "new", "current_as_is"} on the rows the current
    /// model was not trained on),
    /// "promoted" (null without --promote; false when the run failed),
    /// "skipped" (invalid rows left out by --skip-invalid), "duplicate_ids", "error" (why the
    /// run failed; null when it finished), "stopped" (the signal that ended it before it
    /// wrote a model, exit status 128 + the signal; else null)}.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Passes over the data for the sgd solver.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// AdaGrad base step for the sgd solver.
    #[arg(long, default_value_t = 0.05)]
    learning_rate: f32,
}

/// Column names of labelled CSV files, and labels to rename (train, eval).
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
    /// Field delimiter of the CSV files (.csv, .tsv, and, when given, files not named .jsonl,
    /// such as stdin): one character, or "tab" [default: a tab for .tsv, else ","].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// Labels as the data writes them, mapped to the task's, for data that numbers its
    /// classes or names them otherwise (JSONL or CSV), e.g. "-1=negative,0=neutral,1=positive".
    #[arg(long, value_name = "FROM=TO,...", value_parser = parse_label_map, allow_hyphen_values = true)]
    label_map: Option<LabelMap>,
}

/// `--label-map` as parsed: (label in the data, label of the task).
#[derive(Clone)]
struct LabelMap(Vec<(String, String)>);

fn parse_label_map(s: &str) -> std::result::Result<LabelMap, String> {
    let mut map: Vec<(String, String)> = Vec::new();
    for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((from, to)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not FROM=TO"));
        };
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() {
            return Err(format!("{pair:?} has an empty side"));
        }
        if map.iter().any(|(f, _)| train::data::same_label(f, from)) {
            return Err(format!("{from:?} is mapped twice"));
        }
        map.push((from.to_string(), to.to_string()));
    }
    if map.is_empty() {
        return Err("no FROM=TO pairs".into());
    }
    Ok(LabelMap(map))
}

impl CsvColumns {
    /// Refuses one column named for two roles: its text would also be read as the label
    /// (or id, or target), which trains on the answer or refuses every row; and column names
    /// when no file is read as CSV, which would be ignored.
    fn check(&self, files: &[String]) -> Result<()> {
        let named = [
            ("--text-column", Some(&self.text_column), "text"),
            ("--label-column", Some(&self.label_column), "label"),
            ("--id-column", self.id_column.as_ref(), ""),
            ("--target-column", self.target_column.as_ref(), ""),
        ];
        for (i, (flag, name, _)) in named.iter().enumerate() {
            let Some(name) = name else { continue };
            if let Some((other, ..)) = named[i + 1..].iter().find(|(_, n, _)| *n == Some(*name)) {
                usage!("{flag} and {other} both name the column {name:?}; each role needs its own column");
            }
        }
        let csv = self.delimiter.is_some() || files.iter().any(|f| batch::csv_delimiter(f).is_some());
        let renamed = named.iter().find(|(_, name, default)| name.is_some_and(|n| n != default));
        if let (false, Some((flag, ..))) = (csv, renamed) {
            usage!(
                "{flag} names a CSV column, but no --data file is read as CSV (a .csv or .tsv name, or \
                 --delimiter); JSONL rows are {{\"id\", \"text\", \"target\", \"label\"}}"
            );
        }
        Ok(())
    }

    /// A label map to a label the task lacks is a mistake in the command (exit 2), said
    /// before any data is read.
    fn check_label_map(&self, task: Task) -> Result<()> {
        if let Err(e) = train::data::check_label_map(task, &self.labelled().label_map) {
            usage!("{e}");
        }
        Ok(())
    }

    fn labelled(&self) -> train::data::LabelledColumns {
        train::data::LabelledColumns {
            text: self.text_column.clone(),
            label: self.label_column.clone(),
            id: self.id_column.clone(),
            target: self.target_column.clone(),
            delimiter: self.delimiter,
            label_map: self.label_map.clone().map(|m| m.0).unwrap_or_default(),
        }
    }
}

/// Input size above which `--solver auto` streams instead of loading.
const STREAM_ABOVE_BYTES: u64 = 64 << 20;

fn parse_range(s: &str) -> std::result::Result<[usize; 2], String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let p = |x: &str| x.trim().parse::<usize>().map_err(|_| format!("{s:?} is not MIN-MAX (e.g. 1-3)"));
    Ok([p(a)?, p(b)?])
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// Model name (found in --models) or path to a .safetensors file.
    #[arg(long)]
    model: String,
    /// Labelled file: JSONL, or CSV when the name ends in .csv, tab-separated in .tsv;
    /// gzip-compressed or not, whatever the name; `-` for stdin.
    #[arg(long, value_name = "FILE")]
    data: String,
    #[command(flatten)]
    columns: CsvColumns,
    #[command(flatten)]
    models: ModelsDir,
    #[command(flatten)]
    threads: Threads,
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

pub(crate) fn run_train(mut a: TrainArgs) -> Result<()> {
    a.threads.apply()?;
    a.columns.check(&a.data)?;
    a.columns.check_label_map(a.task.parse().map_err(anyhow::Error::msg)?)?;
    if a.data.iter().filter(|d| *d == "-").count() > 1 {
        usage!("--data names stdin (-) more than once; it can be read only once");
    }
    // Said before training, not after it (saving would fail only then, and misleadingly).
    if a.out.is_dir() || a.out.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) {
        usage!(
            "--out {} is a directory; give the model file to write, e.g. {}",
            a.out.display(),
            a.out.join(format!("{}.safetensors", a.task)).display()
        );
    }
    for d in &a.data {
        refuse_overwrite(Path::new(d), &a.out, "--out")?;
        if let Some(summary) = &a.summary {
            refuse_overwrite(Path::new(d), summary, "--summary")?;
        }
    }
    if let Some(summary) = &a.summary {
        for (model, flag) in [(Some(&a.out), "--out"), (a.compare.as_ref(), "--compare")] {
            if let Some(model) = model
                && crate::same_file(summary, model)
            {
                usage!("--summary {} is the {flag} model: the summary would overwrite it", summary.display());
            }
        }
    }
    let summary = Arc::new(Mutex::new(Phase::Training(SummaryFile::create(a.summary.as_deref())?)));
    // Checked once the summary is made, so that a job reading it sees why the run failed
    // rather than the summary of an earlier run.
    let checked = check_out_and_compare(&mut a);
    let start = std::time::Instant::now();
    // The solver, once chosen, for the summary of a run a signal ends.
    let solver = Arc::new(std::sync::OnceLock::new());
    let (watched, out, chosen) = (summary.clone(), a.out.clone(), solver.clone());
    crate::on_first_signal(move |sig| {
        let mut phase = watched.lock().unwrap_or_else(PoisonError::into_inner);
        if let Phase::Training(file) = &mut *phase {
            let stopped = format!("{} received; no model written", crate::signal_name(sig));
            eprintln!("training stopped: {stopped}");
            let solver = chosen.get().copied();
            let report = TrainReport { stopped: Some(stopped), ..TrainReport::new(&out, solver, start, None) };
            if let Some(Err(e)) = file.take().map(|f| f.write(&report)) {
                eprintln!("error: {e:#}");
            }
            std::process::exit(128 + sig);
        }
        eprintln!("{} received while the model is written; finishing", crate::signal_name(sig));
    })?;
    let saving = || {
        let mut phase = summary.lock().unwrap_or_else(PoisonError::into_inner);
        if let Phase::Training(file) = &mut *phase {
            *phase = Phase::Saving(file.take());
        }
    };
    // A retraining job reads the summary rather than stderr, so a failed run writes one too,
    // with what it measured before it failed.
    let mut report = TrainReport::new(&a.out, None, start, None);
    let result = checked.and_then(|_| train_and_save(&a, &saving, &solver, &mut report));
    report.solver = solver.get().copied();
    report.seconds = start.elapsed().as_secs_f64();
    if let Err(e) = &result {
        report.error = Some(format!("{e:#}"));
        // Asked to promote, a run that failed did not: false, as a refused promotion says.
        if a.promote {
            report.promoted = Some(false);
        }
    }
    let file = match &mut *summary.lock().unwrap_or_else(PoisonError::into_inner) {
        Phase::Training(file) | Phase::Saving(file) => file.take(),
    };
    let written = file.map_or(Ok(()), |s| s.write(&report));
    result.and(written)
}

impl TrainArgs {
    /// The streaming solver's settings.
    fn sgd(&self) -> train::SgdConfig {
        train::SgdConfig { epochs: self.epochs, learning_rate: self.learning_rate, ..Default::default() }
    }
}

/// What can be found wrong with --out and --compare before hours of training rather than
/// after them: a model to compare with that cannot be read or does another task, an --out
/// that is the --compare model (its backup would be a copy of the new model), a special
/// file, or a directory that cannot be written. A link is written through, to its target.
fn check_out_and_compare(a: &mut TrainArgs) -> Result<()> {
    // Followed by hand: the file it names may not exist yet.
    for _ in 0..40 {
        if !a.out.is_symlink() {
            break;
        }
        let target =
            std::fs::read_link(&a.out).with_context(|| format!("--out {}: reading the link", a.out.display()))?;
        a.out = a.out.parent().unwrap_or(Path::new("")).join(target);
    }
    if a.out.exists() && !a.out.is_file() {
        usage!("--out {} exists and is not a regular file; give the model file to write", a.out.display());
    }
    if let Some(current) = &a.compare {
        let task: Task = a.task.parse().map_err(anyhow::Error::msg)?;
        let bytes = std::fs::read(current).with_context(|| format!("reading {}", current.display()))?;
        let cur = model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", current.display()))?;
        if cur.task() != task {
            usage!("--compare {} is a {} model; cannot compare with a {task} model", current.display(), cur.task());
        }
        if crate::same_file(&a.out, current) {
            usage!(
                "--out {} is the --compare model; write the new model elsewhere (e.g. {}), and --promote \
                 replaces the current one with it, keeping the old file as NAME.prev.safetensors",
                a.out.display(),
                current.with_extension("new.safetensors").display()
            );
        }
        a.current = Some(Box::new(Current { model: cur, digest: model::file_digest(&bytes) }));
    }
    let dir = match a.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("--out {}: creating {}", a.out.display(), dir.display()))?;
    tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("--out {}: {} cannot be written", a.out.display(), dir.display()))?;
    Ok(())
}

/// Where a training run is when a signal arrives: while it trains, the signal ends it
/// with a summary saying so (nothing is lost but the work); once it writes the model and
/// promotes it, it finishes, so that the model files are left as the summary says.
enum Phase {
    Training(Option<SummaryFile>),
    Saving(Option<SummaryFile>),
}

/// Trains, compares and promotes as `a` asks, filling in `report` as it goes.
fn train_and_save<'a>(
    a: &'a TrainArgs,
    saving: &dyn Fn(),
    solver: &std::sync::OnceLock<&'static str>,
    report: &mut TrainReport<'a>,
) -> Result<()> {
    let task: Task = a.task.parse().map_err(anyhow::Error::msg)?;
    if let Some(chosen) = ["lbfgs", "sgd"].into_iter().find(|s| *s == a.solver) {
        // Asked for by name: known before the data is read.
        let _ = solver.set(chosen);
    }
    // A promoted model is served under the name of the file it replaces.
    let named_by = a.compare.as_ref().filter(|_| a.promote).unwrap_or(&a.out);
    let name = a.name.clone().unwrap_or_else(|| {
        named_by
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

    // Settings are checked before the data is read, which may take long.
    // Out of range, a setting is a mistake in the command: exit 2, as clap's own.
    if let Err(e) = cfg.check().and_then(|_| if a.solver == "lbfgs" { Ok(()) } else { a.sgd().check() }) {
        usage!("{e}");
    }

    // Digest and size of the rows as read (gzip decompressed): the same rows give the same
    // digest, and a small .gz of a large file is not loaded whole.
    let files = a.data.iter().map(|name| DataFile::new(name)).collect::<Result<Vec<_>>>()?;
    let mut hasher = Sha256::new();
    let mut total_bytes = 0u64;
    let columns = a.columns.labelled();
    for file in &files {
        let input = file.open().with_context(|| format!("reading {}", file.name))?;
        let mut rows = batch::decoded(input, &file.name)?;
        total_bytes += std::io::copy(&mut rows, &mut hasher).with_context(|| format!("reading {}", file.name))?;
    }
    // The same rows read through another label map, or a CSV file's other columns, are other
    // data. (Unchanged defaults add nothing, so digests recorded before stay comparable.)
    if let Some(map) = &a.columns.label_map {
        for (from, to) in &map.0 {
            hasher.update(format!("\0label-map\0{from}\0{to}").as_bytes());
        }
    }
    let roles = [
        ("text", Some(&columns.text)),
        ("label", Some(&columns.label)),
        ("id", columns.id.as_ref()),
        ("target", columns.target.as_ref()),
    ];
    for (role, name) in roles {
        if let Some(name) = name.filter(|n| n.as_str() != role) {
            hasher.update(format!("\0column\0{role}\0{name}").as_bytes());
        }
    }
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let data = DataInfo { files: a.data.clone(), digest };
    let streaming = a.solver == "sgd" || (a.solver == "auto" && total_bytes > STREAM_ABOVE_BYTES);
    if !streaming && a.compare.is_some() && cfg.folds < 2 {
        usage!("--compare measures both models by cross-validation: give --folds 2 or more, not {}", cfg.folds);
    }
    let _ = solver.set(if streaming { "sgd" } else { "lbfgs" });
    if streaming && a.folds.is_some() {
        eprintln!("note: --folds is for the lbfgs solver; streaming (sgd) measures on the one text in 10 it holds out");
    }
    for file in &files {
        // A file without rows is most often an export that failed: training on the other
        // files alone would go unnoticed.
        let input = file.open().with_context(|| format!("reading {}", file.name))?;
        if train::data::labelled_rows(input, &file.name, task, &columns, false, |_, _| {})?.next().is_none() {
            bail!("{}: no rows (the file is empty, or holds only blank lines or a CSV header)", file.name);
        }
    }
    if streaming {
        return train_streaming(a, &files, &cfg, lexicon, &data, saving, report);
    }

    let mut examples = Vec::new();
    let mut read = ReadReport::default();
    for f in &files {
        let input = f.open().with_context(|| format!("reading {}", f.name))?;
        train::data::read_labelled(input, &f.name, task, &columns, a.skip_invalid, &mut examples, &mut read)?;
    }
    report_reading(&read, report);
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
    print_fits(&trained);
    if let Some(cv) = &trained.cv {
        eprintln!("{}-fold cross-validation: {}", cfg.folds, cv.summary());
        eprint!("{}", cv.confusion_table());
        print_json(cv)?;
    }

    let compare_current = |current: (&Path, &Current), new: &Metrics| {
        // Called only when the configuration is not this run's (which would score the same).
        let measure = |cur_cfg, lexicon| {
            eprintln!(
                "cross-validating the configuration of {} on the same {} folds...",
                current.0.display(),
                cfg.folds
            );
            let cur = train::train(&cur_cfg, &examples, lexicon, &data, "-", &|_, _, _| {})?;
            Ok(cur.cv.expect("folds >= 2"))
        };
        // Cross-validation predicted every row, in row order.
        let as_is = |cur: &LinearModel| score_as_is(cur, examples.iter().map(Ok), &trained.predictions);
        compare(&cfg, current, &data, trained.model.featurizer().lexicon(), new, measure, as_is)
    };
    compare_and_save(a, &trained, report, saving, start, compare_current)
}

/// The end of both paths: compares with the current model when asked, writes the new model
/// and promotes it when asked, recording each step's outcome in `report` as it is known.
fn compare_and_save<'a>(
    a: &'a TrainArgs,
    trained: &train::Trained,
    report: &mut TrainReport<'a>,
    saving: &dyn Fn(),
    start: std::time::Instant,
    compare_current: impl FnOnce((&Path, &Current), &Metrics) -> Result<Comparison>,
) -> Result<()> {
    report.metrics = trained.cv.clone();
    if let (Some(path), Some(current)) = (&a.compare, &a.current) {
        // Cross-validation is asked for before training (--folds 2 or more); streaming
        // holds rows out, unless the data is too short to have any.
        let new = trained.cv.as_ref().context("--compare needs held-out rows, and the data has none")?;
        report.compare = Some(compare_current((path, current), new)?);
    }
    saving();
    report.promoted = save_or_promote(a, &trained.model, report.compare.as_ref())?;
    report_written(&a.out, start);
    Ok(())
}

/// How the current model as it is scored the rows the new one is measured on.
struct AsIs {
    metrics: Metrics,
    /// Distinct texts among the rows.
    texts: usize,
    /// The rows it was not trained on; `None` when its file does not say what it saw.
    unseen: Option<Unseen>,
}

/// Rows the current model was not trained on: their labels, the new model's out-of-sample
/// predictions and the current model's, and their distinct texts.
#[derive(Default)]
struct Unseen {
    gold: Vec<usize>,
    new: Vec<usize>,
    current: Vec<usize>,
    texts: HashSet<u64>,
}

/// Scores `rows` with the current model as it is; `new` holds the new model's prediction for
/// each of them (by a model that did not see it), in the same order.
fn score_as_is<E>(cur: &LinearModel, rows: impl Iterator<Item = stancer::Result<E>>, new: &[usize]) -> Result<AsIs>
where
    E: std::borrow::Borrow<train::Example> + Send + Sync,
{
    let seen = cur.seen_texts();
    let mut unseen = seen.map(|_| Unseen::default());
    let mut texts = HashSet::new();
    let mut i = 0;
    let metrics = train::evaluate_each(cur, rows, |e, pred| {
        let key = text_key(&e.text);
        texts.insert(key);
        if let (Some(u), Some(seen), Some(&n), Some(gold)) = (&mut unseen, seen, new.get(i), e.label)
            && !seen.contains(&e.text)
        {
            u.gold.push(gold);
            u.new.push(n);
            u.current.push(pred);
            u.texts.insert(key);
        }
        i += 1;
    })?
    .metrics;
    if i != new.len() {
        bail!("the comparison read {i} rows, but the new model was measured on {}", new.len());
    }
    Ok(AsIs { metrics, texts: texts.len(), unseen })
}

/// A text as a 64-bit key, for counting distinct texts: a file given twice doubles the rows,
/// not what they tell apart.
fn text_key(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// Fewest rows a comparison must rest on for --promote to act on it: on a handful of rows
/// both models score alike by chance (six rows promoted a model that had seen six rows
/// over one trained on thousands, "100.00 against 100.00").
const MIN_PROMOTE_ROWS: usize = 100;

/// Writes the new model to --out, and with --promote over the current one when it is not
/// worse on the primary metric, measured on rows of at least [`MIN_PROMOTE_ROWS`] distinct
/// texts; whether it was promoted (`None` without --promote).
fn save_or_promote(a: &TrainArgs, model: &LinearModel, comparison: Option<&Comparison>) -> Result<Option<bool>> {
    let Some(c) = comparison.filter(|_| a.promote) else {
        model::save(model, &a.out)?;
        return Ok(None);
    };
    if c.texts < MIN_PROMOTE_ROWS {
        // Distinct texts, not rows: a file given twice had passed with half the rows needed.
        eprintln!(
            "not promoted: the comparison rests on {} rows of {} distinct texts, too few to tell the models apart \
             (at least {MIN_PROMOTE_ROWS} texts are needed)",
            c.rows, c.texts
        );
        model::save(model, &a.out)?;
        return Ok(Some(false));
    }
    if let Some(u) = c.unseen.as_ref().filter(|u| u.texts >= MIN_PROMOTE_ROWS && u.current_as_is > u.new) {
        eprintln!(
            "not promoted: on the {} texts {} was not trained on, it scores {} {:.2} as it is, above the new \
             model's {:.2}",
            u.texts,
            c.model.display(),
            c.metric,
            100.0 * u.current_as_is,
            100.0 * u.new
        );
        model::save(model, &a.out)?;
        return Ok(Some(false));
    }
    if c.new >= c.current {
        model::save(model, &a.out)?;
        promote(&a.out, c).with_context(|| {
            format!("the new model is written to {}, but it could not be promoted", a.out.display())
        })?;
        return Ok(Some(true));
    }
    eprintln!("not promoted: the new model is worse than {} on {}", c.model.display(), c.metric);
    model::save(model, &a.out)?;
    Ok(Some(false))
}

/// A training file, readable as often as training reads it (its digest, its rows, and
/// once per epoch when streaming). Stdin (`-`) and other files that can be read only once,
/// such as pipes, are copied to a temporary file first, which the system removes however
/// the run ends.
struct DataFile {
    /// As the user named it, for messages and the model's metadata.
    name: String,
    copy: Option<Arc<File>>,
}

impl DataFile {
    fn new(name: &str) -> Result<DataFile> {
        if name != "-" {
            let meta = std::fs::metadata(name).with_context(|| format!("reading {name}"))?;
            if meta.is_dir() {
                bail!("{name} is a directory; --data takes files");
            }
            if meta.is_file() {
                return Ok(DataFile { name: name.into(), copy: None });
            }
        }
        eprintln!("copying {name} to a temporary file: it is not a file that can be read more than once");
        let mut copy = tempfile::tempfile().context("creating a temporary file in the temporary directory")?;
        let mut input: Box<dyn Read> = if name == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(File::open(name).with_context(|| format!("reading {name}"))?)
        };
        std::io::copy(&mut input, &mut copy).with_context(|| format!("copying {name} to a temporary file"))?;
        Ok(DataFile { name: name.into(), copy: Some(Arc::new(copy)) })
    }

    /// The file from its start.
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match &self.copy {
            Some(copy) => Box::new(CopyReader { file: copy.clone(), pos: 0 }),
            None => Box::new(File::open(&self.name)?),
        })
    }
}

/// Reads a temporary copy by position, so that readers of one copy never move each other.
struct CopyReader {
    file: Arc<File>,
    pos: u64,
}

impl Read for CopyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// What `train --summary` writes.
#[derive(serde::Serialize)]
struct TrainReport<'a> {
    out: &'a Path,
    /// None when the run failed before choosing one (by --solver, or by the data's size).
    solver: Option<&'static str>,
    seconds: f64,
    metrics: Option<Metrics>,
    compare: Option<Comparison>,
    promoted: Option<bool>,
    /// Rows left out as invalid (--skip-invalid), and rows that repeat an earlier row's id,
    /// once the data has been read (0 before).
    skipped: usize,
    duplicate_ids: usize,
    /// Why the run failed (exit status 1); null when it finished.
    error: Option<String>,
    /// The signal that ended the run before it wrote a model (exit status 128 + the
    /// signal); null otherwise.
    stopped: Option<String>,
}

impl<'a> TrainReport<'a> {
    /// A run that started at `start` and compared with nothing.
    fn new(out: &'a Path, solver: Option<&'static str>, start: std::time::Instant, metrics: Option<Metrics>) -> Self {
        let seconds = start.elapsed().as_secs_f64();
        TrainReport {
            out,
            solver,
            seconds,
            metrics,
            compare: None,
            promoted: None,
            skipped: 0,
            duplicate_ids: 0,
            error: None,
            stopped: None,
        }
    }
}

/// The model a run compares with, as it read it at the start.
struct Current {
    model: LinearModel,
    digest: String,
}

/// The primary metric of a new model and of the current one, cross-validated on the same
/// rows and folds (or measured on the same held-out rows), and of the current model as it is.
#[derive(serde::Serialize)]
struct Comparison {
    model: PathBuf,
    /// Of the file compared with: promotion checks that it is still the file it replaces.
    #[serde(skip)]
    digest: String,
    metric: &'static str,
    new: f64,
    /// The current model's configuration, trained on this run's rows as the new model is.
    current: f64,
    /// The current model as it is, scoring the rows the new model is measured on.
    current_as_is: f64,
    /// Whether the current model was trained on this run's data (then its as-is figure is on
    /// rows it has seen, and says nothing of how it serves new ones). False does not mean it
    /// saw none of them: the same rows reordered, or with more, are other data.
    #[serde(rename = "current_trained_on_this_data")]
    same_data: bool,
    /// Both models on the rows the current model was not trained on, when its file says
    /// which it was.
    unseen: Option<UnseenFigures>,
    /// The rows measured, and their distinct texts (what promotion counts).
    #[serde(skip)]
    rows: usize,
    #[serde(skip)]
    texts: usize,
}

/// The primary metric of the new model (out of sample) and of the current one as it is, on
/// the rows the current model was not trained on.
#[derive(serde::Serialize)]
struct UnseenFigures {
    rows: usize,
    texts: usize,
    new: f64,
    current_as_is: f64,
}

/// Measures the current model's configuration as `measure` does the new one's (on the same
/// rows and folds, or held-out rows) and the current model as it is (`as_is`, on the same
/// rows, also counting their distinct texts), prints the figures and differences per metric,
/// and returns the primary metric of each.
fn compare(
    cfg: &TrainConfig,
    (path, current): (&Path, &Current),
    data: &DataInfo,
    new_lexicon: Option<&Lexicon>,
    new_cv: &Metrics,
    measure: impl FnOnce(TrainConfig, Option<Lexicon>) -> stancer::Result<Metrics>,
    as_is: impl FnOnce(&LinearModel) -> Result<AsIs>,
) -> Result<Comparison> {
    let Current { model: cur, digest } = current;
    let cur_cfg = TrainConfig { folds: cfg.folds, seed: cfg.seed, ..TrainConfig::from_meta(cur.meta()) };
    let lexicon = cur.featurizer().lexicon().cloned();
    // The same configuration on the same rows and folds gives the same figures (training is
    // deterministic): a nightly retraining of an unchanged setup need not train twice.
    let same = TrainConfig { name: cfg.name.clone(), ..cur_cfg.clone() } == *cfg && lexicon.as_ref() == new_lexicon;
    let cur_cv = if same {
        eprintln!("{} has this run's configuration: its figures on these rows are the new model's", path.display());
        new_cv.clone()
    } else {
        measure(cur_cfg, lexicon)?
    };
    let AsIs { metrics: cur_as_is, texts, unseen } = as_is(cur)?;
    let mut names: Vec<(String, f64, f64, f64)> = ["accuracy", "macro_f1", "f_avg"]
        .iter()
        .filter_map(|m| Some((m.to_string(), new_cv.get(m)?, cur_cv.get(m)?, cur_as_is.get(m)?)))
        .collect();
    for ((n, c), i) in new_cv.per_class.iter().zip(&cur_cv.per_class).zip(&cur_as_is.per_class) {
        names.push((format!("f1 {}", n.label), n.f1, c.f1, i.f1));
    }
    eprintln!("{:<16} {:>9} {:>9} {:>8} {:>9} {:>8}", "metric", "new", "current", "diff", "as is", "diff");
    for (name, n, c, i) in &names {
        let pct = |x: &f64| 100.0 * x;
        eprintln!(
            "{name:<16} {:>9.2} {:>9.2} {:>+8.2} {:>9.2} {:>+8.2}",
            pct(n),
            pct(c),
            pct(n) - pct(c),
            pct(i),
            pct(n) - pct(i)
        );
    }
    eprintln!(
        "(\"current\": {}'s configuration trained on these rows as the new model was; \"as is\": that \
         model itself, scoring the same {} rows)",
        path.display(),
        cur_as_is.rows
    );
    let metric = cfg.task.primary_metric();
    let training = &cur.meta().training;
    let same_data = training.data_digest == data.digest;
    let unseen = unseen.map(|u| {
        let labels: Vec<String> = cfg.task.labels().iter().map(|l| l.to_string()).collect();
        let score = |pred: &[usize]| Metrics::compute(&labels, &u.gold, pred).get(metric).unwrap_or(0.0);
        let (new, current_as_is) = if u.gold.is_empty() { (0.0, 0.0) } else { (score(&u.new), score(&u.current)) };
        UnseenFigures { rows: u.gold.len(), texts: u.texts.len(), new, current_as_is }
    });
    match &unseen {
        _ if same_data => eprintln!(
            "note: {} was trained on these rows, so its \"as is\" figures are on rows it has seen",
            path.display()
        ),
        Some(u) if u.rows == 0 => eprintln!(
            "note: {} was trained on every text here (by the record of its training texts it holds), so it is \
             compared only as retrained",
            path.display()
        ),
        Some(u) => {
            eprintln!(
                "on the {} rows ({} texts) {} was not trained on: {metric} new {:.2}, as is {:.2} ({:+.2})",
                u.rows,
                u.texts,
                path.display(),
                100.0 * u.new,
                100.0 * u.current_as_is,
                100.0 * (u.new - u.current_as_is)
            );
            if u.current_as_is > u.new && u.texts < MIN_PROMOTE_ROWS {
                eprintln!(
                    "note: {} texts are too few to decide promotion by (at least {MIN_PROMOTE_ROWS} are needed)",
                    u.texts
                );
            }
        }
        None => {}
    }
    if !same_data {
        if unseen.is_none() && cur_as_is.get(metric) > new_cv.get(metric) {
            // A file without the record of its training texts: the rows may be ones the model
            // was trained on, reordered or with more added, where this figure flatters it, so
            // promotion cannot go by it.
            eprintln!(
                "warning: {} as it is scores {metric} {:.2} on these rows, above the new model's {:.2}: unless it was \
                 trained on them, it serves them better",
                path.display(),
                100.0 * cur_as_is.get(metric).unwrap_or(0.0),
                100.0 * new_cv.get(metric).unwrap_or(0.0),
            );
        }
        let recorded = cur.meta().metrics.as_ref().and_then(|m| m.get(metric));
        let recorded = recorded
            .map_or(String::new(), |v| format!(", where its own cross-validation gave {metric} {:.2}", 100.0 * v));
        eprintln!(
            "note: {} was trained on other data ({} rows of {}{recorded})",
            path.display(),
            training.rows,
            training.files.join(", "),
        );
    }
    Ok(Comparison {
        model: path.to_path_buf(),
        digest: digest.clone(),
        metric,
        new: new_cv.get(metric).unwrap_or(0.0),
        current: cur_cv.get(metric).unwrap_or(0.0),
        current_as_is: cur_as_is.get(metric).unwrap_or(0.0),
        same_data,
        unseen,
        rows: cur_as_is.rows,
        texts,
    })
}

/// Replaces the model compared with by the model at `new` atomically (a serving `stancer
/// serve` reloads it), keeping the old file as NAME.prev.safetensors. Runs promoting into
/// one directory take turns (a lock on the directory, which leaves no file behind), and one
/// whose compared model was replaced since (by another run) does not promote: it would lose
/// that model, and replace one it never compared with.
fn promote(new: &Path, compared: &Comparison) -> Result<()> {
    let current = compared.model.as_path();
    #[cfg(unix)]
    let _lock = {
        let dir = current.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let lock = File::open(dir).with_context(|| format!("opening {} to lock it", dir.display()))?;
        lock.lock().with_context(|| format!("locking {}", dir.display()))?;
        lock
    };
    let now = std::fs::read(current).map(|b| model::file_digest(&b)).unwrap_or_default();
    if now != compared.digest {
        bail!(
            "{} changed since this run read it to compare with (another run promoted over it?); not promoted",
            current.display()
        );
    }
    let prev = current.with_extension("prev.safetensors");
    if current.exists() {
        copy_atomically(current, &prev)?;
    }
    if new != current {
        copy_atomically(new, current)?;
    }
    eprintln!("promoted: {} now holds the new model; the old one is kept as {}", current.display(), prev.display());
    Ok(())
}

/// Copies `from` over `to` through a synced temporary file of its own renamed into place, and
/// syncs the directory: a crash at any point leaves `to` as it was or whole, and two runs
/// promoting at once do not share a temporary file.
fn copy_atomically(from: &Path, to: &Path) -> Result<()> {
    let dir = to.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let copy = || -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new().prefix(".stancer-promote").tempfile_in(dir)?;
        std::io::copy(&mut File::open(from)?, tmp.as_file_mut())?;
        // The temporary file is private; the model keeps the permissions it had, so that a
        // server running as another user can still read it.
        tmp.as_file().set_permissions(std::fs::metadata(from)?.permissions())?;
        tmp.as_file().sync_all()?;
        tmp.persist(to)?;
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(())
    };
    copy().with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

/// Says where the model went, how large it is and how long training took.
fn report_written(out: &Path, start: std::time::Instant) {
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    eprintln!("wrote {} ({:.1} MB) in {:.1} s", out.display(), size as f64 / 1e6, start.elapsed().as_secs_f64());
}

/// Says what reading the data left out or found twice, on stderr and in the run's summary.
fn report_reading(report: &ReadReport, summary: &mut TrainReport) {
    summary.skipped = report.skipped.len();
    summary.duplicate_ids = report.duplicates;
    for (path, line, msg) in report.skipped.iter().take(10) {
        eprintln!("skipped {path}:{line}: {msg}");
    }
    if !report.skipped.is_empty() {
        eprintln!("skipped {} invalid line(s)", report.skipped.len());
    }
    if report.duplicates > 0 {
        let shown: Vec<String> = report.duplicate_ids.iter().take(5).map(|d| d.to_string()).collect();
        eprintln!(
            "warning: {} row(s) have the id of an earlier row, e.g. {}{}",
            report.duplicates,
            shown.join(", "),
            if report.duplicates > shown.len() { ", ..." } else { "" }
        );
    }
}

fn print_fits(trained: &train::Trained) {
    let meta = trained.model.meta();
    // Streaming runs its epochs; only L-BFGS stops at a tolerance.
    let (steps, lbfgs) = if meta.training.solver == "sgd" { ("epochs", false) } else { ("iterations", true) };
    for (head, fit) in meta.heads.iter().zip(&meta.training.fit) {
        eprintln!(
            "head {head:<34} loss {:.5}  |grad|max {:.1e}  {} {steps}{}",
            fit.loss,
            fit.grad_max,
            fit.iterations,
            if fit.converged || !lbfgs { "" } else { "  (not converged to the tolerance)" }
        );
    }
    if meta.task == Task::Stance && meta.heads.len() == 1 && trained.pooled_only.is_empty() {
        eprintln!(
            "warning: no row names a target, so the model has the pooled head only; stance is toward \
             a target: give rows a \"target\" (a CSV column: --target-column)"
        );
    }
    let single = &trained.pooled_only;
    if !single.is_empty() {
        let shown = &single[..single.len().min(10)];
        let why = if trained.model.meta().training.solver == "sgd" {
            format!("rows of one label only, or fewer rows than the {} that got heads", trained.model.heads().len() - 1)
        } else {
            "rows of one label only".to_string()
        };
        eprintln!(
            "warning: {} target(s) have no head of their own ({why}); the pooled head answers for them: {}{}",
            single.len(),
            shown.join(", "),
            if shown.len() < single.len() { ", ..." } else { "" }
        );
    }
}

/// The streaming path: rows are read from the files on every epoch, never all held.
fn train_streaming<'a>(
    a: &'a TrainArgs,
    files: &[DataFile],
    cfg: &TrainConfig,
    lexicon: Option<Lexicon>,
    data: &DataInfo,
    saving: &dyn Fn(),
    report: &mut TrainReport<'a>,
) -> Result<()> {
    let task = cfg.task;
    let skipped = Arc::new(Mutex::new(ReadReport::default()));
    // The rows' ids are hashed on the first read of the files and checked on the second.
    let ids = Arc::new(Mutex::new(RepeatedIds::default()));
    let reads = std::sync::atomic::AtomicUsize::new(0);
    let columns = a.columns.labelled();
    let source = || -> stancer::Result<Box<dyn Iterator<Item = stancer::Result<train::Example>>>> {
        let read = reads.fetch_add(1, Ordering::Relaxed);
        let mut iters: Vec<Box<dyn Iterator<Item = stancer::Result<train::Example>>>> = Vec::new();
        for f in files {
            let (read_report, file) = (skipped.clone(), f.name.clone());
            let skip = move |line, message| {
                if read == 0 {
                    read_report.lock().expect("not poisoned").skipped.push((file.clone(), line, message));
                }
            };
            let input = f.open().map_err(|e| stancer::Error::io(&f.name, e))?;
            let rows = train::data::labelled_rows(input, &f.name, task, &columns, a.skip_invalid, skip)?;
            let (read_report, ids, file) = (skipped.clone(), ids.clone(), Arc::<str>::from(f.name.as_str()));
            iters.push(Box::new(rows.map(move |(line, row)| {
                if let (0 | 1, Ok(e)) = (read, &row) {
                    let mut ids = ids.lock().expect("not poisoned");
                    match read {
                        0 => ids.first_read(&e.id),
                        _ => ids.second_read(&e.id, &file, line, &mut read_report.lock().expect("not poisoned")),
                    }
                }
                row
            })));
        }
        Ok(Box::new(iters.into_iter().flatten()))
    };
    let sgd = a.sgd();
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
    report_reading(&skipped.lock().expect("not poisoned"), report);
    print_fits(&trained);
    if let Some(m) = &trained.cv {
        eprintln!("held-out rows (one text in {}): {}", sgd.holdout, m.summary());
        eprint!("{}", m.confusion_table());
        print_json(m)?;
    }
    let compare_current = |current: (&Path, &Current), new: &Metrics| {
        let pb = bar(0, "compare");
        let progress = |_: Stage, done: usize, total: usize| {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        };
        let measure = |cur_cfg, lexicon| {
            eprintln!(
                "training the configuration of {} by streaming the same rows, to measure it on the same held-out rows...",
                current.0.display()
            );
            let cur = train::train_streaming(&cur_cfg, &sgd, &source, lexicon, data, "-", &progress)?;
            Ok(cur.cv.expect("the same rows are held out"))
        };
        // The held-out rows, in the order the new model predicted them.
        let as_is = |cur: &LinearModel| {
            let held_out = source()?.filter(|r| r.as_ref().map_or(true, |e| sgd.holds_out(&e.text, cfg.seed)));
            score_as_is(cur, held_out, &trained.predictions)
        };
        let c = compare(cfg, current, data, trained.model.featurizer().lexicon(), new, measure, as_is);
        pb.finish_and_clear();
        c
    };
    compare_and_save(a, &trained, report, saving, start, compare_current)
}

pub(crate) fn run_eval(a: EvalArgs) -> Result<()> {
    a.threads.apply()?;
    a.columns.check(std::slice::from_ref(&a.data))?;
    let model = load_model(&a.model, &a.models.dir)?;
    a.columns.check_label_map(model.task())?;
    let columns = a.columns.labelled();
    let input: Box<dyn Read + Send> = if a.data == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(&a.data).with_context(|| format!("reading {}", a.data))?)
    };
    let rows = train::data::labelled_examples(input, &a.data, model.task(), &columns, false, |_, _| {})?;
    let train::Evaluation { metrics: m, targeted, .. } = train::evaluate(&model, rows)?;
    if m.rows == 0 {
        bail!("{}: no rows to evaluate", a.data);
    }
    print_json(&m)?;
    if model.task() == Task::Stance && targeted == 0 && model.heads().len() > 1 {
        eprintln!(
            "warning: no row names a target, so the pooled head scored every row, not the heads of \
             the model's targets; give rows a \"target\" (a CSV column: --target-column)"
        );
    }
    if model.task() == Task::Sentiment && targeted == 0 && model.featurizer().config().window > 0 {
        // A model trained on sentiment toward people scores a row without one as the whole
        // text's sentiment, which can be far from its score toward the person.
        eprintln!(
            "warning: no row names a target, so each was scored as the whole text's sentiment, without the \
             window features around a person's mentions; give rows a \"target\" (a CSV column: --target-column)"
        );
    }
    eprintln!("{} on {} rows of {}: {}", model.name(), m.rows, a.data, m.summary());
    eprint!("{}", m.confusion_table());
    Ok(())
}
