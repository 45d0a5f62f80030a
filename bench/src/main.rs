//! `cargo run --release -p cchc-bench [-- --entries N] [--quick]`: measures the release
//! agent as an officer's PC runs it and prints the figures. Not a test: nothing here
//! asserts a time. `--quick` (CI) runs it small on the debug build.
//!
//! - size of the stripped release binary;
//! - peak resident memory of an idle command (`status`) and of `record` runs while the
//!   database grows to N entries (each process's own rusage, from wait4);
//! - entries recorded per second, each a separate process and a durable transaction
//!   (WAL, synchronous=FULL), as the CLI is used;
//! - bytes on disk per op.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The agent on an officer's PC: size, memory, entries per second, disk.
#[derive(clap::Parser)]
#[command(name = "cchc-bench")]
struct Opts {
    /// Entries to record, each a process of its own.
    #[arg(long, default_value_t = 10_000)]
    entries: usize,
    /// Small and on the debug build: only shows the bench still runs (CI).
    #[arg(long)]
    quick: bool,
}

/// Runs the agent and returns its own peak resident set size in KiB (wait4 rusage).
// The child is reaped by wait4, which std's Child does not know about.
#[allow(clippy::zombie_processes)]
fn run(bin: &Path, dir: &Path, args: &[&str]) -> i64 {
    let child = Command::new(bin)
        .arg("--data-dir")
        .arg(dir)
        .arg("--lang")
        .arg("en")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("agent runs");
    let mut status = 0;
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own un-reaped child; wait4 writes into values we own.
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut u) };
    assert_eq!(rc, child.id() as libc::pid_t, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?} failed"
    );
    u.ru_maxrss
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let opts = <Opts as clap::Parser>::parse();
    let entries = if opts.quick { 50 } else { opts.entries };
    cchc_bench::quick_banner(opts.quick);
    let bin = cchc_bench::build(opts.quick, &["cchc-agent"]).join("cchc-agent");
    let size = std::fs::metadata(&bin).expect("binary exists").len();
    let tmp = std::env::temp_dir().join(format!("cchc-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let dir = tmp.join("desk");

    run(&bin, &dir, &["init", "--unit", "70"]);
    let idle_rss = run(&bin, &dir, &["status"]);
    let mut record_rss = 0;

    let procs = [
        "CT-01", "CT-02", "CT-07", "CC-01", "CC-02", "DX-01", "DX-03", "DD-01",
    ];
    let metrics = ["--received", "--on-time", "--online", "--satisfied"];
    let start = Instant::now();
    for i in 0..entries {
        let n = ((i * 7) % 9 + 1).to_string();
        let period = format!("2026-{:02}", i % 11 + 1);
        let rss = run(
            &bin,
            &dir,
            &[
                "record",
                "--period",
                &period,
                "--procedure",
                procs[i % procs.len()],
                metrics[i % metrics.len()],
                &n,
            ],
        );
        record_rss = record_rss.max(rss);
    }
    let elapsed = start.elapsed();
    let t = Instant::now();
    let show_rss = run(&bin, &dir, &["show", "--json"]);
    let show_ms = t.elapsed().as_secs_f64() * 1e3;
    run(&bin, &dir, &["check"]);
    let disk = dir_size(&dir);

    let mib = |b: f64| b / (1024.0 * 1024.0);
    println!("cchc-bench — agent (release, stripped, LTO, opt-level s)");
    println!(
        "  binary size                      {:>10.2} MiB ({size} bytes)",
        mib(size as f64)
    );
    println!(
        "  peak RSS, idle command (status)  {:>10.2} MiB",
        idle_rss as f64 / 1024.0
    );
    println!(
        "  peak RSS, record up to {entries} entries {:>7.2} MiB",
        record_rss as f64 / 1024.0
    );
    println!(
        "  entries recorded per second      {:>10.1} /s  ({:.2} ms each: process start + durable commit)",
        entries as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / entries as f64
    );
    println!(
        "  show --json over {entries} ops       {:>10.1} ms, peak RSS {:.2} MiB",
        show_ms,
        show_rss as f64 / 1024.0
    );
    println!(
        "  database on disk                 {:>10.2} MiB ({:.0} bytes per op)",
        mib(disk as f64),
        disk as f64 / entries as f64
    );
    println!("  goal for an old commune PC: ≤ 10 MiB binary, ≤ 10 MiB RSS");
    println!(
        "  ratios to goal: size {:.2}, RSS {:.2}",
        size as f64 / (10.0 * 1024.0 * 1024.0),
        record_rss as f64 / (10.0 * 1024.0)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
