//! The real server, in-process on 127.0.0.1:0, over real models trained here on a few
//! dozen rows, called with the generated tonic client. Every loop is bounded in count and
//! in time; everything stays on loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use stancer::features::FeaturizerConfig;
use stancer::model::{self, Task};
use stancer::registry::Registry;
use stancer::server::pb::stancer_client::StancerClient;
use stancer::server::pb::{self, analyze_stream_request, analyze_stream_response};
use stancer::server::{ServerConfig, ServerError, serve};
use stancer::train::{DataInfo, Example, TrainConfig, train};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

const STANCE_ROWS: &[(&str, usize)] = &[
    ("I fully support {t}, great plan", 0),
    ("{t} is right and I back it", 0),
    ("we should vote for {t} today", 0),
    ("I oppose {t}, it is a disaster", 1),
    ("{t} is wrong and dangerous", 1),
    ("never vote for {t}, terrible", 1),
    ("the meeting is at noon on tuesday", 2),
    ("weather report: rain in the north", 2),
    ("the train leaves from platform nine", 2),
];

const SENTIMENT_ROWS: &[(&str, usize)] = &[
    ("a wonderful, happy, excellent day", 0),
    ("great success and lovely results", 0),
    ("I am delighted and grateful", 0),
    ("the report was published on monday", 1),
    ("the committee met in the hall", 1),
    ("figures are released every quarter", 1),
    ("an awful, sad, terrible failure", 2),
    ("horrible news and bitter anger", 2),
    ("a disgraceful and shameful mess", 2),
];

fn examples(rows: &[(&str, usize)], targets: &[&str]) -> Vec<Example> {
    let mut out = Vec::new();
    for (ti, t) in targets.iter().enumerate() {
        for rep in 0..3 {
            for (i, (text, label)) in rows.iter().enumerate() {
                out.push(Example {
                    id: format!("{ti}-{rep}-{i}"),
                    text: format!("{} {}", text.replace("{t}", t), ["", "indeed", "really"][rep]),
                    target: Some(t.to_string()),
                    target_spans: vec![],
                    label: Some(*label),
                });
            }
        }
    }
    out
}

fn trained(task: Task, name: &str, seed: u64) -> Vec<u8> {
    let (rows, targets): (&[(&str, usize)], &[&str]) = match task {
        Task::Stance => (STANCE_ROWS, &["Alpha", "Beta"]),
        Task::Sentiment => (SENTIMENT_ROWS, &["someone"]),
    };
    let mut cfg = TrainConfig::for_task(task, name);
    cfg.featurizer = FeaturizerConfig { hash_bits: 14, ..cfg.featurizer };
    cfg.folds = 3;
    cfg.seed = seed;
    let t = train(&cfg, &examples(rows, targets), None, &DataInfo::default(), "2026-01-01T00:00:00Z", &|_, _, _| {})
        .expect("training the test model");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    model::save(&t.model, &p).unwrap();
    std::fs::read(&p).unwrap()
}

/// Model files, trained once per test binary: (stance, sentiment, another stance).
fn model_bytes() -> &'static (Vec<u8>, Vec<u8>, Vec<u8>) {
    static M: OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = OnceLock::new();
    M.get_or_init(|| {
        (
            trained(Task::Stance, "stance", 42),
            trained(Task::Sentiment, "sentiment", 42),
            trained(Task::Stance, "stance", 7),
        )
    })
}

fn write_models(dir: &Path) {
    let (st, se, _) = model_bytes();
    std::fs::write(dir.join("stance.safetensors"), st).unwrap();
    std::fs::write(dir.join("sentiment.safetensors"), se).unwrap();
}

struct TestServer {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), ServerError>>,
}

impl TestServer {
    async fn start(config: ServerConfig) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        write_models(dir.path());
        let (registry, report) = Registry::open(dir.path()).unwrap();
        assert_eq!(report.loaded, ["sentiment", "stance"], "{report:?}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(listener, Arc::new(registry), config, async {
            let _ = rx.await;
        }));
        let srv = TestServer { addr, dir, stop: Some(stop), handle };
        // The listener accepts before `serve` runs; one answered call means the server
        // (and its file watcher) is fully up.
        srv.client().await.list_models(pb::ListModelsRequest {}).await.expect("server answers");
        srv
    }

    async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .connect()
            .await
            .unwrap()
    }

    /// A channel whose receive windows are large enough that big replies (1,000
    /// quotations with features) are not held back by flow control: hyper's graceful
    /// shutdown does not wait for a reply the client is slow to accept.
    async fn channel_with_big_windows(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .initial_stream_window_size(Some(8 << 20))
            .initial_connection_window_size(Some(32 << 20))
            .connect()
            .await
            .unwrap()
    }

    async fn client(&self) -> StancerClient<Channel> {
        StancerClient::new(self.channel().await)
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("server stops within 20 s")
            .unwrap()
            .expect("serve returns Ok");
    }
}

fn q(id: &str, speaker: &str, text: &str) -> pb::Quotation {
    pb::Quotation { id: id.into(), speaker: speaker.into(), text: text.into() }
}

