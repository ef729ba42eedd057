//! Observed locks and rewrites beside the static analysis's predictions, and every disagreement.
//!
//! Only relations that existed before the migration count: the tracer reports no others, and
//! objects a migration creates are invisible to production. An `ACCESS SHARE` lock nobody predicted
//! (a view's query reading a table) conflicts with nothing but `ACCESS EXCLUSIVE` and is not a
//! disagreement.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::{AnalyzedStatement, LockMode, Target};
use crate::trace::TracedLock;

/// The relation kinds whose locks are compared: tables, partitioned tables, materialized views,
/// views.
const COMPARED_RELKINDS: [&str; 4] = ["r", "p", "m", "v"];

/// A lock the server showed the statement taking.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObservedLock {
    /// The relation, or the object (`type mood`) for an object lock.
    pub target: String,
    /// Whether it is an object lock (a type), not a relation lock.
    pub object: bool,
    /// The mode.
    pub mode: LockMode,
    /// Whether it was granted (a sampled lock may have been waited for).
    pub granted: bool,
}

/// A lock the analysis predicts for the statement, on a relation that existed before the
/// migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PredictedLock {
    /// The relation, or the type for an object lock.
    pub target: String,
    /// Whether it is an object lock (a type).
    pub object: bool,
    /// The mode.
    pub mode: LockMode,
    /// Whether the analysis predicts a rewrite of the relation.
    pub rewrite: bool,
    /// Whether the mode is taken only for the key of a row the statement writes (the
    /// foreign-key check on a referenced table): with no row written, or NULL keys, it is not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub per_row: bool,
    /// Whether the mode is taken only in a branch of a DO block (IF, CASE, a loop): with the
    /// branch not taken, it is not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub conditional: bool,
}

/// A lock the transaction holds because an earlier statement of it took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The strongest mode taken so far.
    pub mode: LockMode,
    /// The statement that took that mode: its index in the file (from 0) and its first line.
    pub since: (usize, usize),
}

/// A predicted lock the transaction already held when the statement ran (an earlier statement
/// took it, or a stronger one): the server takes it no new, so the statement shows no such lock
/// of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldLock {
    /// The relation, or the object as the tracer names it (`type mood`).
    pub target: String,
    /// Whether it is an object lock (a type).
    pub object: bool,
    /// The mode held.
    pub mode: LockMode,
    /// The statement that took it: its index in the file, from 0.
    pub since_statement: usize,
    /// That statement's first line.
    pub since_line: usize,
}

impl HeldLock {
    /// `held ACCESS EXCLUSIVE since #2` (statements numbered from 1, as the report lists them).
    pub fn since_statement_text(&self) -> String {
        format!("held {} since #{}", self.mode, self.since_statement + 1)
    }

    /// `ACCESS EXCLUSIVE held since line 19`.
    pub fn since_line_text(&self) -> String {
        format!("{} held since line {}", self.mode, self.since_line)
    }
}

impl PredictedLock {
    /// Its target as the tracer names it: the relation, or `type mood` for the enum `mood`.
    pub fn traced_target(&self) -> String {
        if self.object {
            format!("type {}", self.target)
        } else {
            self.target.clone()
        }
    }
}

/// The predictions of a statement that `held` (what earlier statements of its transaction took)
/// already covers with the same or a stronger mode, where the statement itself was `observed`
/// taking none, or a weaker one: what explains the server showing less than predicted.
pub fn held_before(
    predicted: &[PredictedLock],
    observed: &[ObservedLock],
    held: &BTreeMap<String, Held>,
) -> Vec<HeldLock> {
    predicted
        .iter()
        .filter_map(|prediction| {
            let key = prediction.traced_target();
            let shows_less = observed
                .iter()
                .filter(|o| o.object == prediction.object && o.target == key)
                .all(|o| o.mode < prediction.mode);
            let held = held
                .get(&key)
                .filter(|h| shows_less && h.mode >= prediction.mode)?;
            Some(HeldLock {
                target: key,
                object: prediction.object,
                mode: held.mode,
                since_statement: held.since.0,
                since_line: held.since.1,
            })
        })
        .collect()
}

