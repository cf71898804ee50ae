//! # stancer
//!
//! Reads news text and quotations, works out who said what, and tells where each speaker
//! stands: stance toward a target (favor / against / none) and sentiment (positive /
//! neutral / negative), each with probabilities, the head that answered and, on request,
//! the features that decided it.
//!
//! ## Layout
//!
//! Data flows top to bottom:
//!
//! - [`text`]: Unicode normalisation (quotes, dashes, spaces, ellipses) and a tokenizer
//!   with code-point spans, URLs, mentions, hashtags, contractions and negation scope.
//! - [`features`]: the hashing featurizer (word and char n-grams, lexicon, target and
//!   target-window features) whose configuration travels inside each model file.
//! - [`train`]: labelled-data reading, the sparse multinomial logistic learner (linfa
//!   `Fit`), stratified cross-validation, and assembly of per-target heads into a model.
//! - [`quotes`]: quotation extraction (direct, indirect, mixed) with cue verbs, speaker
//!   resolution (titles stripped, surnames merged, pronouns and nominals resolved), offset
//!   conversion, and scoring against gold attributions.
//! - [`metrics`]: accuracy, per-class P/R/F1, macro-F1, SemEval F_avg, confusion matrix.
//! - [`model`]: [`model::LinearModel`] (predict, explain), its safetensors file format, the
//!   sparse weight table (`model/table.rs`) scoring looks features up in, and the scoring
//!   sink (`model/score.rs`) that sums weights as features are made and remembers each
//!   word's char n-gram sums per thread, and the record of the texts a model was trained
//!   on (`model/seen.rs`) that `train --promote` compares on.
//! - [`batch`]: JSONL/CSV in -> scored JSONL out, chunked, parallel and in input order
//!   (CSV records read with `csv-core`, so that an unclosed quote costs one row).
//! - [`analyze`]: attributed quotations -> per-quotation predictions -> per-speaker
//!   verdicts (mean of probability vectors); shared by the server and the CLI.
//! - [`registry`]: named models loaded from a directory, swapped atomically on reload so
//!   in-flight requests finish on the model they started with.
//! - [`server`]: the tonic gRPC service (`proto/stancer/v1/stancer.proto`), health,
//!   reflection, limits, Prometheus metrics, reload triggers and graceful shutdown;
//!   [`server::serve`] is its testable entry point.
//! - [`error`]: the library's one error type.
//!
//! The binary (`src/main.rs` and its `cli_*` modules) is a thin clap CLI over these:
//! `train`, `eval`, `score`, `extract`, `analyze`, `eval-quotes`, `serve`.

pub mod analyze;
pub mod batch;
pub mod error;
pub mod features;
pub mod metrics;
pub mod model;
pub mod quotes;
pub mod registry;
pub mod server;
pub mod text;
pub mod train;

pub use error::{Error, Result};
