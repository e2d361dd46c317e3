//! The summary of a benchmark run: every figure beside its target, as rows, from the parts the
//! benchmark programs wrote (`target/bench/parts/b*.json`) and criterion's estimates.

use serde::Serialize;
use serde_json::Value;

/// How a figure compares with its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Met,
    Missed,
    /// A figure shown for context, without a target of its own.
    Info,
}

impl Verdict {
    pub fn of(met: bool) -> Self {
        if met { Self::Met } else { Self::Missed }
    }

    pub fn mark(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Missed => "**missed**",
            Self::Info => "",
        }
    }
}

/// One line of the summary table.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub benchmark: String,
    pub figure: String,
    pub value: String,
    pub target: String,
    pub verdict: Verdict,
}

impl Row {
    pub fn new(
        benchmark: &str,
        figure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) -> Self {
        Self {
            benchmark: benchmark.into(),
            figure: figure.into(),
            value: value.into(),
            target: target.into(),
            verdict,
        }
    }
}

/// A number at `path` (`"a.b.c"`) in `v`.
pub fn num(v: &Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_f64()
}

/// Thousands separated by commas: 12345.6 -> "12,346".
pub fn grouped(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The summary table in Markdown.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out =
        String::from("| Benchmark | Figure | Measured | Target | |\n|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.benchmark,
            r.figure,
            r.value,
            r.target,
            r.verdict.mark()
        ));
    }
    out
}

/// The summary table as plain text for the terminal.
pub fn text_table(rows: &[Row]) -> String {
    let w = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0);
    let (wb, wf, wv, wt) = (
        w(|r| &r.benchmark),
        w(|r| &r.figure),
        w(|r| &r.value),
        w(|r| &r.target),
    );
    let mut out = String::new();
    for r in rows {
        let mark = match r.verdict {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::Info => "",
        };
        out.push_str(&format!(
            "{:wb$}  {:wf$}  {:>wv$}  {:wt$}  {}\n",
            r.benchmark, r.figure, r.value, r.target, mark
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0.4), "0");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(12345.6), "12,346");
        assert_eq!(grouped(1_000_000.0), "1,000,000");
        assert_eq!(grouped(-4321.0), "-4,321");
    }

    #[test]
    fn a_path_finds_nested_numbers() {
        let v = serde_json::json!({"a": {"b": {"c": 2.5}}, "n": 3});
        assert_eq!(num(&v, "a.b.c"), Some(2.5));
        assert_eq!(num(&v, "n"), Some(3.0));
        assert_eq!(num(&v, "a.x"), None);
    }

    #[test]
    fn the_markdown_table_marks_missed_targets() {
        let rows = [
            Row::new("B1", "email", "90%", ">= 80%", Verdict::Met),
            Row::new("B3", "1M msg/s", "9,000", ">= 20,000", Verdict::Missed),
        ];
        let md = markdown_table(&rows);
        assert!(md.contains("| B1 | email | 90% | >= 80% | met |"), "{md}");
        assert!(md.contains("| **missed** |"), "{md}");
    }
}
