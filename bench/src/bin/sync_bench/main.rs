//! `cargo run --release -p cchc-bench --bin sync-bench [-- --agents N --ops N --backlog N] [--quick]`:
//! figures of the sync protocol and the hub, measured in one run against the release
//! binaries, with the same workloads encoded and merged by Automerge for comparison.
//! Not a test: nothing here asserts a time or a size.
//!
//! 1. Bytes per op on the wire for a commune's typical month (two desks, 22 working
//!    days, three entries per desk per day), ours (gzip JSON) and Automerge's (one
//!    document per commune, a counter per cell, its changes as sent).
//! 2. Ops merged per second by the real hub (HTTPS, SQLite WAL, synchronous=FULL) for
//!    1,000 agents × 1,000 ops, and Automerge merging the same ops in memory.
//! 3. A full backlog sync of 100,000 ops from one real agent process.
//! 4. The dashboard: overview and phase pages (HTML and JSON) of a hub holding all
//!    3,321 communes of the country (`init --province all`) × 12 months of figures,
//!    self-assessments of every planned commune and the province's verifications.

use automerge::transaction::Transactable;
use automerge::ReadDoc;
use automerge::{AutoCommit, ObjType, ScalarValue, ROOT};
use cchc_bench::must;
use cchc_common::auth::{
    DeviceKey, EnrollRequest, DEVICE_HEADER, ENROLL_PATH, NONCE_HEADER, SIGNATURE_HEADER,
};
use cchc_common::op::{CountDelta, Dir};
use cchc_common::state::VersionVector;
use cchc_common::sync::{
    encode_request, SyncRequest, PROTOCOL_HEADER, PROTOCOL_V1, PROTOCOL_VERSION, SYNC_PATH,
};
use cchc_common::{ActorId, Metric, Op, OpBody, Period, UnitCatalog, UnitCode};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod country;

const PROCEDURES: [&str; 8] = [
    "CT-01", "CT-02", "CT-07", "CC-01", "CC-02", "DX-01", "DX-03", "DD-01",
];
const METRICS: [Metric; 4] = [
    Metric::Received,
    Metric::OnTime,
    Metric::Online,
    Metric::Satisfied,
];

/// One entry: a procedure in a period, some metrics incremented.
#[derive(Clone)]
struct Entry {
    period: Period,
    procedure: &'static str,
    changes: Vec<(Metric, u64)>,
}

fn cell_key(period: &Period, procedure: &str, m: Metric) -> String {
    format!("{period}/{procedure}/{}", m.as_str())
}

/// Turns one device's entries into our ops (running totals per cell, HLC ascending).
fn our_ops(unit: UnitCode, actor: ActorId, entries: &[Entry], t0: u64) -> Vec<Op> {
    let mut totals: HashMap<String, u64> = HashMap::new();
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| Op {
            v: 1,
            actor,
            seq: i as u64 + 1,
            hlc_ms: t0 + i as u64 * 60_000,
            hlc_c: 0,
            unit,
            defs: 1,
            body: OpBody::Count {
                period: e.period,
                procedure: e.procedure.to_string(),
                deltas: e
                    .changes
                    .iter()
                    .map(|&(metric, amount)| {
                        let t = totals
                            .entry(cell_key(&e.period, e.procedure, metric))
                            .or_default();
                        *t += amount;
                        CountDelta {
                            metric,
                            dir: Dir::Inc,
                            amount,
                            total: *t,
                        }
                    })
                    .collect(),
                by: String::new(),
            },
        })
        .collect()
}

fn request(unit: UnitCode, actor: ActorId, ops: Vec<Op>) -> SyncRequest {
    let mut have = VersionVector::new();
    if let Some(last) = ops.last() {
        have.advance(actor, last.seq);
    }
    SyncRequest {
        protocol: PROTOCOL_VERSION,
        unit,
        device: actor,
        agent_version: "bench".into(),
        defs: 1,
        have,
        ops,
        sent_ms: 1_793_000_000_000,
        platform: String::new(),
        root: 0,
        updates: Vec::new(),
    }
}

