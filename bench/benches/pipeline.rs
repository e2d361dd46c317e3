//! B1: Herald's per-message pipeline against the bare library ceiling.
//!
//! `pipeline/<channel>_herald` runs messages through Herald's real pipeline — profile lookup,
//! address, suppression, consent, quiet hours, render, claim, frequency caps, send, record —
//! over the in-memory store and the [`Discard`] delivery (which builds the raw MIME / SNS
//! payloads and drops them), with a fixed clock. The public path used is the audience batch
//! job (`TriggerService::run_job(Job::Batch)`, batches of `BATCH_SIZE` members, as the
//! dispatcher runs them): every message is a new profile, so no message id repeats and no
//! frequency cap is reached. Each criterion sample builds a fresh store, campaign and profiles
//! (untimed), runs one untimed message to compile the templates, then times the batches;
//! afterwards it checks that every message was `sent` and that the Discard counted it.
//!
//! `pipeline/<channel>_ceiling` renders the same template sources with a bare `handlebars`
//! registry (templates registered once, data built once; one `Context` per message, as any
//! per-recipient render needs) plus, for email, the bare `mail_builder` MIME build and, for
//! push, the SNS JSON message string. Nothing else.
//!
//! Both are timed on the benchmark thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`: user and
//! system time of the one thread everything runs on — a current-thread tokio runtime), so the
//! figures are per-core throughput and other processes on a shared machine do not inflate
//! them. `HERALD_BENCH_CLOCK=wall` times wall-clock instead (also the fallback where the
//! thread clock is unavailable).
//!
//! After criterion's report one line per channel compares the two means:
//! `B1 <channel>: herald <N> msg/s, ceiling <M> msg/s, ratio <r>%`.
//!
//! Criterion measures Herald and the ceiling one after the other, seconds apart, and on a
//! shared machine the CPU's speed drifts in between (single runs' ratios spread 60–92%). So the
//! ratio that counts is **paired**: then the two alternate, [`PAIRED_ROUNDS`] rounds of about
//! [`PAIRED_ROUND`] of CPU each (Herald's messages, then as many ceiling ones), each round
//! giving one ratio; the median is the figure, written with the spread to
//! `<criterion>/pipeline/paired.json` and printed as
//! `B1 <channel>: paired ratio <median>% (<min>–<max>% over <n> rounds of <m> messages)`.
//! `HERALD_BENCH_PAIRED_ROUNDS` sets the number of rounds (the quick run uses 3).
//!
//! The benchmark runs on mimalloc, the global allocator of `herald serve`. Sampling is flat
//! (every sample the same number of messages): with criterion's default linear sampling the
//! last samples hold a hundred times more messages in the in-memory store than the first, and
//! faulting in that growing store's fresh memory (about 10% of the profile) was charged to each
//! message, where a server's store does not grow in memory.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, SamplingMode, Throughput};
use handlebars::{Context, Handlebars};
use herald_bench::fixtures;
use herald_core::adapters::discard::Discard;
use herald_core::adapters::memory::MemoryStore;
use herald_core::adapters::memory_queue::MemoryQueue;
use herald_core::domain::{
    AudienceBatch, CampaignId, CampaignSpec, ChannelConfig, ChannelConfigSpec, CountScope,
    Execution, ExecutionId, ExecutionKind, ExecutionStatus, Identity, OutcomeKind, ProfileId,
    ProfileUpdate, RuleSet, RuleSetSpec,
};
use herald_core::ports::{
    CountStore, ExecutionStore, FixedClock, Job, JobDelivery, MessageStore, PageRequest,
};
use herald_core::render::{
    CompiledCampaign, RenderInput, RenderedMessage, Selection, TemplateCache,
};
use herald_core::service::trigger::audience::BATCH_SIZE;
use herald_core::service::trigger::{TriggerConfig, TriggerService};
use herald_core::service::{AdminConfig, AdminService};
use jiff::Timestamp;
use mail_builder::MessageBuilder;
use serde_json::Value;
use tokio::runtime::Runtime;

/// `herald serve`'s allocator (cli/src/main.rs): both sides of the comparison run on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Which clock samples are timed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    ThreadCpu,
    Wall,
}

impl Timer {
    /// The thread's CPU clock unless `HERALD_BENCH_CLOCK=wall` or it is unavailable.
    fn from_env() -> Self {
        let wall = std::env::var("HERALD_BENCH_CLOCK").is_ok_and(|v| v == "wall");
        if wall || thread_cpu_time().is_none() {
            Timer::Wall
        } else {
            Timer::ThreadCpu
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Timer::ThreadCpu => "the benchmark thread's CPU clock",
            Timer::Wall => "the wall clock",
        }
    }

