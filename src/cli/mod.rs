//! The command-line interface: subcommands and their output. A thin layer over the engine.

mod audit;
mod check;
mod demo;
mod env;
mod guard;
mod history;
mod inspect;
mod lint;
mod migrate;
mod new;
mod output;
mod rehearse;
mod resolve;
mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::analysis::lint::Chain;
use crate::config::{Config, parse_duration};
use crate::db::{Database, configured_url, start_sandbox};
use crate::guard::Environment;
use crate::runner::RunOptions;
use crate::source::{self, MigrationSet};

/// Exit code when `status --check` finds something pending, drifted, missing or failed.
pub const EXIT_NEEDS_ATTENTION: u8 = 3;
/// Exit code when a run was interrupted with Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Review and run sqlx migrations on PostgreSQL safely.
#[derive(Debug, Parser)]
#[command(name = "lockstep", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

impl Cli {
    /// Whether the process may end as soon as the command has returned, without freeing its
    /// memory: `lint`, whose report and parse data are large and all written out by then.
    pub fn exits_at_once(&self) -> bool {
        matches!(self.command, Some(Command::Lint(_)))
    }

    /// Whether the command runs on a single-threaded runtime: the commands that print and exit,
    /// whose work is waiting on the server (or, for `lint`, its own threads: no runtime workers
    /// to start, and none competing with them for the cores). The dashboard, the demo, `inspect`
    /// and `rehearse` keep worker threads.
    pub fn single_threaded(&self) -> bool {
        matches!(
            self.command,
            Some(
                Command::Status(_)
                    | Command::Up(_)
                    | Command::Down(_)
                    | Command::Redo(_)
                    | Command::Resolve(_)
                    | Command::New(_)
                    | Command::Check(_)
                    | Command::Env(_)
                    | Command::History(_)
                    | Command::Lint(_)
            )
        )
    }
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
struct Global {
    /// Database URL (default: DATABASE_URL, then .env, then lockstep.toml; with none, a throwaway
    /// PostgreSQL of lockstep's own).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// The environment of lockstep.toml ([environments.NAME]) to run in: its database, snapshot,
    /// confirmation and lint settings.
    #[arg(long = "env", global = true, value_name = "NAME", env = "LOCKSTEP_ENV")]
    environment: Option<String>,
    /// The migrations directory (default: sqlx.toml `[migrate] migrations-dir`, else ./migrations).
    #[arg(long, global = true, value_name = "DIR")]
    source: Option<PathBuf>,
    /// The project directory holding sqlx.toml, lockstep.toml and .env.
    #[arg(long, global = true, value_name = "DIR", default_value = ".")]
    project: PathBuf,
    /// `lock_timeout` for the migration session, e.g. 2s or 500ms (default 3s; 0 turns it off).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    lock_timeout: Option<std::time::Duration>,
    /// How often a migration that hit the lock timeout runs again from its start (default 3).
    #[arg(long, global = true, value_name = "N")]
    retries: Option<u32>,
    /// How long connecting to the database may take (default 10s).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    connect_timeout: Option<std::time::Duration>,
    /// `statement_timeout` for the migration session, e.g. 5min.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    statement_timeout: Option<std::time::Duration>,
    /// How long to wait for another migration run's lock before giving up (default 30s).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    lock_wait: Option<std::time::Duration>,
    /// Disable everything that writes (for reviewing production in the dashboard).
    #[arg(long, global = true)]
    read_only: bool,
    /// Run migrations through a transaction pooler (PgBouncer's pool_mode = transaction): the
    /// migration lock is taken inside each migration's transaction, the history read again
    /// under it, the timeouts set with SET LOCAL; -- no-transaction migrations are refused.
    #[arg(long, global = true)]
    pooled: bool,
    /// (`up`, `down`, `redo`, `resolve`) run without recording the run in the audit trail
    /// (which is otherwise required: a run whose audit cannot be written does not start).
    #[arg(long, global = true)]
    no_audit: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show applied, pending, drifted, missing and failed migrations (read-only).
    Status(status::StatusArgs),
    /// Apply pending migrations.
    Up(migrate::UpArgs),
    /// Revert applied migrations (the last one by default).
    Down(migrate::DownArgs),
    /// Revert the last applied migration and apply it again.
    Redo(migrate::RedoArgs),
    /// Record a partially applied migration as applied, or remove its row, once it has been
    /// finished or undone by hand.
    Resolve(resolve::ResolveArgs),
    /// Create a new migration in the migrations directory.
    New(new::NewArgs),
    /// Run the demo migration set on a throwaway PostgreSQL.
    Demo(demo::DemoArgs),
    /// Look for what a migration may have left behind: invalid indexes, unvalidated
    /// constraints, sequences near their maximum, stale statistics, stuck sessions.
    Check(check::CheckArgs),
    /// Show table sizes, the lock tree or session activity of the database.
    Inspect(inspect::InspectArgs),
    /// Check migrations for locks that block production and changes that break running code.
    Lint(lint::LintArgs),
    /// Run the pending migrations on a copy of the schema first: observed locks and rewrites,
    /// and a DOWN that really undoes the UP (never writes to the configured database).
    Rehearse(rehearse::RehearseArgs),
    /// List the environments of lockstep.toml and the one in use (URLs redacted).
    Env(env::EnvArgs),
    /// Past runs from the audit trail: who ran what, when, how it ended; with --run, each
    /// statement's timing, lock waits and blockers.
    History(history::HistoryArgs),
}

/// What every command works with: the configuration and the migrations.
struct Project {
    config: Config,
    migrations_dir: PathBuf,
    database_url: Option<String>,
    pooled: bool,
    /// The environment in use (`--env`, or the one whose `database-url` is the URL in use).
    environment: Environment,
    no_audit: bool,
}

impl Project {
    fn load(global: &Global) -> Result<Project> {
        let mut config = Config::load(&global.project)?;
        if let Some(timeout) = global.lock_timeout {
            config.lock_timeout = (!timeout.is_zero()).then_some(timeout);
        }
        if let Some(timeout) = global.statement_timeout {
            config.statement_timeout = (!timeout.is_zero()).then_some(timeout);
        }
        if let Some(retries) = global.retries {
            config.retries = retries;
        }
        if let Some(timeout) = global.connect_timeout {
            config.connect_timeout = timeout;
        }
        if let Some(wait) = global.lock_wait {
            config.lock_wait = wait;
        }
        let migrations_dir = match &global.source {
            Some(dir) => dir.clone(),
            None => global.project.join(&config.migrations_dir),
        };
        // An environment's own URL wins over DATABASE_URL and .env; --database-url over it.
        let selected = global.environment.as_deref().filter(|n| !n.is_empty());
        let env_url = match selected {
            Some(name) => config
                .environment(name)
                .map_err(|e| eyre!(e))?
                .database_url
                .clone(),
            None => None,
        };
        let database_url = global.database_url.clone().or(env_url);
        let url = configured_url(
            database_url.as_deref(),
            &global.project,
            config.database_url.as_deref(),
        );
        let environment = Environment::resolve(
            &config,
            &global.project,
            selected,
            url.as_ref().map(|(url, _)| url.as_str()),
        )
        .map_err(|e| eyre!(e))?;
        if environment.configured
            && let Ok(env) = config.environment(&environment.name)
            && let Some(overrides) = env.lint.clone()
        {
            config.lint = config.lint.with_environment(&environment.name, &overrides);
            config.pg_version = config.lint.pg_version.or(config.pg_version);
        }
        Ok(Project {
            database_url,
            migrations_dir,
            config,
            pooled: global.pooled,
            environment,
            no_audit: global.no_audit,
        })
    }

