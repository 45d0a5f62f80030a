//! `cargo run --release -p cchc-bench --bin ui-bench [-- --entries N --requests R] [--quick]`:
//! the officers' page against the old-PC budget, measured in one run with the release
//! build: the agent binary's size, the resident memory of `cchc-agent run` serving the
//! page after every page was opened, and how long each page takes (request to last
//! byte, over loopback) on a database of N entries (default 10,000) made by another
//! desk and brought in as a USB bundle, then synced to a real hub. Not a test: nothing
//! here asserts a figure; the budgets are printed beside the figures.

use cchc_bench::must;
use cchc_common::bundle::{Bundle, FORMAT, VERSION};
use cchc_common::op::{CountDelta, Dir};
use cchc_common::state::VersionVector;
use cchc_common::{ActorId, Metric, Op, OpBody, Period, UnitCode};
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const UNIT: u32 = 70;
const BINARY_BUDGET: u64 = 10 * 1024 * 1024;
const RSS_BUDGET_KB: u64 = 15 * 1024;
const PAGE_BUDGET_MS: f64 = 50.0;

/// The officers' page against the old-PC budget.
#[derive(clap::Parser)]
#[command(name = "ui-bench")]
struct Opts {
    /// Entries of another desk in the database.
    #[arg(long, default_value_t = 10_000)]
    entries: usize,
    /// Requests per page.
    #[arg(long, default_value_t = 30)]
    requests: usize,
    /// Single entries saved through the page (and by the bare loop beside it).
    #[arg(long, default_value_t = 300)]
    saves: usize,
    /// Small and on the debug build: only shows the bench still runs (CI).
    #[arg(long)]
    quick: bool,
}

/// A child stopped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's stdout until a line holding `marker`; the rest is drained.
fn announced(child: &mut Child, marker: &str) -> String {
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines
        .by_ref()
        .map_while(|l| l.ok())
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line with {marker}"));
    std::thread::spawn(move || lines.for_each(drop));
    line
}

/// N count ops of another desk of the commune: months of 2026, every procedure,
/// one to three metrics each, with that desk's running totals.
fn backlog(n: usize, procedures: &[String]) -> Bundle {
    let sender = ActorId(0x5eed_0000_0000_0001);
    let mut totals: HashMap<(Period, String, Metric), u64> = HashMap::new();
    let metrics = [
        Metric::Received,
        Metric::OnTime,
        Metric::Online,
        Metric::Satisfied,
    ];
    let mut ops = Vec::with_capacity(n);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..n {
        let month = 1 + (next() % 11) as u32;
        let period: Period = format!("2026-{month:02}").parse().expect("a month");
        let procedure = procedures[(next() % procedures.len() as u64) as usize].clone();
        let k = 1 + (next() % 3) as usize;
        let deltas = metrics[..k]
            .iter()
            .map(|&metric| {
                let amount = 1 + next() % 5;
                let t = totals
                    .entry((period, procedure.clone(), metric))
                    .or_default();
                *t += amount;
                CountDelta {
                    metric,
                    dir: Dir::Inc,
                    amount,
                    total: *t,
                }
            })
            .collect();
        ops.push(Op {
            v: 1,
            actor: sender,
            seq: i as u64 + 1,
            hlc_ms: 1_767_225_600_000 + i as u64 * 60_000,
            hlc_c: 0,
            unit: UnitCode(UNIT),
            defs: 1,
            body: OpBody::Count {
                period,
                procedure,
                deltas,
                by: format!("Cán bộ {}", i % 7),
            },
        });
    }
    let mut vv = VersionVector::new();
    vv.advance(sender, n as u64);
    Bundle {
        format: FORMAT.into(),
        version: VERSION,
        unit: UnitCode(UNIT),
        sender,
        sent_at_ms: 1_767_225_600_000 + n as i64 * 60_000,
        version_vector: vv,
        ops,
    }
}

/// One GET over loopback: (status, milliseconds to the last byte).
fn get(port: u16, path: &str) -> (u16, f64) {
    let t = Instant::now();
    let (status, _, _) = exchange(port, "GET", path, "", "");
    (status, t.elapsed().as_secs_f64() * 1000.0)
}

/// One HTTP/1.1 exchange over loopback: (status, head, body).
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    cookie: &str,
    form: &str,
) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (status, head.to_string(), body.to_string())
}