    fn start(self) -> Stopwatch {
        Stopwatch {
            timer: self,
            wall: Instant::now(),
            cpu: thread_cpu_time().unwrap_or_default(),
        }
    }
}

struct Stopwatch {
    timer: Timer,
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    fn elapsed(&self) -> Duration {
        match (self.timer, thread_cpu_time()) {
            (Timer::ThreadCpu, Some(now)) => now.saturating_sub(self.cpu),
            _ => self.wall.elapsed(),
        }
    }
}

/// CPU time (user + system) of the calling thread.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_time() -> Option<Duration> {
    /// `struct timespec` on 64-bit Linux.
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    unsafe extern "C" {
        fn clock_gettime(clock_id: i32, tp: *mut Timespec) -> i32;
    }
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable `struct timespec` with the platform's layout, and
    // `clock_gettime` writes nothing else.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    (rc == 0).then(|| Duration::new(secs, nanos))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Times `iters` calls of `f`.
fn time_iters<T>(timer: Timer, iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let watch = timer.start();
    for _ in 0..iters {
        black_box(f());
    }
    watch.elapsed()
}

type Clock = Arc<FixedClock>;
type Trigger = TriggerService<MemoryStore, Discard, MemoryQueue, Clock>;

/// The three benchmarked channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Email,
    Sms,
    Push,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Email, Kind::Sms, Kind::Push];

    fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Sms => "sms",
            Kind::Push => "push",
        }
    }

    fn context(self) -> Value {
        match self {
            Kind::Sms => fixtures::promo_context(),
            Kind::Email | Kind::Push => fixtures::order_context(),
        }
    }

    /// Messages of this channel the sink has dropped.
    fn discarded(self, sink: &Discard) -> u64 {
        let c = sink.counts();
        match self {
            Kind::Email => c.email,
            Kind::Sms => c.sms,
            Kind::Push => c.push,
        }
    }
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("fixture {what} does not parse: {e}"))
}

fn fixed_now() -> Timestamp {
    fixtures::FIXED_NOW
        .parse()
        .unwrap_or_else(|e| panic!("FIXED_NOW is not a timestamp: {e}"))
}

/// One store with one live campaign, its service, and its delivery sink.
struct World {
    kind: Kind,
    admin: AdminService<MemoryStore, Clock>,
    trigger: Trigger,
    store: MemoryStore,
    sink: Discard,
    campaign: CampaignId,
    version: u32,
}

impl World {
    async fn new(kind: Kind) -> Self {
        let store = MemoryStore::new();
        let clock = Arc::new(FixedClock::new(fixed_now()));
        let sink = Discard::new();
        let admin = AdminService::new(store.clone(), clock.clone(), AdminConfig::default());
        let trigger = TriggerService::new(
            store.clone(),
            sink.clone(),
            MemoryQueue::new(),
            clock,
            Arc::new(TemplateCache::new(16)),
            TriggerConfig::default(),
        );
        let config = |v: Value| async {
            let spec: ChannelConfigSpec = from_json("channel config", v);
            let c: ChannelConfig = admin
                .create_managed(spec)
                .await
                .unwrap_or_else(|e| panic!("channel config refused: {e}"));
            c.id.to_string()
        };
        let spec = match kind {
            Kind::Email => {
                fixtures::email_campaign(&config(fixtures::email_channel_config()).await)
            }
            Kind::Push => fixtures::push_campaign(&config(fixtures::push_channel_config()).await),
            Kind::Sms => {
                let cfg = config(fixtures::sms_channel_config()).await;
                let rules: RuleSetSpec = from_json("rule set", fixtures::marketing_rule_set());
                let rules: RuleSet = admin
                    .create_managed(rules)
                    .await
                    .unwrap_or_else(|e| panic!("rule set refused: {e}"));
                fixtures::sms_campaign(&cfg, &rules.id.to_string(), None)
            }
        };
        let spec: CampaignSpec = from_json("campaign", spec);
        let created = admin
            .create_campaign(spec)
            .await
            .unwrap_or_else(|e| panic!("campaign refused: {e}"));
        let live = admin
            .activate_campaign(created.campaign.id, None)
            .await
            .unwrap_or_else(|e| panic!("campaign activation refused: {e}"));
        let version = live
            .campaign
            .live_version
            .unwrap_or_else(|| panic!("the activated campaign has no live version"));
        Self {
            kind,
            admin,
            trigger,
            store,
            sink,
            campaign: live.campaign.id,
            version,
        }
    }