    fn migrations(&self) -> Result<MigrationSet> {
        Ok(source::load(
            &self.migrations_dir,
            &self.config.source_options(),
        )?)
    }

    fn run_options(&self) -> RunOptions {
        RunOptions {
            pooled: self.pooled,
            ..RunOptions::from_config(&self.config)
        }
    }

    /// The configured database, if one is (never a sandbox).
    fn configured_database(&self, project_dir: &Path) -> Option<Database> {
        configured_url(
            self.database_url.as_deref(),
            project_dir,
            self.config.database_url.as_deref(),
        )
        .map(|(url, source)| {
            Database::at(url, source).with_connect_timeout(self.config.connect_timeout)
        })
    }

    /// The configured database, or a sandbox (announced on stderr) when none is configured.
    async fn database(&self, project_dir: &Path, quiet: bool) -> Result<Database> {
        match configured_url(
            self.database_url.as_deref(),
            project_dir,
            self.config.database_url.as_deref(),
        ) {
            Some((url, source)) => {
                Ok(Database::at(url, source).with_connect_timeout(self.config.connect_timeout))
            }
            None => {
                if !quiet {
                    eprintln!(
                        "No database configured (--database-url, DATABASE_URL, .env): starting a \
                         throwaway PostgreSQL; it is deleted when lockstep exits."
                    );
                }
                let db = start_sandbox("lockstep")
                    .await
                    .wrap_err("starting the sandbox PostgreSQL")?;
                Ok(db)
            }
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let project = Project::load(&cli.global)?;
    let dir = cli.global.project.clone();
    match cli.command {
        Some(Command::Status(args)) => status::run(&project, &dir, args).await,
        Some(Command::Up(args)) => migrate::up(&project, &dir, args).await,
        Some(Command::Down(args)) => migrate::down(&project, &dir, args).await,
        Some(Command::Redo(args)) => migrate::redo(&project, &dir, args).await,
        Some(Command::Resolve(args)) => resolve::run(&project, &dir, args).await,
        Some(Command::New(args)) => new::run(&project, args),
        Some(Command::Demo(args)) => demo::run(&project, args).await,
        Some(Command::Inspect(args)) => inspect::run(&project, &dir, args).await,
        Some(Command::Check(args)) => check::run(&project, &dir, args).await,
        Some(Command::Lint(args)) => lint::run(&project, &dir, args).await,
        Some(Command::Rehearse(args)) => rehearse::run(&project, &dir, args).await,
        Some(Command::Env(args)) => env::run(&project, &dir, args),
        Some(Command::History(args)) => history::run(&project, &dir, args).await,
        None => {
            let read_only = cli.global.read_only || project.environment.read_only;
            dashboard(&project, &dir, read_only).await
        }
    }
}

/// `lockstep` with no subcommand: the dashboard on the configured database; with none, on a
/// sandbox with the project's migrations (none applied), or with the demo set (its foundation
/// applied) where there are none or they are the demo set.
async fn dashboard(project: &Project, dir: &Path, read_only: bool) -> Result<ExitCode> {
    let configured = configured_url(
        project.database_url.as_deref(),
        dir,
        project.config.database_url.as_deref(),
    );
    let demo_files =
        tempfile::tempdir().wrap_err("creating a directory for the demo migrations")?;
    // A directory that cannot be read, or holds files that are not migrations, is the project's
    // too: the dashboard says what is wrong with it.
    let own_migrations = || {
        project.migrations_dir.is_dir()
            && !demo::is_demo_set(&project.migrations_dir)
            && source::load(&project.migrations_dir, &project.config.source_options())
                .map_or(true, |set| {
                    !set.migrations.is_empty() || !set.problems.is_empty()
                })
    };
    let mut chain = Chain::default();
    let (db, migrations_dir) = match configured {
        Some((url, source)) => (
            Database::at(url, source).with_connect_timeout(project.config.connect_timeout),
            project.migrations_dir.clone(),
        ),
        None if own_migrations() => {
            eprintln!(
                "No database configured (--database-url, DATABASE_URL, .env): starting a throwaway \
                 PostgreSQL for the migrations of {}, none applied; it is deleted when lockstep \
                 exits.",
                project.migrations_dir.display()
            );
            let db = start_sandbox("lockstep")
                .await
                .wrap_err("starting the sandbox PostgreSQL")?;
            // Reviewed as `lockstep lint` reviews them: each meets all before it as production
            // would (the empty sandbox would make every table new).
            chain = Chain::History;
            (db, project.migrations_dir.clone())
        }
        None => {
            eprintln!(
                "No database configured: starting a throwaway PostgreSQL with the demo migrations, \
                 their foundation (tables and seed data) applied…"
            );
            let db = start_sandbox("lockstep_demo")
                .await
                .wrap_err("starting the sandbox PostgreSQL")?;
            let demo_dir = demo_files.path().join("migrations");
            demo::write_demo_migrations(&demo_dir).wrap_err("writing the demo migrations")?;
            demo::apply_foundation(&db, &demo_dir, project.run_options())
                .await
                .wrap_err("applying the demo's foundation")?;
            (db, demo_dir)
        }
    };
    crate::tui::run(crate::tui::Dashboard {
        db,
        dir: migrations_dir,
        source_options: project.config.source_options(),
        options: project.run_options(),
        read_only,
        // As `lockstep rehearse --scratch-server` reads it.
        scratch_server: std::env::var("LOCKSTEP_SCRATCH_SERVER")
            .ok()
            .filter(|s| !s.is_empty()),
        lint: project.config.lint.clone(),
        environment: project.environment.clone(),
        audit: project.config.audit.clone(),
        chain,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints an error and its causes for a person: `error: ...` then one `caused by:` line each.
/// Server messages and file names in them may hold hidden characters: they are shown as markers.
pub fn print_error(report: &color_eyre::eyre::Report) {
    let style = output::red().bold();
    let mut chain = report.chain();
    if let Some(first) = chain.next() {
        anstream::eprintln!(
            "{style}error{style:#}: {}",
            output::show(&first.to_string())
        );
    }
    for cause in chain {
        anstream::eprintln!("  caused by: {}", output::show(&cause.to_string()));
    }
}