/// A commune's Automerge document: a map of counters, one per cell, made by the hub.
fn am_base(periods: &[Period]) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(&[0u8; 16][..]));
    let counts = doc.put_object(ROOT, "counts", ObjType::Map).expect("map");
    for p in periods {
        for pr in PROCEDURES {
            for m in METRICS {
                doc.put(&counts, cell_key(p, pr, m), ScalarValue::counter(0))
                    .expect("counter");
            }
        }
    }
    doc.commit();
    doc
}

/// One device's entries as Automerge changes on a fork of the commune document:
/// one transaction per entry. Returns the bytes it would send (its changes).
fn am_device_changes(base: &mut AutoCommit, device: u64, entries: &[Entry]) -> Vec<u8> {
    let heads = base.get_heads();
    let mut actor = [0u8; 16];
    actor[..8].copy_from_slice(&device.to_be_bytes());
    let mut doc = base.fork().with_actor(automerge::ActorId::from(&actor[..]));
    let (_, counts) = doc
        .get(ROOT, "counts")
        .expect("read")
        .expect("counts map exists");
    for e in entries {
        for &(m, n) in &e.changes {
            doc.increment(&counts, cell_key(&e.period, e.procedure, m), n as i64)
                .expect("increment");
        }
        doc.commit();
    }
    doc.save_after(&heads)
}

/// xorshift64*: a deterministic workload.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn random_entries(rng: &mut Rng, periods: &[Period], n: usize) -> Vec<Entry> {
    (0..n)
        .map(|_| {
            let k = 1 + rng.below(4) as usize;
            let first = rng.below(4) as usize;
            Entry {
                period: periods[rng.below(periods.len() as u64) as usize],
                procedure: PROCEDURES[rng.below(PROCEDURES.len() as u64) as usize],
                changes: (0..k)
                    .map(|j| (METRICS[(first + j) % 4], 1 + rng.below(30)))
                    .collect(),
            }
        })
        .collect()
}

fn typical_month() -> Vec<Vec<Entry>> {
    let period: Period = "2026-11".parse().expect("period");
    (0..2usize)
        .map(|desk| {
            let mut v = Vec::new();
            for day in 0..22u64 {
                for k in 0..3usize {
                    v.push(Entry {
                        period,
                        procedure: PROCEDURES[(day as usize + desk + k) % PROCEDURES.len()],
                        changes: vec![
                            (Metric::Received, 3 + day % 5),
                            (Metric::OnTime, 2 + day % 4),
                            (Metric::Online, 1 + day % 3),
                            (Metric::Satisfied, 3 + day % 5),
                        ],
                    });
                }
            }
            v
        })
        .collect()
}

fn signed(
    http: &reqwest::blocking::Client,
    base: &str,
    path: &str,
    key: &DeviceKey,
    device: ActorId,
    nonce: u64,
    body: Vec<u8>,
) -> reqwest::blocking::RequestBuilder {
    http.post(format!("{base}{path}"))
        .header(DEVICE_HEADER, device.to_string())
        .header(NONCE_HEADER, nonce.to_string())
        .header(
            SIGNATURE_HEADER,
            key.sign("POST", path, device, nonce, &body),
        )
        .body(body)
}

/// An HTTPS client trusting only the hub's CA.
fn http(pem: &[u8]) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem).expect("pem"))
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client")
}

struct Hub {
    child: Child,
    port: u16,
}

impl Hub {
    fn start(bin: &Path, dir: &Path) -> Hub {
        Hub::start_province(bin, dir, "1")
    }

    fn start_province(bin: &Path, dir: &Path, province: &str) -> Hub {
        Hub::start_init(bin, dir, &["init", "--province", province])
    }

