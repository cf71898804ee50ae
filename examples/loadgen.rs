//! A bounded load client for `stancer serve`: single-quotation ScoreQuotations calls from
//! `--concurrency` tasks over `--connections` HTTP/2 connections, until `--requests`
//! calls are done or `--duration-secs` have passed, whichever comes first. Loopback only:
//! it refuses any other address, so it cannot be pointed at someone else's server.
//!
//! `cargo run --release --example loadgen -- --addr http://127.0.0.1:50051 --requests 20000 --concurrency 32 --duration-secs 30`

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use stancer::server::pb::stancer_client::StancerClient;
use stancer::server::pb::{Quotation, ScoreQuotationsRequest};
use tonic::transport::Endpoint;

#[derive(Debug, Parser)]
struct Args {
    /// Server URI; must resolve to a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Stop after this many calls.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// HTTP/2 connections the calls are spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Stop after this long, even if fewer calls were made.
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// Stance target sent with every call.
    #[arg(long, default_value = "Climate Change")]
    target: String,
    /// Quotation text sent with every call.
    #[arg(
        long,
        default_value = "We must act on climate change now, the evidence is overwhelming and the cost of waiting is terrible."
    )]
    text: String,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let uri: tonic::transport::Uri = args.addr.parse()?;
    let host = uri.host().ok_or("--addr needs a host")?;
    let port = uri.port_u16().unwrap_or(80);
    let resolved: Vec<_> = (host.trim_matches(['[', ']']), port).to_socket_addrs()?.collect();
    if resolved.is_empty() || !resolved.iter().all(|a| a.ip().is_loopback()) {
        return Err(format!("refusing {}: loopback addresses only", args.addr).into());
    }
    let duration = Duration::from_secs(args.duration_secs.clamp(1, 600));
    let mut clients = Vec::new();
    for _ in 0..args.connections.max(1) {
        let ch = Endpoint::from_shared(args.addr.clone())?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .connect()
            .await?;
        clients.push(StancerClient::new(ch));
    }
    let req = ScoreQuotationsRequest {
        target: args.target.clone(),
        quotations: vec![Quotation { id: "q".into(), speaker: "Speaker".into(), text: args.text.clone() }],
        ..Default::default()
    };
    // Warm-up (connections, server caches), not counted.
    clients[0].clone().score_quotations(req.clone()).await?;

    let issued = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..args.concurrency.max(1) {
        let mut c = clients[t % clients.len()].clone();
        let req = req.clone();
        let issued = issued.clone();
        let errors = errors.clone();
        let total = args.requests;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < total && start.elapsed() < duration {
                let t0 = Instant::now();
                match c.score_quotations(req.clone()).await {
                    Ok(_) => lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("error: {e}");
                        }
                    }
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let ok = all.len();
    println!(
        "{ok} ok, {} errors in {elapsed:.2} s: {:.0} req/s; latency ms p50 {:.3} p90 {:.3} p99 {:.3} max {:.3} (concurrency {}, connections {})",
        errors.load(Ordering::Relaxed),
        ok as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
        args.concurrency,
        args.connections,
    );
    Ok(())
}
