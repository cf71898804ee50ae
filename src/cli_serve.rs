//! `stancer serve`: flags (each also an environment variable `STANCER_*`), logging,
//! signals, then [`stancer::server::serve`]. Everything else lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use stancer::registry::Registry;
use stancer::server::{ServerConfig, TlsPaths};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

fn defaults() -> ServerConfig {
    ServerConfig::default()
}

/// Serve the gRPC API (stancer.v1.Stancer, health, reflection) over the models in a directory.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "STANCER_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: SocketAddr,
    /// Models directory: every NAME.safetensors in it is served as model NAME.
    #[arg(long, env = "STANCER_MODELS", default_value = "models")]
    pub models: PathBuf,
    /// Token that ReloadModels requires (`authorization: Bearer <token>`); open if unset.
    #[arg(long, env = "STANCER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Address of the Prometheus endpoint (plain HTTP, GET /metrics); off if unset.
    #[arg(long, env = "STANCER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// TLS certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "STANCER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert.
    #[arg(long, env = "STANCER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log format (the level comes from RUST_LOG, default info).
    #[arg(long, env = "STANCER_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// Largest request or response message, in bytes.
    #[arg(long, env = "STANCER_MAX_MESSAGE_BYTES", default_value_t = defaults().max_message_bytes)]
    pub max_message_bytes: usize,
    /// Longest text (quotation, document, target), in Unicode code points.
    #[arg(long, env = "STANCER_MAX_TEXT_CHARS", default_value_t = defaults().max_text_chars)]
    pub max_text_chars: usize,
    /// Most quotations in one ScoreQuotations request.
    #[arg(long, env = "STANCER_MAX_QUOTATIONS", default_value_t = defaults().max_quotations)]
    pub max_quotations: usize,
    /// Most quotations found in one AnalyzeDocument document; a document with more is
    /// refused RESOURCE_EXHAUSTED (not cut short).
    #[arg(long, env = "STANCER_MAX_DOCUMENT_QUOTATIONS", default_value_t = defaults().max_document_quotations)]
    pub max_document_quotations: usize,
    /// Most requests worked on at once; unary calls past it get RESOURCE_EXHAUSTED.
    #[arg(long, env = "STANCER_MAX_CONCURRENT_REQUESTS", default_value_t = defaults().max_concurrent_requests)]
    pub max_concurrent_requests: usize,
    /// Longest a unary call may take, in seconds (DEADLINE_EXCEEDED past it).
    #[arg(long, env = "STANCER_REQUEST_DEADLINE_SECS", default_value_t = defaults().request_deadline.as_secs_f64())]
    pub request_deadline_secs: f64,
    /// Unsent replies an AnalyzeStream may hold before the server stops reading it.
    #[arg(long, env = "STANCER_STREAM_BUFFER", default_value_t = defaults().stream_buffer)]
    pub stream_buffer: usize,
    /// Seconds a shutdown waits for in-flight requests.
    #[arg(long, env = "STANCER_SHUTDOWN_GRACE_SECS", default_value_t = defaults().shutdown_grace.as_secs_f64())]
    pub shutdown_grace_secs: f64,
    /// Do not reload when model files change (SIGHUP and ReloadModels still reload).
    #[arg(long, env = "STANCER_NO_WATCH")]
    pub no_watch: bool,
}

/// A flag's seconds as a `Duration`. NaN, infinities, negative values and values past what
/// a `Duration` holds are usage errors naming the flag (exit 2, as clap's own), not failures
/// to run (1). Large finite values are kept: the limits have no "unlimited" setting, and a
/// large value is how one is asked for.
fn secs(name: &str, v: f64) -> anyhow::Result<Duration> {
    match Duration::try_from_secs_f64(v) {
        Ok(d) => Ok(d),
        Err(_) => usage!("--{name} {v}: give a number of seconds from 0 to {:e}", Duration::MAX.as_secs_f64()),
    }
}

/// Runs the server until SIGTERM or SIGINT (graceful: in-flight requests finish), reloading
/// the models on SIGHUP, on a change in the models directory, and on ReloadModels.
pub async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or collector would get escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    // `try_init`: the rest of the binary may already have set up logging.
    let _ = match args.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };

    let config = ServerConfig {
        max_message_bytes: args.max_message_bytes,
        max_text_chars: args.max_text_chars,
        max_quotations: args.max_quotations,
        max_document_quotations: args.max_document_quotations,
        max_concurrent_requests: args.max_concurrent_requests,
        request_deadline: secs("request-deadline-secs", args.request_deadline_secs)?,
        stream_buffer: args.stream_buffer,
        shutdown_grace: secs("shutdown-grace-secs", args.shutdown_grace_secs)?,
        admin_token: args.admin_token.filter(|t| !t.is_empty()),
        metrics_addr: args.metrics_addr,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsPaths { cert, key }),
            _ => None,
        },
        watch_models: !args.no_watch,
        reload_on_sighup: true,
        ..ServerConfig::default()
    };
    if let Err(stancer::Error::InvalidParam { name, message }) = config.check() {
        let flag =
            if name == "request_deadline" { "request-deadline-secs".to_string() } else { name.replace('_', "-") };
        usage!("--{flag}: {message}");
    }

    let (registry, report) = Registry::open(&args.models).context("opening the models directory")?;
    for f in &report.failed {
        tracing::warn!(file = %f.file.display(), reason = %f.reason, "model not loaded");
    }
    if report.loaded.is_empty() {
        tracing::warn!(dir = %args.models.display(), "no model loaded: every scoring call will be NOT_FOUND until a reload");
    }
    let registry = Arc::new(registry);

    let listener = tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("binding {}", args.addr))?;
    stancer::server::serve(listener, registry, config, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
