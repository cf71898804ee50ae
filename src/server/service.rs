//! The `stancer.v1.Stancer` service: request checks, limits, the library calls, and the
//! one place where [`crate::Error`] becomes a [`tonic::Status`].
//!
//! Each call takes the registry's current snapshot once and uses it to the end, so a
//! reload in the middle of a call cannot mix two versions of a model in one answer.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::metrics::{Metrics, Rpc};
use super::pb;
use super::{MAX_ID_BYTES, ServerConfig};
use crate::analyze::{self, Quotation};
use crate::error::Error;
use crate::model::{Prediction, Task};
use crate::quotes::{self, OffsetUnit, QuoteKind, Segment};
use crate::registry::{LoadedModel, Registry, Snapshot};
use crate::text::is_blank;

/// Default model names when a request leaves them empty.
pub const DEFAULT_STANCE_MODEL: &str = "stance";
pub const DEFAULT_SENTIMENT_MODEL: &str = "sentiment";

/// Requests with at most this many quotations are scored on the async worker: they take
/// microseconds, and a hop to the blocking pool would cost more than the work. Bigger
/// ones go to the blocking pool so they cannot stall other connections.
const INLINE_QUOTATIONS: usize = 8;

/// Maps a library error to a gRPC status. The only such mapping in the crate.
pub fn status_from_error(e: &Error) -> Status {
    match e {
        Error::InvalidInput { .. }
        | Error::InvalidParam { .. }
        | Error::InvalidRecord { .. }
        | Error::Column { .. }
        | Error::TooManyBadRows { .. } => Status::invalid_argument(e.to_string()),
        Error::UnknownModel { .. } => Status::not_found(e.to_string()),
        Error::LimitExceeded { .. } => Status::resource_exhausted(e.to_string()),
        Error::Interrupted { .. } | Error::Cancelled => Status::cancelled(e.to_string()),
        Error::BadModel { .. } | Error::Io { .. } | Error::Data(_) | Error::Resume(_) | Error::Linfa(_) => {
            Status::internal(e.to_string())
        }
    }
}

/// The service state shared by all calls.
#[derive(Clone)]
pub struct StancerService {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<Registry>,
    config: Arc<ServerConfig>,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    /// Turns true when the server starts shutting down; open streams stop reading.
    stop: watch::Receiver<bool>,
}

impl StancerService {
    pub fn new(
        registry: Arc<Registry>,
        config: Arc<ServerConfig>,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_concurrent_requests));
        StancerService { inner: Arc::new(Inner { registry, config, metrics, permits, stop }) }
    }
}

/// Runs `f`, turning a panic into INTERNAL: no input may take the server down, and a bug
/// should cost one request, not the process.
fn guarded<T>(f: impl FnOnce() -> Result<T, Status>) -> Result<T, Status> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!("request handler panicked");
        Err(Status::internal("internal error while handling the request"))
    })
}

/// Runs `f` inline when `inline`, else on the blocking pool. `f` is given what tells it
/// that its caller stopped waiting: the deadline's timeout or a cancelled call drops this
/// future, and the work on the blocking pool, which nothing else can stop, gives up at its
/// next quotation and frees its worker and concurrency slot.
async fn run_work<T: Send + 'static>(
    inline: bool,
    f: impl FnOnce(&dyn Fn() -> bool) -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    if inline {
        return guarded(|| f(&|| false));
    }
    /// Sets the flag when the call's future is dropped, finished or not.
    struct Gone(Arc<AtomicBool>);
    impl Drop for Gone {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let gone = Gone(Arc::new(AtomicBool::new(false)));
    let flag = gone.0.clone();
    tokio::task::spawn_blocking(move || guarded(|| f(&|| flag.load(Ordering::Relaxed))))
        .await
        .unwrap_or_else(|e| Err(Status::internal(format!("worker failed: {e}"))))
}

fn model_name(requested: &str, default: &str) -> String {
    let n = requested.trim();
    if n.is_empty() { default } else { n }.to_string()
}