    /// A hub made with these `init` arguments, then served.
    fn start_init(bin: &Path, dir: &Path, init: &[&str]) -> Hub {
        must(Command::new(bin).arg("--data-dir").arg(dir).args(init));
        // One loopback address plays a thousand communes: lift the per-address limits
        // (the per-device ones stay as deployed).
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--rate-ip",
                "1000000",
                "--rate-guesses",
                "1000000",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("hub starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("hub prints its address");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        Hub { child, port }
    }

    /// Peak resident memory of the hub so far (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sync protocol and the hub, measured in one run.
#[derive(clap::Parser)]
#[command(name = "sync-bench")]
struct Opts {
    /// Agents syncing into the hub (section 2).
    #[arg(long, default_value_t = 1_000)]
    agents: usize,
    /// Ops per agent (section 2).
    #[arg(long, default_value_t = 1_000)]
    ops: usize,
    /// Ops in one agent's backlog (section 3).
    #[arg(long, default_value_t = 100_000)]
    backlog: usize,
    /// Small, one province for the dashboard, on the debug build: only shows the
    /// bench still runs (CI).
    #[arg(long)]
    quick: bool,
    /// Only sections 4 and 5 (the country hub, on SQLite and on PostgreSQL).
    #[arg(long)]
    country_only: bool,
}

fn main() {
    let opts = <Opts as clap::Parser>::parse();
    let (agents, ops_per_agent, backlog) = if opts.quick {
        (8, 50, 2_000)
    } else {
        (opts.agents, opts.ops, opts.backlog)
    };
    cchc_bench::quick_banner(opts.quick);
    let bins = cchc_bench::build(opts.quick, &["cchc-agent", "cchc-hub"]);
    let (agent_bin, hub_bin) = (bins.join("cchc-agent"), bins.join("cchc-hub"));
    let tmp = std::env::temp_dir().join(format!("cchc-sync-bench-{}", std::process::id()));
    if opts.country_only {
        std::fs::create_dir_all(&tmp).expect("temporary directory");
        countries(&hub_bin, &tmp, opts.quick);
        let _ = std::fs::remove_dir_all(&tmp);
        return;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let periods: Vec<Period> = (1..=11)
        .map(|m| format!("2026-{m:02}").parse().expect("period"))
        .collect();

    println!("== cchc sync-bench (release binaries; Automerge 0.6 for comparison)\n");

    // 1. A typical commune month on the wire.
    let month = typical_month();
    let unit = UnitCode(70);
    let mut ours = 0usize;
    let mut ours_v1 = 0usize;
    let mut json = 0usize;
    let mut n = 0usize;
    let mut am_bytes = 0usize;
    let mut base = am_base(&periods);
    for (desk, entries) in month.iter().enumerate() {
        let actor = ActorId(0x1000 + desk as u64);
        let ops = our_ops(unit, actor, entries, 1_793_000_000_000);
        n += ops.len();
        json += ops.iter().map(|o| o.to_json().len()).sum::<usize>();
        let req = request(unit, actor, ops);
        ours += encode_request(PROTOCOL_VERSION, &req).len();
        ours_v1 += encode_request(PROTOCOL_V1, &req).len();
        am_bytes += am_device_changes(&mut base, 0x1000 + desk as u64, entries).len();
    }
    println!("1. wire, a commune's typical month ({n} entries, 2 desks, one request each)");
    println!(
        "   ours, protocol {PROTOCOL_VERSION} (binary columns, deflate): {ours:>7} B = {:>5.1} B/op   (target ≤ 4)",
        ours as f64 / n as f64,
    );
    println!(
        "   ours, protocol {PROTOCOL_V1} (gzip JSON):               {ours_v1:>7} B = {:>5.1} B/op   (uncompressed op JSON {:.0} B/op)",
        ours_v1 as f64 / n as f64,
        json as f64 / n as f64
    );
    println!(
        "   Automerge: {am_bytes:>7} B = {:>5.1} B/op   (changes after the shared base document)",
        am_bytes as f64 / n as f64
    );
    println!(
        "   ratio ours/Automerge: {:.2}\n",
        ours as f64 / am_bytes as f64
    );

    // 2. The hub merging 1,000 agents × 1,000 ops.
    let communes: Vec<UnitCode> = UnitCatalog::builtin()
        .communes_of(1)
        .map(|u| u.code)
        .collect();
    let mut rng = Rng(0x5eed);
    let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(agents);
    let mut am_changes: Vec<(usize, Vec<u8>)> = Vec::with_capacity(agents);
    let mut am_bases: Vec<AutoCommit> = communes.iter().map(|_| am_base(&periods)).collect();
    let mut naive_batches: Vec<Vec<Op>> = Vec::with_capacity(agents);
    for a in 0..agents {
        let c = a % communes.len();
        let entries = random_entries(&mut rng, &periods, ops_per_agent);
        let actor = ActorId(0xa000_0000 + a as u64);
        let ops = our_ops(communes[c], actor, &entries, 1_780_000_000_000);
        naive_batches.push(ops.clone());
        bodies.push(encode_request(
            PROTOCOL_VERSION,
            &request(communes[c], actor, ops),
        ));
        am_changes.push((c, am_device_changes(&mut am_bases[c], actor.0, &entries)));
    }
    let total_ops = agents * ops_per_agent;
    let wire: usize = bodies.iter().map(Vec::len).sum();
    let am_wire: usize = am_changes.iter().map(|(_, b)| b.len()).sum();

    let hub = Hub::start(&hub_bin, &tmp.join("hub"));
    let pem = std::fs::read(tmp.join("hub/tls/ca.pem")).expect("CA");
    let base = format!("https://localhost:{}", hub.port);
    // Every agent enrolls first (one code each), as deployed; not timed.
    let keys: Vec<DeviceKey> = (0..agents)
        .map(|a| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(a as u64 + 1).to_le_bytes());
            DeviceKey::from_seed(seed)
        })
        .collect();
    let mut args: Vec<String> = vec!["--data-dir".into(), tmp.join("hub").display().to_string()];
    args.extend(["enroll", "create", "--json"].map(String::from));
    for a in 0..agents {
        args.push("--unit".into());
        args.push(communes[a % communes.len()].to_string());
    }
    let codes: serde_json::Value =
        serde_json::from_str(&must(Command::new(&hub_bin).args(&args))).expect("codes");
    let client = http(&pem);
    for (a, key) in keys.iter().enumerate() {
        let actor = ActorId(0xa000_0000 + a as u64);
        let code = if agents == 1 { &codes } else { &codes[a] };
        let req = EnrollRequest {
            protocol: PROTOCOL_VERSION,
            code: code["code"].as_str().expect("code").replace('-', ""),
            unit: communes[a % communes.len()],
            device: actor,
            public_key: key.public(),
            agent_version: "bench".into(),
        };
        let r = signed(
            &client,
            &base,
            ENROLL_PATH,
            key,
            actor,
            1,
            serde_json::to_vec(&req).expect("json"),
        )
        .send()
        .expect("hub answers");
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    }
    let threads = 4;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (bodies, base, pem, keys) = (&bodies, &base, &pem, &keys);
            s.spawn(move || {
                let client = http(pem);
                for (a, body) in bodies.iter().enumerate().skip(t).step_by(threads) {
                    let actor = ActorId(0xa000_0000 + a as u64);
                    let r = signed(&client, base, SYNC_PATH, &keys[a], actor, 2, body.clone())
                        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                        .send()
                        .expect("hub answers");
                    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
                }
            });
        }
    });
    let hub_secs = started.elapsed().as_secs_f64();
    let hub_rss = hub.peak_rss_mib();
    drop(hub);
    let db = file_sizes(&tmp.join("hub/hub.db"));

    let naive_secs = naive_sqlite(&tmp.join("naive.db"), &naive_batches);
    let naive_db = file_sizes(&tmp.join("naive.db"));
    let started = Instant::now();
    for (c, base) in am_bases.iter_mut().enumerate() {
        let mut hub_doc = base.fork();
        for (_, bytes) in am_changes.iter().filter(|(cc, _)| *cc == c) {
            hub_doc.load_incremental(bytes).expect("automerge loads");
        }
    }
    let am_secs = started.elapsed().as_secs_f64();

    println!(
        "2. hub merge, {agents} agents × {ops_per_agent} ops = {total_ops} ops over {} communes ({threads} client threads)",
        communes.len()
    );
    println!(
        "   ours (HTTPS + ed25519 signature check + decode + validate + SQLite WAL, synchronous=FULL, one transaction per request):"
    );
    println!(
        "              {:>10.0} ops/s  ({hub_secs:.1} s; hub peak RSS {hub_rss:.0} MiB; database {:.0} MiB; wire {:.1} B/op)",
        total_ops as f64 / hub_secs,
        db as f64 / 1048576.0,
        wire as f64 / total_ops as f64
    );
    println!(
        "   naive SQLite loop (same machine and settings, in process: per op an insert of its JSON and an upsert per counter, one transaction per batch; no HTTPS, checks or rollups):"
    );
    println!(
        "              {:>10.0} ops/s  ({naive_secs:.1} s)   ratio ours/naive {:.2} (target ≥ 2)",
        total_ops as f64 / naive_secs,
        naive_secs / hub_secs
    );
    println!("   Automerge (load_incremental into one in-memory document per commune, no disk):");
    println!(
        "              {:>10.0} ops/s  ({am_secs:.1} s; wire {:.1} B/op)",
        total_ops as f64 / am_secs,
        am_wire as f64 / total_ops as f64
    );
    println!(
        "   ratios ours/Automerge: merge time {:.2}, bytes on the wire {:.2}",
        hub_secs / am_secs,
        wire as f64 / am_wire as f64
    );
    println!(
        "   hub disk: {db} B = {:.1} B per op held, op log + state + rollups + everything else in hub.db (target ≤ 40: {:.2} of it); the naive loop's database {:.1} B/op (ratio ours/naive {:.2})\n",
        db as f64 / total_ops as f64,
        db as f64 / total_ops as f64 / 40.0,
        naive_db as f64 / total_ops as f64,
        db as f64 / naive_db as f64
    );

    // 3. A backlog of 100,000 ops from one agent, through the real agent process.
    let hub = Hub::start(&hub_bin, &tmp.join("hub2"));
    let desk = tmp.join("desk");
    let ca = tmp.join("hub2/tls/ca.pem");
    let code: serde_json::Value = serde_json::from_str(&must(
        Command::new(&hub_bin)
            .arg("--data-dir")
            .arg(tmp.join("hub2"))
            .args(["enroll", "create", "--unit", "70", "--json"]),
    ))
    .expect("code");
    must(
        Command::new(&agent_bin)
            .arg("--data-dir")
            .arg(&desk)
            .args([
                "init",
                "--unit",
                "70",
                "--hub",
                &format!("https://localhost:{}", hub.port),
                "--code",
                code["code"].as_str().expect("code"),
                "--ca",
            ])
            .arg(&ca),
    );
    // The backlog is another desk's ops, carried in by bundle (a desk that worked
    // offline for months), so the agent holds them without 100,000 process runs.
    let entries = random_entries(&mut rng, &periods, backlog);
    let sender = ActorId(0xbac1_0600);
    let ops = our_ops(unit, sender, &entries, 1_770_000_000_000);
    let backlog_wire: usize = ops
        .chunks(cchc_common::sync::MAX_BATCH_OPS)
        .map(|c| encode_request(PROTOCOL_VERSION, &request(unit, sender, c.to_vec())).len())
        .sum();
    let mut vv = VersionVector::new();
    vv.advance(sender, backlog as u64);
    let bundle = serde_json::json!({
        "format": "cchc-bundle", "version": 1, "unit": 70, "sender": sender,
        "sent_at_ms": 1_770_000_000_000i64, "version_vector": vv, "ops": ops,
    });
    let file = tmp.join("backlog.json");
    std::fs::write(&file, serde_json::to_vec(&bundle).expect("json")).expect("write bundle");
    must(
        Command::new(&agent_bin)
            .arg("--data-dir")
            .arg(&desk)
            .args(["bundle", "import"])
            .arg(&file),
    );
    let started = Instant::now();
    let out = must(
        Command::new(&agent_bin)
            .arg("--data-dir")
            .arg(&desk)
            .args(["sync", "--json"]),
    );
    let secs = started.elapsed().as_secs_f64();
    let summary: serde_json::Value = serde_json::from_str(&out).expect("sync --json");
    println!("3. backlog: one agent uploads {backlog} ops (release agent process, real HTTPS)");
    println!(
        "              {:>10.0} ops/s (target ≥ 100,000: {:.2} of it)  ({secs:.1} s, {} requests of ≤ {} ops, {:.1} MiB on the wire, {:.1} B/op; hub acknowledged {} new)",
        backlog as f64 / secs,
        backlog as f64 / secs / 100_000.0,
        summary["rounds"],
        cchc_common::sync::MAX_BATCH_OPS,
        backlog_wire as f64 / 1048576.0,
        backlog_wire as f64 / backlog as f64,
        summary["sent_new"]
    );
    drop(hub);
    countries(&hub_bin, &tmp, opts.quick);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A SQLite database's size with its WAL (what it holds on disk).
