//! Section 4 of sync-bench: the country. A hub holding all 3,321 communes (`init
//! --province all`; Hà Nội's 126 when quick), one enrolled device per commune loading a
//! year of figures and self-assessments, then the national day: every device syncs one
//! day's entries, 64 requests in flight, each over a new HTTPS connection as a separate
//! agent would, while a staff member keeps reloading the overview page. Then the
//! dashboard's page times on the loaded hub.

use super::{http, must, our_ops, request, signed, Entry, Hub, Rng};
use cchc_common::auth::{DeviceKey, EnrollRequest, ENROLL_PATH};
use cchc_common::sync::{
    decode_response, encode_request, PROTOCOL_HEADER, PROTOCOL_VERSION, SYNC_PATH,
};
use cchc_common::{ActorId, Metric, Op, OpBody, Period, UnitCatalog, UnitCode};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests in flight during the loads (the issue's national-scale figure).
const IN_FLIGHT: usize = 64;

/// One device's request, ready to send.
struct Prepared {
    unit: UnitCode,
    actor: ActorId,
    key: Arc<DeviceKey>,
    nonce: u64,
    body: Vec<u8>,
    /// The highest number of its ops: what the hub must acknowledge.
    last_seq: u64,
}

/// An HTTPS client that opens a new connection (TCP + TLS handshake) per request, as
/// thousands of separate agent processes do.
fn fresh_client(pem: &[u8]) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem).expect("pem"))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client")
}

