//! Request counts and latency histograms per RPC, in the Prometheus text format, served
//! over plain HTTP on their own listener (so scraping never competes with gRPC traffic
//! for a connection, and needs no TLS client certificate).
//!
//! Counters are plain atomics indexed by (RPC, status code): recording costs a few
//! relaxed increments and no lock, which matters at tens of thousands of requests per
//! second. The HTTP side is a minimal HTTP/1.0 responder: one `GET`, one answer, close.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::registry::Registry;

/// What is measured: the five RPCs, and items of `AnalyzeStream` one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    ScoreQuotations,
    AnalyzeDocument,
    AnalyzeStream,
    /// One item of an `AnalyzeStream` (the stream itself is counted once, on its end).
    AnalyzeStreamItem,
    ListModels,
    ReloadModels,
}

const RPCS: [Rpc; 6] = [
    Rpc::ScoreQuotations,
    Rpc::AnalyzeDocument,
    Rpc::AnalyzeStream,
    Rpc::AnalyzeStreamItem,
    Rpc::ListModels,
    Rpc::ReloadModels,
];

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::ScoreQuotations => "ScoreQuotations",
            Rpc::AnalyzeDocument => "AnalyzeDocument",
            Rpc::AnalyzeStream => "AnalyzeStream",
            Rpc::AnalyzeStreamItem => "AnalyzeStream.item",
            Rpc::ListModels => "ListModels",
            Rpc::ReloadModels => "ReloadModels",
        }
    }
}

/// Upper bounds of the latency buckets, in seconds: 50 µs to 10 s.
const BUCKETS: [f64; 16] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// gRPC status codes 0..=16.
const CODES: usize = 17;

#[derive(Debug, Default)]
struct RpcStats {
    by_code: [AtomicU64; CODES],
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// All metrics of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    rpcs: [RpcStats; RPCS.len()],
    reloads_ok: AtomicU64,
    reloads_failed_files: AtomicU64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one finished call.
    pub fn observe(&self, rpc: Rpc, code: tonic::Code, elapsed: Duration) {
        let s = &self.rpcs[rpc as usize];
        let c = (code as usize).min(CODES - 1);
        s.by_code[c].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS.iter().position(|&le| secs <= le).unwrap_or(BUCKETS.len());
        s.buckets[b].fetch_add(1, Ordering::Relaxed);
        s.sum_nanos.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Starts measuring a call of `rpc`; see [`Call`].
    pub fn start(self: &Arc<Self>, rpc: Rpc) -> Call {
        Call { metrics: self.clone(), rpc, start: Instant::now(), finished: false }
    }

    /// Records a reload and how many files it refused.
    pub fn observe_reload(&self, failed_files: usize) {
        self.reloads_ok.fetch_add(1, Ordering::Relaxed);
        self.reloads_failed_files.fetch_add(failed_files as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, models_loaded: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP stancer_requests_total Finished gRPC calls by method and status code.\n");
        out.push_str("# TYPE stancer_requests_total counter\n");
        for rpc in RPCS {
            let s = &self.rpcs[rpc as usize];
            for (code, n) in s.by_code.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let code = format!("{:?}", tonic::Code::from_i32(code as i32));
                    let _ = writeln!(out, "stancer_requests_total{{rpc=\"{}\",code=\"{code}\"}} {n}", rpc.name());
                }
            }
        }
        out.push_str("# HELP stancer_request_duration_seconds Time from request to response, by method.\n");
        out.push_str("# TYPE stancer_request_duration_seconds histogram\n");
        for rpc in RPCS {
            let s = &self.rpcs[rpc as usize];
            let mut cumulative = 0u64;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "stancer_request_duration_seconds_bucket{{rpc=\"{}\",le=\"{le}\"}} {cumulative}",
                    rpc.name()
                );
            }
            cumulative += s.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let name = rpc.name();
            let sum = s.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "stancer_request_duration_seconds_bucket{{rpc=\"{name}\",le=\"+Inf\"}} {cumulative}\n\
                 stancer_request_duration_seconds_sum{{rpc=\"{name}\"}} {sum}\n\
                 stancer_request_duration_seconds_count{{rpc=\"{name}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP stancer_models_loaded Models serving now.\n\
             # TYPE stancer_models_loaded gauge\n\
             stancer_models_loaded {models_loaded}\n\
             # HELP stancer_reloads_total Reloads of the models directory.\n\
             # TYPE stancer_reloads_total counter\n\
             stancer_reloads_total {}\n\
             # HELP stancer_reload_refused_files_total Model files refused by reloads.\n\
             # TYPE stancer_reload_refused_files_total counter\n\
             stancer_reload_refused_files_total {}",
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed_files.load(Ordering::Relaxed)
        );
        out
    }
}

