//! `cchc-agent`: the commune police station's recorder. Entry point: parses the command
//! line (clap), runs one command, maps its error to a message in the officer's language
//! and an exit code, in this one place.
//!
//! Layers: `main` (CLI) → `commands` (validation, one transaction per action) →
//! `store` (SQLite op log + materialized state); `bundle` carries ops between desks as
//! files; `present` renders human-readable output.

mod bundle;
mod cli_vi;
mod clock;
mod commands;
mod diag;
mod error;
mod key;
mod present;
mod run;
mod service;
mod store;
mod sync;
mod ui;
mod update;

use cchc_common::{Lang, Localize};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

/// cchc agent: ghi nhận số liệu cải cách hành chính của Công an cấp xã, không cần mạng.
/// Records a commune police station's administrative-reform data offline.
#[derive(Parser, Debug)]
#[command(name = "cchc-agent", version, about, long_about = None)]
pub struct Cli {
    /// Data directory (default: the OS data directory, or CCHC_DATA_DIR).
    #[arg(long, global = true, env = "CCHC_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Language of messages: vi (default) or en. Also CCHC_LANG.
    #[arg(long, global = true)]
    pub lang: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Bind this install to one commune and create its device identity.
    Init(InitArgs),
    /// Add procedure counts (or, with --correct, subtract a correction).
    Record(RecordArgs),
    /// Pledges (cam kết): sign, register tasks, report progress.
    #[command(subcommand)]
    Pledge(PledgeCmd),
    /// Self-assessment (tự đánh giá): score a criterion, or `assess show`.
    Assess(AssessArgs),
    /// Show the current merged state.
    Show(ShowArgs),
    /// Show the procedure catalog and the criteria sets in force.
    Catalog(JsonFlag),
    /// Show this device: commune, ops held, clock and peers.
    Status(JsonFlag),
    /// Check the database: SQLite integrity and state against the op log.
    Check,
    /// Exchange ops with another desk through a file (USB stick).
    #[command(subcommand)]
    Bundle(BundleCmd),
    /// Sync with the provincial hub once (send what it lacks, receive what we lack).
    Sync(JsonFlag),
    /// Keep syncing with the hub: when the link is up, soon after each new entry;
    /// installs the updates the province rolls out (signed, checked, reversible).
    Run(RunArgs),
    /// Open the officers' web page (served by `run`) in the default browser.
    Ui(UiArgs),
    /// Updates of this program: `update status`, `update check`.
    #[command(subcommand)]
    Update(UpdateCmd),
    /// The agent as a Windows service (`run` in the background, from Windows' start):
    /// install, uninstall, start, stop, status.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Measure this PC's disk: durable entries per second through this program, beside
    /// a bare SQLite loop, in a scratch directory (the commune's data is not touched).
    Diag(DiagArgs),
    /// Checks that this build runs here and can use the database (read-only); run by
    /// the updater on a new build before it replaces the running one.
    #[command(hide = true)]
    SelfTest,
}

#[derive(Subcommand, Debug)]
pub enum UpdateCmd {
    /// The running, previous and offered versions, and where an update stands.
    Status(JsonFlag),
    /// Ask the hub now (a sync): shows what it offers; `run` installs it.
    Check(JsonFlag),
}

#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Register the service (administrator): it runs `run` on the machine-wide data
    /// directory from Windows' start, and is restarted after a failure.
    Install(RunArgs),
    /// Stop and remove the service (administrator); the data stays.
    Uninstall,
    /// Start the service now.
    Start,
    /// Stop the service.
    Stop,
    /// Whether the service is installed and running.
    Status(JsonFlag),
    /// The service's own entry point, called by Windows' service manager.
    #[command(hide = true)]
    Run(RunArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Seconds between syncs when nothing new is recorded.
    #[arg(long, default_value_t = 300)]
    pub interval: u64,
    /// Milliseconds to wait after a new entry before syncing it.
    #[arg(long, default_value_t = 2000)]
    pub settle_ms: u64,
    /// First retry delay after a failed sync, in milliseconds (doubles up to --retry-max-ms).
    #[arg(long, default_value_t = 2000)]
    pub retry_min_ms: u64,
    /// Largest retry delay, in milliseconds.
    #[arg(long, default_value_t = 300_000)]
    pub retry_max_ms: u64,
    /// Serve the officers' web page at this address (loopback only).
    #[arg(long, default_value = ui::DEFAULT_ADDR, conflicts_with = "no_ui")]
    pub ui: String,
    /// Do not serve the officers' web page.
    #[arg(long)]
    pub no_ui: bool,
}

