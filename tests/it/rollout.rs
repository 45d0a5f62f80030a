//! The overview's aggregates against a brute-force recomputation from the hub's op log.
//!
//! A generated province: every commune of one real province of the unit list, one or
//! two enrolled devices each sending signed sync requests (self-assessments of random
//! criteria with random scores, two desks disagreeing on some, counts with corrections
//! over the months of this year, pledges with tasks), a random rollout plan assigned by
//! CSV and partly reassigned afterwards, and random verifications by an analyst over
//! the API. Then every figure and every row of the overview (`/api/v1/overview`) must
//! equal what this file recomputes from the `ops` table alone, with the merge rules
//! written out here (last writer wins by stamp, counts summed, tasks done by last status).

use cchc_common::op::{CountDelta, Dir, TaskStatus};
use cchc_common::state::VersionVector;
use cchc_common::sync::{self, SyncRequest, PROTOCOL_HEADER, SYNC_PATH};
use cchc_common::{ActorId, Date, Metric, Op, OpBody, Period, Score, UnitCode};
use cchc_tests::{communes_of, workspace, Hub, Rng, Signer};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Quảng Ninh-sized: the province whose communes are generated (code from the unit list).
const PROVINCE: u32 = 12;

/// A phase of definitions v1: (phase, [(criterion, max tenths)], pass threshold tenths).
type PhaseDef = (u32, Vec<(String, u32)>, u32);

fn phases(defs: &Value) -> Vec<PhaseDef> {
    defs["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let crit = p["criteria"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let max = (c["max_score"].as_f64().unwrap() * 10.0).round() as u32;
                    (c["code"].as_str().unwrap().to_string(), max)
                })
                .collect();
            let pass = (p["pass_threshold"].as_f64().unwrap() * 10.0).round() as u32;
            (p["phase"].as_u64().unwrap() as u32, crit, pass)
        })
        .collect()
}

/// One generated device: its ops so far and running count totals.
struct Device {
    signer: Signer,
    unit: u32,
    seq: u64,
    hlc: u64,
    ops: Vec<Op>,
    totals: BTreeMap<(Period, String, Metric, bool), u64>,
    dots: BTreeMap<String, u64>,
}

impl Device {
    fn push(&mut self, body: OpBody, hlc_ms: u64) {
        self.seq += 1;
        self.ops.push(Op {
            v: 1,
            actor: self.signer.device,
            seq: self.seq,
            hlc_ms,
            hlc_c: 0,
            unit: UnitCode(self.unit),
            defs: 1,
            body,
        });
    }

    fn next_hlc(&mut self, rng: &mut Rng) -> u64 {
        self.hlc += 1 + rng.below(5_000);
        self.hlc
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn pct(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 * 100.0 / den as f64)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |v| json!(round1(v)))
}

/// Equal JSON, numbers within rounding noise; on a difference, names the path.
fn same(path: &str, got: &Value, want: &Value) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() < 1e-9, "{path}: page {a}, op log {b}");
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                same(&format!("{path}.{k}"), a.get(k).unwrap_or(&Value::Null), v);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: rows");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(&format!("{path}[{i}]"), x, y);
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