/// A call being measured: recorded with its code by [`Call::finish`], or as CANCELLED when
/// dropped unfinished. A call's future is dropped unfinished when the client's deadline
/// (`grpc-timeout`) passes, as tonic then answers CANCELLED ("Timeout expired") without
/// asking the service, or when the client cancels the call or closes its connection, or an
/// AnalyzeStream item is aborted because its client went away; such calls had gone
/// uncounted. They are all CANCELLED, the code tonic sends for a passed client deadline:
/// telling that apart from a cancel would take a timer of the server's own racing tonic's.
/// DEADLINE_EXCEEDED counts the server's own `request_deadline`.
#[must_use = "a call dropped unfinished is counted as CANCELLED"]
pub struct Call {
    metrics: Arc<Metrics>,
    rpc: Rpc,
    start: Instant,
    finished: bool,
}

impl Call {
    /// Records the call as answered with `code`.
    pub fn finish(mut self, code: tonic::Code) {
        self.finished = true;
        self.metrics.observe(self.rpc, code, self.start.elapsed());
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.finished {
            self.metrics.observe(self.rpc, tonic::Code::Cancelled, self.start.elapsed());
        }
    }
}

/// Serves `GET /metrics` on `listener` until `stop` turns true. Each connection gets 5 s
/// and 8 KiB to send its request line, then one response, then is closed.
pub async fn serve_http(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let conn = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            c = listener.accept() => c,
        };
        let (mut sock, _) = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "metrics accept failed");
                // Back off a little so a persistent error (out of file descriptors) does
                // not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        let registry = registry.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while n < buf.len() {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            n += k;
                            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n")
                                || buf[..n].windows(2).any(|w| w == b"\n\n")
                            {
                                break;
                            }
                        }
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let line = head.lines().next().unwrap_or("");
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, ctype, body) = if method == "GET" && (path == "/metrics" || path == "/") {
                ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.render(registry.snapshot().len()))
            } else {
                ("404 Not Found", "text/plain", "not found: try GET /metrics\n".to_string())
            };
            let resp = format!(
                "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::new();
        m.observe(Rpc::ScoreQuotations, tonic::Code::Ok, Duration::from_micros(80));
        m.observe(Rpc::ScoreQuotations, tonic::Code::Ok, Duration::from_millis(3));
        m.observe(Rpc::ScoreQuotations, tonic::Code::InvalidArgument, Duration::from_secs(99));
        let text = m.render(2);
        assert!(text.contains("stancer_requests_total{rpc=\"ScoreQuotations\",code=\"Ok\"} 2"));
        assert!(text.contains("stancer_requests_total{rpc=\"ScoreQuotations\",code=\"InvalidArgument\"} 1"));
        assert!(text.contains("stancer_request_duration_seconds_bucket{rpc=\"ScoreQuotations\",le=\"0.0001\"} 1"));
        assert!(text.contains("stancer_request_duration_seconds_bucket{rpc=\"ScoreQuotations\",le=\"0.005\"} 2"));
        assert!(text.contains("stancer_request_duration_seconds_bucket{rpc=\"ScoreQuotations\",le=\"+Inf\"} 3"));
        assert!(text.contains("stancer_request_duration_seconds_count{rpc=\"ScoreQuotations\"} 3"));
        assert!(text.contains("stancer_models_loaded 2"));
    }

    #[test]
    fn a_call_dropped_unfinished_counts_as_cancelled() {
        let m = Arc::new(Metrics::new());
        m.start(Rpc::AnalyzeDocument).finish(tonic::Code::OutOfRange);
        drop(m.start(Rpc::AnalyzeDocument));
        let text = m.render(0);
        assert!(text.contains("stancer_requests_total{rpc=\"AnalyzeDocument\",code=\"OutOfRange\"} 1"), "{text}");
        assert!(text.contains("stancer_requests_total{rpc=\"AnalyzeDocument\",code=\"Cancelled\"} 1"), "{text}");
        assert!(text.contains("stancer_request_duration_seconds_count{rpc=\"AnalyzeDocument\"} 2"), "{text}");
    }
}