fn file_sizes(db: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(db) + size(&db.with_extension("db-wal"))
}

/// The in-run anchor for the hub's merge: what a plain SQLite loop does with the same
/// batches on the same disk (WAL, synchronous=FULL): per op, its JSON into an op table
/// and an upsert of each counter it moves; one transaction per batch. Returns seconds.
fn naive_sqlite(path: &Path, batches: &[Vec<Op>]) -> f64 {
    let conn = rusqlite::Connection::open(path).expect("naive db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    conn.execute_batch(
        "CREATE TABLE ops (actor INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
             PRIMARY KEY (actor, seq));
         CREATE TABLE counters (unit INTEGER NOT NULL, period TEXT NOT NULL, procedure TEXT NOT NULL,
             metric TEXT NOT NULL, actor INTEGER NOT NULL, value INTEGER NOT NULL,
             PRIMARY KEY (unit, period, procedure, metric, actor));",
    )
    .expect("schema");
    let started = Instant::now();
    for batch in batches {
        let tx = conn.unchecked_transaction().expect("begin");
        {
            let mut op_st = tx
                .prepare_cached("INSERT INTO ops (actor, seq, body) VALUES (?1, ?2, ?3)")
                .expect("prepare");
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO counters VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT DO UPDATE SET value = value + excluded.value",
                )
                .expect("prepare");
            for op in batch {
                op_st
                    .execute(rusqlite::params![
                        op.actor.0 as i64,
                        op.seq as i64,
                        op.to_json()
                    ])
                    .expect("insert");
                if let OpBody::Count {
                    period,
                    procedure,
                    deltas,
                    ..
                } = &op.body
                {
                    for d in deltas {
                        up.execute(rusqlite::params![
                            op.unit.0,
                            period.to_string(),
                            procedure,
                            d.metric.as_str(),
                            op.actor.0 as i64,
                            d.amount as i64
                        ])
                        .expect("upsert");
                    }
                }
            }
        }
        tx.commit().expect("commit");
    }
    started.elapsed().as_secs_f64()
}