    /// Creates profiles `from..from + n` (email and phone identities, 10 attributes, consent,
    /// an FCM token, Paris time zone).
    async fn profiles(&self, from: u32, n: u32) -> Vec<ProfileId> {
        let mut ids = Vec::with_capacity(n as usize);
        for i in from..from + n {
            let key = Identity::parse("email", &fixtures::email_of(i))
                .unwrap_or_else(|e| panic!("fixture email identity: {}", e.message));
            let update: ProfileUpdate = from_json("profile", fixtures::profile(i));
            let (p, _) = self
                .admin
                .upsert_profile(&key, &update)
                .await
                .unwrap_or_else(|e| panic!("profile refused: {e}"));
            ids.push(p.id);
        }
        ids
    }

    /// An audience execution in progress (its planning step is what the batches come from).
    async fn execution(&self) -> ExecutionId {
        let now = fixed_now();
        let execution = Execution {
            id: ExecutionId::new(),
            kind: ExecutionKind::Audience,
            campaign_id: self.campaign,
            campaign_version: self.version,
            request_id: format!("bench-{}", ExecutionId::new()),
            audience_id: None,
            status: ExecutionStatus::InProgress,
            context: self.kind.context(),
            created_at: now,
            created_by: "herald-bench".into(),
            modified_at: now,
            plan_cursor: Some(String::new()),
            revision: 1,
        };
        self.store
            .insert_execution(&execution)
            .await
            .unwrap_or_else(|e| panic!("execution refused: {e}"));
        execution.id
    }

    fn batches(&self, execution: ExecutionId, members: &[ProfileId]) -> Vec<Job> {
        members
            .chunks(BATCH_SIZE)
            .enumerate()
            .map(|(i, chunk)| {
                Job::Batch(AudienceBatch {
                    execution_id: execution,
                    campaign_id: self.campaign,
                    campaign_version: self.version,
                    sequence: i as u64,
                    members: chunk.to_vec(),
                })
            })
            .collect()
    }

    async fn run(&self, jobs: &[Job]) {
        for job in jobs {
            self.trigger
                .run_job(job, JobDelivery::First)
                .await
                .unwrap_or_else(|e| panic!("the {} batch failed: {e}", self.kind.name()));
        }
    }

