//! `cchc-hub`: the provincial hub. Entry point: parses the command line (clap), runs
//! one command, and maps its error to a message and an exit code in this one place.
//!
//! Layers: `main` (CLI) → `server` (init, serve, admin commands) → `routes` (HTTP,
//! default deny, one file per caller) → `auth` (sessions, device signatures, rate
//! limits) and `admin` (codes, devices, users, plan, audit) → `sync` (one protocol
//! exchange) → `store` (the `Store`, `Access` and `Dashboard` traits; merge rules from
//! `cchc_common::merge`, objects through `cchc-sql`) → `store::sql`. `pages` builds
//! the dashboard's pages as data, `html` and `export` render them, `views` the status
//! and report documents; `error` maps every failure; `clock` reads the time; `tls`
//! makes and loads certificates; `demo` is the README's first command. See
//! ARCHITECTURE.md.

mod admin;
mod auth;
mod clock;
mod conn;
mod demo;
mod enroll;
mod error;
mod export;
mod html;
mod pages;
mod private;
mod release;
mod routes;
mod server;
mod store;
mod stores;
mod sync;
mod tls;
mod upstream;
mod views;

use cchc_common::{Lang, Localize};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// cchc provincial hub (máy chủ tỉnh): receives every commune's data over HTTPS.
#[derive(Parser, Debug)]
#[command(name = "cchc-hub", version, about, long_about = None)]
struct Cli {
    /// Data directory of the hub (default ./cchc-hub, or CCHC_HUB_DIR).
    #[arg(long, global = true, env = "CCHC_HUB_DIR")]
    data_dir: Option<PathBuf>,
    /// Language of messages: vi (default) or en. Also CCHC_LANG.
    #[arg(long, global = true)]
    lang: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the hub of one province: database, local CA and server certificate.
    Init {
        /// Province code from the official unit list (e.g. 1 for Hà Nội), or `all` for
        /// one hub holding every commune of the country.
        #[arg(long, required_unless_present = "national")]
        province: Option<String>,
        /// The national hub: every commune of the country, fed by the provincial hubs
        /// enrolled with it (`enroll create --province N`).
        #[arg(long, conflicts_with = "province")]
        national: bool,
        /// Host names or IP addresses agents will use to reach the hub (repeatable;
        /// default localhost and 127.0.0.1).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// The release root to trust (made offline with `release root`); agents pin it
        /// when they enroll. Can be set later with `release trust`.
        #[arg(long)]
        release_root: Option<PathBuf>,
        /// Where the data lives: `sqlite` (one file in the data directory, the default)
        /// or a PostgreSQL URL, `postgres://USER@HOST/DATABASE[?schema=NAME]` (default
        /// schema cchc_pNN, so several provinces can share one database).
        #[arg(long, default_value = "sqlite")]
        store: server::StoreArg,
    },
    /// Serve agents and signed-in users over HTTPS.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: String,
        /// Seconds a client may take for its TLS handshake, its request headers, and
        /// each piece of its body before it is dropped.
        #[arg(long, default_value_t = 30)]
        client_timeout: u64,
        /// Requests per second allowed from one address (burst: ten times this).
        #[arg(long, default_value_t = 100)]
        rate_ip: u32,
        /// Sign-in and enrollment attempts per minute allowed from one address (also
        /// the burst).
        #[arg(long, default_value_t = 10)]
        rate_guesses: u32,
        /// Sync requests per second allowed from one device (burst: 60 times this).
        #[arg(long, default_value_t = 2)]
        rate_device: u32,
        /// Connections held at once, in all; more are closed at once.
        #[arg(long, default_value_t = 4096)]
        max_connections: usize,
        /// Connections held at once from one address (a province intranet may put many
        /// communes behind one address: keep this well above their number).
        #[arg(long, default_value_t = 512)]
        max_connections_ip: usize,
        /// Serve this certificate chain (PEM, from the province's own PKI) instead of
        /// the one `init` made; agents then need that PKI's CA (`init --ca`).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Seconds between forwardings to the national hub (when `upstream set` linked
        /// this hub to one).
        #[arg(long, default_value_t = 30)]
        upstream_every: u64,
    },
    /// One-time enrollment codes for communes' computers.
    #[command(subcommand)]
    Enroll(EnrollCmd),
    /// Enrolled devices: list, revoke.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Hub users (admin, analyst, viewer): add, change password, remove, list.
    #[command(subcommand)]
    User(UserCmd),
    /// Release keys and signed updates (keygen runs on any machine, offline).
    #[command(subcommand)]
    Release(release::args::ReleaseCmd),
    /// The link of a provincial hub to the national hub: set, sync, status.
    #[command(subcommand)]
    Upstream(upstream::UpstreamCmd),
    /// Read every row of the hub's data and print each table's rows and digest (two
    /// stores holding the same data print the same digests).
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A consistent copy of the whole hub into a new file, while it serves (on
    /// PostgreSQL too; pg_dump works as well, see deploy/README.md).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the hub's data with a backup's (stop serve first). Agents re-send what
    /// they recorded after the backup on their next sync.
    Restore {
        /// The backup file (`cchc-hub backup --out`).
        #[arg(long)]
        from: PathBuf,
    },
    /// Move a province's SQLite hub to PostgreSQL (stop serve first): every row copied
    /// and compared, then the data directory uses PostgreSQL.
    Migrate {
        /// The SQLite hub: sqlite:DATA_DIR.
        #[arg(long)]
        from: String,
        /// postgres://USER@HOST/DATABASE[?schema=NAME] (default schema cchc_pNN).
        #[arg(long)]
        to: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The audit log: enrollments, revocations, sign-ins, refused requests, admin actions.
    Audit {
        /// Newest entries shown.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only actions starting with this (e.g. enroll, device.revoke, login, sync).
        #[arg(long)]
        action: Option<String>,
        /// Print the stable JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Every commune of the province: last sync, ops held, pledges, self-scores.
    Status {
        /// Print the stable JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Procedure figures for a period, for the province and per commune.
    Report {
        /// Period: month 2026-11, quarter 2026-Q4 or year 2026.
        #[arg(long)]
        period: String,
        /// Print the stable JSON document.
        #[arg(long)]
        json: bool,
    },
    /// The rollout plan: which communes are in which phase of the model.
    #[command(subcommand)]
    Phase(PhaseCmd),
    /// Record the province's verified score (thẩm định) for one criterion of a
    /// commune; it reaches the commune's agents on their next sync.
    Verify {
        /// Commune code.
        #[arg(long)]
        unit: String,
        /// Phase (the commune's assigned phase).
        #[arg(long)]
        phase: String,
        /// Criterion code, e.g. TC-03.
        #[arg(long)]
        criterion: String,
        /// Verified score, e.g. 17 or 17,5.
        #[arg(long)]
        score: String,
        /// The analyst's comment.
        #[arg(long, default_value = "")]
        comment: String,
        /// The analyst's name as the commune will see it.
        #[arg(long)]
        by: String,
    },
    /// Definitions (procedure catalog, criteria sets): publish a new version.
    #[command(subcommand)]
    Definitions(DefinitionsCmd),
    /// Run the demo: a real hub and real agents for communes of Hà Nội.
    Demo {
        /// Keep the demo's data here (default: a new directory under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// End after the walk-through (for scripts) instead of keeping the dashboard
        /// and an officer page serving until Ctrl-C.
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Subcommand, Debug)]
enum EnrollCmd {
    /// Make a one-time code that enrolls one computer for one commune (repeat --unit
    /// for several codes at once: one per computer to enroll).
    Create {
        /// Commune code (mã đơn vị hành chính cấp xã).
        #[arg(long = "unit", required_unless_present = "provinces")]
        units: Vec<String>,
        /// On the national hub: a code that enrolls the hub of this province (repeat
        /// for several).
        #[arg(long = "province", conflicts_with = "units")]
        provinces: Vec<u32>,
        /// How long the code stays valid: 7d, 12h, 30m (at most 90d).
        #[arg(long, default_value = "7d")]
        expires: String,
        /// Print {"code", "unit", "expires"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCmd {
    /// Every enrolled device: commune, enrolled, last seen, revoked.
    List {
        /// Print the stable JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device (a lost or replaced PC); its data stays.
    Revoke {
        /// Device id (16 hex digits, from `device list`).
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Add a user; the password is asked for (or read from one line of stdin).
    Add {
        /// Login name.
        name: String,
        /// admin, analyst or viewer.
        #[arg(long)]
        role: String,
        /// The person's full name, shown to communes on verifications
        /// ("Nguyễn Thị Thu"; default: the login name).
        #[arg(long = "name", default_value = "")]
        display_name: String,
    },
    /// Change a user's password (their sessions end).
    Passwd {
        /// Login name.
        name: String,
    },
    /// Remove a user (their sessions end).
    Remove {
        /// Login name.
        name: String,
    },
    /// List users and roles.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum PhaseCmd {
    /// Assign communes to a phase (pilots are phase 1): `--phase N --unit CODE…`, or
    /// `--csv FILE` with `unit,phase` lines. All or nothing.
    Assign {
        /// Phase number.
        #[arg(long)]
        phase: Option<String>,
        /// Commune code (repeatable).
        #[arg(long = "unit")]
        units: Vec<String>,
        /// CSV file of `unit,phase` lines (header optional, extra columns ignored).
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum DefinitionsCmd {
    /// Publish a signed definitions bundle (`release sign --definitions`); agents
    /// receive it on their next sync and check its signatures themselves.
    Publish {
        /// The bundle file.
        file: PathBuf,
    },
}

fn lang_of(cli_lang: Option<&str>) -> Lang {
    Lang::resolve(cli_lang, std::env::var("CCHC_LANG").ok().as_deref())
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                error::exit::USAGE
            } else {
                error::exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Some(l) = cli.lang.as_deref() {
        if Lang::parse(l).is_none() {
            eprintln!("--lang '{l}': use vi or en");
            std::process::exit(error::exit::USAGE);
        }
    }
    let lang = lang_of(cli.lang.as_deref());
    let dir = cli.data_dir.unwrap_or_else(|| PathBuf::from("cchc-hub"));
    let result = match cli.command {
        Command::Init {
            province,
            national,
            hosts,
            release_root,
            store,
        } => match (
            release_root,
            province.filter(|_| !national).unwrap_or("all".into()),
        ) {
            (None, province) => server::init(&dir, &province, hosts, &store, lang),
            (Some(root), province) => release::cli::check_first_root(&root)
                .and_then(|_| server::init(&dir, &province, hosts, &store, lang))
                .and_then(|_| release::cli::trust(&dir, &root, lang)),
        },
        Command::Serve {
            listen,
            client_timeout,
            rate_ip,
            rate_guesses,
            rate_device,
            max_connections,
            max_connections_ip,
            tls_cert,
            tls_key,
            upstream_every,
        } => {
            let rates = auth::Rates {
                ip_per_s: rate_ip,
                ip_burst: rate_ip.saturating_mul(10),
                guesses_per_min: rate_guesses,
                guesses_burst: rate_guesses,
                device_per_s: rate_device,
                device_burst: rate_device.saturating_mul(60),
            };
            let opts = server::ServeOptions {
                rates,
                client_timeout: std::time::Duration::from_secs(client_timeout.max(1)),
                max_connections: max_connections.max(1),
                max_connections_ip: max_connections_ip.max(1),
                upstream_every: std::time::Duration::from_secs(upstream_every.max(1)),
            };
            server::serve(&dir, &listen, opts, tls_cert.zip(tls_key), lang)
        }
        Command::Enroll(EnrollCmd::Create {
            units,
            provinces,
            expires,
            json,
        }) => match provinces.is_empty() {
            true => enroll::communes(&dir, &units, &expires, json, lang),
            false => enroll::provinces(&dir, &provinces, &expires, json, lang),
        },
        Command::Upstream(cmd) => upstream::cli::run(&dir, cmd, lang),
        Command::Device(DeviceCmd::List { json }) => server::device_list(&dir, json, lang),
        Command::Device(DeviceCmd::Revoke { id }) => server::device_revoke(&dir, &id, lang),
        Command::User(UserCmd::Add {
            name,
            role,
            display_name,
        }) => server::user_add(&dir, &name, &display_name, &role, lang),
        Command::User(UserCmd::Passwd { name }) => server::user_passwd(&dir, &name, lang),
        Command::User(UserCmd::Remove { name }) => server::user_remove(&dir, &name, lang),
        Command::User(UserCmd::List { json }) => server::user_list(&dir, json),
        Command::Release(cmd) => release::args::run(&dir, cmd, lang),
        Command::Audit {
            limit,
            action,
            json,
        } => server::audit(&dir, limit, action.as_deref(), json),
        Command::Status { json } => server::status(&dir, json, lang),
        Command::Check { json } => stores::check(&dir, json, lang),
        Command::Backup { out } => stores::backup(&dir, &out, lang),
        Command::Restore { from } => stores::restore(&dir, &from, lang),
        Command::Migrate { from, to, json } => stores::migrate(&from, &to, json, lang),
        Command::Report { period, json } => server::report(&dir, &period, json, lang),
        Command::Phase(PhaseCmd::Assign { phase, units, csv }) => {
            server::phase_assign(&dir, phase.as_deref(), &units, csv.as_deref(), lang)
        }
        Command::Verify {
            unit,
            phase,
            criterion,
            score,
            comment,
            by,
        } => server::verify(&dir, &unit, &phase, &criterion, &score, &comment, &by, lang),
        Command::Definitions(DefinitionsCmd::Publish { file }) => {
            release::cli::publish(&dir, &file, lang)
        }
        Command::Demo { dir, no_wait } => {
            demo::run(dir, no_wait).map_err(error::HubError::Internal)
        }
    };
    if let Err(e) = result {
        eprintln!("{}: {}", lang.pick("Lỗi", "Error"), e.localize(lang));
        std::process::exit(e.exit_code());
    }
}