/// Sends every request, `IN_FLIGHT` at a time; checks each answer acknowledges its
/// device's ops (converged). Returns the wall time and each request's latency (ms).
fn fire(base: &str, pem: &[u8], jobs: &[Prepared]) -> (f64, Vec<f64>) {
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(jobs.len()));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..IN_FLIGHT.min(jobs.len()) {
            s.spawn(|| {
                let client = fresh_client(pem);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(j) = jobs.get(i) else { break };
                    let t = Instant::now();
                    let r = signed(
                        &client,
                        base,
                        SYNC_PATH,
                        &j.key,
                        j.actor,
                        j.nonce,
                        j.body.clone(),
                    )
                    .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                    .send()
                    .expect("hub answers");
                    let status = r.status().as_u16();
                    let bytes = r.bytes().expect("answer");
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
                    let resp = decode_response(PROTOCOL_VERSION, &bytes).expect("answer decodes");
                    assert_eq!(resp.unit, j.unit);
                    assert_eq!(resp.acked.get(&j.actor), j.last_seq, "not converged");
                    latencies.lock().expect("lock").push(ms);
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let mut l = latencies.into_inner().expect("lock");
    l.sort_by(|a, b| a.total_cmp(b));
    (secs, l)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Section 4 (see the module documentation).
/// What section 4 measured, for the engines' comparison.
pub struct Figures {
    /// The year loaded, ops per second.
    pub load_ops_s: f64,
    /// The national day, seconds to all acknowledged.
    pub day_secs: f64,
    /// Its request latency, 99th percentile.
    pub p99_ms: f64,
    /// Overview page (HTML), median.
    pub overview_ms: f64,
    /// Provinces page (HTML), median.
    pub provinces_ms: f64,
}

/// Section 4 on a hub whose data lives in `store` (a PostgreSQL URL) or in SQLite.
pub fn run(hub_bin: &Path, dir: &Path, quick: bool, store: Option<&str>) -> Figures {
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
    let mut init = if quick {
        vec!["init", "--province", "1"]
    } else {
        vec!["init", "--national"]
    };
    if let Some(url) = store {
        init.extend(["--store", url]);
    }
    let engine = if store.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let hub = Hub::start_init(hub_bin, dir, &init);
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
        serde_json::from_str(include_str!("../../../../common/data/definitions-v1.json"))
            .expect("definitions");
    let mut rng = Rng(0xda5b);
    let devices: Vec<(UnitCode, ActorId, Arc<DeviceKey>)> = communes
        .iter()
        .enumerate()
        .map(|(i, unit)| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 7).to_le_bytes());
            (
                *unit,
                ActorId(0xd000_0000 + i as u64),
                Arc::new(DeviceKey::from_seed(seed)),
            )
        })
        .collect();
    // Every device enrolls first (one code each), as deployed; not timed.
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let client = http(&pem);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((unit, actor, key)) = devices.get(i) else {
                        break;
                    };
                    let req = EnrollRequest {
                        protocol: PROTOCOL_VERSION,
                        code: codes[i]["code"].as_str().expect("code").replace('-', ""),
                        unit: *unit,
                        device: *actor,
                        public_key: key.public(),
                        agent_version: "bench".into(),
                    };
                    let body = serde_json::to_vec(&req).expect("json");
                    let r = signed(&client, &base, ENROLL_PATH, key, *actor, 1, body)
                        .send()
                        .expect("hub answers");
                    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
                }
            });
        }
    });
    // A year: twelve months of figures for three procedures, then the self-assessment.
    let mut year = Vec::with_capacity(devices.len());
    let mut total_ops = 0usize;
    for (i, (unit, actor, key)) in devices.iter().enumerate() {
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
        let mut ops = our_ops(*unit, *actor, &entries, 1_790_000_000_000);
        let phase = &defs["phases"][plan[i] as usize - 1];
        for c in phase["criteria"].as_array().expect("criteria") {
            let max = (c["max_score"].as_f64().expect("max") * 10.0) as u64;
            let seq = ops.len() as u64 + 1;
            ops.push(Op {
                v: 1,
                actor: *actor,
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
        year.push(Prepared {
            unit: *unit,
            actor: *actor,
            key: key.clone(),
            nonce: 2,
            last_seq: ops.len() as u64,
            body: encode_request(PROTOCOL_VERSION, &request(*unit, *actor, ops)),
        });
    }
    let (load_secs, _) = fire(&base, &pem, &year);
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
    // The national day: every device syncs today's entries (three, four metrics each),
    // 64 in flight, while a staff member keeps reloading the overview.
    let today: Period = "2026-12".parse().expect("period");
    let mut day_ops = 0usize;
    let day: Vec<Prepared> = year
        .iter()
        .map(|y| {
            let entries: Vec<Entry> = ["CT-01", "CC-01", "DX-01"]
                .into_iter()
                .map(|procedure| Entry {
                    period: today,
                    procedure,
                    changes: vec![
                        (Metric::Received, 3),
                        (Metric::OnTime, 2),
                        (Metric::Online, 1),
                        (Metric::Satisfied, 2),
                    ],
                })
                .collect();
            let mut ops = our_ops(y.unit, y.actor, &entries, 1_796_000_000_000);
            for op in &mut ops {
                op.seq += y.last_seq;
            }
            day_ops += ops.len();
            Prepared {
                unit: y.unit,
                actor: y.actor,
                key: y.key.clone(),
                nonce: 3,
                last_seq: y.last_seq + ops.len() as u64,
                body: encode_request(PROTOCOL_VERSION, &request(y.unit, y.actor, ops)),
            }
        })
        .collect();
    let stop = AtomicBool::new(false);
    let loaded_pages = Mutex::new(Vec::new());
    let (day_secs, latencies) = std::thread::scope(|s| {
        s.spawn(|| {
            let c = http(&pem);
            loop {
                let t = Instant::now();
                let r = c
                    .get(format!("{base}/?period=2026-12"))
                    .bearer_auth(&token)
                    .send()
                    .expect("hub answers");
                assert_eq!(r.status().as_u16(), 200);
                let _ = r.bytes().expect("page");
                loaded_pages
                    .lock()
                    .expect("lock")
                    .push(t.elapsed().as_secs_f64() * 1000.0);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
        let r = fire(&base, &pem, &day);
        stop.store(true, Ordering::Relaxed);
        r
    });
    let day_rss = hub.peak_rss_mib();
    let mut under_load = loaded_pages.into_inner().expect("lock");
    under_load.sort_by(|a, b| a.total_cmp(b));
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
        "4. a country hub on {engine}: {} communes × {} months, {total_ops} ops loaded in {load_secs:.1} s ({:.0} ops/s, {IN_FLIGHT} in flight), {} pilots verified, database {:.0} MiB{}",
        communes.len(),
        months.len(),
        total_ops as f64 / load_secs,
        pilots.len(),
        db as f64 / 1048576.0,
        if store.is_some() { " (SQLite file; PostgreSQL's not counted)" } else { "" }
    );
    println!(
        "   the national day: {} devices each sync a day's entries ({day_ops} ops), {IN_FLIGHT} in flight, a new HTTPS connection each",
        day.len()
    );
    println!(
        "      all converged in {day_secs:.1} s (target ≤ 30 s: {:.2} of it); request latency p50 {:.0} ms, p99 {:.0} ms (target ≤ 500 ms: {:.2} of it); hub peak RSS {day_rss:.0} MiB",
        day_secs / 30.0,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.99) / 500.0
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
            "provinces side by side, HTML".to_string(),
            "/provinces?period=2026-11",
        ),
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
    let figures = Figures {
        load_ops_s: total_ops as f64 / load_secs,
        day_secs,
        p99_ms: percentile(&latencies, 0.99),
        overview_ms: rows[0].1,
        provinces_ms: rows[5].1,
    };
    println!(
        "   ratio phase 3 / phase 1 page: {:.1}× for {:.1}× the communes",
        rows[3].1 / rows[2].1,
        in_phase(3) as f64 / in_phase(1) as f64
    );
    let median = percentile(&under_load, 0.5);
    println!(
        "   overview while the national day ran: median {median:.1} ms over {} loads, worst {:.1} ms (target ≤ 100 ms: {:.2} of it; {:.1}× the idle median)",
        under_load.len(),
        under_load.last().copied().unwrap_or(f64::NAN),
        median / 100.0,
        median / rows[0].1
    );
    drop(hub);
    figures
}