    /// Panics unless `expected` messages of the execution were sent and dropped by the sink.
    async fn check_sent(&self, execution: ExecutionId, expected: u64) {
        let counts = self
            .store
            .get_counts(CountScope::Execution(execution))
            .await
            .unwrap_or_else(|e| panic!("counts: {e}"));
        let discarded = self.kind.discarded(&self.sink);
        if counts.sent != expected || counts.targeted != expected || discarded != expected {
            let sample = self
                .store
                .list_messages(execution, &PageRequest::first(3))
                .await
                .map(|p| {
                    p.items
                        .iter()
                        .map(|m| format!("{:?} {:?} {:?}", m.outcome, m.reason, m.detail))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            panic!(
                "B1 {}: expected {expected} messages sent and discarded, got sent={} \
                 targeted={} discarded={discarded}; counts {counts:?}; first messages {sample:?}",
                self.kind.name(),
                counts.sent,
                counts.targeted,
            );
        }
    }

    /// Panics unless the first message of the execution is `sent`.
    async fn check_first_sent(&self, execution: ExecutionId) {
        let page = self
            .store
            .list_messages(execution, &PageRequest::first(1))
            .await
            .unwrap_or_else(|e| panic!("messages: {e}"));
        match page.items.first() {
            Some(m) if m.outcome == OutcomeKind::Sent => {}
            other => panic!(
                "B1 {}: the warm-up message was not sent: {other:?}",
                self.kind.name()
            ),
        }
    }
}

/// One criterion sample of `iters` messages through Herald: untimed set-up and warm-up, timed
/// batches, untimed checks.
async fn herald_sample(kind: Kind, iters: u64, timer: Timer) -> Duration {
    let n = u32::try_from(iters).unwrap_or_else(|_| panic!("{iters} messages in one sample"));
    let world = World::new(kind).await;
    let mut members = world.profiles(0, n + 1).await;
    let timed = members.split_off(1);
    let execution = world.execution().await;
    // Warm-up: compiles the campaign's templates into the cache, loads the time zone.
    world.run(&world.batches(execution, &members)).await;
    world.check_first_sent(execution).await;
    let jobs = world.batches(execution, &timed);
    let watch = timer.start();
    world.run(&jobs).await;
    let elapsed = watch.elapsed();
    world.check_sent(execution, iters + 1).await;
    elapsed
}

/// The bare library: the same sources in plain `handlebars` registries (HTML-escaped for the
/// email HTML, not escaped elsewhere, as Herald does), and the data built once.
struct Ceiling {
    html: Handlebars<'static>,
    plain: Handlebars<'static>,
    email: Value,
    sms: Value,
    push: Value,
}

impl Ceiling {
    fn new() -> Self {
        let mut html = Handlebars::new();
        let mut plain = Handlebars::new();
        plain.register_escape_fn(handlebars::no_escape);
        let templates = [
            (true, "email.html", fixtures::EMAIL_HTML),
            (false, "email.subject", fixtures::EMAIL_SUBJECT),
            (false, "email.text", fixtures::EMAIL_TEXT),
            (false, "sms.text", fixtures::SMS_TEXT),
            (false, "push.title", fixtures::PUSH_TITLE),
            (false, "push.body", fixtures::PUSH_BODY),
            (false, "push.url", fixtures::PUSH_URL),
            (false, "push.data.orderId", fixtures::PUSH_DATA_ORDER_ID),
        ];
        for (is_html, name, source) in templates {
            let registry = if is_html { &mut html } else { &mut plain };
            registry
                .register_template_string(name, source)
                .unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
        }
        Self {
            html,
            plain,
            email: fixtures::render_data(
                1,
                fixtures::order_context(),
                &fixtures::email_campaign("x"),
            ),
            sms: fixtures::render_data(
                1,
                fixtures::promo_context(),
                &fixtures::sms_campaign("x", "y", None),
            ),
            push: fixtures::render_data(
                1,
                fixtures::order_context(),
                &fixtures::push_campaign("x"),
            ),
        }
    }

    fn render(&self, registry: &Handlebars<'static>, name: &str, ctx: &Context) -> String {
        registry
            .render_with_context(name, ctx)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn context(data: &Value) -> Context {
        Context::wraps(data).unwrap_or_else(|e| panic!("context: {e}"))
    }

    /// Subject, HTML and text.
    fn email_parts(&self) -> (String, String, String) {
        let ctx = Self::context(&self.email);
        (
            self.render(&self.plain, "email.subject", &ctx),
            self.render(&self.html, "email.html", &ctx),
            self.render(&self.plain, "email.text", &ctx),
        )
    }

    /// The raw MIME message: From, To, Subject, text + HTML alternative.
    fn email(&self) -> Vec<u8> {
        let (subject, html, text) = self.email_parts();
        MessageBuilder::new()
            .from(("Example Shop", "orders@shop.example.com"))
            .to(fixtures::email_of(1))
            .subject(subject)
            .text_body(text)
            .html_body(html)
            .write_to_vec()
            .unwrap_or_else(|e| panic!("MIME: {e}"))
    }

    fn sms(&self) -> String {
        let ctx = Self::context(&self.sms);
        self.render(&self.plain, "sms.text", &ctx)
    }

    /// Title, body, URL and data rendered, then the SNS `Message` for FCM:
    /// `{"default": body, "GCM": "<FCM v1 payload>"}`.
    fn push_parts(&self) -> (String, String, String, String) {
        let ctx = Self::context(&self.push);
        (
            self.render(&self.plain, "push.title", &ctx),
            self.render(&self.plain, "push.body", &ctx),
            self.render(&self.plain, "push.url", &ctx),
            self.render(&self.plain, "push.data.orderId", &ctx),
        )
    }

    fn push(&self) -> String {
        let (title, body, url, order_id) = self.push_parts();
        let fcm = serde_json::json!({"fcmV1Message": {"message": {
            "notification": {"title": title, "body": body},
            "data": {"orderId": order_id, "url": url},
            "android": {"notification": {"sound": "default"}}
        }}});
        serde_json::json!({"default": body, "GCM": fcm.to_string()}).to_string()
    }

    /// Panics unless Herald's renderer gives exactly what the bare registry gives for the same
    /// sources and data: the ceiling does the same template work.
    fn check_same_output_as_herald(&self) {
        let herald = |campaign: Value, data: &Value| {
            let spec: CampaignSpec = from_json("campaign", campaign);
            let compiled = CompiledCampaign::compile(&spec)
                .unwrap_or_else(|f| panic!("Herald does not compile the fixture: {f:?}"));
            let input = RenderInput {
                profile: data["profile"].clone(),
                context: data["context"].clone(),
                campaign: &data["campaign"],
                unsubscribe_url: None,
            };
            compiled
                .render(&Selection::default(), input)
                .unwrap_or_else(|e| panic!("Herald does not render the fixture: {e}"))
                .message
        };
        let same = |what: &str, herald: &str, bare: &str| {
            if herald != bare {
                panic!(
                    "B1: Herald and the bare registry render {what} differently:\n{herald}\n---\n{bare}"
                );
            }
        };
        match herald(
            fixtures::email_campaign("0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7c"),
            &self.email,
        ) {
            RenderedMessage::Email(e) => {
                let (subject, html, text) = self.email_parts();
                same("the email subject", &e.subject, &subject);
                same("the email HTML", &e.html, &html);
                same("the email text", &e.text, &text);
            }
            other => panic!("not an email: {other:?}"),
        }
        match herald(
            fixtures::sms_campaign(
                "0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7c",
                "0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7d",
                None,
            ),
            &self.sms,
        ) {
            RenderedMessage::Sms(s) => same("the SMS", &s.text, self.sms().trim()),
            other => panic!("not an SMS: {other:?}"),
        }
        match herald(
            fixtures::push_campaign("0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7c"),
            &self.push,
        ) {
            RenderedMessage::Push(p) => {
                let (title, body, url, order_id) = self.push_parts();
                same("the push title", p.title.as_deref().unwrap_or(""), &title);
                same("the push body", &p.body, &body);
                same("the push URL", p.url.as_deref().unwrap_or(""), &url);
                let data = BTreeMap::from([("orderId".to_string(), order_id)]);
                if p.data != data {
                    panic!("B1: push data differ: {:?} vs {data:?}", p.data);
                }
            }
            other => panic!("not a push: {other:?}"),
        }
    }
}

/// Which benchmarks ran in this process (a filter may skip some).
static RAN: [[AtomicBool; 2]; 3] = [
    [AtomicBool::new(false), AtomicBool::new(false)],
    [AtomicBool::new(false), AtomicBool::new(false)],
    [AtomicBool::new(false), AtomicBool::new(false)],
];

fn mark_ran(kind: Kind, ceiling: bool) {
    RAN[kind as usize][usize::from(ceiling)].store(true, Ordering::Relaxed);
}

/// Whether both of `kind`'s benchmarks ran, so that they can be compared.
fn ran_both(kind: Kind) -> bool {
    RAN[kind as usize]
        .iter()
        .all(|ran| ran.load(Ordering::Relaxed))
}

fn pipeline(c: &mut Criterion, rt: &Runtime, ceiling: &Ceiling, timer: Timer) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    // Same-size samples: see the module documentation.
    group.sampling_mode(SamplingMode::Flat);
    for kind in Kind::ALL {
        group.bench_function(format!("{}_herald", kind.name()), |b| {
            mark_ran(kind, false);
            b.iter_custom(|iters| rt.block_on(herald_sample(kind, iters, timer)));
        });
        group.bench_function(format!("{}_ceiling", kind.name()), |b| {
            mark_ran(kind, true);
            match kind {
                Kind::Email => b.iter_custom(|n| time_iters(timer, n, || ceiling.email())),
                Kind::Sms => b.iter_custom(|n| time_iters(timer, n, || ceiling.sms())),
                Kind::Push => b.iter_custom(|n| time_iters(timer, n, || ceiling.push())),
            }
        });
    }
    group.finish();
}

/// Where criterion may have written this run's results: `CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the workspace target directory (under `cargo bench`; the
/// binary is `<target>/<profile>/deps/pipeline-<hash>`), else `target/criterion` under the
/// working directory (the binary run by hand). Only results written by this run are read.
fn criterion_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        dirs.push(PathBuf::from(home));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(target).join("criterion"));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(target) = exe
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.parent())
    {
        dirs.push(target.join("criterion"));
    }
    dirs.push(PathBuf::from("target").join("criterion"));
    dirs
}