/// How the server and the analysis disagree about one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DisagreementKind {
    /// The server took a stronger lock than predicted.
    Stronger {
        /// Predicted.
        predicted: LockMode,
        /// Taken.
        observed: LockMode,
    },
    /// The server took a weaker lock than predicted.
    Weaker {
        /// Predicted.
        predicted: LockMode,
        /// Taken.
        observed: LockMode,
    },
    /// The server took a lock the analysis did not predict.
    NotPredicted {
        /// Taken.
        observed: LockMode,
    },
    /// The analysis predicted a lock the server did not take.
    NotTaken {
        /// Predicted.
        predicted: LockMode,
    },
    /// The server rewrote the relation; the analysis did not predict it.
    RewriteNotPredicted,
    /// The analysis predicted a rewrite that did not happen.
    RewriteAbsent,
}

/// One disagreement between the server and the static analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    /// The relation (or type).
    pub target: String,
    /// What differs.
    #[serde(flatten)]
    pub kind: DisagreementKind,
    /// In words.
    pub message: String,
}

impl Disagreement {
    fn new(target: &str, kind: DisagreementKind) -> Disagreement {
        let message = match &kind {
            DisagreementKind::Stronger {
                predicted,
                observed,
            } => format!(
                "the server took {observed} on `{target}`, stronger than the predicted {predicted}"
            ),
            DisagreementKind::Weaker {
                predicted,
                observed,
            } => format!(
                "the server took {observed} on `{target}`, weaker than the predicted {predicted}"
            ),
            DisagreementKind::NotPredicted { observed } => {
                format!(
                    "the server took {observed} on `{target}`, which the analysis did not predict"
                )
            }
            DisagreementKind::NotTaken { predicted } => format!(
                "the analysis predicted {predicted} on `{target}`; the server took no new lock on it"
            ),
            DisagreementKind::RewriteNotPredicted => {
                format!(
                    "the server rewrote `{target}` (new relfilenode); the analysis did not predict a rewrite"
                )
            }
            DisagreementKind::RewriteAbsent => format!(
                "the analysis predicted a rewrite of `{target}`; the server did not rewrite it"
            ),
        };
        Disagreement {
            target: target.to_string(),
            kind,
            message,
        }
    }
}

/// What the server did in one statement, reduced to what is compared.
pub struct Observation<'a> {
    /// Relations rewritten (tables and materialized views only).
    pub rewritten: &'a [String],
    /// Whether the locks were sampled while the statement ran (outside a transaction), so a
    /// short lock may have gone unseen: only what was seen is held against the analysis.
    pub sampled: bool,
    /// The statement: its index in the file (from 0) and its first line (what it takes is held
    /// from then on).
    pub statement: (usize, usize),
}

/// The strongest observed lock per relation (compared kinds), and object locks.
pub fn observed_locks(locks: &[TracedLock]) -> Vec<ObservedLock> {
    let mut strongest: BTreeMap<(bool, String), (LockMode, bool)> = BTreeMap::new();
    for lock in locks {
        let Some(mode) = lock.lock_mode else { continue };
        let key = match (&lock.relation, &lock.relkind, &lock.object) {
            (Some(relation), Some(kind), _) if COMPARED_RELKINDS.contains(&kind.as_str()) => {
                (false, relation.clone())
            }
            (None, _, Some(object)) if object.starts_with("type ") => (true, unquoted(object)),
            _ => continue,
        };
        let entry = strongest.entry(key).or_insert((mode, lock.granted));
        if mode > entry.0 {
            *entry = (mode, lock.granted);
        }
    }
    strongest
        .into_iter()
        .map(|((object, target), (mode, granted))| ObservedLock {
            target,
            object,
            mode,
            granted,
        })
        .collect()
}

/// An object as the server describes it (`type "Mood"`, `type "Sales"."Mood"`) with the quotes
/// around its identifiers taken off, as the analysis names it (`type Mood`, `type Sales.Mood`).
fn unquoted(object: &str) -> String {
    let mut out = String::with_capacity(object.len());
    let mut chars = object.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                out.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c => out.push(c),
        }
    }
    out
}

