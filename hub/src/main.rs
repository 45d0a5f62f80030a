//! `cchc-hub`: the provincial hub. Entry point: parses the command line (clap), runs
//! one command, and maps its error to a message and an exit code in this one place.
//!
//! Layers: `main` (CLI) → `server` (init, serve) → `routes` (HTTP) → `sync` (one
//! protocol exchange) → `store` (the `Store` trait; merge rules from
//! `cchc_common::merge`) → `store::sqlite`. `views` renders status and report; `tls`
//! makes and loads certificates; `demo` is the README's first command.

mod demo;
mod error;
mod routes;
mod server;
mod store;
mod sync;
mod tls;
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
        /// Province code from the official unit list (e.g. 1 for Hà Nội).
        #[arg(long)]
        province: String,
        /// Host names or IP addresses agents will use to reach the hub (repeatable;
        /// default localhost and 127.0.0.1).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
    /// Serve agents over HTTPS.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: String,
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
    /// Definitions (procedure catalog, criteria sets): publish a new version.
    #[command(subcommand)]
    Definitions(DefinitionsCmd),
    /// Run the demo: a real hub and real agents for communes of Hà Nội.
    Demo {
        /// Keep the demo's data here (default: a new directory under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum DefinitionsCmd {
    /// Publish a definitions file; agents receive it on their next sync.
    Publish {
        /// The definitions JSON (same shape as the built-in version 1).
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
        Command::Init { province, hosts } => server::init(&dir, &province, hosts, lang),
        Command::Serve { listen } => server::serve(&dir, &listen, lang),
        Command::Status { json } => server::status(&dir, json, lang),
        Command::Report { period, json } => server::report(&dir, &period, json, lang),
        Command::Definitions(DefinitionsCmd::Publish { file }) => {
            server::publish_definitions(&dir, &file, lang)
        }
        Command::Demo { dir } => demo::run(dir).map_err(error::HubError::Internal),
    };
    if let Err(e) = result {
        eprintln!("{}: {}", lang.pick("Lỗi", "Error"), e.localize(lang));
        std::process::exit(e.exit_code());
    }
}