/// Looks `name` up in `snap`: NOT_FOUND naming the model and the ones served if absent.
/// The message lists names, not the server's models directory: a client can use a name,
/// and has no business knowing the server's file layout.
fn lookup(snap: &Snapshot, name: &str, task: Task, field: &str) -> Result<Arc<LoadedModel>, Status> {
    let Some(m) = snap.get(name).cloned() else {
        const SHOWN: usize = 20;
        let names: Vec<&str> = snap.models().take(SHOWN).map(|m| m.name.as_str()).collect();
        let served = match snap.len() {
            0 => "this server has no model loaded".to_string(),
            n if n > SHOWN => format!("this server serves {n} models: {}, ... (ListModels has all)", names.join(", ")),
            _ => format!("this server serves: {}", names.join(", ")),
        };
        // A name is shown cut short: the message travels in a header, which clients cap
        // (a 20,000-character name had turned NOT_FOUND into the client's RESOURCE_EXHAUSTED).
        let shown: String = name.chars().take(100).collect();
        let cut = if shown.len() < name.len() { "..." } else { "" };
        return Err(Status::not_found(format!("{field}: unknown model {shown:?}{cut}; {served}")));
    };
    analyze::check_task(&m.model, task, field).map_err(|e| status_from_error(&e))?;
    Ok(m)
}

/// The stance and sentiment models a request names (the defaults when it names none), from
/// one snapshot, so that a reload between the two lookups cannot pair models of two sets.
fn request_models(
    registry: &Registry,
    stance: &str,
    sentiment: &str,
) -> Result<(Arc<LoadedModel>, Arc<LoadedModel>), Status> {
    let snap = registry.snapshot();
    let stance = lookup(&snap, &model_name(stance, DEFAULT_STANCE_MODEL), Task::Stance, "stance_model")?;
    let sentiment = lookup(&snap, &model_name(sentiment, DEFAULT_SENTIMENT_MODEL), Task::Sentiment, "sentiment_model")?;
    Ok((stance, sentiment))
}

/// INVALID_ARGUMENT naming `field` and the limit when `text` is longer than the limit.
fn check_text_len(text: &str, field: &str, max_chars: usize) -> Result<(), Status> {
    // Byte length bounds the code-point count from above: most texts pass without a count.
    if text.len() > max_chars && text.chars().count() > max_chars {
        return Err(status_from_error(&Error::InvalidInput {
            field: field.to_string(),
            message: format!(
                "text of {} code points is over the server limit max_text_chars = {max_chars}",
                text.chars().count()
            ),
        }));
    }
    Ok(())
}

fn model_ref(m: &LoadedModel) -> pb::ModelRef {
    pb::ModelRef { name: m.name.clone(), sha256: m.sha256.clone() }
}

fn pb_probs(p: &[(String, f32)]) -> Vec<pb::LabelProbability> {
    p.iter()
        .map(|(label, probability)| pb::LabelProbability { label: label.clone(), probability: *probability })
        .collect()
}

fn pb_prediction(p: Prediction) -> pb::Prediction {
    pb::Prediction {
        probabilities: pb_probs(&p.probabilities),
        label: p.label,
        head: p.head,
        pooled: p.pooled,
        top_features: p
            .top_features
            .into_iter()
            .map(|c| pb::FeatureContribution { feature: c.feature, weight: c.weight })
            .collect(),
    }
}

fn pb_verdict(v: analyze::SpeakerVerdict) -> pb::SpeakerVerdict {
    pb::SpeakerVerdict {
        speaker: v.speaker,
        quote_count: u32::try_from(v.quote_count).unwrap_or(u32::MAX),
        stance: Some(pb::Aggregate { probabilities: pb_probs(&v.stance.probabilities), label: v.stance.label }),
        sentiment: Some(pb::Aggregate {
            probabilities: pb_probs(&v.sentiment.probabilities),
            label: v.sentiment.label,
        }),
        quote_ids: v.quote_ids,
        aliases: v.aliases,
    }
}