#[test]
fn overview_figures_equal_a_recomputation_from_the_op_log() {
    let mut rng = Rng::from_env("overview_figures_equal_a_recomputation_from_the_op_log");
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), PROVINCE);
    // Every commune enrolls from this one address within seconds.
    hub.start_with(&["--rate-guesses", "1000"]);
    let communes = communes_of(PROVINCE);
    assert!(communes.len() > 20, "{PROVINCE}: {communes:?}");
    let defs: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("common/data/definitions-v1.json")).unwrap(),
    )
    .unwrap();
    let phase_defs = phases(&defs);
    let procedures: Vec<String> = defs["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect();
    let today = Date::from_unix_ms_vn(now_ms() as i64);
    let (year, month) = (today.year(), today.month());
    let period = Period::Month(year, month);

    // Devices: one per commune, a second desk in about a quarter of them.
    let mut devices: Vec<Device> = Vec::new();
    for (i, &unit) in communes.iter().enumerate() {
        let desks = if rng.below(4) == 0 { 2 } else { 1 };
        for d in 0..desks {
            let signer = Signer::new(
                0x7e57_0000_0000_0000 + (i as u64) * 4 + d,
                (i * 2 + d as usize) as u8,
            );
            assert_eq!(signer.enroll(&hub, unit, &hub.code(unit)), 200, "{unit}");
            devices.push(Device {
                signer,
                unit,
                seq: 0,
                hlc: now_ms() - 20 * 86_400_000,
                ops: Vec::new(),
                totals: BTreeMap::new(),
                dots: BTreeMap::new(),
            });
        }
    }

    // Random plan: phases 1-3 or none, by CSV; a few moved afterwards by the command line.
    let mut plan: BTreeMap<u32, u32> = BTreeMap::new();
    let mut csv = String::from("\u{feff}unit,phase,name\n");
    for &u in &communes {
        let p = rng.below(4) as u32;
        if p > 0 {
            plan.insert(u, p);
            csv.push_str(&format!("{u},{p},xã {u}\n"));
        }
    }
    let plan_file = tmp.path().join("plan.csv");
    std::fs::write(&plan_file, csv).unwrap();
    hub.ok(&["phase", "assign", "--csv", plan_file.to_str().unwrap()]);

    // Ops: self-assessments (any phase's criteria, so some fall outside the commune's
    // phase and must not count), counts with corrections, pledges.
    for dev in devices.iter_mut() {
        for (phase, criteria, _) in &phase_defs {
            let share = if plan.get(&dev.unit) == Some(phase) {
                3
            } else {
                8
            };
            for (code, max) in criteria {
                if rng.below(share) != 0 && rng.below(5) != 0 {
                    continue;
                }
                let score = Score(rng.below(*max as u64 + 1) as u32);
                let at = dev.next_hlc(&mut rng);
                dev.push(
                    OpBody::Assess {
                        phase: *phase,
                        criterion: code.clone(),
                        score,
                        evidence: format!("minh chứng {code}"),
                        by: String::new(),
                    },
                    at,
                );
            }
        }
        for _ in 0..rng.below(12) {
            let p = Period::Month(year, 1 + rng.below(month as u64) as u8);
            let procedure = procedures[rng.below(procedures.len() as u64) as usize].clone();
            let mut deltas = Vec::new();
            for m in Metric::ALL {
                if rng.below(2) == 0 {
                    continue;
                }
                let held = |inc: bool| {
                    dev.totals
                        .get(&(p, procedure.clone(), m, inc))
                        .copied()
                        .unwrap_or(0)
                };
                // A correction never takes this desk's count below zero.
                let inc = rng.below(3) != 0 || held(true) < held(false) + 4;
                let amount = 1 + rng.below(if inc { 40 } else { 4 });
                let t = dev
                    .totals
                    .entry((p, procedure.clone(), m, inc))
                    .or_default();
                *t += amount;
                deltas.push(CountDelta {
                    metric: m,
                    dir: if inc { Dir::Inc } else { Dir::Dec },
                    amount,
                    total: *t,
                });
            }
            if deltas.is_empty() {
                continue;
            }
            let at = dev.next_hlc(&mut rng);
            dev.push(
                OpBody::Count {
                    period: p,
                    procedure,
                    deltas,
                    by: String::new(),
                },
                at,
            );
        }
        if rng.below(2) == 0 {
            let signer = format!("Nguyễn Văn Bình {}", dev.signer.device.0 % 1000);
            let pledge = cchc_common::text::slug(&signer);
            let at = dev.next_hlc(&mut rng);
            dev.push(
                OpBody::PledgeSign {
                    year,
                    pledge: pledge.clone(),
                    signer,
                    role: "Trưởng Công an".into(),
                    signed_on: Date::new(year, 1, 15).unwrap(),
                },
                at,
            );
            for t in 0..rng.below(4) {
                let dot = dev.dots.entry(pledge.clone()).or_default();
                *dot += 1;
                let dot = *dot;
                let task = format!("{}-{}", dev.signer.device, dev.seq + 1);
                let at = dev.next_hlc(&mut rng);
                dev.push(
                    OpBody::TaskAdd {
                        year,
                        pledge: pledge.clone(),
                        task: task.clone(),
                        title: format!("Nhiệm vụ {t}"),
                        dot,
                    },
                    at,
                );
                for _ in 0..rng.below(3) {
                    let status = [
                        TaskStatus::InProgress,
                        TaskStatus::Done,
                        TaskStatus::NotStarted,
                    ][rng.below(3) as usize];
                    let at = dev.next_hlc(&mut rng);
                    dev.push(
                        OpBody::TaskStatus {
                            year,
                            pledge: pledge.clone(),
                            task: task.clone(),
                            status,
                        },
                        at,
                    );
                }
            }
        }
    }

    // Upload in two batches per device, devices interleaved, so a commune's second desk
    // often arrives with older stamps after the first.
    let http = hub.client(None);
    let base = hub.url();
    let mut nonce = 1_000;
    for half in 0..2 {
        for dev in &devices {
            let n = dev.ops.len();
            let cut = n / 2;
            let ops: Vec<Op> = if half == 0 {
                dev.ops[..cut].to_vec()
            } else {
                dev.ops[cut..].to_vec()
            };
            let mut have = VersionVector::new();
            if let Some(last) = ops.last() {
                have.advance(dev.signer.device, last.seq);
            } else if cut > 0 {
                have.advance(dev.signer.device, cut as u64);
            }
            let req = SyncRequest {
                protocol: 1,
                unit: UnitCode(dev.unit),
                device: dev.signer.device,
                agent_version: "test".into(),
                defs: 1,
                have,
                ops,
                sent_ms: now_ms(),
                platform: String::new(),
                root: 0,
                updates: Vec::new(),
            };
            nonce += 1;
            let resp = dev
                .signer
                .post(&http, &base, SYNC_PATH, nonce, sync::encode(&req))
                .header(PROTOCOL_HEADER, "1")
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            assert_eq!(status, 200, "{}", resp.text().unwrap_or_default());
        }
    }

    // Some communes change phase after their data arrived.
    // At least one, whatever the draw: about 1 in 30 seeds would otherwise move none.
    let mut moved: Vec<u32> = plan.keys().copied().filter(|_| rng.below(6) == 0).collect();
    if moved.is_empty() && !plan.is_empty() {
        let pick = rng.below(plan.len() as u64) as usize;
        moved.extend(plan.keys().nth(pick));
    }
    for u in &moved {
        let p = 1 + (plan[u] % 3);
        plan.insert(*u, p);
        hub.ok(&[
            "phase",
            "assign",
            "--phase",
            &p.to_string(),
            "--unit",
            &u.to_string(),
        ]);
    }

    // Verifications by an analyst: all criteria for some communes (so they pass or
    // fail), a few for others, and a second pass changing some.
    let password = hub.user("thu", "analyst");
    let token = hub.login("thu", &password);
    for round in 0..2 {
        for (&unit, &phase) in &plan {
            if rng.below(if round == 0 { 2 } else { 4 }) != 0 {
                continue;
            }
            let (_, criteria, _) = &phase_defs[phase as usize - 1];
            let all = rng.below(2) == 0;
            let mut scores: Vec<Value> = Vec::new();
            for (code, max) in criteria {
                if !all && rng.below(3) != 0 {
                    continue;
                }
                // Mostly generous, so some communes pass.
                let low = max * 6 / 10;
                let tenths = low + rng.below((max - low + 1) as u64) as u32;
                scores.push(json!({"criterion": code, "score": tenths as f64 / 10.0, "comment": "đã kiểm tra"}));
            }
            if scores.is_empty() {
                continue;
            }
            let resp = http
                .post(format!("{base}/api/v1/communes/{unit}/verification"))
                .bearer_auth(&token)
                .body(json!({"phase": phase, "scores": scores}).to_string())
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            assert_eq!(status, 200, "{}", resp.text().unwrap_or_default());
        }
    }

    // The page.
    let page: Value = serde_json::from_str(
        &http
            .get(format!("{base}/api/v1/overview?period={period}"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .expect("overview JSON");

    // The brute force: every op the hub holds, replayed by the rules above.
    let ops: Vec<Op> = hub.ops();
    let sent: usize = devices.iter().map(|d| d.ops.len()).sum();
    let province_ops = ops.iter().filter(|o| o.body.is_province_side()).count();
    assert_eq!(
        ops.len(),
        sent + province_ops,
        "the log holds every op once"
    );
    assert!(province_ops > 0);

    type Reg = BTreeMap<(u32, u32, String), ((u64, u32, ActorId), Score)>;
    let mut own: Reg = BTreeMap::new();
    let mut verified: Reg = BTreeMap::new();
    let mut counts: BTreeMap<(Period, Metric), i64> = BTreeMap::new();
    let mut reported: BTreeMap<Period, BTreeSet<u32>> = BTreeMap::new();
    let mut pledged: BTreeSet<u32> = BTreeSet::new();
    let mut tasks: BTreeMap<String, ((u64, u32, ActorId), TaskStatus)> = BTreeMap::new();
    for op in &ops {
        let stamp = (op.hlc_ms, op.hlc_c, op.actor);
        let u = op.unit.0;
        let lww = |reg: &mut Reg, phase: u32, c: &str, s: Score| {
            let e = reg.entry((u, phase, c.to_string())).or_insert((stamp, s));
            if stamp > e.0 {
                *e = (stamp, s);
            }
        };
        match &op.body {
            OpBody::Assess {
                phase,
                criterion,
                score,
                ..
            } => lww(&mut own, *phase, criterion, *score),
            OpBody::Verify {
                phase,
                criterion,
                score,
                ..
            } => lww(&mut verified, *phase, criterion, *score),
            OpBody::Count { period, deltas, .. } => {
                reported.entry(*period).or_default().insert(u);
                for d in deltas {
                    let v = d.amount as i64;
                    *counts.entry((*period, d.metric)).or_default() +=
                        if d.dir == Dir::Inc { v } else { -v };
                }
            }
            OpBody::PledgeSign { year: y, .. } if *y == year => {
                pledged.insert(u);
            }
            OpBody::TaskAdd { year: y, task, .. } if *y == year => {
                tasks
                    .entry(task.clone())
                    .or_insert(((0, 0, ActorId(0)), TaskStatus::NotStarted));
            }
            OpBody::TaskStatus {
                year: y,
                task,
                status,
                ..
            } if *y == year => {
                let e = tasks
                    .entry(task.clone())
                    .or_insert(((0, 0, ActorId(0)), TaskStatus::NotStarted));
                if stamp > e.0 {
                    *e = (stamp, *status);
                }
            }
            _ => {}
        }
    }

    // Standing per planned commune, and the phase and criterion sums.
    let mut phase_rows = BTreeMap::new();
    let mut crit: BTreeMap<(u32, String), (i64, i64, i64)> = BTreeMap::new();
    let mut passed_total = 0;
    for (phase, criteria, pass) in &phase_defs {
        let members: Vec<u32> = plan
            .iter()
            .filter(|(_, p)| *p == phase)
            .map(|(u, _)| *u)
            .collect();
        let (mut rep, mut ver, mut passed) = (0, 0, 0);
        for u in &members {
            let key = |c: &str| (*u, *phase, c.to_string());
            let all_own = criteria.iter().all(|(c, _)| own.contains_key(&key(c)));
            let all_ver = criteria.iter().all(|(c, _)| verified.contains_key(&key(c)));
            let ver_total: u32 = criteria
                .iter()
                .filter_map(|(c, _)| verified.get(&key(c)).map(|v| v.1 .0))
                .sum();
            rep += all_own as i64;
            ver += all_ver as i64;
            passed += (all_ver && ver_total >= *pass) as i64;
            for (c, max) in criteria {
                let eff = verified.get(&key(c)).or(own.get(&key(c))).map(|v| v.1 .0);
                if let Some(s) = eff {
                    let e = crit.entry((*phase, c.clone())).or_default();
                    e.0 += 1;
                    e.1 += s as i64;
                    e.2 += (s == *max) as i64;
                }
            }
        }
        passed_total += passed;
        phase_rows.insert(
            *phase,
            json!({
                "phase": phase.to_string(), "assigned": members.len(), "reported": rep,
                "verified": ver, "passed": passed,
                "passed_share": opt(pct(passed, members.len() as i64)),
                "pass_threshold": *pass as f64 / 10.0,
            }),
        );
    }
    let mut crit_rows = Vec::new();
    for (phase, criteria, _) in &phase_defs {
        let shares: Vec<Option<f64>> = criteria
            .iter()
            .map(|(c, max)| {
                crit.get(&(*phase, c.clone()))
                    .map(|t| t.1 as f64 / t.0 as f64 / *max as f64 * 100.0)
            })
            .collect();
        for (i, (c, max)) in criteria.iter().enumerate() {
            let t = crit.get(&(*phase, c.clone())).copied().unwrap_or_default();
            // Weakness: 1 + how many criteria of the phase have a lower average share
            // (at the shown precision); criteria without a score come last, unranked.
            let weakness = shares[i].map_or(json!(""), |s| {
                let k = (s * 10.0).round() as i64;
                let lower = shares
                    .iter()
                    .flatten()
                    .filter(|o| ((*o * 10.0).round() as i64) < k)
                    .count();
                json!(1 + lower)
            });
            crit_rows.push(json!({
                "phase": phase, "code": c, "max_score": *max as f64 / 10.0,
                "communes": t.0,
                "average": if t.0 > 0 { json!((t.1 as f64 / t.0 as f64).round() / 10.0) } else { Value::Null },
                "average_share": opt(shares[i]),
                "at_max_share": opt(pct(t.2, t.0)),
                "weakness": weakness,
            }));
        }
    }
    let month_counts = |p: Period| -> BTreeMap<Metric, i64> {
        Metric::ALL
            .iter()
            .map(|m| (*m, counts.get(&(p, *m)).copied().unwrap_or(0)))
            .collect()
    };
    let rates = |c: &BTreeMap<Metric, i64>| {
        (
            pct(c[&Metric::OnTime], c[&Metric::OnTime] + c[&Metric::Late]),
            pct(c[&Metric::Online], c[&Metric::Received]),
            pct(
                c[&Metric::Satisfied],
                c[&Metric::Satisfied] + c[&Metric::Unsatisfied],
            ),
        )
    };
    let mut kpi_rows = Vec::new();
    let mut completeness_rows = Vec::new();
    let n = communes.len() as i64;
    for m in 1..=12u8 {
        let p = Period::Month(year, m);
        let c = month_counts(p);
        let (on_time, online, sat) = rates(&c);
        let trend = (m > 1)
            .then(|| {
                let (before, _, _) = rates(&month_counts(Period::Month(year, m - 1)));
                Some(on_time? - before?)
            })
            .flatten();
        kpi_rows.push(json!({
            "period": p.to_string(),
            "received": c[&Metric::Received], "on_time": c[&Metric::OnTime],
            "late": c[&Metric::Late], "pending": c[&Metric::Pending],
            "online": c[&Metric::Online], "satisfied": c[&Metric::Satisfied],
            "on_time_rate": opt(on_time), "online_rate": opt(online),
            "satisfaction": opt(sat), "on_time_trend": opt(trend),
        }));
        let k = reported.get(&p).map_or(0, |s| s.len()) as i64;
        completeness_rows.push(json!({
            "period": p.to_string(), "reported": k, "missing": n - k, "share": opt(pct(k, n)),
        }));
    }
    let this = month_counts(period);
    let (on_time, online, sat) = rates(&this);
    let prev = (month > 1).then(|| rates(&month_counts(Period::Month(year, month - 1))).0);
    let done = tasks.values().filter(|t| t.1 == TaskStatus::Done).count();
    let planned = plan.len();
    let want = json!({
        "figures": {
            "communes": n,
            "planned": {"value": planned, "of": n},
            "passed": {"value": passed_total, "of": planned},
            "reported": {"value": reported.get(&period).map_or(0, |s| s.len()), "of": n},
            "pledged": {"value": pledged.len(), "of": n},
            "tasks_done": {"value": done, "of": tasks.len()},
            "on_time_rate": opt(on_time),
            "on_time_trend": opt(prev.and_then(|p| Some(on_time? - p?))),
            "online_rate": opt(online),
            "satisfaction": opt(sat),
        },
        "tables": {
            "phases": phase_rows.into_values().collect::<Vec<_>>(),
            "criteria": crit_rows,
            "figures": kpi_rows,
            "completeness": completeness_rows,
        },
    });
    same("overview", &page, &want);
    assert_eq!(
        page["figures"].as_object().unwrap().len(),
        want["figures"].as_object().unwrap().len(),
        "every figure on the overview is recomputed"
    );
    assert_eq!(
        page["tables"].as_object().unwrap().len(),
        want["tables"].as_object().unwrap().len(),
        "every table on the overview is recomputed"
    );
    // One read model: `report --json` for the month holds the figures page's numbers,
    // commune by commune and for the province.
    let figures: Value = serde_json::from_str(
        &http
            .get(format!("{base}/api/v1/figures?period={period}"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .expect("figures JSON");
    let report = hub.json(&["report", "--period", &period.to_string(), "--json"]);
    report_equals_figures(&report, &figures);

    // The generated data exercised what it should.
    assert!(passed_total > 0, "some commune passed");
    assert!(
        plan.len() as i64 > passed_total,
        "some planned commune did not pass"
    );
    assert!(!moved.is_empty(), "some commune changed phase");
}

/// The keys the figures page and `report --json` share, per commune and in total.
const SHARED_KEYS: [&str; 10] = [
    "received",
    "on_time",
    "late",
    "pending",
    "online",
    "satisfied",
    "on_time_rate",
    "online_rate",
    "satisfaction",
    "on_time_trend",
];

/// Every commune row of the figures page is the report's row for that commune, the
/// report lists exactly those communes as reported, and the headline figures are the
/// report's totals.
fn report_equals_figures(report: &Value, figures: &Value) {
    let rows = figures["tables"]["communes"]
        .as_array()
        .expect("communes table");
    assert!(!rows.is_empty(), "the month has figures: {figures}");
    for row in rows {
        let unit = row["unit"].as_u64().expect("unit") as u32;
        let r = cchc_tests::commune_row(report, unit);
        assert_eq!(r["reported"], true, "commune {unit}");
        for k in SHARED_KEYS {
            assert_eq!(r[k], row[k], "commune {unit}, {k}: report {r}, page {row}");
        }
    }
    let reported: Vec<u64> = report["communes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reported"] == true)
        .map(|c| c["unit"].as_u64().unwrap())
        .collect();
    let shown: Vec<u64> = rows.iter().map(|r| r["unit"].as_u64().unwrap()).collect();
    assert_eq!(reported, shown, "communes reported");
    assert_eq!(report["communes_reported"], rows.len());
    for k in [
        "received",
        "on_time_rate",
        "online_rate",
        "satisfaction",
        "on_time_trend",
    ] {
        assert_eq!(
            report["totals"][k], figures["figures"][k],
            "province {k}: report {}, page {}",
            report["totals"], figures["figures"]
        );
    }
}