fn score_req(target: &str, quotations: Vec<pb::Quotation>) -> pb::ScoreQuotationsRequest {
    pb::ScoreQuotationsRequest { target: target.into(), quotations, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_quotations_and_rolls_up_per_speaker() {
    let srv = TestServer::start(ServerConfig::default()).await;
    let mut c = srv.client().await;
    let mut req = score_req(
        "Alpha",
        vec![
            q("q1", "Ann Lee", "I fully support Alpha, a wonderful plan"),
            q("q2", "Bob", "Alpha is wrong and dangerous, terrible"),
            q("q3", " ann lee", "we should vote for Alpha"),
            q("q4", "Ann Lee", "Alpha is right and I back it"),
        ],
    );
    req.explain = 3;
    let r = c.score_quotations(req).await.unwrap().into_inner();
    assert_eq!(r.target, "Alpha");
    let sha = &r.stance_model.as_ref().unwrap().sha256;
    assert_eq!(sha, &model::file_digest(&model_bytes().0));
    assert_eq!(r.quotations.len(), 4);
    let ids: Vec<&str> = r.quotations.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, ["q1", "q2", "q3", "q4"]);
    for x in &r.quotations {
        let st = x.stance.as_ref().unwrap();
        assert_eq!(st.head, "Alpha");
        assert!(!st.pooled);
        assert_eq!(st.probabilities.len(), 3);
        let sum: f32 = st.probabilities.iter().map(|p| p.probability).sum();
        assert!((sum - 1.0).abs() < 1e-4);
        assert_eq!(st.top_features.len(), 3);
        assert_eq!(x.sentiment.as_ref().unwrap().probabilities.len(), 3);
    }
    assert_eq!(r.quotations[0].stance.as_ref().unwrap().label, "favor");
    assert_eq!(r.quotations[1].stance.as_ref().unwrap().label, "against");
    assert_eq!(r.quotations[2].speaker, "ann lee");

    assert_eq!(r.speakers.len(), 2);
    let ann = &r.speakers[0];
    assert_eq!(ann.speaker, "Ann Lee");
    assert_eq!(ann.quote_count, 3);
    assert_eq!(ann.quote_ids, ["q1", "q3", "q4"]);
    assert_eq!(ann.aliases, ["Ann Lee", "ann lee"]);
    assert_eq!(ann.stance.as_ref().unwrap().label, "favor");
    // The roll-up is the mean of the per-quote probability vectors.
    let mean_favor: f32 =
        [0, 2, 3].iter().map(|&i| r.quotations[i].stance.as_ref().unwrap().probabilities[0].probability).sum::<f32>()
            / 3.0;
    let got = ann.stance.as_ref().unwrap().probabilities[0].probability;
    assert!((got - mean_favor).abs() < 1e-5, "{got} vs {mean_favor}");
    assert_eq!(r.speakers[1].speaker, "Bob");
    assert_eq!(r.speakers[1].stance.as_ref().unwrap().label, "against");

    // A target the stance model never saw is answered by the pooled head, and says so.
    let r = c
        .score_quotations(score_req("Gamma", vec![q("x", "Cy", "I oppose Gamma, it is a disaster")]))
        .await
        .unwrap()
        .into_inner();
    let st = r.quotations[0].stance.as_ref().unwrap();
    assert!(st.pooled);
    assert_eq!(st.head, "(pooled)");
    assert!(st.top_features.is_empty());
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_names_the_field_or_limit() {
    let srv =
        TestServer::start(ServerConfig { max_text_chars: 50, max_quotations: 3, ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let ok = || q("a", "Ann", "I support Alpha");

    let e = c.score_quotations(score_req("Alpha", vec![ok(), q("b", "Bob", "  ")])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("quotations[1].text"), "{}", e.message());

    let e = c.score_quotations(score_req("Alpha", vec![ok(), ok(), q("c", "", "hello")])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("quotations[2].speaker"), "{}", e.message());

    let long = "word ".repeat(20);
    let e = c.score_quotations(score_req("Alpha", vec![q("a", "Ann", &long)])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("quotations[0].text"), "{}", e.message());
    assert!(e.message().contains("max_text_chars"), "{}", e.message());

    let e = c.score_quotations(score_req("Alpha", vec![ok(), ok(), ok(), ok()])).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("max_quotations"), "{}", e.message());

    let e = c.score_quotations(score_req("", vec![ok()])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("target"), "{}", e.message());

    let mut req = score_req("Alpha", vec![ok()]);
    req.stance_model = "nope".into();
    let e = c.score_quotations(req).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // The names the client could use instead, and nothing of the server's file layout.
    let m = e.message();
    assert!(m.contains("stance_model: unknown model \"nope\"") && m.contains("serves: "), "{m}");
    assert!(m.contains("sentiment") && !m.contains(srv.dir.path().to_str().unwrap()), "{m}");
    // A name too long to echo whole in a header is cut short.
    let mut req = score_req("Alpha", vec![ok()]);
    req.stance_model = "z".repeat(20_000);
    let e = c.score_quotations(req).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    assert!(e.message().contains(&format!("\"{}\"...", "z".repeat(100))), "{}", e.message());

    let mut req = score_req("Alpha", vec![ok()]);
    req.stance_model = "sentiment".into();
    let e = c.score_quotations(req).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("stance_model"), "{}", e.message());

    for text in ["", " \n\t "] {
        let e = c
            .analyze_document(pb::AnalyzeDocumentRequest {
                text: text.into(),
                target: "Alpha".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("text"), "{}", e.message());
    }
    let e = c
        .analyze_document(pb::AnalyzeDocumentRequest {
            text: "\"Alpha is great,\" said Ann.".into(),
            target: "Alpha".into(),
            offset_unit: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("offset_unit"), "{}", e.message());

    // Unauthenticated reload is tested with a token below; without a token configured the
    // reload is open.
    let r = c.reload_models(pb::ReloadModelsRequest {}).await.unwrap().into_inner();
    assert_eq!(r.loaded, ["sentiment", "stance"]);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_models_and_token_guarded_reload() {
    let srv = TestServer::start(ServerConfig { admin_token: Some("s3cret".into()), ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let models = c.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models;
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["sentiment", "stance"]);
    let st = &models[1];
    assert_eq!(st.task, "stance");
    assert_eq!(st.labels, ["favor", "against", "none"]);
    assert_eq!(st.heads, ["Alpha", "Beta", "(pooled)"]);
    assert_eq!(st.sha256, model::file_digest(&model_bytes().0));
    let m = st.metrics.as_ref().expect("cross-validated metrics");
    assert!(m.accuracy > 0.5 && m.f_avg.is_some(), "{m:?}");
    assert_eq!(models[0].task, "sentiment");

    let e = c.reload_models(pb::ReloadModelsRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut req = Request::new(pb::ReloadModelsRequest {});
    req.metadata_mut().insert("authorization", "Bearer wrong".parse().unwrap());
    assert_eq!(c.reload_models(req).await.unwrap_err().code(), Code::Unauthenticated);
    let mut req = Request::new(pb::ReloadModelsRequest {});
    req.metadata_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
    let r = c.reload_models(req).await.unwrap().into_inner();
    assert_eq!(r.loaded, ["sentiment", "stance"]);
    assert!(r.failed.is_empty() && r.removed.is_empty());
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_not_serving_while_no_model_is_loaded() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let srv = TestServer::start(ServerConfig { watch_models: false, ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let mut h = HealthClient::new(srv.channel().await);
    let mut becomes = async |want: ServingStatus| health_becomes(&mut h, want).await;
    becomes(ServingStatus::Serving).await;
    for name in ["stance", "sentiment"] {
        std::fs::remove_file(srv.dir.path().join(format!("{name}.safetensors"))).unwrap();
    }
    c.reload_models(pb::ReloadModelsRequest {}).await.unwrap();
    becomes(ServingStatus::NotServing).await;
    let e = c.score_quotations(score_req("Alpha", vec![q("a", "Ann", "I support Alpha")])).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("this server has no model loaded"), "{}", e.message());
    write_models(srv.dir.path());
    c.reload_models(pb::ReloadModelsRequest {}).await.unwrap();
    becomes(ServingStatus::Serving).await;
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_v1_and_v1alpha() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let srv = TestServer::start(ServerConfig::default()).await;
    let ch = srv.channel().await;
    let mut h = HealthClient::new(ch.clone());
    for service in ["", "stancer.v1.Stancer"] {
        let r = h.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }

    {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut r = ServerReflectionClient::new(ch.clone());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = r.server_reflection_info(tokio_stream::iter([req])).await.unwrap().into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected reflection response {resp:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for want in ["stancer.v1.Stancer", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
    }
    {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let mut r = ServerReflectionClient::new(ch.clone());
        let reqs = [
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            },
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::FileContainingSymbol("stancer.v1.Stancer".into())),
            },
        ];
        let mut stream = r.server_reflection_info(tokio_stream::iter(reqs)).await.unwrap().into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected reflection response {resp:?}");
        };
        assert!(list.service.iter().any(|s| s.name == "stancer.v1.Stancer"));
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::FileDescriptorResponse(fd)) = resp.message_response else {
            panic!("unexpected reflection response {resp:?}");
        };
        assert!(!fd.file_descriptor_proto.is_empty());
    }

    // Health turns NOT_SERVING... only observable during shutdown; the server stops cleanly.
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_stream_answers_each_item_and_survives_bad_ones() {
    let srv = TestServer::start(ServerConfig { stream_buffer: 2, ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let n = 60usize;
    let items: Vec<pb::AnalyzeStreamRequest> = (0..n)
        .map(|i| {
            let request = match i % 10 {
                3 => {
                    Some(analyze_stream_request::Request::ScoreQuotations(score_req("Alpha", vec![q("a", "Ann", "")])))
                }
                5 => None,
                7 => Some(analyze_stream_request::Request::AnalyzeDocument(pb::AnalyzeDocumentRequest {
                    text: "\"Yes,\" said Ann.".into(),
                    target: "Alpha".into(),
                    ..Default::default()
                })),
                _ => Some(analyze_stream_request::Request::ScoreQuotations(score_req(
                    "Beta",
                    vec![q(&format!("q{i}"), "Ann", "I oppose Beta, it is a disaster")],
                ))),
            };
            pb::AnalyzeStreamRequest { request_id: format!("r{i}"), request }
        })
        .collect();
    let mut replies = c.analyze_stream(tokio_stream::iter(items)).await.unwrap().into_inner();
    let mut got = 0usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(r) =
        tokio::time::timeout_at(deadline.into(), replies.message()).await.expect("stream answers within 20 s").unwrap()
    {
        assert_eq!(r.request_id, format!("r{got}"), "replies come in request order");
        match (got % 10, r.result.unwrap()) {
            (3, analyze_stream_response::Result::Error(e)) => {
                assert_eq!(e.code, Code::InvalidArgument as i32);
                assert!(e.message.contains("quotations[0].text"), "{}", e.message);
            }
            (5, analyze_stream_response::Result::Error(e)) => {
                assert_eq!(e.code, Code::InvalidArgument as i32);
            }
            (7, analyze_stream_response::Result::AnalyzeDocument(d)) => {
                assert_eq!(d.quotes.len(), 1, "{d:?}");
                assert_eq!(d.quotes[0].speaker, "Ann");
                assert_eq!(d.speakers[0].quote_ids, ["q1"]);
            }
            (_, analyze_stream_response::Result::ScoreQuotations(s)) => {
                assert_eq!(s.quotations[0].id, format!("q{got}"));
                assert_eq!(s.speakers[0].quote_count, 1);
            }
            (i, other) => panic!("item {got} ({i}): unexpected {other:?}"),
        }
        got += 1;
    }
    assert_eq!(got, n);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_fails_no_request() {
    let srv = TestServer::start(ServerConfig::default()).await;
    let ch = srv.channel().await;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let mut c = StancerClient::new(ch.clone());
        tasks.push(tokio::spawn(async move {
            let mut shas = std::collections::HashSet::new();
            for i in 0..200 {
                let r = c
                    .score_quotations(score_req("Alpha", vec![q(&format!("{t}-{i}"), "Ann", "I fully support Alpha")]))
                    .await
                    .unwrap_or_else(|e| panic!("request {t}-{i} failed during reload: {e}"))
                    .into_inner();
                shas.insert(r.stance_model.unwrap().sha256);
            }
            shas
        }));
    }
    // Five reloads, alternating two different stance models on disk, while the clients run.
    let mut c = StancerClient::new(ch.clone());
    let (st, _, st2) = model_bytes();
    for k in 0..5 {
        let bytes = if k % 2 == 0 { st2 } else { st };
        let tmp = srv.dir.path().join(".stance.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, srv.dir.path().join("stance.safetensors")).unwrap();
        let r = c.reload_models(pb::ReloadModelsRequest {}).await.unwrap().into_inner();
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut seen = std::collections::HashSet::new();
    for t in tasks {
        let shas = tokio::time::timeout(Duration::from_secs(60), t).await.expect("clients finish within 60 s").unwrap();
        seen.extend(shas);
    }
    assert!(!seen.is_empty() && seen.len() <= 2, "{seen:?}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_model_file_is_refused_and_old_model_keeps_serving() {
    let srv = TestServer::start(ServerConfig { watch_models: false, ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let good_sha = model::file_digest(&model_bytes().0);
    let (st, _, _) = model_bytes();
    // Truncated: as if a copy were caught half-way.
    std::fs::write(srv.dir.path().join("stance.safetensors"), &st[..st.len() / 2]).unwrap();
    std::fs::write(srv.dir.path().join("broken.safetensors"), b"not a model").unwrap();
    let r = c.reload_models(pb::ReloadModelsRequest {}).await.unwrap().into_inner();
    let mut failed: Vec<&str> = r.failed.iter().map(|f| f.file.as_str()).collect();
    failed.sort();
    // Named as in the models directory, without the server's path to it.
    assert_eq!(failed, ["broken.safetensors", "stance.safetensors"], "{:?}", r.failed);
    assert!(r.failed.iter().all(|f| !f.reason.is_empty()));
    assert_eq!(r.loaded, ["sentiment"]);
    let names: Vec<&str> = r.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["sentiment", "stance"]);

    let r = c
        .score_quotations(score_req("Alpha", vec![q("a", "Ann", "I fully support Alpha")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.stance_model.unwrap().sha256, good_sha);

    // A model of another task copied over a served name would fail every request for it:
    // refused, the stance model keeps serving.
    std::fs::remove_file(srv.dir.path().join("broken.safetensors")).unwrap();
    std::fs::write(srv.dir.path().join("stance.safetensors"), &model_bytes().1).unwrap();
    let r = c.reload_models(pb::ReloadModelsRequest {}).await.unwrap().into_inner();
    assert_eq!(r.failed.len(), 1, "{:?}", r.failed);
    assert!(
        r.failed[0].reason.contains("it is a sentiment model, and \"stance\" serves a stance model"),
        "{:?}",
        r.failed
    );
    let r = c.score_quotations(score_req("Alpha", vec![q("a", "Ann", "I support Alpha")])).await.unwrap();
    assert_eq!(r.into_inner().stance_model.unwrap().sha256, good_sha);

    // A deleted file drops its model.
    std::fs::remove_file(srv.dir.path().join("sentiment.safetensors")).unwrap();
    let r = c.reload_models(pb::ReloadModelsRequest {}).await.unwrap().into_inner();
    assert_eq!(r.removed, ["sentiment"]);
    let e = c.score_quotations(score_req("Alpha", vec![q("a", "Ann", "I fully support Alpha")])).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // A models directory that cannot be read fails the reload without telling the caller
    // where it is on the server; the models loaded keep serving.
    let (dir, away) = (srv.dir.path().to_path_buf(), srv.dir.path().with_extension("away"));
    std::fs::rename(&dir, &away).unwrap();
    let e = c.reload_models(pb::ReloadModelsRequest {}).await.unwrap_err();
    std::fs::rename(&away, &dir).unwrap();
    assert_eq!(e.code(), Code::Internal);
    assert!(e.message().contains("the models directory could not be read"), "{}", e.message());
    assert!(!e.message().contains(dir.to_str().unwrap()), "{}", e.message());
    let models = c.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models;
    assert_eq!(
        models.iter().map(|m| (m.name.as_str(), m.sha256.as_str())).collect::<Vec<_>>(),
        [("stance", &*good_sha)]
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_watcher_reloads_a_new_model() {
    let srv =
        TestServer::start(ServerConfig { watch_debounce: Duration::from_millis(100), ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    std::fs::write(srv.dir.path().join("stance2.safetensors"), &model_bytes().2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let models = c.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models;
        if models.iter().any(|m| m.name == "stance2") {
            break;
        }
        assert!(Instant::now() < deadline, "watcher did not reload within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut req = score_req("Alpha", vec![q("a", "Ann", "I fully support Alpha")]);
    req.stance_model = "stance2".into();
    c.score_quotations(req).await.unwrap();
    srv.shutdown().await;
}

/// The Prometheus text of the server's metrics endpoint at `addr`.
async fn scrape(addr: SocketAddr) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap()
}

fn free_port_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_counts_requests() {
    let maddr = free_port_addr();
    let srv = TestServer::start(ServerConfig { metrics_addr: Some(maddr), ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    for _ in 0..3 {
        c.score_quotations(score_req("Alpha", vec![q("a", "Ann", "I fully support Alpha")])).await.unwrap();
    }
    let _ = c.score_quotations(score_req("Alpha", vec![])).await;
    let body = scrape(maddr).await;
    assert!(body.starts_with("HTTP/1.0 200 OK"), "{body}");
    assert!(body.contains("stancer_requests_total{rpc=\"ScoreQuotations\",code=\"Ok\"} 4"), "{body}");
    assert!(body.contains("stancer_request_duration_seconds_count{rpc=\"ScoreQuotations\"} 4"));
    assert!(body.contains("stancer_models_loaded 2"));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_complete() {
    let srv =
        TestServer::start(ServerConfig { shutdown_grace: Duration::from_secs(15), ..ServerConfig::default() }).await;
    let ch = srv.channel_with_big_windows().await;
    let text = "I fully support Alpha, a great plan, and we should vote for it today ".repeat(4);
    let mut calls = Vec::new();
    for t in 0..6 {
        let mut c = StancerClient::new(ch.clone());
        let quotations: Vec<pb::Quotation> =
            (0..1000).map(|i| q(&format!("{t}-{i}"), &format!("S{}", i % 7), &text)).collect();
        let mut req = score_req("Alpha", quotations);
        req.explain = 10;
        calls.push(tokio::spawn(async move { c.score_quotations(req).await }));
    }
    // Let the requests reach the server, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let in_flight = calls.iter().filter(|c| !c.is_finished()).count();
    assert!(in_flight > 0, "requests finished before shutdown: the test proves nothing");
    let started = Instant::now();
    let addr = srv.addr;
    srv.shutdown().await;
    let mut done = 0;
    for call in calls {
        let r = call.await.unwrap().expect("in-flight request completes");
        assert_eq!(r.into_inner().quotations.len(), 1000);
        done += 1;
    }
    assert_eq!(done, 6);
    assert!(started.elapsed() < Duration::from_secs(15));
    // And the server no longer accepts connections.
    let again = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    assert!(again.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_stream_stops_reading_when_replies_are_not_read() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let srv = TestServer::start(ServerConfig { stream_buffer: 2, ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let total = 100usize;
    // Each item is ~100 KB and each reply ~200 KB, so the HTTP/2 windows in both
    // directions hold only a handful: what the client has been able to send is close to
    // what the server has read.
    let text = "I fully support Alpha and we should vote for it today, says the speaker. ".to_string();
    let pulled = Arc::new(AtomicUsize::new(0));
    let items = {
        let pulled = pulled.clone();
        tokio_stream::iter(0..total).map(move |i| {
            pulled.fetch_add(1, Ordering::Relaxed);
            pb::AnalyzeStreamRequest {
                request_id: i.to_string(),
                request: Some(analyze_stream_request::Request::ScoreQuotations(score_req(
                    "Alpha",
                    (0..1000).map(|j| q(&format!("{i}-{j}"), "Ann", &text)).collect(),
                ))),
            }
        })
    };
    use tokio_stream::StreamExt as _;
    let mut replies = c.analyze_stream(items).await.unwrap().into_inner();
    // Do not read for a while: the server must stop reading too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent_while_stalled = pulled.load(Ordering::Relaxed);
    assert!(sent_while_stalled < 50, "client could send {sent_while_stalled} of {total} items while no reply was read");
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(r) =
        tokio::time::timeout_at(deadline.into(), replies.message()).await.expect("stream answers within 60 s").unwrap()
    {
        assert_eq!(r.request_id, got.to_string());
        got += 1;
    }
    assert_eq!(got, total);
    eprintln!("items sent while replies were unread: {sent_while_stalled}");
    srv.shutdown().await;
}

/// A request of about 15 s of work on the 2-core machine this was written on (long texts,
/// every feature named for the explanations), for a server with max_quotations 10,000.
fn heavy_request() -> pb::ScoreQuotationsRequest {
    let text = "I fully support Alpha, a great plan, and we should vote for it today ".repeat(1400);
    let mut big = score_req("Alpha", (0..150).map(|i| q(&i.to_string(), "Ann", &text)).collect());
    big.explain = 50;
    big
}

/// Waits until a server with one slot takes a small request again (at most 5 s, on a
/// loaded machine), which it does once the heavy work that held the slot has stopped.
async fn slot_freed(c: &mut StancerClient<tonic::transport::Channel>, what: &str, started: Instant) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.score_quotations(score_req("Alpha", vec![q("a", "Ann", "I support Alpha")])).await {
            Ok(_) => break,
            Err(e) if e.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("{what} still held the slot: {e}"),
        }
    }
    eprintln!("{what}'s slot was free again after {:?}", started.elapsed());
}

/// Waits until heavy work holds the only slot, which refuses a small request then (on a
/// loaded machine the work may take a while to arrive), and returns that refusal.
async fn slot_taken(c: &mut StancerClient<tonic::transport::Channel>, what: &str) -> tonic::Status {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.score_quotations(score_req("Alpha", vec![q("a", "Ann", "I support Alpha")])).await {
            Err(e) if e.code() == Code::ResourceExhausted => return e,
            other => assert!(Instant::now() < deadline, "{what} never took the slot: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_and_deadline_limits() {
    // The message limit is left at its default, so that the slow request's answer would
    // fit: on a machine fast enough to finish it within the deadline, this test fails on
    // the deadline, not on the answer's size.
    let srv = TestServer::start(ServerConfig {
        max_concurrent_requests: 1,
        request_deadline: Duration::from_millis(100),
        max_quotations: 10_000,
        ..ServerConfig::default()
    })
    .await;
    let ch = srv.channel().await;
    // 150 times the deadline.
    let big = heavy_request();
    // One slow request holds the only slot; a second one is refused at once, naming the
    // limit; the slow one passes the deadline.
    let mut c1 = StancerClient::new(ch.clone());
    let started = Instant::now();
    let slow = tokio::spawn(async move { c1.score_quotations(big).await });
    let mut c = StancerClient::new(ch.clone());
    let e = slot_taken(&mut c, "the slow request").await;
    assert!(e.message().contains("max_concurrent_requests"), "{}", e.message());
    let e = slow.await.unwrap().unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e}");
    assert!(e.message().contains("request_deadline"), "{}", e.message());
    // The work past the deadline is given up at its next quotation, which frees the slot
    // (it had held it for the whole 15 s).
    slot_freed(&mut c, "the slow request", started).await;
    srv.shutdown().await;
}

/// A stream the client gives up stops its items' work, as a cancelled unary call does: the
/// slot the heavy item held is free again at once, not when its work would have ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_stream_gives_up_its_work() {
    let srv = TestServer::start(ServerConfig {
        max_concurrent_requests: 1,
        max_quotations: 10_000,
        ..ServerConfig::default()
    })
    .await;
    let ch = srv.channel().await;
    let item = pb::AnalyzeStreamRequest {
        request_id: "big".into(),
        request: Some(pb::analyze_stream_request::Request::ScoreQuotations(heavy_request())),
    };
    let mut c = StancerClient::new(ch.clone());
    let started = Instant::now();
    // The request stream stays open while the call lasts, as a client's would; giving up
    // drops both ends of the call, which resets it.
    let stream = tokio::spawn(async move {
        let (more, items) = tokio::sync::mpsc::channel(1);
        more.send(item).await.unwrap();
        let reply = c.analyze_stream(tokio_stream::wrappers::ReceiverStream::new(items)).await;
        let reply = reply.unwrap().into_inner().message().await;
        drop(more);
        reply
    });
    // Once the item holds the only slot, the client gives up.
    let mut c = StancerClient::new(ch.clone());
    slot_taken(&mut c, "the item").await;
    stream.abort();
    slot_freed(&mut c, "the cancelled stream's item", started).await;
    srv.shutdown().await;
}

/// A request of 16 KB whose answer is over 256 KiB (the explanations of 200 quotations).
fn wide_answer_request() -> pb::ScoreQuotationsRequest {
    let text = "I fully support Alpha, a great plan, and we should vote for it today";
    let mut wide = score_req("Alpha", (0..200).map(|i| q(&i.to_string(), "Ann", text)).collect());
    wide.explain = 50;
    wide
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_limits() {
    let srv = TestServer::start(ServerConfig { max_message_bytes: 256 * 1024, ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    // Over max_message_bytes: RESOURCE_EXHAUSTED naming the limit; far past it (over the
    // decoding ceiling of 4x) tonic refuses before decoding, with OUT_OF_RANGE.
    let huge = "x".repeat(300 * 1024);
    let e = c.score_quotations(score_req("Alpha", vec![q("a", "Ann", &huge)])).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    assert!(e.message().contains("max_message_bytes"), "{}", e.message());
    let e = c
        .analyze_document(pb::AnalyzeDocumentRequest {
            text: huge.clone(),
            target: "Alpha".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    let enormous = "x".repeat(1100 * 1024);
    let e = c.score_quotations(score_req("Alpha", vec![q("a", "Ann", &enormous)])).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e}");
    // A request within the limit whose answer is not (the explanations of every
    // quotation): OUT_OF_RANGE naming the limit, and in a stream for that item alone.
    let wide = wide_answer_request();
    assert!(prost::Message::encoded_len(&wide) < 256 * 1024);
    let e = c.score_quotations(wide.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e}");
    assert!(e.message().contains("max_message_bytes"), "{}", e.message());
    let item = |id: &str, r: pb::ScoreQuotationsRequest| pb::AnalyzeStreamRequest {
        request_id: id.into(),
        request: Some(pb::analyze_stream_request::Request::ScoreQuotations(r)),
    };
    let small = score_req("Alpha", vec![q("a", "Ann", "I support Alpha")]);
    let items = vec![item("1", small.clone()), item("2", wide), item("3", small)];
    let mut replies = c.analyze_stream(tokio_stream::iter(items)).await.unwrap().into_inner();
    let mut got = Vec::new();
    while let Some(r) = replies.message().await.unwrap() {
        let failed = match r.result {
            Some(pb::analyze_stream_response::Result::Error(e)) => Some(e.code),
            _ => None,
        };
        got.push((r.request_id, failed));
    }
    let out_of_range = Some(Code::OutOfRange as i32);
    assert_eq!(got, [("1".to_string(), None), ("2".to_string(), out_of_range), ("3".to_string(), None)]);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_inputs_are_answered_not_crashed_on() {
    let srv = TestServer::start(ServerConfig::default()).await;
    let mut c = srv.client().await;
    let long = "ab ".repeat(33_000);
    let odd = [
        "\u{0}\u{1}\u{7f}",
        "😀😀😀 🇫🇷 👩‍👩‍👧",
        "e\u{301}\u{301}\u{301}\u{301}",
        "\u{202e}reversed\u{202c} text",
        "İSTANBUL ǅ ß ﬃ",
        "\"“”‘’«»—–…",
        "http://example.com/a?b=c @user #tag can't won't",
        "\u{feff}\u{200b}\u{2028}\u{2029}x",
        long.as_str(),
    ];
    let quotations: Vec<pb::Quotation> =
        odd.iter().enumerate().map(|(i, t)| q(&i.to_string(), "\u{301}Ünïcödé 😀", t)).collect();
    let mut req = score_req("Alpha\u{0} 😀 İ", quotations);
    req.explain = u32::MAX;
    let r = c.score_quotations(req).await.unwrap().into_inner();
    assert_eq!(r.quotations.len(), odd.len());
    assert_eq!(r.speakers.len(), 1);
    for x in &r.quotations {
        assert!(x.stance.as_ref().unwrap().top_features.len() <= 50);
    }
    // The server is still there.
    c.list_models(pb::ListModelsRequest {}).await.unwrap();
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams_after_their_pending_replies() {
    let srv =
        TestServer::start(ServerConfig { shutdown_grace: Duration::from_secs(30), ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = c.analyze_stream(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    tx.send(pb::AnalyzeStreamRequest {
        request_id: "only".into(),
        request: Some(analyze_stream_request::Request::ScoreQuotations(score_req(
            "Alpha",
            vec![q("a", "Ann", "I fully support Alpha")],
        ))),
    })
    .await
    .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), replies.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.request_id, "only");
    // The client keeps its side open (`tx` alive); shutdown must still end the stream and
    // return long before the 30 s grace period.
    let started = Instant::now();
    srv.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let end = tokio::time::timeout(Duration::from_secs(10), replies.message()).await.expect("stream ends");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    drop(tx);
}

/// The article of the AnalyzeDocument tests: an emoji (two UTF-16 units, four bytes) and
/// curly quotes (three bytes each) ahead of the quotations, so the three offset units
/// all differ.
const ARTICLE: &str = "📰 City desk\n\n“Nothing is settled yet.”\n\nSenator Jane Doe said on Monday that the plan \
was “a disaster for working families.” Later, Doe called the bill “reckless.” “We will fight \
it,” she added. According to the mayor, the city supports the plan.";

fn document_req(unit: pb::OffsetUnit) -> pb::AnalyzeDocumentRequest {
    pb::AnalyzeDocumentRequest {
        text: ARTICLE.into(),
        target: "Alpha".into(),
        explain: 3,
        offset_unit: unit as i32,
        ..Default::default()
    }
}

/// The text of `seg` cut out of ARTICLE with its spans in `unit`, joined by a space.
fn slice(seg: &pb::TextSegment, unit: pb::OffsetUnit) -> String {
    let utf16: Vec<u16> = ARTICLE.encode_utf16().collect();
    let chars: Vec<char> = ARTICLE.chars().collect();
    let parts: Vec<String> = seg
        .spans
        .iter()
        .map(|s| {
            let (a, b) = (s.start as usize, s.end as usize);
            match unit {
                pb::OffsetUnit::Utf8Bytes => ARTICLE[a..b].to_string(),
                pb::OffsetUnit::Utf16Units => String::from_utf16(&utf16[a..b]).unwrap(),
                _ => chars[a..b].iter().collect(),
            }
        })
        .collect();
    parts.join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_document_finds_attributes_scores_and_rolls_up() {
    let srv = TestServer::start(ServerConfig::default()).await;
    let mut c = srv.client().await;
    let r = c.analyze_document(document_req(pb::OffsetUnit::Unspecified)).await.unwrap().into_inner();
    assert_eq!(r.target, "Alpha");
    assert_eq!(r.offset_unit, pb::OffsetUnit::CodePoints as i32, "UNSPECIFIED is reported as code points");
    assert_eq!(r.stance_model.as_ref().unwrap().name, "stance");
    assert_eq!(r.sentiment_model.as_ref().unwrap().name, "sentiment");
    let ids: Vec<&str> = r.quotes.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["q1", "q2", "q3", "q4", "q5"], "{r:#?}");
    let content = |i: usize| r.quotes[i].content.as_ref().unwrap().text.as_str();
    let cue = |i: usize| r.quotes[i].cue.as_ref().map(|c| c.text.as_str());

    // The opening quotation has no speaker in reach: returned, scored, flagged, in no verdict.
    let q1 = &r.quotes[0];
    assert_eq!(content(0), "“Nothing is settled yet.”");
    assert_eq!((q1.speaker.as_str(), q1.attributed, q1.kind), ("", false, pb::QuoteKind::Direct as i32));
    assert!(q1.source.is_none() && q1.stance.is_some() && q1.sentiment.is_some());
    assert!(r.speakers.iter().all(|v| !v.quote_ids.contains(&"q1".to_string())));

    // Jane Doe: full name with title, then surname, then pronoun; cue verbs kept.
    assert!(content(1).ends_with("“a disaster for working families.”"), "{}", content(1));
    assert!(content(2).ends_with("“reckless.”"), "{}", content(2));
    assert_eq!(content(3), "“We will fight it,”");
    assert_eq!([cue(1), cue(2), cue(3)], [Some("said"), Some("called"), Some("added")]);
    let sources: Vec<&str> = r.quotes[1..4].iter().map(|q| q.source.as_ref().unwrap().text.as_str()).collect();
    assert_eq!(sources, ["Senator Jane Doe", "Doe", "she"]);
    for q in &r.quotes[1..4] {
        assert_eq!((q.speaker.as_str(), q.attributed), ("Jane Doe", true), "{q:?}");
        assert!(q.confidence > 0.0 && q.confidence <= 1.0);
        let st = q.stance.as_ref().unwrap();
        assert_eq!(st.head, "Alpha");
        assert!(!st.top_features.is_empty() && st.top_features.len() <= 3);
        assert_eq!(q.sentiment.as_ref().unwrap().probabilities.len(), 3);
    }
    assert_eq!(
        r.quotes[1..4].iter().map(|q| q.kind).collect::<Vec<_>>(),
        [pb::QuoteKind::Mixed as i32, pb::QuoteKind::Mixed as i32, pb::QuoteKind::Direct as i32]
    );
    // Reported speech after "According to".
    assert_eq!(content(4), "the city supports the plan");
    assert_eq!(r.quotes[4].kind, pb::QuoteKind::Indirect as i32);
    assert_eq!(cue(4), Some("According to"));
    assert_eq!(r.quotes[4].source.as_ref().unwrap().text, "the mayor");

    // One verdict for Jane Doe over all her quotations, under her canonical name.
    let doe: Vec<&pb::SpeakerVerdict> = r.speakers.iter().filter(|v| v.speaker == "Jane Doe").collect();
    assert_eq!(doe.len(), 1, "{:?}", r.speakers);
    let attributed_to_doe: Vec<String> =
        r.quotes.iter().filter(|q| q.speaker == "Jane Doe").map(|q| q.id.clone()).collect();
    assert!(attributed_to_doe.len() >= 3);
    assert_eq!(doe[0].quote_ids, attributed_to_doe);
    assert_eq!(doe[0].quote_count as usize, attributed_to_doe.len());
    let sum: f32 = doe[0].stance.as_ref().unwrap().probabilities.iter().map(|p| p.probability).sum();
    assert!((sum - 1.0).abs() < 1e-4, "{sum}");
    let speaker = r.document_speakers.iter().find(|s| s.name == "Jane Doe").expect("Jane Doe is a document speaker");
    assert_eq!(speaker.role, "Senator");
    assert!(speaker.aliases.contains(&"Doe".to_string()), "{speaker:?}");
    assert_eq!(speaker.quote_count as usize, attributed_to_doe.len());

    // Every span, in every unit, cuts out its segment's text; the units really differ here.
    let mut starts = Vec::new();
    for unit in [pb::OffsetUnit::CodePoints, pb::OffsetUnit::Utf8Bytes, pb::OffsetUnit::Utf16Units] {
        let u = c.analyze_document(document_req(unit)).await.unwrap().into_inner();
        assert_eq!(u.offset_unit, unit as i32);
        assert_eq!(u.quotes.len(), r.quotes.len());
        for (q, base) in u.quotes.iter().zip(&r.quotes) {
            assert_eq!((&q.speaker, &q.stance), (&base.speaker, &base.stance));
            for seg in [q.content.as_ref(), q.cue.as_ref(), q.source.as_ref()].into_iter().flatten() {
                assert!(!seg.spans.is_empty());
                assert_eq!(slice(seg, unit), seg.text, "{unit:?}: {seg:?}");
            }
        }
        starts.push(u.quotes[1].content.as_ref().unwrap().spans[0].start);
    }
    // The emoji is 1 code point, 4 bytes, 2 UTF-16 units; each curly quote 1, 3, 1.
    assert_eq!(starts[1] - starts[0], 3 + 2 * 2, "{starts:?}");
    assert_eq!(starts[2] - starts[0], 1, "{starts:?}");

    // The AnalyzeStream document item answers the same as the unary call.
    let unary = c.analyze_document(document_req(pb::OffsetUnit::Utf16Units)).await.unwrap().into_inner();
    let items = vec![
        pb::AnalyzeStreamRequest {
            request_id: "doc".into(),
            request: Some(analyze_stream_request::Request::AnalyzeDocument(document_req(pb::OffsetUnit::Utf16Units))),
        },
        pb::AnalyzeStreamRequest {
            request_id: "empty".into(),
            request: Some(analyze_stream_request::Request::AnalyzeDocument(pb::AnalyzeDocumentRequest {
                target: "Alpha".into(),
                ..Default::default()
            })),
        },
    ];
    let mut replies = c.analyze_stream(tokio_stream::iter(items)).await.unwrap().into_inner();
    let first = tokio::time::timeout(Duration::from_secs(20), replies.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.request_id, "doc");
    assert_eq!(first.result, Some(analyze_stream_response::Result::AnalyzeDocument(unary)));
    let second = tokio::time::timeout(Duration::from_secs(20), replies.message()).await.unwrap().unwrap().unwrap();
    let Some(analyze_stream_response::Result::Error(e)) = second.result else {
        panic!("empty text: {second:?}");
    };
    assert_eq!(e.code, Code::InvalidArgument as i32);
    assert!(e.message.contains("text"), "{}", e.message);
    srv.shutdown().await;
}

/// The scheme of `authorization` is case-insensitive (RFC 7235 §2.1): "bearer" and
/// "BEARER" are "Bearer", and the token after it is still compared exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_scheme_is_case_insensitive() {
    let srv = TestServer::start(ServerConfig { admin_token: Some("s3cret".into()), ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let reload = |value: &str| {
        let mut req = Request::new(pb::ReloadModelsRequest {});
        req.metadata_mut().insert("authorization", value.parse().unwrap());
        req
    };
    for ok in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR s3cret", "Bearer  s3cret"] {
        let r = c.reload_models(reload(ok)).await.unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        assert_eq!(r.into_inner().loaded, ["sentiment", "stance"], "{ok:?}");
    }
    for bad in ["bearer S3CRET", "bearer s3cre", "bearers3cret", "Basic s3cret", "s3cret", "bearer", "Bearer "] {
        let e = c.reload_models(reload(bad)).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{bad:?}");
    }
    srv.shutdown().await;
}

/// Waits (at most 10 s) until health says `want`, overall and for the service.
async fn health_becomes(
    h: &mut tonic_health::pb::health_client::HealthClient<tonic::transport::Channel>,
    want: tonic_health::pb::health_check_response::ServingStatus,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut now = Vec::new();
        for service in ["", "stancer.v1.Stancer"] {
            let r = h.check(tonic_health::pb::HealthCheckRequest { service: service.into() }).await.unwrap();
            now.push(r.into_inner().status);
        }
        if now.iter().all(|s| *s == want as i32) {
            return;
        }
        assert!(Instant::now() < deadline, "health did not turn {want:?} within 10 s: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every scoring call needs a stance and a sentiment model: with either task missing,
/// none of them can be answered, so health is NOT_SERVING, overall and for the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_not_serving_while_a_task_has_no_model() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let srv = TestServer::start(ServerConfig { watch_models: false, ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    let mut h = HealthClient::new(srv.channel().await);
    let mut becomes = async |want: ServingStatus| health_becomes(&mut h, want).await;
    becomes(ServingStatus::Serving).await;
    for name in ["sentiment", "stance"] {
        std::fs::remove_file(srv.dir.path().join(format!("{name}.safetensors"))).unwrap();
        let r = c.reload_models(pb::ReloadModelsRequest {}).await.unwrap().into_inner();
        assert_eq!(r.removed, [name]);
        becomes(ServingStatus::NotServing).await;
        let e = c.score_quotations(score_req("Alpha", vec![q("a", "Ann", "I support Alpha")])).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e}");
        write_models(srv.dir.path());
        c.reload_models(pb::ReloadModelsRequest {}).await.unwrap();
        becomes(ServingStatus::Serving).await;
    }
    srv.shutdown().await;
}

/// Zero-width characters are dropped by normalisation: a text of nothing else is empty,
/// and refused as one, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_width_only_texts_are_refused_as_empty() {
    let srv = TestServer::start(ServerConfig::default()).await;
    let mut c = srv.client().await;
    let ok = || q("a", "Ann", "I support Alpha");
    for blank in ["\u{200B}", "\u{200C}\u{200D}", "\u{FEFF}", "\u{2060}", " \u{200B}\n\u{FEFF}\t\u{2060} "] {
        let e = c.score_quotations(score_req("Alpha", vec![ok(), q("b", "Bob", blank)])).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{blank:?}: {e}");
        assert!(e.message().contains("quotations[1].text"), "{blank:?}: {}", e.message());
        let e = c.score_quotations(score_req("Alpha", vec![q("b", blank, "hello")])).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{blank:?}: {e}");
        assert!(e.message().contains("quotations[0].speaker"), "{blank:?}: {}", e.message());
        let e = c.score_quotations(score_req(blank, vec![ok()])).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{blank:?}: {e}");
        assert!(e.message().contains("target"), "{blank:?}: {}", e.message());
        for (text, target, field) in [(blank, "Alpha", "text"), ("\"Yes,\" said Ann.", blank, "target")] {
            let req = pb::AnalyzeDocumentRequest { text: text.into(), target: target.into(), ..Default::default() };
            let e = c.analyze_document(req).await.unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{blank:?}: {e}");
            assert!(e.message().contains(&format!("field {field}:")), "{blank:?}: {}", e.message());
        }
    }
    // A zero-width character inside a text with content is fine.
    c.score_quotations(score_req("Al\u{200B}pha", vec![q("a", "A\u{200D}nn", "I\u{FEFF} support")])).await.unwrap();
    srv.shutdown().await;
}

/// Ids are echoed back (and in the verdicts' `quote_ids`): one is at most 256 bytes, and a
/// longer one is refused naming it, its index and the limit, in a stream for that item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotation_ids_are_at_most_256_bytes() {
    let srv = TestServer::start(ServerConfig::default()).await;
    let mut c = srv.client().await;
    let at_limit = "é".repeat(128);
    let r = c.score_quotations(score_req("Alpha", vec![q(&at_limit, "Ann", "I support Alpha")])).await.unwrap();
    assert_eq!(r.into_inner().quotations[0].id, at_limit);
    let over = format!("{at_limit}x");
    let req = score_req("Alpha", vec![q("a", "Ann", "I support Alpha"), q(&over, "Ann", "I support Alpha")]);
    let e = c.score_quotations(req.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    let m = e.message();
    assert!(m.contains("quotations[1].id") && m.contains("257 bytes") && m.contains("256"), "{m}");
    assert!(!m.contains(&over), "the id is not echoed in the error: {m}");
    let item = pb::AnalyzeStreamRequest {
        request_id: "1".into(),
        request: Some(analyze_stream_request::Request::ScoreQuotations(req)),
    };
    let mut replies = c.analyze_stream(tokio_stream::iter([item])).await.unwrap().into_inner();
    let r = replies.message().await.unwrap().unwrap();
    let Some(analyze_stream_response::Result::Error(e)) = r.result else { panic!("{r:?}") };
    assert_eq!(e.code, Code::InvalidArgument as i32);
    assert!(e.message.contains("quotations[1].id"), "{}", e.message);
    srv.shutdown().await;
}

/// A document with more quotations than `max_document_quotations` is refused, naming the
/// limit, before any of them is scored (as a ScoreQuotations request past max_quotations).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_document_refuses_more_quotations_than_the_limit() {
    let srv = TestServer::start(ServerConfig { max_document_quotations: 4, ..ServerConfig::default() }).await;
    let mut c = srv.client().await;
    // ARTICLE has five quotations.
    let e = c.analyze_document(document_req(pb::OffsetUnit::Unspecified)).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    let m = e.message();
    assert!(m.contains("max_document_quotations") && m.contains("5 quotations") && m.contains('4'), "{m}");
    let item = pb::AnalyzeStreamRequest {
        request_id: "doc".into(),
        request: Some(analyze_stream_request::Request::AnalyzeDocument(document_req(pb::OffsetUnit::Unspecified))),
    };
    let mut replies = c.analyze_stream(tokio_stream::iter([item])).await.unwrap().into_inner();
    let r = replies.message().await.unwrap().unwrap();
    let Some(analyze_stream_response::Result::Error(e)) = r.result else { panic!("{r:?}") };
    assert_eq!(e.code, Code::ResourceExhausted as i32);
    srv.shutdown().await;

    let srv = TestServer::start(ServerConfig { max_document_quotations: 5, ..ServerConfig::default() }).await;
    let r = srv.client().await.analyze_document(document_req(pb::OffsetUnit::Unspecified)).await.unwrap();
    assert_eq!(r.into_inner().quotes.len(), 5);
    srv.shutdown().await;
}

/// An answer too big to send is counted as what the client got (OUT_OF_RANGE), not as Ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_an_oversize_answer_as_out_of_range() {
    let maddr = free_port_addr();
    let srv = TestServer::start(ServerConfig {
        metrics_addr: Some(maddr),
        max_message_bytes: 256 * 1024,
        ..ServerConfig::default()
    })
    .await;
    let mut c = srv.client().await;
    let e = c.score_quotations(wide_answer_request()).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e}");
    let item = pb::AnalyzeStreamRequest {
        request_id: "1".into(),
        request: Some(analyze_stream_request::Request::ScoreQuotations(wide_answer_request())),
    };
    let mut replies = c.analyze_stream(tokio_stream::iter([item])).await.unwrap().into_inner();
    while replies.message().await.unwrap().is_some() {}
    let body = scrape(maddr).await;
    assert!(body.contains("stancer_requests_total{rpc=\"ScoreQuotations\",code=\"OutOfRange\"} 1"), "{body}");
    assert!(!body.contains("stancer_requests_total{rpc=\"ScoreQuotations\",code=\"Ok\"}"), "{body}");
    assert!(body.contains("stancer_requests_total{rpc=\"AnalyzeStream.item\",code=\"OutOfRange\"} 1"), "{body}");
    srv.shutdown().await;
}

/// A call the client's deadline (`grpc-timeout`) ends is counted: tonic drops the call's
/// future and answers CANCELLED, and the metrics count it so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_ended_by_the_clients_deadline() {
    let maddr = free_port_addr();
    let srv = TestServer::start(ServerConfig {
        metrics_addr: Some(maddr),
        max_quotations: 10_000,
        ..ServerConfig::default()
    })
    .await;
    let mut c = srv.client().await;
    // A second or two of work in a request of 2 MB, which reaches the server well within
    // the client's deadline (all of heavy_request's 15 MB might not).
    let mut heavy = heavy_request();
    heavy.quotations.truncate(20);
    let mut req = Request::new(heavy);
    req.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let e = c.score_quotations(req).await.unwrap_err();
    assert!(matches!(e.code(), Code::Cancelled | Code::DeadlineExceeded), "{e}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body = scrape(maddr).await;
        if body.contains("stancer_requests_total{rpc=\"ScoreQuotations\",code=\"Cancelled\"} 1") {
            break;
        }
        assert!(Instant::now() < deadline, "the call is not counted as Cancelled: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("counted {:?} after the call", started.elapsed());
    srv.shutdown().await;
}