fn pb_model_info(m: &LoadedModel) -> pb::ModelInfo {
    let meta = m.model.meta();
    pb::ModelInfo {
        name: m.name.clone(),
        task: meta.task.to_string(),
        labels: meta.labels.clone(),
        heads: meta.heads.clone(),
        metrics: meta.metrics.as_ref().map(|x| pb::ModelMetrics {
            rows: x.rows as u64,
            accuracy: x.accuracy,
            macro_f1: x.macro_f1,
            f_avg: x.f_avg,
            per_class: x
                .per_class
                .iter()
                .map(|c| pb::ClassMetrics {
                    label: c.label.clone(),
                    precision: c.precision,
                    recall: c.recall,
                    f1: c.f1,
                    support: c.support as u64,
                })
                .collect(),
        }),
        sha256: m.sha256.clone(),
        created_at: meta.created_at.clone(),
        training_rows: meta.training.rows as u64,
        training_data_sha256: meta.training.data_digest.clone(),
    }
}

/// The whole of ScoreQuotations after the limits that need no models: model lookup,
/// validation, scoring, roll-up. Synchronous; the caller picks the thread.
fn score_quotations(
    registry: &Registry,
    req: pb::ScoreQuotationsRequest,
    cancelled: &dyn Fn() -> bool,
) -> Result<pb::ScoreQuotationsResponse, Status> {
    let (stance, sentiment) = request_models(registry, &req.stance_model, &req.sentiment_model)?;
    let quotations: Vec<Quotation> =
        req.quotations.into_iter().map(|q| Quotation { id: q.id, speaker: q.speaker, text: q.text }).collect();
    let analysis = analyze::score_quotations(
        &quotations,
        &req.target,
        &stance.model,
        &sentiment.model,
        req.explain as usize,
        cancelled,
    )
    .map_err(|e| status_from_error(&e))?;
    Ok(pb::ScoreQuotationsResponse {
        target: analysis.target,
        stance_model: Some(model_ref(&stance)),
        sentiment_model: Some(model_ref(&sentiment)),
        quotations: analysis
            .quotes
            .into_iter()
            .map(|q| pb::QuotationResult {
                id: q.id,
                speaker: q.speaker,
                stance: Some(pb_prediction(q.stance)),
                sentiment: Some(pb_prediction(q.sentiment)),
            })
            .collect(),
        speakers: analysis.speakers.into_iter().map(pb_verdict).collect(),
    })
}

/// Checks the request-size limits of ScoreQuotations (cheap, before any model work).
fn check_score_limits(config: &ServerConfig, req: &pb::ScoreQuotationsRequest) -> Result<(), Status> {
    if req.quotations.len() > config.max_quotations {
        return Err(status_from_error(&Error::LimitExceeded {
            limit: "max_quotations",
            message: format!(
                "{} quotations in one request; the server takes at most {} (split them over \
                 several requests, or several AnalyzeStream items)",
                req.quotations.len(),
                config.max_quotations
            ),
        }));
    }
    check_text_len(&req.target, "target", config.max_text_chars)?;
    for (i, q) in req.quotations.iter().enumerate() {
        if q.id.len() > MAX_ID_BYTES {
            // The id is not echoed: it is the part too long to send back.
            return Err(status_from_error(&Error::InvalidInput {
                field: format!("quotations[{i}].id"),
                message: format!("an id of {} bytes is over the limit of {MAX_ID_BYTES} bytes", q.id.len()),
            }));
        }
        check_text_len(&q.text, &format!("quotations[{i}].text"), config.max_text_chars)?;
        check_text_len(&q.speaker, &format!("quotations[{i}].speaker"), config.max_text_chars)?;
    }
    Ok(())
}