/// Entries saved one by one through the page's form (each a durable transaction of
/// the agent, confirmed before the next is sent): entries per second.
fn page_entries(port: u16, n: usize) -> f64 {
    let (_, head, body) = exchange(port, "GET", "/ledger?period=2026-06", "", "");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("the session's cookie")
        .to_string();
    let token = body
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the form's token")
        .to_string();
    let form = format!("token={token}&period=2026-06&by=Bench&v.CT-01.received=1");
    let t = Instant::now();
    for _ in 0..n {
        let (status, _, _) = exchange(port, "POST", "/ledger", &cookie, &form);
        assert_eq!(status, 303, "an entry was refused");
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// The anchor: a bare rusqlite loop doing what one entry minimally costs — an op row
/// of the same size and a counter upsert in one durable transaction (WAL,
/// synchronous=FULL), nothing else. Transactions per second.
fn raw_loop(dir: &std::path::Path, n: usize) -> f64 {
    let conn = rusqlite::Connection::open(dir.join("raw.db")).expect("raw database");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE ops (actor INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
                           PRIMARY KEY (actor, seq)) WITHOUT ROWID;
         CREATE TABLE cells (key TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;",
    )
    .expect("raw schema");
    let body = "x".repeat(300);
    let t = Instant::now();
    for i in 0..n {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        conn.execute(
            "INSERT INTO ops (actor, seq, body) VALUES (1, ?1, ?2)",
            rusqlite::params![i as i64 + 1, body],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO cells (key, v) VALUES ('2026-06/CT-01/received', 1)
             ON CONFLICT (key) DO UPDATE SET v = v + 1",
            [],
        )
        .unwrap();
        conn.execute_batch("COMMIT").unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let opts = <Opts as clap::Parser>::parse();
    let (entries, requests) = if opts.quick {
        (500, 3)
    } else {
        (opts.entries, opts.requests.max(3))
    };
    cchc_bench::quick_banner(opts.quick);
    let bins = cchc_bench::build(opts.quick, &["cchc-agent", "cchc-hub"]);
    let (agent_bin, hub_bin) = (bins.join("cchc-agent"), bins.join("cchc-hub"));
    let size = std::fs::metadata(&agent_bin).expect("agent binary").len();
    let tmp = std::env::temp_dir().join(format!("cchc-ui-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let (hub_dir, desk) = (tmp.join("hub"), tmp.join("desk"));
    let hub = |args: &[&str]| {
        must(
            Command::new(&hub_bin)
                .arg("--data-dir")
                .arg(&hub_dir)
                .args(["--lang", "en"])
                .args(args),
        )
    };
    let agent = |args: &[&str]| {
        must(
            Command::new(&agent_bin)
                .arg("--data-dir")
                .arg(&desk)
                .args(["--lang", "en"])
                .args(args),
        )
    };
    hub(&["init", "--province", "1"]);
    let mut serve = Command::new(&hub_bin)
        .arg("--data-dir")
        .arg(&hub_dir)
        .args(["--lang", "en", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("hub starts");
    let line = announced(&mut serve, "https://");
    let _serve = Proc(serve);
    let port = line.trim().rsplit(':').next().expect("port").to_string();
    let code: serde_json::Value = serde_json::from_str(&hub(&[
        "enroll",
        "create",
        "--unit",
        &UNIT.to_string(),
        "--json",
    ]))
    .unwrap();
    let ca = hub_dir.join("tls").join("ca.pem");
    agent(&[
        "init",
        "--unit",
        &UNIT.to_string(),
        "--hub",
        &format!("https://localhost:{port}"),
        "--ca",
        ca.to_str().unwrap(),
        "--code",
        code["code"].as_str().unwrap(),
    ]);
    let catalog: serde_json::Value = serde_json::from_str(&agent(&["catalog", "--json"])).unwrap();
    let procedures: Vec<String> = catalog["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect();
    let file = tmp.join("backlog.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&backlog(entries, &procedures)).unwrap(),
    )
    .unwrap();
    agent(&["bundle", "import", file.to_str().unwrap()]);
    agent(&[
        "pledge",
        "add",
        "--year",
        "2026",
        "--signer",
        "Nguyễn Văn An",
        "--role",
        "Trưởng Công an xã",
        "--task",
        "Niêm yết thủ tục",
        "--task",
        "Tiếp dân thứ Bảy",
    ]);
    agent(&[
        "assess",
        "--phase",
        "1",
        "--criterion",
        "TC-01",
        "--score",
        "12",
    ]);
    agent(&["sync"]);

    let mut run = Command::new(&agent_bin)
        .arg("--data-dir")
        .arg(&desk)
        .args([
            "--lang",
            "en",
            "run",
            "--ui",
            "127.0.0.1:0",
            "--interval",
            "3600",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("agent runs");
    let line = announced(&mut run, "http://127.0.0.1:");
    let pid = run.id();
    let _run = Proc(run);
    let ui: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.trim().trim_end_matches('/').parse().ok())
        .expect("the page's port");
    let rss_idle = proc_kb(pid, "VmRSS:");
    println!("ui-bench: {entries} entries from another desk, {requests} requests per page, release build\n");
    println!(
        "{:<52} {:>9} {:>9} {:>9}",
        "page", "median ms", "p95 ms", "max ms"
    );
    let pages = [
        "/",
        "/ledger?period=2026-06",
        "/ledger/history?period=2026-06&procedure=CT-01",
        "/pledge?year=2026",
        "/assess?phase=1",
        "/sync",
    ];
    let mut worst_median: f64 = 0.0;
    for p in pages {
        let mut ms: Vec<f64> = (0..requests)
            .map(|_| {
                let (status, ms) = get(ui, p);
                assert_eq!(status, 200, "{p}");
                ms
            })
            .collect();
        ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = ms[ms.len() / 2];
        worst_median = worst_median.max(median);
        let p95 = ms[(ms.len() * 95 / 100).min(ms.len() - 1)];
        println!(
            "{p:<52} {median:>9.1} {p95:>9.1} {:>9.1} {:>10}",
            ms[ms.len() - 1],
            proc_kb(pid, "VmRSS:")
        );
    }
    // Resident memory once every page has been built at least `requests` times.
    std::thread::sleep(Duration::from_millis(200));
    let (rss, hwm) = (proc_kb(pid, "VmRSS:"), proc_kb(pid, "VmHWM:"));
    println!();
    println!(
        "agent binary ({}): {size} bytes ({:.1} MB) — budget 10 MB: {:.0} % of it",
        if opts.quick { "debug" } else { "release" },
        size as f64 / 1048576.0,
        100.0 * size as f64 / BINARY_BUDGET as f64
    );
    println!(
        "run with the page: RSS {rss_idle} kB before any page, {rss} kB after every page, peak {hwm} kB — budget 15 MB: {:.0} % of it (peak)",
        100.0 * hwm as f64 / RSS_BUDGET_KB as f64
    );
    println!(
        "slowest page (median): {worst_median:.1} ms — budget 50 ms: {:.0} % of it",
        100.0 * worst_median / PAGE_BUDGET_MS
    );
    // The in-process path of the page and `run`: single entries, each durable and
    // confirmed, beside the bare SQLite loop measured now on the same disk.
    let n = if opts.quick { 20 } else { opts.saves };
    let ours = page_entries(ui, n);
    let raw = raw_loop(&tmp, n);
    println!(
        "single entries through the page: {ours:.0} /s ({n} entries, each a durable transaction confirmed before the next); \
         bare rusqlite loop (op row + counter upsert, WAL, synchronous=FULL): {raw:.0} /s; ratio {:.2} (target ≥ 0.5)",
        ours / raw
    );
    // The same path inside one process, without the page's HTTP exchange: the agent's
    // own `diag` (its store's durable entries beside a bare loop, alternating halves).
    let diag: serde_json::Value = serde_json::from_str(&must(
        Command::new(&agent_bin)
            .arg("--data-dir")
            .arg(tmp.join("diag"))
            .args(["diag", "--json", "--entries", &n.max(2).to_string()]),
    ))
    .expect("diag --json");
    println!(
        "single entries inside the agent's process (`cchc-agent diag`): {:.0} /s; bare rusqlite loop in the same process: {:.0} /s; ratio {:.2} (target ≥ 0.5)",
        diag["agent_per_s"].as_f64().unwrap_or(f64::NAN),
        diag["bare_sqlite_per_s"].as_f64().unwrap_or(f64::NAN),
        diag["ratio"].as_f64().unwrap_or(f64::NAN)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
