//! On-demand prices (us-east-1, standard table class, 2026) and what a message costs at them.
//!
//! Sources: aws.amazon.com/dynamodb/pricing/on-demand (after the November 2024 cut: $0.625 per
//! million write request units, $0.125 per million read request units), /sqs/pricing
//! (standard queue, $0.40 per million requests, each 64 KB chunk of a request billed as one),
//! /lambda/pricing (arm64: $0.0000133334 per GB-second, $0.20 per million requests),
//! /api-gateway/pricing (HTTP API, $1.00 per million requests for the first 300 million a
//! month), /sns/pricing ($0.50 per million publishes; deliveries to Lambda are free), and
//! /ses/pricing ($0.10 per 1,000 emails).

use serde::Serialize;

/// Prices in dollars.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    pub dynamodb_write_per_million: f64,
    pub dynamodb_read_per_million: f64,
    pub sqs_per_million_requests: f64,
    pub lambda_per_gb_second: f64,
    pub lambda_per_million_requests: f64,
    /// `MemorySize` of the functions in `template.yaml`.
    pub lambda_memory_gb: f64,
    pub api_gateway_per_million_requests: f64,
    pub sns_per_million_publishes: f64,
    pub ses_per_million_emails: f64,
}

/// us-east-1, 2026.
pub const ON_DEMAND_2026: Prices = Prices {
    dynamodb_write_per_million: 0.625,
    dynamodb_read_per_million: 0.125,
    sqs_per_million_requests: 0.40,
    lambda_per_gb_second: 0.000_013_333_4,
    lambda_per_million_requests: 0.20,
    lambda_memory_gb: 0.25,
    api_gateway_per_million_requests: 1.00,
    sns_per_million_publishes: 0.50,
    ses_per_million_emails: 100.0,
};

/// What one message uses, on average.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub rcu: f64,
    pub wcu: f64,
    pub sqs_requests: f64,
    pub lambda_requests: f64,
    /// Billed Lambda time (ms).
    pub lambda_ms: f64,
    pub api_requests: f64,
    pub sns_publishes: f64,
}

impl Usage {
    pub fn plus(&self, o: &Usage) -> Usage {
        Usage {
            rcu: self.rcu + o.rcu,
            wcu: self.wcu + o.wcu,
            sqs_requests: self.sqs_requests + o.sqs_requests,
            lambda_requests: self.lambda_requests + o.lambda_requests,
            lambda_ms: self.lambda_ms + o.lambda_ms,
            api_requests: self.api_requests + o.api_requests,
            sns_publishes: self.sns_publishes + o.sns_publishes,
        }
    }

    pub fn lambda_gb_seconds(&self, prices: &Prices) -> f64 {
        self.lambda_ms / 1000.0 * prices.lambda_memory_gb
    }
}

/// Dollars per million messages, by service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    pub dynamodb_writes: f64,
    pub dynamodb_reads: f64,
    pub sqs: f64,
    pub lambda_compute: f64,
    pub lambda_requests: f64,
    pub api_gateway: f64,
    pub sns: f64,
}

impl Cost {
    pub fn of(u: &Usage, p: &Prices) -> Cost {
        Cost {
            dynamodb_writes: u.wcu * p.dynamodb_write_per_million,
            dynamodb_reads: u.rcu * p.dynamodb_read_per_million,
            sqs: u.sqs_requests * p.sqs_per_million_requests,
            lambda_compute: u.lambda_gb_seconds(p) * p.lambda_per_gb_second * 1e6,
            lambda_requests: u.lambda_requests * p.lambda_per_million_requests,
            api_gateway: u.api_requests * p.api_gateway_per_million_requests,
            sns: u.sns_publishes * p.sns_per_million_publishes,
        }
    }

    pub fn dynamodb(&self) -> f64 {
        self.dynamodb_writes + self.dynamodb_reads
    }

    pub fn total(&self) -> f64 {
        self.dynamodb()
            + self.sqs
            + self.lambda_compute
            + self.lambda_requests
            + self.api_gateway
            + self.sns
    }

    /// The total as a share of what SES charges for the same emails (percent).
    pub fn percent_of_ses(&self, p: &Prices) -> f64 {
        self.total() / p.ses_per_million_emails * 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_per_message_are_dollars_per_million_messages_at_unit_prices() {
        let u = Usage {
            rcu: 8.0,
            wcu: 3.0,
            sqs_requests: 0.5,
            lambda_requests: 1.0,
            lambda_ms: 20.0,
            api_requests: 1.0,
            sns_publishes: 0.0,
        };
        let c = Cost::of(&u, &ON_DEMAND_2026);
        assert!((c.dynamodb_writes - 1.875).abs() < 1e-9);
        assert!((c.dynamodb_reads - 1.0).abs() < 1e-9);
        assert!((c.sqs - 0.2).abs() < 1e-9);
        // 20 ms at 256 MB = 0.005 GB-s per message: 5,000 GB-s per million.
        assert!((c.lambda_compute - 5000.0 * 0.000_013_333_4).abs() < 1e-9);
        assert!((c.total() - (1.875 + 1.0 + 0.2 + 0.066667 + 0.2 + 1.0)).abs() < 1e-5);
        assert!((c.percent_of_ses(&ON_DEMAND_2026) - c.total()).abs() < 1e-9);
    }
}
