//! `cchc-hub`: the provincial hub. Entry point.
//!
//! The HTTPS server, store, merge and aggregation arrive with the sync issue. Today the
//! binary offers `demo`: it runs real `cchc-agent` processes for communes of a real
//! province (two desks in one station), records realistic data offline, exchanges ops
//! between the desks by bundle files, and prints the merged picture.

mod demo;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// cchc provincial hub (máy chủ tỉnh).
#[derive(Parser, Debug)]
#[command(name = "cchc-hub", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the demo: real agents for three Hà Nội communes, recording offline.
    Demo {
        /// Keep the demo's data here (default: a new directory under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { dir } => demo::run(dir),
    };
    if let Err(e) = result {
        eprintln!("cchc-hub demo: {e}");
        std::process::exit(1);
    }
}
