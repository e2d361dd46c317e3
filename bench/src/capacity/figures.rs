//! The figures of a run, per message: capacity units (table and index), the calls behind them,
//! what the other services are used for, and what it all costs at on-demand prices; and how
//! they are printed.

use serde::Serialize;

use super::meter::Tally;
use super::price::{Cost, Prices, Usage};
use super::run::Phase;

/// One kind of call, per message.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// `PutItem message`, `TransactWriteItems message+providerMessage`…
    pub operation: String,
    pub calls_per_message: f64,
    pub rcu_per_message: f64,
    pub wcu_per_message: f64,
    pub wcu_table_per_message: f64,
    pub wcu_index_per_message: f64,
    /// From item sizes by the documented rules, for comparison.
    pub computed_wcu_per_message: f64,
    pub computed_rcu_per_message: f64,
    /// The mean size of the items its requests put, when they put whole items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_item_bytes: Option<f64>,
    /// Calls whose capacity DynamoDB Local reported; the others were computed from item sizes.
    pub reported_calls: u64,
    /// Reported transactions raised to what their item sizes give.
    pub corrected_calls: u64,
    pub calls: u64,
}

/// One path (sending, or recording the delivery events), per message.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathFigures {
    pub messages: u64,
    pub rcu_per_message: f64,
    pub wcu_per_message: f64,
    pub wcu_table_per_message: f64,
    pub wcu_index_per_message: f64,
    pub computed_rcu_per_message: f64,
    pub computed_wcu_per_message: f64,
    pub dynamodb_calls_per_message: f64,
    /// Calls whose capacity DynamoDB Local reported, and calls counted from item sizes
    /// instead (refused conditions, or no report).
    pub reported_calls: u64,
    pub computed_calls: u64,
    /// Reported transactions DynamoDB Local under-reported, counted from item sizes instead.
    pub corrected_calls: u64,
    pub usage: Usage,
    pub lambda_gb_seconds_per_message: f64,
    pub cost: Cost,
    pub dollars_per_million: f64,
    pub percent_of_ses: f64,
    /// Every kind of call, most write units first.
    pub operations: Vec<Operation>,
}

fn operation(name: &str, t: &Tally, n: f64) -> Operation {
    Operation {
        operation: name.to_string(),
        calls_per_message: t.calls as f64 / n,
        rcu_per_message: t.rcu / n,
        wcu_per_message: t.wcu() / n,
        wcu_table_per_message: t.wcu_table / n,
        wcu_index_per_message: t.wcu_index / n,
        computed_wcu_per_message: t.computed_wcu / n,
        computed_rcu_per_message: t.computed_rcu / n,
        mean_item_bytes: (t.items_put > 0).then(|| t.bytes_put as f64 / t.items_put as f64),
        reported_calls: t.reported_calls,
        corrected_calls: t.corrected_calls,
        calls: t.calls,
    }
}

impl PathFigures {
    /// The figures of `phase`; `lambda_ms` replaces the measured Lambda time per message.
    pub fn of(phase: &Phase, lambda_ms: Option<f64>, prices: &Prices) -> PathFigures {
        let n = phase.messages.max(1) as f64;
        let total = phase.ledger.total();
        let usage = Usage {
            rcu: total.rcu / n,
            wcu: total.wcu() / n,
            sqs_requests: phase.sqs_requests as f64 / n,
            lambda_requests: phase.lambda_invocations as f64 / n,
            lambda_ms: lambda_ms.unwrap_or(phase.lambda_ms / n),
            api_requests: phase.api_requests as f64 / n,
            sns_publishes: phase.sns_publishes as f64 / n,
        };
        let cost = Cost::of(&usage, prices);
        let mut operations: Vec<Operation> = phase
            .ledger
            .calls
            .iter()
            .map(|(name, t)| operation(name, t, n))
            .collect();
        operations.sort_by(|a, b| {
            b.wcu_per_message
                .total_cmp(&a.wcu_per_message)
                .then(b.rcu_per_message.total_cmp(&a.rcu_per_message))
        });
        PathFigures {
            messages: phase.messages,
            rcu_per_message: usage.rcu,
            wcu_per_message: usage.wcu,
            wcu_table_per_message: total.wcu_table / n,
            wcu_index_per_message: total.wcu_index / n,
            computed_rcu_per_message: total.computed_rcu / n,
            computed_wcu_per_message: total.computed_wcu / n,
            dynamodb_calls_per_message: total.calls as f64 / n,
            reported_calls: total.reported_calls,
            computed_calls: total.calls - total.reported_calls,
            corrected_calls: total.corrected_calls,
            lambda_gb_seconds_per_message: usage.lambda_gb_seconds(prices),
            dollars_per_million: cost.total(),
            percent_of_ses: cost.percent_of_ses(prices),
            usage,
            cost,
            operations,
        }
    }
}

/// Sending plus recording the delivery events, per message.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Combined {
    pub rcu_per_message: f64,
    pub wcu_per_message: f64,
    pub usage: Usage,
    pub cost: Cost,
    pub dollars_per_million: f64,
    pub percent_of_ses: f64,
}