/// The mean time per message (ns) criterion measured for `name` in this run.
fn mean_ns(dir: &std::path::Path, name: &str, since: SystemTime) -> Option<f64> {
    let path = dir
        .join("pipeline")
        .join(name)
        .join("new")
        .join("estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let v: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64().filter(|ns| *ns > 0.0)
}

fn summary(since: SystemTime, timer: Timer) {
    let dirs = criterion_dirs();
    let mut printed = false;
    let mean = |name: &str| dirs.iter().find_map(|d| mean_ns(d, name, since));
    for kind in Kind::ALL {
        if !ran_both(kind) {
            continue;
        }
        let herald = mean(&format!("{}_herald", kind.name()));
        let ceiling = mean(&format!("{}_ceiling", kind.name()));
        if let (Some(h), Some(c)) = (herald, ceiling) {
            if !printed {
                println!("(B1 figures are per core, timed on {})", timer.describe());
                printed = true;
            }
            let (h, c) = (1e9 / h, 1e9 / c);
            println!(
                "B1 {}: herald {:.0} msg/s, ceiling {:.0} msg/s, ratio {:.1}%",
                kind.name(),
                h,
                c,
                100.0 * h / c
            );
        }
    }
}

/// Rounds of the paired comparison (see the module documentation), and the CPU time each side
/// of a round aims at.
const PAIRED_ROUNDS: usize = 15;
const PAIRED_ROUND: Duration = Duration::from_millis(150);

/// The median of sorted, non-empty `values`.
fn median(values: &[f64]) -> f64 {
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Alternates Herald and the ceiling for `rounds` rounds of `messages` each: each round's
/// ceiling time over Herald's time for the same messages, sorted.
fn paired(
    kind: Kind,
    rt: &Runtime,
    ceiling: &Ceiling,
    timer: Timer,
    rounds: usize,
    messages: u64,
) -> Vec<f64> {
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|_| {
            let herald = rt.block_on(herald_sample(kind, messages, timer));
            let bare = match kind {
                Kind::Email => time_iters(timer, messages, || ceiling.email()),
                Kind::Sms => time_iters(timer, messages, || ceiling.sms()),
                Kind::Push => time_iters(timer, messages, || ceiling.push()),
            };
            bare.as_secs_f64() / herald.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}

/// Runs the paired comparison of every channel whose two benchmarks criterion ran, sizing each
/// round from criterion's mean for Herald; prints it and writes `pipeline/paired.json`.
fn paired_summary(since: SystemTime, rt: &Runtime, ceiling: &Ceiling, timer: Timer) {
    let rounds = std::env::var("HERALD_BENCH_PAIRED_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(PAIRED_ROUNDS);
    let dirs = criterion_dirs();
    // Written beside the criterion results it was sized from.
    let mut written_in = None;
    let mut out = serde_json::Map::new();
    for kind in Kind::ALL {
        if !ran_both(kind) {
            continue;
        }
        let name = format!("{}_herald", kind.name());
        let Some((dir, herald_ns)) = dirs
            .iter()
            .find_map(|d| mean_ns(d, &name, since).map(|ns| (d, ns)))
        else {
            continue;
        };
        written_in = Some(dir);
        let messages = ((PAIRED_ROUND.as_nanos() as f64 / herald_ns) as u64).max(BATCH_SIZE as u64);
        let ratios = paired(kind, rt, ceiling, timer, rounds, messages);
        let (median, min, max) = (median(&ratios), ratios[0], ratios[ratios.len() - 1]);
        println!(
            "B1 {}: paired ratio {:.1}% ({:.1}–{:.1}% over {} rounds of {} messages)",
            kind.name(),
            100.0 * median,
            100.0 * min,
            100.0 * max,
            ratios.len(),
            messages
        );
        out.insert(
            kind.name().into(),
            serde_json::json!({
                "median": median, "min": min, "max": max,
                "rounds": ratios.len(), "messagesPerRound": messages,
            }),
        );
    }
    let Some(dir) = written_in else {
        return;
    };
    let path = dir.join("pipeline").join("paired.json");
    let json = serde_json::to_vec_pretty(&Value::Object(out))
        .unwrap_or_else(|e| panic!("paired.json: {e}"));
    std::fs::write(&path, json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn main() {
    let since = SystemTime::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let timer = Timer::from_env();
    let ceiling = Ceiling::new();
    ceiling.check_same_output_as_herald();
    let mut c = Criterion::default().configure_from_args();
    pipeline(&mut c, &rt, &ceiling, timer);
    c.final_summary();
    summary(since, timer);
    paired_summary(since, &rt, &ceiling, timer);
}