/// The library's unit for a request's `offset_unit`: UNSPECIFIED means code points, and
/// a value this server does not know is INVALID_ARGUMENT naming `offset_unit`.
fn offset_unit(value: i32) -> Result<OffsetUnit, Status> {
    match pb::OffsetUnit::try_from(value) {
        Ok(pb::OffsetUnit::Utf8Bytes) => Ok(OffsetUnit::Utf8Bytes),
        Ok(pb::OffsetUnit::Utf16Units) => Ok(OffsetUnit::Utf16Units),
        Ok(pb::OffsetUnit::Unspecified | pb::OffsetUnit::CodePoints) => Ok(OffsetUnit::CodePoints),
        Err(_) => Err(status_from_error(&Error::InvalidInput {
            field: "offset_unit".into(),
            message: format!("unknown offset unit {value} (use 1 = UTF-8 bytes, 2 = UTF-16 units, 3 = code points)"),
        })),
    }
}

fn pb_offset_unit(unit: OffsetUnit) -> pb::OffsetUnit {
    match unit {
        OffsetUnit::Utf8Bytes => pb::OffsetUnit::Utf8Bytes,
        OffsetUnit::Utf16Units => pb::OffsetUnit::Utf16Units,
        OffsetUnit::CodePoints => pb::OffsetUnit::CodePoints,
    }
}

