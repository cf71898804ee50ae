//! The gRPC server: `stancer.v1.Stancer`, `grpc.health.v1.Health`, server reflection (v1
//! and v1alpha, since grpcurl 1.8 speaks only v1alpha), a Prometheus endpoint, model
//! reloads (RPC, file watcher, SIGHUP), limits, and graceful shutdown.
//!
//! [`serve`] is the one entry point, written as a library function over a bound listener
//! and a shutdown future so that tests run the real server in-process on `127.0.0.1:0`
//! and the binary only parses flags and waits for signals.

pub mod config;
pub mod metrics;
pub mod service;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

pub use config::{MAX_ID_BYTES, ServerConfig, TlsPaths};
pub use metrics::Metrics;
pub use service::{StancerService, status_from_error};

use crate::model::Task;
use crate::registry::{Registry, Snapshot, is_model_file};

/// Generated messages, client and server of `stancer.v1`, and its descriptor set.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("stancer.v1");

    /// Encoded `FileDescriptorSet` of `proto/stancer/v1`, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stancer_descriptor.bin"));
}

/// Keeps health SERVING while the scoring calls can be answered and NOT_SERVING while they
/// cannot, until shutdown. Every scoring call (ScoreQuotations, AnalyzeDocument, the items of
/// AnalyzeStream) needs a stance model and a sentiment model: with no model of either task
/// each one is NOT_FOUND, and a load balancer should send them elsewhere (one model of the
/// two had been SERVING). A model of each task will do, whatever its name, since a request
/// may name its models. ListModels and ReloadModels are answered either way (a reload is how
/// such a server gets its models back), but they are not what the server is for, so the
/// service's one status is that of its scoring calls; the overall status ("") is the same,
/// health and reflection having nothing to load. Polled each second, so that every way
/// models reload (watcher, SIGHUP, ReloadModels) is followed.
async fn health_follows_models(
    health: tonic_health::server::HealthReporter,
    registry: Arc<Registry>,
    mut serving: bool,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let missing = missing_task(&registry.snapshot());
        let now = missing.is_none();
        if *stop.borrow() || serving == now {
            continue;
        }
        if let Some(task) = missing {
            tracing::warn!(
                dir = %registry.dir().display(),
                "no {task} model loaded: health is NOT_SERVING until one is"
            );
        }
        serving = now;
        set_health(&health, if now { ServingStatus::Serving } else { ServingStatus::NotServing }).await;
    }
}

/// A task no model of `snap` does, if any: the scoring calls cannot be answered without one
/// of each.
fn missing_task(snap: &Snapshot) -> Option<Task> {
    [Task::Stance, Task::Sentiment].into_iter().find(|&task| !snap.models().any(|m| m.model.task() == task))
}

/// Sets the status of the service and of the server as a whole ("").
async fn set_health(health: &tonic_health::server::HealthReporter, status: ServingStatus) {
    health.set_service_status(SERVICE_NAME, status).await;
    health.set_service_status("", status).await;
}

/// The health-check name of the service.
pub const SERVICE_NAME: &str = "stancer.v1.Stancer";

