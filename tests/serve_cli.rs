//! `stancer serve` as a process: flags from `STANCER_*` environment variables, SIGHUP
//! reloads, SIGTERM stops it gracefully with exit status 0. Unix only (signals).
#![cfg(unix)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stancer::features::FeaturizerConfig;
use stancer::model::{self, Task};
use stancer::server::pb;
use stancer::server::pb::stancer_client::StancerClient;
use stancer::train::{DataInfo, Example, TrainConfig, train};

fn save_model(task: Task, path: &std::path::Path) {
    let rows: &[(&str, usize)] = match task {
        Task::Stance => &[("I support {t}", 0), ("I oppose {t}", 1), ("lunch at noon", 2)],
        Task::Sentiment => &[("happy great day", 0), ("the report is out", 1), ("sad awful mess", 2)],
    };
    let examples: Vec<Example> = (0..30)
        .map(|i| {
            let (text, label) = rows[i % 3];
            Example {
                id: i.to_string(),
                text: format!("{} {i}", text.replace("{t}", "Alpha")),
                target: Some("Alpha".into()),
                target_spans: vec![],
                label: Some(label),
            }
        })
        .collect();
    let mut cfg = TrainConfig::for_task(task, &task.to_string());
    cfg.featurizer = FeaturizerConfig { hash_bits: 12, ..cfg.featurizer };
    cfg.folds = 0;
    let t = train(&cfg, &examples, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap();
    model::save(&t.model, path).unwrap();
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_env_reloads_on_sighup_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    save_model(Task::Stance, &dir.path().join("stance.safetensors"));
    save_model(Task::Sentiment, &dir.path().join("sentiment.safetensors"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stancer"))
        .arg("serve")
        .env("STANCER_ADDR", format!("127.0.0.1:{port}"))
        .env("STANCER_MODELS", dir.path())
        .env("STANCER_MAX_QUOTATIONS", "2")
        .env("STANCER_LOG_FORMAT", "json")
        .env("STANCER_NO_WATCH", "true")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut c = loop {
        match StancerClient::connect(format!("http://127.0.0.1:{port}")).await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => {
                let _ = child.kill();
                panic!("server did not come up: {e}");
            }
        }
    };
    let q = |id: &str| pb::Quotation { id: id.into(), speaker: "Ann".into(), text: "I support Alpha".into() };
    let req = |n: usize| pb::ScoreQuotationsRequest {
        target: "Alpha".into(),
        quotations: (0..n).map(|i| q(&i.to_string())).collect(),
        ..Default::default()
    };
    c.score_quotations(req(2)).await.unwrap();
    // STANCER_MAX_QUOTATIONS=2 took effect.
    let e = c.score_quotations(req(3)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);

    signal(pid, "-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.score_quotations(req(1)).await.unwrap();
    signal(pid, "-TERM");

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("server did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    child.stdout.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(log.contains("SIGHUP: reloading models"), "{log}");
    assert!(log.contains("server stopped"), "{log}");
    assert!(log.lines().all(|l| l.starts_with('{')), "JSON log lines: {log}");
    // Fields as values, not Rust debug strings (`Some(127.0.0.1:1)`, `["a", "b"]`).
    assert!(log.contains(r#""loaded":"sentiment,stance""#) && !log.contains("Some("), "{log}");
}

/// A zero limit would serve nothing (or, for the stream buffer, fail on the first stream),
/// so it is refused at start as a usage error naming the flag, before anything is bound.
#[test]
fn zero_limits_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, env) in [
        ("--max-concurrent-requests", "STANCER_MAX_CONCURRENT_REQUESTS"),
        ("--request-deadline-secs", "STANCER_REQUEST_DEADLINE_SECS"),
        ("--stream-buffer", "STANCER_STREAM_BUFFER"),
        ("--max-quotations", "STANCER_MAX_QUOTATIONS"),
        ("--max-text-chars", "STANCER_MAX_TEXT_CHARS"),
        ("--max-message-bytes", "STANCER_MAX_MESSAGE_BYTES"),
        ("--max-document-quotations", "STANCER_MAX_DOCUMENT_QUOTATIONS"),
    ] {
        let run = |cmd: &mut Command| {
            let o = cmd.env("STANCER_MODELS", dir.path()).env("STANCER_ADDR", "127.0.0.1:0").output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert_eq!(o.status.code(), Some(2), "{flag}: {err}");
            assert!(err.contains(&format!("{flag}: must be above 0")), "{flag}: {err}");
        };
        run(Command::new(env!("CARGO_BIN_EXE_stancer")).args(["serve", flag, "0"]));
        run(Command::new(env!("CARGO_BIN_EXE_stancer")).arg("serve").env(env, "0"));
    }
}

/// Runs `stancer serve` with `args` and `env` and returns its exit code and stderr; killed
/// (and the test failed) if it has not exited within 10 s, as it would if it were serving.
fn serve_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stancer"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env("STANCER_MODELS", dir.path())
        .env("STANCER_ADDR", "127.0.0.1:0")
        .env("STANCER_NO_WATCH", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve {args:?} {env:?} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.code(), err)
}

/// A number of seconds that is not one (NaN), not finite, negative, or past what a
/// `Duration` holds is a usage error (exit 2) naming the flag, not a failure to run (1).
#[test]
fn bad_durations_are_usage_errors_naming_the_flag() {
    for (flag, env) in [
        ("--request-deadline-secs", "STANCER_REQUEST_DEADLINE_SECS"),
        ("--shutdown-grace-secs", "STANCER_SHUTDOWN_GRACE_SECS"),
    ] {
        for value in ["NaN", "nan", "inf", "-inf", "infinity", "-1", "-0.5", "1e300", "1e20"] {
            let (code, err) = serve_exit(&[&format!("{flag}={value}")], &[]);
            assert_eq!(code, Some(2), "{flag}={value}: {err}");
            assert!(err.contains(flag), "{flag}={value}: {err}");
            let (code, err) = serve_exit(&[], &[(env, value)]);
            assert_eq!(code, Some(2), "{env}={value}: {err}");
            assert!(err.contains(flag), "{env}={value}: {err}");
        }
    }
}
