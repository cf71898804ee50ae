//! Server limits and options, each with a documented default.
//!
//! The limits exist so that no single request or client can take the server's memory or
//! CPU: every one is checked before any work is done, and passing one is answered with a
//! status whose message names the limit, so an operator can tell which flag to raise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Longest `Quotation.id`, in bytes: past it, INVALID_ARGUMENT naming the field, its index
/// and this limit. An id is the caller's name for a quotation, echoed in its result and in
/// its speaker's `quote_ids`, so a long one costs twice in every answer; 256 bytes holds
/// any UUID, hash or database key. Fixed rather than a flag: unlike the other limits it
/// does not trade work against capacity, so no deployment has a reason to move it.
pub const MAX_ID_BYTES: usize = 256;

/// Paths of the PEM files for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// Everything [`super::serve`] can be told. Build with `ServerConfig::default()` and
/// override fields.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest encoded request or response message, in bytes. Default 16 MiB: tonic's
    /// 4 MiB default is raised on purpose so that a request at `max_quotations` x
    /// `max_text_chars`-sized texts of typical length, or a long document, fits; anything
    /// bigger should be split over `AnalyzeStream`. A request past it is answered
    /// RESOURCE_EXHAUSTED naming `max_message_bytes`; past four times it, tonic's decoder
    /// refuses it unread with OUT_OF_RANGE (tonic's choice of code, not ours: such a call
    /// never reaches the service's code). An answer past it is OUT_OF_RANGE too, naming the
    /// limit (for a stream item, that item's error; the stream goes on).
    pub max_message_bytes: usize,
    /// Longest text (a quotation, a document, a target), in Unicode code points. Default
    /// 100,000 (a long news article is 10-20k). Past it: INVALID_ARGUMENT naming the field
    /// and `max_text_chars`.
    pub max_text_chars: usize,
    /// Most quotations in one ScoreQuotations request (or stream item). Default 1,000.
    /// Past it: RESOURCE_EXHAUSTED naming `max_quotations`.
    pub max_quotations: usize,
    /// Most quotations found in one AnalyzeDocument document (or stream item). Default 1,000
    /// (a long news article has a few dozen). Past it: RESOURCE_EXHAUSTED naming
    /// `max_document_quotations` before any quotation is scored, as a ScoreQuotations request
    /// past `max_quotations` is refused; not cut short, since verdicts over the first part of
    /// a document would pass for the whole one's. The extraction before the check is bounded
    /// by `max_text_chars`.
    pub max_document_quotations: usize,
    /// Most requests (unary calls and stream items) being worked on at once. Default 256.
    /// A unary call past it is answered RESOURCE_EXHAUSTED naming
    /// `max_concurrent_requests` at once (so a client can back off) rather than queued; a
    /// stream item waits for a slot, since a stream is already flow-controlled.
    pub max_concurrent_requests: usize,
    /// Longest a unary call may take before it is answered DEADLINE_EXCEEDED naming
    /// `request_deadline`, its work given up at the next quotation. Default 30 s. A
    /// client's own (shorter) `grpc-timeout` also applies.
    pub request_deadline: Duration,
    /// Items of one `AnalyzeStream` worked on at once, and replies it may hold unsent,
    /// before the server stops reading that stream's requests. Default 16: bounds the
    /// memory one slow reader can pin (at most 2 x this + 2 items per stream).
    pub stream_buffer: usize,
    /// How long a shutdown waits for in-flight requests before dropping connections.
    /// Default 10 s.
    pub shutdown_grace: Duration,
    /// When set, `ReloadModels` needs `authorization: Bearer <token>`. Default none.
    pub admin_token: Option<String>,
    /// Address of the plain-HTTP Prometheus endpoint (`GET /metrics`). Default none (off).
    pub metrics_addr: Option<SocketAddr>,
    /// Serve TLS with this certificate and key. Default none (plaintext h2c).
    pub tls: Option<TlsPaths>,
    /// Reload when a model file in the models directory changes. Default true.
    pub watch_models: bool,
    /// Reload on SIGHUP (Unix). Default false: a library caller (a test) may not want a
    /// process-wide signal handler; the binary turns it on.
    pub reload_on_sighup: bool,
    /// Quiet time after the last file event before a watcher-triggered reload, so a file
    /// being copied in is read once, whole. Default 500 ms.
    pub watch_debounce: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: 16 * 1024 * 1024,
            max_text_chars: 100_000,
            max_quotations: 1_000,
            max_document_quotations: 1_000,
            max_concurrent_requests: 256,
            request_deadline: Duration::from_secs(30),
            stream_buffer: 16,
            shutdown_grace: Duration::from_secs(10),
            admin_token: None,
            metrics_addr: None,
            tls: None,
            watch_models: true,
            reload_on_sighup: false,
            watch_debounce: Duration::from_millis(500),
        }
    }
}

impl ServerConfig {
    /// Refuses a zero limit, naming it: none of them has a meaning at zero (no request
    /// could be served, or a channel could not be made), and reading zero as "unlimited"
    /// would silently take away the protection the limit is for.
    pub fn check(&self) -> crate::Result<()> {
        let counts = [
            ("max_message_bytes", self.max_message_bytes),
            ("max_text_chars", self.max_text_chars),
            ("max_quotations", self.max_quotations),
            ("max_document_quotations", self.max_document_quotations),
            ("max_concurrent_requests", self.max_concurrent_requests),
            ("stream_buffer", self.stream_buffer),
        ];
        let zero = counts.iter().find(|(_, v)| *v == 0).map(|(name, _)| *name);
        let zero = zero.or(self.request_deadline.is_zero().then_some("request_deadline"));
        match zero {
            Some(name) => Err(crate::Error::InvalidParam {
                name,
                message: "must be above 0: at 0 no request could be served (there is no unlimited \
                          setting; give a large value instead)"
                    .to_string(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zero_limit_is_refused_by_name_and_the_defaults_pass() {
        assert!(ServerConfig::default().check().is_ok());
        type Zero = fn(&mut ServerConfig);
        let zeroed: [(&str, Zero); 7] = [
            ("max_message_bytes", |c| c.max_message_bytes = 0),
            ("max_text_chars", |c| c.max_text_chars = 0),
            ("max_quotations", |c| c.max_quotations = 0),
            ("max_document_quotations", |c| c.max_document_quotations = 0),
            ("max_concurrent_requests", |c| c.max_concurrent_requests = 0),
            ("stream_buffer", |c| c.stream_buffer = 0),
            ("request_deadline", |c| c.request_deadline = Duration::ZERO),
        ];
        for (limit, zero) in zeroed {
            let mut c = ServerConfig::default();
            zero(&mut c);
            assert!(
                matches!(c.check(), Err(crate::Error::InvalidParam { name, .. }) if name == limit),
                "{limit}: {:?}",
                c.check()
            );
        }
    }
}