fn pb_quote_kind(kind: QuoteKind) -> pb::QuoteKind {
    match kind {
        QuoteKind::Direct => pb::QuoteKind::Direct,
        QuoteKind::Indirect => pb::QuoteKind::Indirect,
        QuoteKind::Mixed => pb::QuoteKind::Mixed,
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A segment with its spans taken, in order, from `converted` (the spans of every segment
/// of the document, converted to the caller's unit in one pass over the text).
fn pb_segment(seg: Segment, converted: &mut impl Iterator<Item = [usize; 2]>) -> pb::TextSegment {
    let spans = seg
        .spans
        .iter()
        .zip(converted)
        .map(|(_, [start, end])| pb::Span { start: to_u32(start), end: to_u32(end) })
        .collect();
    pb::TextSegment { text: seg.text, spans }
}

/// AnalyzeDocument. Checks the request (cheap checks first, so a bad request does no model
/// work), resolves the models from one registry snapshot, then runs
/// [`analyze::analyze_document`]: quotations are extracted, each one's content is scored,
/// and the attributed ones are rolled up per canonical speaker. Unattributed quotations
/// come back with an empty speaker and `attributed = false`, and are in no verdict. The
/// library's code-point spans are converted to `req.offset_unit` with
/// [`quotes::convert_offsets`], all of them in one pass over the text.
fn analyze_document(
    registry: &Registry,
    config: &ServerConfig,
    req: pb::AnalyzeDocumentRequest,
    cancelled: &dyn Fn() -> bool,
) -> Result<pb::AnalyzeDocumentResponse, Status> {
    if is_blank(&req.text) {
        return Err(status_from_error(&Error::InvalidInput {
            field: "text".into(),
            message: "must not be empty".into(),
        }));
    }
    if is_blank(&req.target) {
        return Err(status_from_error(&Error::InvalidInput {
            field: "target".into(),
            message: "must not be empty (stance is always toward a target)".into(),
        }));
    }
    check_text_len(&req.text, "text", config.max_text_chars)?;
    check_text_len(&req.target, "target", config.max_text_chars)?;
    let unit = offset_unit(req.offset_unit)?;
    let (stance, sentiment) = request_models(registry, &req.stance_model, &req.sentiment_model)?;
    let analysis = analyze::analyze_document(
        &req.text,
        &req.target,
        &stance.model,
        &sentiment.model,
        req.explain as usize,
        config.max_document_quotations,
        cancelled,
    )
    .map_err(|e| status_from_error(&e))?;

    // Every span of the answer, in the order the segments are rebuilt below.
    let all: Vec<[usize; 2]> = analysis
        .quotes
        .iter()
        .flat_map(|q| {
            let segments = [Some(&q.quote.content), q.quote.cue.as_ref(), q.quote.source.as_ref()];
            segments.into_iter().flatten().flat_map(|s| s.spans.iter().copied()).collect::<Vec<_>>()
        })
        .collect();
    let mut converted = quotes::convert_offsets(&req.text, &all, unit).into_iter();
    let quotes = analysis
        .quotes
        .into_iter()
        .map(|q| {
            let content = pb_segment(q.quote.content, &mut converted);
            let cue = q.quote.cue.map(|s| pb_segment(s, &mut converted));
            let source = q.quote.source.map(|s| pb_segment(s, &mut converted));
            pb::ExtractedQuote {
                id: q.id,
                kind: pb_quote_kind(q.quote.kind) as i32,
                content: Some(content),
                cue,
                source,
                attributed: q.quote.speaker.is_some(),
                speaker: q.quote.speaker.unwrap_or_default(),
                confidence: q.quote.confidence,
                stance: Some(pb_prediction(q.stance)),
                sentiment: Some(pb_prediction(q.sentiment)),
            }
        })
        .collect();
    Ok(pb::AnalyzeDocumentResponse {
        target: req.target,
        stance_model: Some(model_ref(&stance)),
        sentiment_model: Some(model_ref(&sentiment)),
        offset_unit: pb_offset_unit(unit) as i32,
        quotes,
        document_speakers: analysis
            .speakers
            .into_iter()
            .map(|s| pb::DocumentSpeaker {
                name: s.name,
                aliases: s.aliases,
                role: s.role.unwrap_or_default(),
                quote_count: to_u32(s.quote_count),
            })
            .collect(),
        speakers: analysis.verdicts.into_iter().map(pb_verdict).collect(),
    })
}

/// Refuses a request over `max_message_bytes` with RESOURCE_EXHAUSTED naming the limit.
/// tonic decodes up to [`decoding_ceiling`] so that this check, not tonic's own
/// OUT_OF_RANGE, answers for most oversize requests; past the ceiling tonic still refuses
/// before decoding, which keeps memory bounded.
fn check_message_size(config: &ServerConfig, msg: &impl prost::Message) -> Result<(), Status> {
    let n = msg.encoded_len();
    if n > config.max_message_bytes {
        return Err(status_from_error(&Error::LimitExceeded {
            limit: "max_message_bytes",
            message: format!("the request is {n} bytes, the limit is {}", config.max_message_bytes),
        }));
    }
    Ok(())
}

/// Refuses an answer over `max_message_bytes` with OUT_OF_RANGE naming the limit, as tonic's
/// encoder would without naming it, and for a stream item without ending the whole stream.
fn check_reply_size<T: prost::Message>(config: &ServerConfig, reply: T) -> Result<T, Status> {
    let n = reply.encoded_len();
    if n > config.max_message_bytes {
        return Err(Status::out_of_range(format!(
            "the answer is {n} bytes, over the server limit max_message_bytes = {}: ask for fewer quotations, a \
             shorter document or fewer explained features",
            config.max_message_bytes
        )));
    }
    Ok(reply)
}

/// What tonic may decode: four times the configured limit (at most 1 GiB).
pub(crate) fn decoding_ceiling(config: &ServerConfig) -> usize {
    config.max_message_bytes.saturating_mul(4).min(1 << 30).max(config.max_message_bytes)
}

impl Inner {
    /// One unary call: the size check first (an oversize request takes no concurrency
    /// slot), then a slot, the work under the deadline, and the metrics (a call dropped by
    /// tonic, at the client's deadline, counted CANCELLED: see [`super::metrics::Call`]).
    async fn unary<Req, Resp, Fut>(
        &self,
        rpc: Rpc,
        req: Req,
        work: impl FnOnce(Req, OwnedSemaphorePermit) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message,
        Resp: prost::Message,
        Fut: std::future::Future<Output = Result<Resp, Status>>,
    {
        let call = self.metrics.start(rpc);
        let r = match check_message_size(&self.config, &req).and_then(|_| self.try_permit()) {
            Ok(permit) => self.with_deadline(work(req, permit)).await,
            Err(s) => Err(s),
        };
        let r = r.and_then(|reply| check_reply_size(&self.config, reply));
        call.finish(code_of(&r));
        if let Err(s) = &r {
            tracing::debug!(rpc = ?rpc, code = ?s.code(), message = s.message(), "call failed");
        }
        r.map(Response::new)
    }

    fn try_permit(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            status_from_error(&Error::LimitExceeded {
                limit: "max_concurrent_requests",
                message: format!(
                    "the server is already working on {} requests; retry with backoff",
                    self.config.max_concurrent_requests
                ),
            })
        })
    }

    /// Runs a unary call's work under the request deadline.
    async fn with_deadline<T>(&self, fut: impl std::future::Future<Output = Result<T, Status>>) -> Result<T, Status> {
        let d = self.config.request_deadline;
        tokio::time::timeout(d, fut).await.unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!(
                "the request took longer than the server limit request_deadline = {d:?}"
            )))
        })
    }

    /// ScoreQuotations under `permit`, which moves into the work: a call cut off by the
    /// deadline keeps its slot until its work has really stopped, so the limit bounds the
    /// work running, not just the calls waiting.
    async fn score(
        &self,
        req: pb::ScoreQuotationsRequest,
        permit: OwnedSemaphorePermit,
    ) -> Result<pb::ScoreQuotationsResponse, Status> {
        check_score_limits(&self.config, &req)?;
        let inline = req.quotations.len() <= INLINE_QUOTATIONS;
        let registry = self.registry.clone();
        run_work(inline, move |cancelled| {
            let _permit = permit;
            score_quotations(&registry, req, cancelled)
        })
        .await
    }

    async fn document(
        &self,
        req: pb::AnalyzeDocumentRequest,
        permit: OwnedSemaphorePermit,
    ) -> Result<pb::AnalyzeDocumentResponse, Status> {
        let registry = self.registry.clone();
        let config = self.config.clone();
        run_work(false, move |cancelled| {
            let _permit = permit;
            analyze_document(&registry, &config, req, cancelled)
        })
        .await
    }

    /// One stream item: its answer or its error, never a stream failure.
    async fn stream_item(&self, item: pb::AnalyzeStreamRequest) -> pb::AnalyzeStreamResponse {
        use pb::analyze_stream_request::Request as Req;
        use pb::analyze_stream_response::Result as Res;
        // An item aborted when its client goes away is counted CANCELLED.
        let call = self.metrics.start(Rpc::AnalyzeStreamItem);
        // Waiting for a slot is the backpressure: the stream is not read meanwhile.
        let permit = match check_message_size(&self.config, &item) {
            Ok(()) => {
                self.permits.clone().acquire_owned().await.map_err(|_| Status::unavailable("server is shutting down"))
            }
            Err(s) => Err(s),
        };
        let result = match (permit, item.request) {
            (Err(s), _) => Err(s),
            (Ok(permit), Some(Req::ScoreQuotations(r))) => self.score(r, permit).await.map(Res::ScoreQuotations),
            (Ok(permit), Some(Req::AnalyzeDocument(r))) => self.document(r, permit).await.map(Res::AnalyzeDocument),
            (Ok(_), None) => {
                Err(Status::invalid_argument("invalid field request: set one of analyze_document, score_quotations"))
            }
        };
        let error = |s: Status| Res::Error(pb::ItemError { code: s.code() as i32, message: s.message().to_string() });
        let reply = result.and_then(|r| {
            let reply = pb::AnalyzeStreamResponse { request_id: item.request_id.clone(), result: Some(r) };
            check_reply_size(&self.config, reply)
        });
        call.finish(code_of(&reply));
        reply.unwrap_or_else(|s| pb::AnalyzeStreamResponse { request_id: item.request_id, result: Some(error(s)) })
    }

    fn check_admin<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let Some(token) = self.config.admin_token.as_deref() else {
            return Ok(());
        };
        let given =
            req.metadata().get("authorization").and_then(|v| v.to_str().ok()).and_then(bearer_token).unwrap_or("");
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(Status::unauthenticated("ReloadModels needs the metadata `authorization: Bearer <admin token>`"))
        }
    }
}