/// Why the server could not start or stopped with an error. Each message says what was
/// being done; the cause is the error's `source()`, printed after it (`{:#}` in anyhow).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("server configuration")]
    Config(#[from] crate::Error),
    #[error("gRPC transport")]
    Transport(#[from] tonic::transport::Error),
    #[error("building the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("binding the metrics listener on {addr}")]
    MetricsBind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("reading TLS {what} {}", path.display())]
    Tls {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("installing the SIGHUP handler")]
    Signal(#[source] std::io::Error),
    #[error("watching the models directory {}", dir.display())]
    Watch {
        dir: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting connections,
/// lets in-flight calls finish for up to `config.shutdown_grace`, and returns `Ok`.
/// Open `AnalyzeStream`s stop reading new items at shutdown and end once their pending
/// replies are sent. Health turns NOT_SERVING as soon as shutdown begins, so a load
/// balancer stops sending new work.
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Registry>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    config.check()?;
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);

    let (health, health_service) = tonic_health::server::health_reporter();
    let missing = missing_task(&registry.snapshot());
    if let Some(task) = missing {
        tracing::warn!(dir = %registry.dir().display(), "no {task} model loaded: health is NOT_SERVING until one is");
    }
    let serving = missing.is_none();
    set_health(&health, if serving { ServingStatus::Serving } else { ServingStatus::NotServing }).await;
    tokio::spawn(health_follows_models(health.clone(), registry.clone(), serving, stop_rx.clone()));

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    if let Some(addr) = config.metrics_addr {
        let l = TcpListener::bind(addr).await.map_err(|source| ServerError::MetricsBind { addr, source })?;
        tracing::info!(addr = %l.local_addr().unwrap_or(addr), "metrics listening (GET /metrics)");
        tokio::spawn(metrics::serve_http(l, metrics.clone(), registry.clone(), stop_rx.clone()));
    }

    #[cfg(unix)]
    if config.reload_on_sighup {
        reload_on_sighup(registry.clone(), Some(metrics.clone()), stop_rx.clone()).map_err(ServerError::Signal)?;
    }

    // Kept alive for the life of the server: dropping it stops the watching.
    let _watcher = if config.watch_models {
        Some(watch_models(registry.clone(), metrics.clone(), config.watch_debounce)?)
    } else {
        None
    };

    let service = StancerService::new(registry.clone(), config.clone(), metrics.clone(), stop_rx.clone());
    let stancer = pb::stancer_server::StancerServer::new(service)
        .max_decoding_message_size(service::decoding_ceiling(&config))
        .max_encoding_message_size(config.max_message_bytes);

    let mut builder = Server::builder();
    if let Some(tls) = &config.tls {
        let read = |what, path: &PathBuf| {
            std::fs::read(path).map_err(|source| ServerError::Tls { what, path: path.clone(), source })
        };
        let identity = Identity::from_pem(read("certificate", &tls.cert)?, read("key", &tls.key)?);
        builder = builder.tls_config(ServerTlsConfig::new().identity(identity))?;
    }

    let local = listener.local_addr().ok();
    // TCP_NODELAY: replies are small and latency-bound; Nagle would hold them back.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (server_stop_tx, server_stop_rx) = oneshot::channel::<()>();
    let server = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(stancer)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = server_stop_rx.await;
        });
    tokio::pin!(server);
    let addr = local.map_or_else(|| "unknown".to_string(), |a| a.to_string());
    tracing::info!(%addr, models = registry.snapshot().len(), tls = config.tls.is_some(), "serving stancer.v1.Stancer");

    tokio::select! {
        r = &mut server => {
            let _ = stop_tx.send(true);
            return r.map_err(ServerError::from);
        }
        _ = shutdown => {}
    }

    tracing::info!(grace_secs = config.shutdown_grace.as_secs_f64(), "shutting down: finishing in-flight requests");
    // Stopped first, so that the models' health task no longer sets its status.
    let _ = stop_tx.send(true);
    set_health(&health, ServingStatus::NotServing).await;
    let _ = server_stop_tx.send(());
    match tokio::time::timeout(config.shutdown_grace, &mut server).await {
        Ok(r) => r?,
        Err(_) => tracing::warn!(
            grace_secs = config.shutdown_grace.as_secs_f64(),
            "grace period over; dropping the connections still open"
        ),
    }
    tracing::info!("server stopped");
    Ok(())
}

/// Reloads `registry` on a blocking thread and records it.
pub async fn reload(registry: Arc<Registry>, metrics: Option<Arc<Metrics>>) {
    let r = tokio::task::spawn_blocking(move || registry.reload()).await;
    match r {
        Ok(Ok(report)) => {
            if let Some(m) = metrics {
                m.observe_reload(report.failed.len());
            }
        }
        Ok(Err(e)) => tracing::error!(error = %e, "reload failed"),
        Err(e) => tracing::error!(error = %e, "reload task failed"),
    }
}

/// Watches the models directory and reloads after a change to a model file, once the
/// directory has been quiet for `debounce` (a copy in progress fires many events).
/// Events on non-model files (hidden temporaries of the atomic writer, other files) and
/// read-only accesses (including the reload's own reads) are ignored.
pub fn watch_models(
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    debounce: Duration,
) -> Result<notify::RecommendedWatcher, ServerError> {
    use notify::event::{AccessKind, AccessMode, EventKind};
    use notify::{RecursiveMode, Watcher};

    let dir = registry.dir().to_path_buf();
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(ev) => {
            let relevant = match ev.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                EventKind::Access(_) => false,
                _ => true,
            };
            if relevant && ev.paths.iter().any(|p| is_model_file(p)) {
                // Full means a reload is already pending: nothing to add.
                let _ = tx.try_send(());
            }
        }
        Err(e) => tracing::warn!(error = %e, "models directory watch error"),
    })
    .map_err(|source| ServerError::Watch { dir: dir.clone(), source })?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|source| ServerError::Watch { dir: dir.clone(), source })?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            loop {
                match tokio::time::timeout(debounce, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            tracing::info!("model files changed; reloading");
            reload(registry.clone(), Some(metrics.clone())).await;
        }
    });
    Ok(watcher)
}

/// Reloads `registry` on every SIGHUP (the usual "reload your configuration" signal;
/// `kill -HUP`) until `stop` turns true. Unix only.
#[cfg(unix)]
pub fn reload_on_sighup(
    registry: Arc<Registry>,
    metrics: Option<Arc<Metrics>>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                h = hup.recv() => if h.is_none() { return },
            }
            tracing::info!("SIGHUP: reloading models");
            reload(registry.clone(), metrics.clone()).await;
        }
    });
    Ok(())
}
