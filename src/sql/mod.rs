//! SQL text as PostgreSQL reads it: statements with exact spans, split by a real PostgreSQL parser
//! (squawk's), and byte-offset to line/column mapping.

mod cuts;
mod line_index;
mod sections;
pub(crate) mod split;

pub use cuts::{may_control_transaction, statement_cuts, without_comments};
pub use line_index::{LineCol, LineIndex};
pub use sections::{SectionTool, Sections, blank_outside, sections};
pub use split::{
    Statement, SyntaxProblem, past_statement_end, split_parsed, split_statements, split_tree,
    syntax_problems,
};