/// The token of an `authorization` value of the Bearer scheme. The scheme's name is
/// matched in any case (RFC 7235 §2.1: clients send "bearer" as well as RFC 6750's
/// "Bearer"), and may be followed by more than one space; the token itself is left to the
/// caller's exact comparison.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim_start_matches(' '))
}

/// Compares the two SHA-256 digests without an early exit, so the time taken tells neither
/// how much of a guessed token was right nor how long the token is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A stream item in progress (its reply comes from the task), or the stream's own failure.
enum Pending {
    Item(String, tokio::task::JoinHandle<pb::AnalyzeStreamResponse>),
    Failed(Status),
}

/// Items work in tasks of their own, which a dropped handle does not stop: once the client
/// has gone, each is aborted, which drops its work's future, so that its blocking work gives
/// up at its next quotation (as a cancelled unary call's does) and frees its slot. (A stream
/// cancelled with four heavy items read had kept both cores busy for 35 s.)
fn abort_pending_item(p: Pending) {
    if let Pending::Item(_, handle) = p {
        handle.abort();
    }
}

/// Aborts the items read but not yet answered, and stops taking more.
fn abort_pending(pending: &mut mpsc::Receiver<Pending>) {
    pending.close();
    while let Ok(p) = pending.try_recv() {
        abort_pending_item(p);
    }
}

