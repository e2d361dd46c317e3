//! B4, AWS cost per message: the DynamoDB capacity units Herald's adapter consumes per message,
//! and what a message costs on AWS at on-demand prices beside SES's $0.10 per 1,000 emails.
//!
//! A tour:
//! - [`meter`]: the SDK interceptor on the `DynamoStore`'s client that asks every call for
//!   `ReturnConsumedCapacity = INDEXES` and sums what DynamoDB (Local) reports, per operation
//!   and entity;
//! - [`wire`] and [`size`]: reading the JSON on the wire, and DynamoDB's documented sizing
//!   rules, which cross-check the reports and stand in for any call that reports nothing;
//! - [`world`]: Herald's services on a fresh table from `template.yaml`, the discard sink, a
//!   queue counting SQS requests, the fixtures (profiles, campaigns, audience);
//! - [`run`]: the measured runs (unitary triggers, an audience execution through the
//!   dispatcher's handler, SES delivery events through the feedback use case);
//! - [`price`] and [`figures`]: per-message figures, dollars per million messages, tables.
//!
//! [`measure`] runs the scenarios: unitary transactional email, audience marketing email
//! under the fixtures' rule set (the headline), and the same without a rule set.

pub mod figures;
pub mod meter;
pub mod price;
pub mod run;
pub mod size;
pub mod wire;
pub mod world;

use serde::Serialize;

use figures::{Combined, PathFigures, Scenario};
use price::{ON_DEMAND_2026, Prices};
use world::{RunError, World};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// DynamoDB Local's URL.
    pub endpoint: String,
    /// Unitary triggers (one message each).
    pub unitary: usize,
    /// Members of the audience.
    pub members: usize,
    /// Messages of each kind whose SES delivery event is recorded.
    pub feedback: usize,
    /// Lambda milliseconds per message to price instead of the in-process measurement.
    pub lambda_ms_per_message: Option<f64>,
}

impl Options {
    /// The full run's sizes.
    pub fn full(endpoint: String) -> Self {
        Self {
            endpoint,
            unitary: 200,
            members: 2_000,
            feedback: 200,
            lambda_ms_per_message: None,
        }
    }

    /// `--quick`: small sizes, well under 30 s.
    pub fn quick(endpoint: String) -> Self {
        Self {
            endpoint,
            unitary: 20,
            members: 200,
            feedback: 20,
            lambda_ms_per_message: None,
        }
    }
}

/// Everything B4 measured (the JSON it writes).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Where the capacity figures come from.
    pub capacity_source: String,
    pub table: String,
    pub prices: Prices,
    /// The unitary transactional email.
    pub unitary: Scenario,
    /// The audience marketing email under the fixtures' rule set.
    pub audience: Scenario,
    /// The same audience email without a rule set (no frequency-cap counters).
    pub audience_without_rules: Scenario,
}

impl Report {
    pub fn scenarios(&self) -> [&Scenario; 3] {
        [&self.unitary, &self.audience, &self.audience_without_rules]
    }

    /// Calls whose capacity DynamoDB Local reported, calls computed from item sizes, and
    /// reported transactions raised to their item sizes.
    pub fn calls(&self) -> (u64, u64, u64) {
        self.scenarios()
            .iter()
            .flat_map(|s| std::iter::once(&s.send).chain(s.delivery_feedback.as_ref()))
            .fold((0, 0, 0), |(r, c, x), p| {
                (
                    r + p.reported_calls,
                    c + p.computed_calls,
                    x + p.corrected_calls,
                )
            })
    }
}

fn scenario(
    label: &str,
    send: &run::Phase,
    feedback: Option<&run::Phase>,
    options: &Options,
) -> Scenario {
    let prices = &ON_DEMAND_2026;
    let send = PathFigures::of(send, options.lambda_ms_per_message, prices);
    let delivery_feedback = feedback.map(|f| PathFigures::of(f, None, prices));
    let with_delivery_feedback = delivery_feedback
        .as_ref()
        .map(|f| Combined::of(&send, f, prices));
    Scenario {
        label: label.to_string(),
        send,
        lambda_ms_source: match options.lambda_ms_per_message {
            Some(_) => "--lambda-ms-per-message".into(),
            None => {
                "measured in-process (wall time of each invocation's work on DynamoDB Local)".into()
            }
        },
        delivery_feedback,
        with_delivery_feedback,
    }
}

/// Sets up a fresh table and runs the three scenarios.
pub async fn measure(options: &Options) -> Result<Report, RunError> {
    let world = World::new(&options.endpoint, options.unitary.max(options.members)).await?;
    let transactional = world.transactional_email().await?;
    let marketing = world.marketing_email(true).await?;
    let marketing_plain = world.marketing_email(false).await?;
    let audience = world.audience(options.members).await?;

    let (unitary, events) = world.run_unitary(transactional, options.unitary).await?;
    let unitary_feedback = world
        .run_feedback(&events[..options.feedback.min(events.len())])
        .await?;
    let (marketing_run, events) = world
        .run_audience(marketing, audience, options.members, "b4-audience")
        .await?;
    let marketing_feedback = world
        .run_feedback(&events[..options.feedback.min(events.len())])
        .await?;
    let (plain_run, _) = world
        .run_audience(
            marketing_plain,
            audience,
            options.members,
            "b4-audience-plain",
        )
        .await?;

    world.drop_table().await?;

    let mut report = Report {
        capacity_source: String::new(),
        table: world.table.clone(),
        prices: ON_DEMAND_2026,
        unitary: scenario(
            "unitary transactional email",
            &unitary,
            Some(&unitary_feedback),
            options,
        ),
        audience: scenario(
            "audience marketing email (rule set)",
            &marketing_run,
            Some(&marketing_feedback),
            options,
        ),
        audience_without_rules: scenario(
            "audience marketing email (no rule set)",
            &plain_run,
            None,
            options,
        ),
    };
    let (reported, computed, corrected) = report.calls();
    let mut source = format!(
        "reported by DynamoDB Local (ReturnConsumedCapacity=INDEXES) for {reported} of {} calls",
        reported + computed
    );
    if computed > 0 {
        source.push_str(&format!(
            "; {computed} refused conditional writes (billed by DynamoDB, not reported) \
             computed from item sizes by DynamoDB's documented rules"
        ));
    }
    if corrected > 0 {
        source.push_str(&format!(
            "; {corrected} transactions or batch reads reported below their item sizes \
             (DynamoDB Local merges a transaction's items of identical capacity and bills no \
             batch key without an item) counted from item sizes"
        ));
    }
    report.capacity_source = source;
    Ok(report)
}