impl Combined {
    pub fn of(send: &PathFigures, feedback: &PathFigures, prices: &Prices) -> Combined {
        let usage = send.usage.plus(&feedback.usage);
        let cost = Cost::of(&usage, prices);
        Combined {
            rcu_per_message: usage.rcu,
            wcu_per_message: usage.wcu,
            dollars_per_million: cost.total(),
            percent_of_ses: cost.percent_of_ses(prices),
            usage,
            cost,
        }
    }
}

/// One scenario: the sending path (the headline figures, flattened), and the delivery events'
/// own cost and the sum when they were measured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    pub label: String,
    #[serde(flatten)]
    pub send: PathFigures,
    /// `measured in-process` or `--lambda-ms-per-message`.
    pub lambda_ms_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_feedback: Option<PathFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_delivery_feedback: Option<Combined>,
}

/// The per-message summary table.
pub fn summary_table(rows: &[(&str, &Scenario)]) -> String {
    let mut out = format!(
        "{:<44} {:>6} {:>8} {:>22} {:>9} {:>8} {:>10} {:>9} {:>8}\n",
        "",
        "msgs",
        "RCU/msg",
        "WCU/msg (table+index)",
        "calls/msg",
        "SQS/msg",
        "Lambda ms",
        "$/M msgs",
        "% of SES"
    );
    let line = |out: &mut String, label: &str, msgs: u64, p: &PathFigures| {
        out.push_str(&format!(
            "{:<44} {:>6} {:>8.2} {:>22} {:>9.2} {:>8.3} {:>10.2} {:>9.2} {:>7.2}%\n",
            label,
            msgs,
            p.rcu_per_message,
            format!(
                "{:.2} ({:.2}+{:.2})",
                p.wcu_per_message, p.wcu_table_per_message, p.wcu_index_per_message
            ),
            p.dynamodb_calls_per_message,
            p.usage.sqs_requests,
            p.usage.lambda_ms,
            p.dollars_per_million,
            p.percent_of_ses
        ));
    };
    for (label, s) in rows {
        line(&mut out, label, s.send.messages, &s.send);
        if let (Some(f), Some(c)) = (&s.delivery_feedback, &s.with_delivery_feedback) {
            line(
                &mut out,
                "  its SES delivery events (feedback)",
                f.messages,
                f,
            );
            out.push_str(&format!(
                "{:<44} {:>6} {:>8.2} {:>22.2} {:>9} {:>8.3} {:>10.2} {:>9.2} {:>7.2}%\n",
                "  sending + delivery events",
                "",
                c.rcu_per_message,
                c.wcu_per_message,
                "",
                c.usage.sqs_requests,
                c.usage.lambda_ms,
                c.dollars_per_million,
                c.percent_of_ses
            ));
        }
    }
    out
}

/// Dollars per million messages by service.
pub fn cost_table(rows: &[(&str, &Cost)]) -> String {
    let mut out = format!(
        "{:<44} {:>9} {:>8} {:>7} {:>10} {:>10} {:>7} {:>6} {:>8}\n",
        "$ per million messages",
        "DDB write",
        "DDB read",
        "SQS",
        "Lambda GBs",
        "Lambda req",
        "API GW",
        "SNS",
        "total"
    );
    for (label, c) in rows {
        out.push_str(&format!(
            "{:<44} {:>9.3} {:>8.3} {:>7.3} {:>10.3} {:>10.3} {:>7.3} {:>6.3} {:>8.3}\n",
            label,
            c.dynamodb_writes,
            c.dynamodb_reads,
            c.sqs,
            c.lambda_compute,
            c.lambda_requests,
            c.api_gateway,
            c.sns,
            c.total()
        ));
    }
    out
}

/// The operations of a path, most write units first (`top` of them, or all).
pub fn operations_table(p: &PathFigures, top: Option<usize>) -> String {
    let mut out = format!(
        "  {:<52} {:>9} {:>22} {:>8} {:>10} {:>9}\n",
        "operation entities",
        "calls/msg",
        "WCU/msg (table+index)",
        "RCU/msg",
        "item bytes",
        "reported"
    );
    let n = top.unwrap_or(p.operations.len());
    for o in p.operations.iter().take(n) {
        out.push_str(&format!(
            "  {:<52} {:>9.3} {:>22} {:>8.3} {:>10} {:>9}\n",
            o.operation,
            o.calls_per_message,
            format!(
                "{:.3} ({:.3}+{:.3})",
                o.wcu_per_message, o.wcu_table_per_message, o.wcu_index_per_message
            ),
            o.rcu_per_message,
            o.mean_item_bytes
                .map_or(String::new(), |b| format!("{b:.0}")),
            match (o.reported_calls == o.calls, o.corrected_calls) {
                (true, 0) => "yes".to_string(),
                (_, 0) => format!("{}/{}", o.reported_calls, o.calls),
                (_, c) => format!("{}/{} ({c} low)", o.reported_calls, o.calls),
            }
        ));
    }
    out
}
