//! No input makes the analyser panic; every span lies within the text on character boundaries.

use lockstep::analysis::{AnalysisContext, analyze};
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    "CREATE INDEX CONCURRENTLY ix ON t (a);",
    "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT gen_random_uuid(), ALTER COLUMN d TYPE bigint;",
    "ALTER TABLE \"Weird \"\"name\" ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) NOT VALID;",
    "-- squawk-ignore ban-drop-table\nDROP TABLE t;",
    "BEGIN; SET LOCAL lock_timeout = '1s'; COMMIT;",
    "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql;",
    "SELECT set_config('lock_timeout', '1s', false);",
    "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY;",
    "VACUUM (FULL, ANALYZE) t; REINDEX TABLE CONCURRENTLY t;",
    "ALTER TYPE e ADD VALUE 'x' BEFORE 'y'; /* é ü 漢字 */",
];

fn check(text: &str, ctx: &AnalysisContext) {
    let analysis = analyze(text, ctx);
    for f in analysis.findings.iter().chain(&analysis.suppressed) {
        assert!(
            f.span.start <= f.span.end && f.span.end <= text.len(),
            "{f:?}"
        );
        assert!(
            text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end),
            "{f:?}"
        );
        if let Some(fix) = &f.fix {
            for edit in &fix.edits {
                assert!(edit.span.end <= text.len() && text.is_char_boundary(edit.span.start));
            }
            let _ = fix.apply(text);
        }
    }
    for s in &analysis.statements {
        assert!(
            s.span.end <= text.len()
                && text.is_char_boundary(s.span.start)
                && text.is_char_boundary(s.span.end)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        check(&text, &AnalysisContext::default());
    }

    #[test]
    fn sql_like_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("CREATE"), Just("INDEX"), Just("CONCURRENTLY"), Just("ALTER"), Just("TABLE"),
                Just("ADD"), Just("COLUMN"), Just("CONSTRAINT"), Just("CHECK"), Just("("), Just(")"),
                Just(";"), Just(","), Just("t"), Just("\"q\""), Just("'s'"), Just("$$"), Just("--"),
                Just("/*"), Just("*/"), Just("\n"), Just("NOT"), Just("VALID"), Just("BEGIN"),
                Just("COMMIT"), Just("SET"), Just("lock_timeout"), Just("="), Just("DROP"),
                Just("REFERENCES"), Just("squawk-ignore"), Just("é"), Just("DEFAULT"), Just("f()"),
            ],
            0..40,
        ),
        pg in prop_oneof![Just(9u32), Just(95), Just(11), Just(12), Just(14), Just(18)],
        in_tx in any::<bool>(),
    ) {
        let text = parts.join(" ");
        let ctx = AnalysisContext { pg_version: pg, in_transaction: in_tx, ..AnalysisContext::default() };
        check(&text, &ctx);
    }

    #[test]
    fn truncated_migrations_never_panic(seed in 0..SEEDS.len(), cut in 0usize..200) {
        let text = SEEDS[seed];
        let mut end = cut.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        check(&text[..end], &AnalysisContext::default());
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    // Test threads have small stacks; the parser recurses per nesting level.
    for (open, close) in [("(", ")"), ("ARRAY[", "]")] {
        let text = format!(
            "SELECT {}1{};\nDROP TABLE t;",
            open.repeat(30_000),
            close.repeat(30_000)
        );
        let analysis = analyze(&text, &AnalysisContext::default());
        assert!(
            analysis.findings.iter().any(|f| f.rule == "drop-table"),
            "the statement after it is still analysed"
        );
    }
}