#[derive(Args, Debug)]
pub struct DiagArgs {
    /// Entries timed each way.
    #[arg(long, default_value_t = 500)]
    pub entries: usize,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct UiArgs {
    /// The page's address (as given to `run --ui`).
    #[arg(long, default_value = ui::DEFAULT_ADDR)]
    pub ui: String,
    /// Only print the address; do not open a browser.
    #[arg(long)]
    pub print: bool,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Commune code (mã đơn vị hành chính cấp xã), from the official unit list.
    #[arg(long)]
    pub unit: String,
    /// Use this unit list CSV instead of the built-in 2025 list.
    #[arg(long)]
    pub units_csv: Option<PathBuf>,
    /// The provincial hub's address, https://host:port (also sets it on an existing install).
    #[arg(long, requires = "ca")]
    pub hub: Option<String>,
    /// The hub's CA certificate (the hub's tls/ca.pem); the only certificate trusted.
    #[arg(long, requires = "hub")]
    pub ca: Option<PathBuf>,
    /// The one-time enrollment code from the province (XXXX-XXXX-XXXX): enrolls this
    /// computer with the hub so it may send its commune's data.
    #[arg(long, requires = "hub")]
    pub code: Option<String>,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Period: month 2026-11, quarter 2026-Q4 or year 2026.
    #[arg(long)]
    pub period: String,
    /// Procedure code from `cchc-agent catalog`.
    #[arg(long)]
    pub procedure: String,
    /// Dossiers received (tiếp nhận).
    #[arg(long, allow_hyphen_values = true)]
    pub received: Option<String>,
    /// Resolved on time (đúng hạn).
    #[arg(long, allow_hyphen_values = true)]
    pub on_time: Option<String>,
    /// Resolved late (quá hạn).
    #[arg(long, allow_hyphen_values = true)]
    pub late: Option<String>,
    /// Still pending (đang giải quyết).
    #[arg(long, allow_hyphen_values = true)]
    pub pending: Option<String>,
    /// Rejected (từ chối).
    #[arg(long, allow_hyphen_values = true)]
    pub rejected: Option<String>,
    /// Received online (trực tuyến).
    #[arg(long, allow_hyphen_values = true)]
    pub online: Option<String>,
    /// Citizens satisfied (hài lòng).
    #[arg(long, allow_hyphen_values = true)]
    pub satisfied: Option<String>,
    /// Citizens not satisfied (không hài lòng).
    #[arg(long, allow_hyphen_values = true)]
    pub unsatisfied: Option<String>,
    /// Subtract the numbers instead (a correction); never below 0.
    #[arg(long)]
    pub correct: bool,
    /// Who is entering (a short name, kept in the history of the entry).
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum PledgeCmd {
    /// Sign a pledge for a year (or update its role and date), registering tasks.
    Add {
        /// Year of the pledge.
        #[arg(long)]
        year: String,
        /// Name of the signer.
        #[arg(long)]
        signer: String,
        /// Role of the signer (e.g. "Trưởng Công an xã").
        #[arg(long)]
        role: String,
        /// Date signed, YYYY-MM-DD or dd/mm/yyyy (default: today).
        #[arg(long)]
        date: Option<String>,
        /// A task to register; repeat for several.
        #[arg(long = "task")]
        tasks: Vec<String>,
    },
    /// Register a task, set a task's status, or withdraw a task.
    Task {
        /// Year of the pledge.
        #[arg(long)]
        year: String,
        /// Name of the signer.
        #[arg(long)]
        signer: String,
        /// Register a new task with this title.
        #[arg(long, conflicts_with_all = ["task", "status", "remove"])]
        add: Option<String>,
        /// The task: its number in `pledge show` or its id.
        #[arg(long, required_unless_present = "add")]
        task: Option<String>,
        /// New status: not_started, in_progress or done.
        #[arg(long, conflicts_with = "remove")]
        status: Option<String>,
        /// Withdraw the task.
        #[arg(long)]
        remove: bool,
    },
    /// Show pledges.
    Show {
        /// Only this year.
        #[arg(long)]
        year: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AssessArgs {
    #[command(subcommand)]
    pub show: Option<AssessCmd>,
    /// Phase (giai đoạn) 1, 2 or 3.
    #[arg(long)]
    pub phase: Option<String>,
    /// Criterion code from `cchc-agent catalog`.
    #[arg(long)]
    pub criterion: Option<String>,
    /// Score, at most one decimal (7.5 or 7,5).
    #[arg(long, allow_hyphen_values = true)]
    pub score: Option<String>,
    /// Evidence note (minh chứng).
    #[arg(long)]
    pub evidence: Option<String>,
    /// Who is entering (a short name, kept in the history of the entry).
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AssessCmd {
    /// Show the scores per criterion, with totals against each phase's threshold.
    Show {
        /// Only this phase.
        #[arg(long)]
        phase: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Only this period's counts.
    #[arg(long)]
    pub period: Option<String>,
    /// Machine-readable output (stable; see README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct JsonFlag {
    /// Machine-readable output (stable; see README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum BundleCmd {
    /// Write this desk's ops to a file.
    Export {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Only what the peer lacks: its last bundle, or a version vector file.
        #[arg(long)]
        since: Option<PathBuf>,
    },
    /// Apply the ops of a bundle from another desk of the same commune (all or nothing).
    Import {
        /// Bundle file.
        file: PathBuf,
    },
}

fn lang_of(cli_lang: Option<&str>) -> Lang {
    Lang::resolve(cli_lang, std::env::var("CCHC_LANG").ok().as_deref())
}

fn main() {
    // Before anything could rename the running executable (an update).
    update::swap::remember_exe();
    // The language is known before the command line is parsed, so that its help and
    // its errors are in it: `--lang` wherever it is, else CCHC_LANG, else Vietnamese.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let asked = args.iter().enumerate().find_map(|(i, a)| {
        let a = a.to_str()?;
        match a.strip_prefix("--lang=") {
            Some(v) => Some(v.to_string()),
            None if a == "--lang" => args.get(i + 1)?.to_str().map(str::to_string),
            None => None,
        }
    });
    let early = lang_of(asked.as_deref());
    // Usage lines say `cchc-agent` as the guides do, whatever the file is called
    // (`cchc-agent.exe`, an updater's copy).
    let mut cmd = Cli::command().bin_name("cchc-agent");
    if early == Lang::Vi {
        cmd = cli_vi::vietnamese(cmd);
    }
    let parsed = cmd
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                error::exit::USAGE
            } else {
                error::exit::OK
            };
            match (early, cli_vi::error_vi(&e)) {
                (Lang::Vi, Some(msg)) => eprintln!("{msg}"),
                _ => {
                    let _ = e.print();
                }
            }
            std::process::exit(code);
        }
    };
    let lang = lang_of(cli.lang.as_deref());
    if let Some(l) = cli.lang.as_deref() {
        if Lang::parse(l).is_none() {
            eprintln!("--lang '{l}': use vi or en");
            std::process::exit(error::exit::USAGE);
        }
    }
    let code = match commands::run(cli, lang) {
        Ok(()) => error::exit::OK,
        Err(e) => {
            eprintln!("{}: {}", lang.pick("Lỗi", "Error"), e.localize(lang));
            e.exit_code()
        }
    };
    std::process::exit(code);
}