/// A refused model file as a ReloadFailure names it: its name in the models directory, not
/// its path. ReloadModels is open to every client of a server without an admin token, and
/// the server's file layout is none of a client's business (NOT_FOUND lists model names for
/// the same reason); the log has the path.
fn file_name(path: &std::path::Path) -> String {
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

fn code_of<T>(r: &Result<T, Status>) -> tonic::Code {
    r.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok)
}

#[tonic::async_trait]
impl pb::stancer_server::Stancer for StancerService {
    async fn score_quotations(
        &self,
        request: Request<pb::ScoreQuotationsRequest>,
    ) -> Result<Response<pb::ScoreQuotationsResponse>, Status> {
        let inner = &self.inner;
        inner.unary(Rpc::ScoreQuotations, request.into_inner(), |r, p| inner.score(r, p)).await
    }

    async fn analyze_document(
        &self,
        request: Request<pb::AnalyzeDocumentRequest>,
    ) -> Result<Response<pb::AnalyzeDocumentResponse>, Status> {
        let inner = &self.inner;
        inner.unary(Rpc::AnalyzeDocument, request.into_inner(), |r, p| inner.document(r, p)).await
    }

    type AnalyzeStreamStream = ReceiverStream<Result<pb::AnalyzeStreamResponse, Status>>;