/// The analysis's locks for the statement on relations that existed before the migration (and
/// on types), strongest per target.
pub fn predicted_locks(
    statement: &AnalyzedStatement,
    existed: impl Fn(&str) -> bool,
) -> Vec<PredictedLock> {
    let mut out: Vec<PredictedLock> = Vec::new();
    for fact in &statement.locks {
        let object = match fact.target {
            Target::Table => false,
            Target::TypeObject => true,
            Target::Index | Target::IndexesOf => continue,
        };
        if !object && !existed(&fact.relation) {
            continue;
        }
        let per_row = fact.shape.per_written_row();
        match out
            .iter_mut()
            .find(|p| p.object == object && p.target == fact.relation)
        {
            Some(previous) => {
                if fact.mode > previous.mode {
                    previous.per_row = per_row;
                    previous.conditional = fact.conditional;
                } else if fact.mode == previous.mode {
                    previous.per_row &= per_row;
                    previous.conditional &= fact.conditional;
                }
                previous.mode = previous.mode.max(fact.mode);
                previous.rewrite |= fact.rewrite;
            }
            None => out.push(PredictedLock {
                target: fact.relation.clone(),
                object,
                mode: fact.mode,
                rewrite: fact.rewrite,
                per_row,
                conditional: fact.conditional,
            }),
        }
    }
    out
}

