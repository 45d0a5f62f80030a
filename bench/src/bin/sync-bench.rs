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
        must(
            Command::new(bin)
                .arg("--data-dir")
                .arg(dir)
                .args(["init", "--province", province]),
        );
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
    for a in 0..agents {
        let c = a % communes.len();
        let entries = random_entries(&mut rng, &periods, ops_per_agent);
        let actor = ActorId(0xa000_0000 + a as u64);
        let ops = our_ops(communes[c], actor, &entries, 1_780_000_000_000);
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
    let db = std::fs::metadata(tmp.join("hub/hub.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(tmp.join("hub/hub.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);

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
    println!("   Automerge (load_incremental into one in-memory document per commune, no disk):");
    println!(
        "              {:>10.0} ops/s  ({am_secs:.1} s; wire {:.1} B/op)",
        total_ops as f64 / am_secs,
        am_wire as f64 / total_ops as f64
    );
    println!(
        "   ratios ours/Automerge: merge time {:.2}, bytes on the wire {:.2}\n",
        hub_secs / am_secs,
        wire as f64 / am_wire as f64
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
        "              {:>10.0} ops/s  ({secs:.1} s, {} requests of ≤ {} ops, {:.1} MiB on the wire, {:.1} B/op; hub acknowledged {} new)",
        backlog as f64 / secs,
        summary["rounds"],
        cchc_common::sync::MAX_BATCH_OPS,
        backlog_wire as f64 / 1048576.0,
        backlog_wire as f64 / backlog as f64,
        summary["sent_new"]
    );
    drop(hub);
    dashboard(&hub_bin, &tmp.join("country"), opts.quick);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Section 4: page times of the dashboard on a country-sized hub (Hà Nội's when quick).
fn dashboard(hub_bin: &Path, dir: &Path, quick: bool) {
    let communes: Vec<UnitCode> = if quick {
        UnitCatalog::builtin()
            .communes_of(1)
            .map(|u| u.code)
            .collect()
    } else {
        UnitCatalog::builtin().communes().map(|u| u.code).collect()
    };
    let months: Vec<Period> = [
        "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07",
        "2026-08", "2026-09", "2026-10", "2026-11",
    ]
    .iter()
    .map(|p| p.parse().expect("period"))
    .collect();
    let hub = Hub::start_province(hub_bin, dir, if quick { "1" } else { "all" });
    let base = format!("https://localhost:{}", hub.port);
    let pem = std::fs::read(dir.join("tls/ca.pem")).expect("CA");
    let client = http(&pem);
    let hub_cmd = |args: &[&str]| {
        let mut c = Command::new(hub_bin);
        c.arg("--data-dir").arg(dir).args(args);
        c
    };
    // Rollout plan: a tenth are pilots (phase 1), four tenths phase 2, the rest phase 3.
    let plan: Vec<u32> = (0..communes.len())
        .map(|i| match i % 10 {
            0 => 1,
            1..=4 => 2,
            _ => 3,
        })
        .collect();
    let mut csv = String::from("unit,phase\n");
    for (u, p) in communes.iter().zip(&plan) {
        csv.push_str(&format!("{},{p}\n", u.0));
    }
    let plan_file = dir.join("plan.csv");
    std::fs::write(&plan_file, csv).expect("plan");
    must(&mut hub_cmd(&[
        "phase",
        "assign",
        "--csv",
        plan_file.to_str().expect("utf-8"),
    ]));
    // One device per commune, enrolled as deployed.
    let mut args: Vec<String> = ["enroll", "create", "--json"].map(String::from).to_vec();
    for u in &communes {
        args.push("--unit".into());
        args.push(u.0.to_string());
    }
    let codes: serde_json::Value = serde_json::from_str(&must(&mut hub_cmd(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )))
    .expect("codes");
    let defs: serde_json::Value =
        serde_json::from_str(include_str!("../../../common/data/definitions-v1.json"))
            .expect("definitions");
    let mut rng = Rng(0xda5b);
    let loaded = Instant::now();
    let mut total_ops = 0usize;
    for (i, unit) in communes.iter().enumerate() {
        let actor = ActorId(0xd000_0000 + i as u64);
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64 + 7).to_le_bytes());
        let key = DeviceKey::from_seed(seed);
        let req = EnrollRequest {
            protocol: PROTOCOL_VERSION,
            code: codes[i]["code"].as_str().expect("code").replace('-', ""),
            unit: *unit,
            device: actor,
            public_key: key.public(),
            agent_version: "bench".into(),
        };
        let r = signed(
            &client,
            &base,
            ENROLL_PATH,
            &key,
            actor,
            1,
            serde_json::to_vec(&req).expect("json"),
        )
        .send()
        .expect("hub answers");
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
        // Twelve months of figures for three procedures, then the self-assessment.
        let mut entries = Vec::new();
        for p in &months {
            for procedure in ["CT-01", "CC-01", "DX-01"] {
                let received = 5 + rng.below(60);
                let on_time = received * (70 + rng.below(30)) / 100;
                entries.push(Entry {
                    period: *p,
                    procedure,
                    changes: vec![
                        (Metric::Received, received),
                        (Metric::OnTime, on_time.max(1)),
                        (Metric::Online, (received / 2).max(1)),
                        (Metric::Satisfied, (on_time / 2).max(1)),
                    ],
                });
            }
        }
        let mut ops = our_ops(*unit, actor, &entries, 1_790_000_000_000);
        let phase = &defs["phases"][plan[i] as usize - 1];
        for c in phase["criteria"].as_array().expect("criteria") {
            let max = (c["max_score"].as_f64().expect("max") * 10.0) as u64;
            let seq = ops.len() as u64 + 1;
            ops.push(Op {
                v: 1,
                actor,
                seq,
                hlc_ms: 1_791_000_000_000 + seq,
                hlc_c: 0,
                unit: *unit,
                defs: 1,
                body: OpBody::Assess {
                    phase: plan[i],
                    criterion: c["code"].as_str().expect("code").into(),
                    score: cchc_common::Score((max / 2 + rng.below(max / 2 + 1)) as u32),
                    evidence: "Biên bản kiểm tra".into(),
                    by: String::new(),
                },
            });
        }
        total_ops += ops.len();
        let r = signed(
            &client,
            &base,
            SYNC_PATH,
            &key,
            actor,
            2,
            encode_request(PROTOCOL_VERSION, &request(*unit, actor, ops)),
        )
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .send()
        .expect("hub answers");
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    }
    let load_secs = loaded.elapsed().as_secs_f64();
    // An analyst verifies the pilots.
    let mut user = hub_cmd(&["user", "add", "bench", "--role", "analyst"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user add");
    {
        use std::io::Write;
        writeln!(user.stdin.take().expect("stdin"), "bench-password-0123").expect("password");
    }
    assert!(user.wait().expect("user add ends").success());
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/login"))
        .body(r#"{"user":"bench","password":"bench-password-0123"}"#)
        .send()
        .and_then(|r| r.text())
        .map(|t| serde_json::from_str(&t).expect("login JSON"))
        .expect("login");
    let token = login["token"].as_str().expect("token").to_string();
    let pilots: Vec<UnitCode> = communes
        .iter()
        .zip(&plan)
        .filter(|(_, p)| **p == 1)
        .map(|(u, _)| *u)
        .collect();
    for u in &pilots {
        let scores: Vec<serde_json::Value> = defs["phases"][0]["criteria"]
            .as_array()
            .expect("criteria")
            .iter()
            .map(|c| serde_json::json!({"criterion": c["code"], "score": c["max_score"].as_f64().expect("max") * 0.8}))
            .collect();
        let r = client
            .post(format!("{base}/api/v1/communes/{}/verification", u.0))
            .bearer_auth(&token)
            .body(serde_json::json!({"phase": 1, "scores": scores}).to_string())
            .send()
            .expect("hub answers");
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    }
    let db = std::fs::metadata(dir.join("hub.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(dir.join("hub.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    // Page times: the median of 7 fetches each, after one warm-up fetch.
    let time = |path: &str| -> (f64, f64, usize) {
        let fetch = || {
            let started = Instant::now();
            let r = client
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .expect("hub answers");
            assert_eq!(r.status().as_u16(), 200, "{path}");
            let body = r.bytes().expect("body");
            (started.elapsed().as_secs_f64() * 1000.0, body.len())
        };
        let _ = fetch();
        let mut ms: Vec<f64> = Vec::new();
        let mut size = 0;
        for _ in 0..7 {
            let (t, n) = fetch();
            ms.push(t);
            size = n;
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        (ms[3], ms[6], size)
    };
    println!(
        "4. dashboard on a country hub: {} communes × {} months, {total_ops} ops loaded ({load_secs:.0} s), {} pilots verified, database {:.0} MiB",
        communes.len(),
        months.len(),
        pilots.len(),
        db as f64 / 1048576.0
    );
    println!("   page (HTTPS GET, rollups read + rendered)        median     worst of 7   size");
    let in_phase = |n: u32| plan.iter().filter(|p| **p == n).count();
    let mut rows = Vec::new();
    for (label, path) in [
        ("overview, HTML".to_string(), "/?period=2026-11"),
        (
            "overview, JSON API".to_string(),
            "/api/v1/overview?period=2026-11",
        ),
        (
            format!("phase 1 page, HTML ({} communes)", in_phase(1)),
            "/phase/1",
        ),
        (
            format!("phase 3 page, HTML ({} communes)", in_phase(3)),
            "/phase/3",
        ),
        ("phase 3, JSON API".to_string(), "/api/v1/phases/3"),
        (
            "completeness page, HTML".to_string(),
            "/completeness?period=2026-11",
        ),
    ] {
        let (median, worst, size) = time(path);
        println!(
            "   {label:<46} {median:>8.1} ms  {worst:>8.1} ms  {:>6.0} KiB",
            size as f64 / 1024.0
        );
        rows.push((label, median));
    }
    println!(
        "   ratio phase 3 / phase 1 page: {:.1}× for {:.1}× the communes",
        rows[3].1 / rows[2].1,
        in_phase(3) as f64 / in_phase(1) as f64
    );
    drop(hub);
}