    async fn analyze_stream(
        &self,
        request: Request<Streaming<pb::AnalyzeStreamRequest>>,
    ) -> Result<Response<Self::AnalyzeStreamStream>, Status> {
        let start = Instant::now();
        let mut inbound = request.into_inner();
        // Items are worked on concurrently (up to `stream_buffer` per stream, each also
        // holding a global concurrency slot) and answered in request order. Two bounded
        // channels hold the items in progress and the replies not yet sent; when both are
        // full the reader stops reading requests, and HTTP/2 flow control pushes back on
        // the client. At most 2 x stream_buffer + 2 items are held per stream.
        let n = self.inner.config.stream_buffer;
        let (tx, rx) = mpsc::channel(n);
        let (pending_tx, mut pending_rx) = mpsc::channel::<Pending>(n);
        let writer = tokio::spawn(async move {
            while let Some(p) = pending_rx.recv().await {
                let reply = match p {
                    Pending::Item(request_id, mut handle) => {
                        let done = tokio::select! {
                            done = &mut handle => Some(done),
                            _ = tx.closed() => None,
                        };
                        let Some(done) = done else {
                            handle.abort();
                            abort_pending(&mut pending_rx);
                            return false; // the client went away while this item worked
                        };
                        Ok(done.unwrap_or_else(|e| pb::AnalyzeStreamResponse {
                            request_id,
                            result: Some(pb::analyze_stream_response::Result::Error(pb::ItemError {
                                code: tonic::Code::Internal as i32,
                                message: format!("item failed: {e}"),
                            })),
                        }))
                    }
                    Pending::Failed(status) => Err(status),
                };
                if tx.send(reply).await.is_err() {
                    abort_pending(&mut pending_rx);
                    return false; // the client went away
                }
            }
            true
        });
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut stop = inner.stop.clone();
            let mut items = 0u64;
            let mut code = tonic::Code::Ok;
            loop {
                let next = tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => break,
                    m = inbound.message() => m,
                };
                let pending = match next {
                    Ok(Some(item)) => {
                        items += 1;
                        let id = item.request_id.clone();
                        let inner = inner.clone();
                        Pending::Item(id, tokio::spawn(async move { inner.stream_item(item).await }))
                    }
                    Ok(None) => break,
                    Err(status) => {
                        // The stream itself is broken (message over the size limit,
                        // undecodable bytes): report it after the pending replies, and end.
                        code = status.code();
                        tracing::debug!(code = ?status.code(), message = status.message(), "AnalyzeStream input failed");
                        let _ = pending_tx.send(Pending::Failed(status)).await;
                        break;
                    }
                };
                if let Err(mpsc::error::SendError(pending)) = pending_tx.send(pending).await {
                    abort_pending_item(pending);
                    break; // the writer stopped: the client went away
                }
            }
            drop(pending_tx);
            if !writer.await.unwrap_or(false) {
                code = tonic::Code::Cancelled;
            }
            tracing::debug!(items, "AnalyzeStream ended");
            inner.metrics.observe(Rpc::AnalyzeStream, code, start.elapsed());
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list_models(
        &self,
        _request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let start = Instant::now();
        let snap = self.inner.registry.snapshot();
        let models = snap.models().map(|m| pb_model_info(m)).collect();
        self.inner.metrics.observe(Rpc::ListModels, tonic::Code::Ok, start.elapsed());
        Ok(Response::new(pb::ListModelsResponse { models }))
    }

    async fn reload_models(
        &self,
        request: Request<pb::ReloadModelsRequest>,
    ) -> Result<Response<pb::ReloadModelsResponse>, Status> {
        let call = self.inner.metrics.start(Rpc::ReloadModels);
        let inner = self.inner.clone();
        let r = match inner.check_admin(&request) {
            Err(s) => Err(s),
            Ok(()) => {
                let registry = inner.registry.clone();
                let metrics = inner.metrics.clone();
                run_work(false, move |_| {
                    let report = registry.reload().map_err(|e| {
                        // The reason names a path on the server: logged there, not told to
                        // whoever called.
                        tracing::warn!(error = %e, "ReloadModels could not read the models directory");
                        Status::internal("the models directory could not be read; the server's log says why")
                    })?;
                    metrics.observe_reload(report.failed.len());
                    let snap = registry.snapshot();
                    Ok(pb::ReloadModelsResponse {
                        models: snap.models().map(|m| pb_model_info(m)).collect(),
                        loaded: report.loaded,
                        failed: report
                            .failed
                            .into_iter()
                            .map(|f| pb::ReloadFailure { file: file_name(&f.file), reason: f.reason })
                            .collect(),
                        removed: report.removed,
                    })
                })
                .await
            }
        };
        call.finish(code_of(&r));
        r.map(Response::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limit_counts_code_points_and_names_field_and_limit() {
        assert!(check_text_len("ééé", "x", 3).is_ok());
        let s = check_text_len("éééé", "quotations[2].text", 3).unwrap_err();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().contains("quotations[2].text"), "{}", s.message());
        assert!(s.message().contains("max_text_chars"), "{}", s.message());
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        for v in ["Bearer t0k", "bearer t0k", "BEARER t0k", "Bearer   t0k"] {
            assert_eq!(bearer_token(v), Some("t0k"), "{v:?}");
        }
        for v in ["Basic t0k", "Bearert0k", "t0k", "", "Bearer"] {
            assert_eq!(bearer_token(v), None, "{v:?}");
        }
        assert_eq!(bearer_token("bearer T0K"), Some("T0K"));
        assert_eq!(bearer_token("Bearer "), Some(""));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