/// Every disagreement of one statement. `held` carries the strongest lock per relation taken by
/// earlier statements of the same transaction (a lock already held is not taken again), and is
/// updated.
pub fn disagreements(
    predicted: &[PredictedLock],
    observed: &[ObservedLock],
    observation: &Observation<'_>,
    held: &mut BTreeMap<String, Held>,
) -> Vec<Disagreement> {
    let mut out = Vec::new();
    let seen = |target: &str, object: bool| {
        observed
            .iter()
            .find(|o| o.object == object && o.target == target)
    };
    for prediction in predicted {
        if prediction.object {
            // `type mood` for the enum `mood`.
            let found = observed.iter().any(|o| {
                o.object && o.mode == prediction.mode && o.target.ends_with(&prediction.target)
            });
            // Held since an earlier statement of the transaction (a second ADD VALUE).
            let already = held
                .get(&prediction.traced_target())
                .is_some_and(|h| h.mode >= prediction.mode);
            if !found && !already && !observation.sampled {
                out.push(Disagreement::new(
                    &prediction.target,
                    DisagreementKind::NotTaken {
                        predicted: prediction.mode,
                    },
                ));
            }
            continue;
        }
        let already = held
            .get(&prediction.target)
            .is_some_and(|h| h.mode >= prediction.mode);
        match seen(&prediction.target, false).map(|o| o.mode) {
            Some(mode) if mode == prediction.mode => {}
            Some(mode) if mode > prediction.mode => out.push(Disagreement::new(
                &prediction.target,
                DisagreementKind::Stronger {
                    predicted: prediction.mode,
                    observed: mode,
                },
            )),
            _ if already || observation.sampled => {}
            // The check of a written row's key: none when no row is written (a copy holds no
            // data to update) or every key written is NULL. A DO block's branch not taken takes
            // nothing.
            _ if prediction.per_row || prediction.conditional => {}
            Some(mode) => out.push(Disagreement::new(
                &prediction.target,
                DisagreementKind::Weaker {
                    predicted: prediction.mode,
                    observed: mode,
                },
            )),
            None => out.push(Disagreement::new(
                &prediction.target,
                DisagreementKind::NotTaken {
                    predicted: prediction.mode,
                },
            )),
        }
        let rewritten = observation.rewritten.contains(&prediction.target);
        if prediction.rewrite && !rewritten {
            out.push(Disagreement::new(
                &prediction.target,
                DisagreementKind::RewriteAbsent,
            ));
        }
    }
    for lock in observed.iter().filter(|o| !o.object) {
        let predicted_here = predicted
            .iter()
            .any(|p| !p.object && p.target == lock.target);
        if !predicted_here && lock.mode != LockMode::AccessShare {
            out.push(Disagreement::new(
                &lock.target,
                DisagreementKind::NotPredicted {
                    observed: lock.mode,
                },
            ));
        }
    }
    for relation in observation.rewritten {
        let predicted_rewrite = predicted
            .iter()
            .any(|p| !p.object && p.rewrite && &p.target == relation);
        if !predicted_rewrite {
            out.push(Disagreement::new(
                relation,
                DisagreementKind::RewriteNotPredicted,
            ));
        }
    }
    // Relations by name, objects as the tracer names them (`type mood`).
    for lock in observed {
        let taken = Held {
            mode: lock.mode,
            since: observation.statement,
        };
        let entry = held.entry(lock.target.clone()).or_insert(taken);
        if lock.mode > entry.mode {
            *entry = taken;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(relation: &str, mode: LockMode) -> TracedLock {
        TracedLock {
            locktype: "relation".into(),
            relation: Some(relation.into()),
            relkind: Some("r".into()),
            object: None,
            mode: mode.pg_name().into(),
            lock_mode: Some(mode),
            granted: true,
        }
    }

    /// The disagreements' messages of one statement, traced alone (nothing held before, no
    /// rewrite, not sampled).
    fn against(predicted: &[PredictedLock], observed: &[TracedLock]) -> Vec<String> {
        disagreements(
            predicted,
            &observed_locks(observed),
            &Observation {
                rewritten: &[],
                sampled: false,
                statement: (0, 1),
            },
            &mut BTreeMap::new(),
        )
        .into_iter()
        .map(|d| d.message)
        .collect()
    }

    fn predicted(target: &str, mode: LockMode, rewrite: bool) -> PredictedLock {
        PredictedLock {
            target: target.into(),
            object: false,
            mode,
            rewrite,
            per_row: false,
            conditional: false,
        }
    }

    #[test]
    fn every_kind_of_disagreement_is_named() {
        use LockMode::*;
        let traced = [
            lock("a", AccessExclusive),
            lock("a", ShareUpdateExclusive),
            lock("b", Share),
            lock("c", RowExclusive),
            lock("v", AccessShare),
        ];
        let observed = observed_locks(&traced);
        assert_eq!(observed[0].mode, AccessExclusive, "strongest per relation");
        let rewritten = vec!["b".to_string()];
        let observation = Observation {
            rewritten: &rewritten,
            sampled: false,
            statement: (0, 1),
        };
        let predictions = [
            predicted("a", Share, true),
            predicted("b", AccessExclusive, false),
            predicted("d", ShareRowExclusive, false),
        ];
        let mut held = BTreeMap::new();
        let found: Vec<String> = disagreements(&predictions, &observed, &observation, &mut held)
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert_eq!(
            found,
            vec![
                "the server took ACCESS EXCLUSIVE on `a`, stronger than the predicted SHARE",
                "the analysis predicted a rewrite of `a`; the server did not rewrite it",
                "the server took SHARE on `b`, weaker than the predicted ACCESS EXCLUSIVE",
                "the analysis predicted SHARE ROW EXCLUSIVE on `d`; the server took no new lock on it",
                "the server took ROW EXCLUSIVE on `c`, which the analysis did not predict",
                "the server rewrote `b` (new relfilenode); the analysis did not predict a rewrite",
            ]
        );
        // A lock held since an earlier statement is not taken again.
        let again = disagreements(
            &[predicted("a", AccessExclusive, false)],
            &[],
            &Observation {
                rewritten: &[],
                sampled: false,
                statement: (0, 1),
            },
            &mut held,
        );
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn a_lock_an_earlier_statement_took_is_named_with_that_statement() {
        use LockMode::*;
        let at = |statement| Observation {
            rewritten: &[],
            sampled: false,
            statement,
        };
        let mut held = BTreeMap::new();
        // Statement 2 (index 1, line 19) takes ACCESS EXCLUSIVE on `run`.
        let first = disagreements(
            &[predicted("run", AccessExclusive, false)],
            &observed_locks(&[lock("run", AccessExclusive)]),
            &at((1, 19)),
            &mut held,
        );
        assert!(first.is_empty(), "{first:?}");
        let later = [
            predicted("run", ShareRowExclusive, false),
            predicted("other", Share, false),
        ];
        let covered = held_before(&later, &[], &held);
        assert_eq!(
            covered,
            vec![HeldLock {
                target: "run".into(),
                object: false,
                mode: AccessExclusive,
                since_statement: 1,
                since_line: 19,
            }]
        );
        assert_eq!(
            covered[0].since_statement_text(),
            "held ACCESS EXCLUSIVE since #2"
        );
        assert_eq!(
            covered[0].since_line_text(),
            "ACCESS EXCLUSIVE held since line 19"
        );
        // A weaker lock taken later leaves the stronger one's statement; a stronger one moves it.
        disagreements(
            &[],
            &observed_locks(&[lock("run", RowShare), lock("other", Share)]),
            &at((15, 97)),
            &mut held,
        );
        assert_eq!(held_before(&later, &[], &held)[0].since_statement, 1);
        assert_eq!(held_before(&later, &[], &held)[1].since_line, 97);
        assert!(held_before(&[predicted("other", Exclusive, false)], &[], &held).is_empty());
        // Seen taking the predicted mode itself: nothing to explain; a weaker one: explained.
        let seen = |mode| observed_locks(&[lock("run", mode)]);
        assert!(held_before(&later[..1], &seen(ShareRowExclusive), &held).is_empty());
        assert_eq!(held_before(&later[..1], &seen(RowShare), &held).len(), 1);
    }

    #[test]
    fn a_quoted_type_matches_the_analysis_name() {
        let traced = TracedLock {
            locktype: "object".into(),
            relation: None,
            relkind: None,
            object: Some("type \"SubscriptionStatus\"".into()),
            mode: "ExclusiveLock".into(),
            lock_mode: Some(LockMode::Exclusive),
            granted: true,
        };
        let observed = observed_locks(&[traced]);
        assert_eq!(observed[0].target, "type SubscriptionStatus");
        let prediction = PredictedLock {
            object: true,
            ..predicted("SubscriptionStatus", LockMode::Exclusive, false)
        };
        // The quoted name matches; a second ADD VALUE in the same transaction finds the lock
        // held already.
        let mut held = BTreeMap::new();
        let first = disagreements(
            std::slice::from_ref(&prediction),
            &observed,
            &Observation {
                rewritten: &[],
                sampled: false,
                statement: (0, 1),
            },
            &mut held,
        );
        let second = disagreements(
            &[prediction],
            &[],
            &Observation {
                rewritten: &[],
                sampled: false,
                statement: (0, 1),
            },
            &mut held,
        );
        assert!(first.is_empty() && second.is_empty(), "{second:?}");
        assert_eq!(
            unquoted("type \"Sales\".\"A \"\"b\"\"\""),
            "type Sales.A \"b\""
        );
    }

    /// The foreign-key check of a written row's key takes ROW SHARE on the referenced table; on
    /// a copy without data an UPDATE writes no row, and a NULL key is not checked, so the server
    /// may only read the table or not lock it: not held against the analysis. A stronger lock is.
    #[test]
    fn a_foreign_key_check_is_not_held_against_the_server_unless_it_took_more() {
        use LockMode::*;
        let check = PredictedLock {
            per_row: true,
            ..predicted("networks", RowShare, false)
        };
        let found = |observed: &[TracedLock]| {
            against(
                &[check.clone(), predicted("flows", RowExclusive, false)],
                observed,
            )
        };
        let flows = lock("flows", RowExclusive);
        assert_eq!(
            found(&[lock("networks", AccessShare), flows.clone()]),
            Vec::<String>::new()
        );
        assert_eq!(found(std::slice::from_ref(&flows)), Vec::<String>::new());
        assert_eq!(
            found(&[lock("networks", Share), flows]),
            vec!["the server took SHARE on `networks`, stronger than the predicted ROW SHARE"]
        );
    }

    /// A lock written in a branch of a DO block is taken only when the branch is: a copy where
    /// the `IF NOT EXISTS …` finds the column already there takes nothing, and that is no
    /// disagreement. A stronger lock than predicted still is.
    #[test]
    fn a_lock_in_a_branch_not_taken_is_not_held_against_the_server() {
        use LockMode::*;
        let branch = PredictedLock {
            conditional: true,
            ..predicted("users", AccessExclusive, false)
        };
        let found = |observed: &[TracedLock]| against(std::slice::from_ref(&branch), observed);
        assert!(found(&[]).is_empty());
        assert!(found(&[lock("users", AccessShare)]).is_empty());
        assert!(found(&[lock("users", AccessExclusive)]).is_empty());
        let unconditional = against(&[predicted("users", AccessExclusive, false)], &[]);
        assert_eq!(unconditional.len(), 1);
    }
}
