//! Helpers shared by the analysis tests.

use lockstep::analysis::{Analysis, AnalysisContext, analyze};

/// Context: version `pg`, runner transaction `in_tx`.
pub fn ctx(pg: u32, in_tx: bool) -> AnalysisContext {
    AnalysisContext {
        pg_version: pg,
        in_transaction: in_tx,
        ..AnalysisContext::default()
    }
}

/// Analyses with the default context (15, in a transaction).
pub fn run(sql: &str) -> Analysis {
    analyze(sql, &AnalysisContext::default())
}

/// The rule names of the remaining findings.
pub fn rules(analysis: &Analysis) -> Vec<&'static str> {
    analysis.findings.iter().map(|f| f.rule).collect()
}

/// The line and message of each finding of `rule`, in order.
pub fn found<'a>(analysis: &'a Analysis, rule: &str) -> Vec<(usize, &'a str)> {
    analysis
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.start.line, f.message.as_str()))
        .collect()
}