/// Sections 4 and 5: the country hub on SQLite, then on a throwaway PostgreSQL, and the
/// two side by side.
fn countries(hub_bin: &Path, tmp: &Path, quick: bool) {
    let lite = country::run(hub_bin, &tmp.join("country"), quick, None);
    let pg = cchc_bench::Postgres::start();
    let post = country::run(hub_bin, &tmp.join("country-pg"), quick, Some(&pg.url));
    drop(pg);
    println!("5. the same country hub on PostgreSQL beside SQLite (same run, same machine):");
    println!(
        "   merge (the year loaded)   SQLite {:>9.0} ops/s   PostgreSQL {:>9.0} ops/s   ratio {:.2}",
        lite.load_ops_s,
        post.load_ops_s,
        post.load_ops_s / lite.load_ops_s
    );
    println!(
        "   the national day          SQLite {:>9.1} s       PostgreSQL {:>9.1} s       p99 {:.0} / {:.0} ms",
        lite.day_secs, post.day_secs, lite.p99_ms, post.p99_ms
    );
    println!(
        "   overview page (median)    SQLite {:>9.1} ms      PostgreSQL {:>9.1} ms",
        lite.overview_ms, post.overview_ms
    );
    println!(
        "   provinces page (median)   SQLite {:>9.1} ms      PostgreSQL {:>9.1} ms",
        lite.provinces_ms, post.provinces_ms
    );
}
