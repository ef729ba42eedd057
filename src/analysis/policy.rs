//! A project's rule policy: rules turned off and severities changed by configuration
//! (`lockstep.toml` `[lint]`, or squawk's `.squawk.toml`), applied to a finished report.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rules::{RULES, lookup};
use super::{Finding, LintReport, Severity};

/// Where a rule's effective setting comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// lockstep's default.
    Default,
    /// `[lint]` of `lockstep.toml`.
    LockstepToml,
    /// `excluded_rules` of `.squawk.toml`.
    SquawkToml,
    /// `[environments.NAME.lint]` of `lockstep.toml`, for the selected environment.
    Environment,
}

impl Origin {
    /// `default`, `lockstep.toml` or `.squawk.toml`.
    pub fn label(self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::LockstepToml => "lockstep.toml",
            Origin::SquawkToml => ".squawk.toml",
            Origin::Environment => "the environment's [lint] override",
        }
    }
}

/// What configuration says about one rule: `None` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// The severity its findings get, or `None` when the rule is off.
    pub severity: Option<Severity>,
    /// Where that comes from.
    pub origin: Origin,
}

/// The rules configuration changes; every other rule keeps its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RulePolicy {
    /// Settings by lockstep rule name.
    pub rules: BTreeMap<&'static str, Setting>,
    /// The environment whose `[environments.NAME.lint]` overrides are in, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl RulePolicy {
    /// Sets a rule (by its lockstep name) off (`None`) or to a severity.
    pub fn set(&mut self, rule: &'static str, severity: Option<Severity>, origin: Origin) {
        self.rules.insert(rule, Setting { severity, origin });
    }

    /// This policy with `overrides` (an environment's) on top: their rules win.
    pub fn overridden_by(&self, overrides: &RulePolicy) -> RulePolicy {
        let mut merged = self.clone();
        merged
            .rules
            .extend(overrides.rules.iter().map(|(k, v)| (*k, *v)));
        merged.environment = overrides.environment.clone();
        merged
    }

    /// A rule's effective setting (its default unless configured); `None` for an unknown rule.
    pub fn effective(&self, rule: &str) -> Option<Setting> {
        let info = lookup(rule)?;
        Some(self.rules.get(info.name).copied().unwrap_or(Setting {
            severity: Some(info.severity),
            origin: Origin::Default,
        }))
    }

    /// Drops the findings of rules that are off and gives the others their configured severity.
    pub fn apply(&self, report: &mut LintReport) {
        for file in &mut report.files {
            self.apply_to(&mut file.analysis.findings);
        }
    }

    /// [`RulePolicy::apply`] to one file's findings (as the dashboard shows them).
    pub fn apply_to(&self, findings: &mut Vec<Finding>) {
        if self.rules.is_empty() {
            return;
        }
        findings.retain_mut(
            |finding| match self.rules.get(finding.rule).map(|s| s.severity) {
                None => true,
                Some(None) => false,
                Some(Some(severity)) => {
                    finding.severity = severity;
                    true
                }
            },
        );
    }

    /// Every rule with its effective setting, in registry order.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, Setting)> + '_ {
        RULES
            .iter()
            .filter_map(|r| self.effective(r.name).map(|s| (r.name, s)))
    }
}
