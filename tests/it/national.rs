//! The national tier: provincial hubs forward their communes' data to a national hub
//! with the agents' own delta protocol, through a link that is cut and a national hub
//! that is killed, and nothing is lost or counted twice; a provincial hub cannot write
//! for another province.

use cchc_common::auth::{DeviceKey, UPSTREAM_SYNC_PATH};
use cchc_common::op::{CountDelta, Dir};
use cchc_common::state::VersionVector;
use cchc_common::sync::{self, SyncRequest, PROTOCOL_HEADER, PROTOCOL_VERSION};
use cchc_common::{ActorId, Metric, Op, OpBody, UnitCatalog, UnitCode};
use cchc_tests::proxy::FaultProxy;
use cchc_tests::{commune_row, describe, Agent, Hub, Rng, Signer};
use std::collections::BTreeMap;

fn record(a: &Agent, n: u64) {
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        &n.to_string(),
    ]);
}

/// `upstream sync` through a link that may be cut or a national hub that may be down:
/// succeeds, or fails as "the national hub could not be reached" (exit 7), never
/// otherwise.
fn forward(p: &Hub) -> bool {
    let out = p.command(&["upstream", "sync"]).output().unwrap();
    // Definitions the national hub signed are taken, never refused ("not taken" is
    // for a document this hub cannot trust; one already in force is passed over).
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !said.contains("not taken"),
        "{}",
        describe("upstream sync", &out)
    );
    match out.status.code() {
        Some(0) => true,
        Some(7) => false,
        _ => panic!("{}", describe("upstream sync", &out)),
    }
}

/// A provincial hub's key and id upstream, as an attacker holding its server would.
fn peer_of(p: &Hub) -> Signer {
    let seed = std::fs::read_to_string(p.dir.join("upstream.key")).unwrap();
    let seed: [u8; 32] = cchc_common::auth::unhex(seed.trim(), 32, "key")
        .unwrap()
        .try_into()
        .unwrap();
    let doc = p.json(&["upstream", "status", "--json"]);
    Signer {
        device: doc["upstream"]["hub"].as_str().unwrap().parse().unwrap(),
        key: DeviceKey::from_seed(seed),
    }
}

fn count_op(actor: ActorId, unit: UnitCode, amount: u64) -> Op {
    Op {
        v: 1,
        actor,
        seq: 1,
        hlc_ms: 1_790_000_000_000,
        hlc_c: 0,
        unit,
        defs: 1,
        body: OpBody::Count {
            period: "2026-11".parse().unwrap(),
            procedure: "CT-01".into(),
            deltas: vec![CountDelta {
                metric: Metric::Received,
                dir: Dir::Inc,
                amount,
                total: amount,
            }],
            by: String::new(),
        },
    }
}

/// Three provinces' hubs and their agents, one national hub: a random run of
/// records, agent syncs and forwardings, with the national hub killed (SIGKILL) and
/// restarted, and the link cut for a while (requests and answers dropped, cut in half,
/// duplicated). Afterwards every commune's national total equals what its agents
/// recorded, so does every province's, and the national hub holds exactly the ops
/// each provincial hub holds. A provincial hub forwarding a commune of another
/// province, or an op of one, is refused (403) and the national data is unchanged.
#[test]
fn provincial_hubs_feed_the_national_hub_exactly_once_through_kills_and_cuts() {
    let mut rng = Rng::from_env("provincial_hubs_feed_the_national_hub");
    let tmp = tempfile::tempdir().unwrap();
    // One release key for the country: every hub trusts it from the start, and the
    // agents pin it as they enroll.
    let kit = cchc_tests::ReleaseKit::new(tmp.path().join("kit"));
    let mut national = Hub::init_national(tmp.path().join("national"));
    kit.trust(&national);
    national.start();
    let proxy = FaultProxy::start(&national.dir.join("tls"), national.port, rng.next_u64());
    proxy.set_faults(false);

    let catalog = UnitCatalog::builtin();
    let mut provinces: Vec<u32> = Vec::new();
    for c in catalog.communes() {
        if !provinces.contains(&c.province_code) {
            provinces.push(c.province_code);
        }
    }
    let provinces = &provinces[..3];
    let mut hubs = Vec::new();
    let mut desks: Vec<(u32, u32, Agent)> = Vec::new();
    for (i, &p) in provinces.iter().enumerate() {
        let mut hub = Hub::init(tmp.path().join(format!("p{p}")), p);
        kit.trust(&hub);
        hub.start_with(&["--upstream-every", "1"]);
        let code = national.json(&["enroll", "create", "--province", &p.to_string(), "--json"]);
        hub.ok(&[
            "upstream",
            "set",
            &proxy.url(),
            "--ca",
            national.ca().to_str().unwrap(),
            "--code",
            code["code"].as_str().unwrap(),
        ]);
        for (j, c) in catalog.communes_of(p).take(2).enumerate() {
            let a = hub.agent(tmp.path().join(format!("a{i}{j}")), c.code.0);
            desks.push((p, c.code.0, a));
        }
        hubs.push(hub);
    }

    let mut expected: BTreeMap<u32, u64> = BTreeMap::new();
    let (mut forwarded, mut failed) = (0, 0);
    for step in 0..60 {
        match step {
            20 => national.kill(),
            28 => national.start(),
            35 => proxy.set_faults(true),
            45 => proxy.set_faults(false),
            _ => {}
        }
        match rng.below(10) {
            0..=4 => {
                let (_, unit, a) = &desks[rng.below(desks.len() as u64) as usize];
                let n = 1 + rng.below(9);
                record(a, n);
                *expected.entry(*unit).or_default() += n;
            }
            5 | 6 => {
                desks[rng.below(desks.len() as u64) as usize]
                    .2
                    .ok(&["sync"]);
            }
            _ => {
                if forward(&hubs[rng.below(hubs.len() as u64) as usize]) {
                    forwarded += 1;
                } else {
                    failed += 1;
                }
            }
        }
    }
    // The Ministry plans one commune and verifies one of its scores at the national
    // hub: both come down to its province's hub, and the verification to its agents.
    let (vp, vunit, vagent) = (&desks[0].0, desks[0].1, &desks[0].2);
    let u = vunit.to_string();
    national.ok(&["phase", "assign", "--phase", "1", "--unit", &u]);
    national.ok(&[
        "verify",
        "--unit",
        &u,
        "--phase",
        "1",
        "--criterion",
        "TC-01",
        "--score",
        "9",
        "--by",
        "bo-cong-an",
    ]);
    // And publishes new definitions (a new procedure, CT-99), signed by the release
    // key both hubs trust.
    let v2_file = cchc_tests::definitions_v2(tmp.path(), "Thủ tục thí điểm của Bộ");
    let bundle = kit.sign_definitions(&v2_file);
    national.ok(&["definitions", "publish", bundle.to_str().unwrap()]);
    for (_, _, a) in &desks {
        a.ok(&["sync"]);
    }
    for hub in &hubs {
        assert!(forward(hub), "the last forwarding gets through");
    }
    let home = hubs
        .iter()
        .find(|h| h.dir.ends_with(format!("p{vp}")))
        .unwrap();
    let row = commune_row(&home.json(&["status", "--json"]), vunit);
    assert_eq!(row["phase"], 1, "the national plan came down: {row}");
    vagent.ok(&["sync"]);
    let shown = vagent.json(&["show", "--json"]);
    assert!(
        shown.to_string().contains("bo-cong-an"),
        "the national verification reached the commune: {shown}"
    );
    // The new procedure reached the commune through its province: it can record it.
    vagent.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-99",
        "--received",
        "2",
    ]);
    *expected.entry(vunit).or_default() += 2;
    vagent.ok(&["sync"]);
    assert!(forward(home));
    eprintln!("forwardings: {forwarded} through, {failed} refused by the kill or the cut");

    let report = national.json(&["report", "--period", "2026-11", "--json"]);
    let status = national.json(&["status", "--json"]);
    let mut per_province: BTreeMap<u32, u64> = BTreeMap::new();
    for (p, unit, _) in &desks {
        let want = expected.get(unit).copied().unwrap_or(0);
        assert_eq!(
            commune_row(&report, *unit)["received"]
                .as_u64()
                .unwrap_or(0),
            want,
            "commune {unit}: national total"
        );
        *per_province.entry(*p).or_default() += want;
        let hub = hubs
            .iter()
            .find(|h| h.dir.ends_with(format!("p{p}")))
            .unwrap();
        assert_eq!(
            commune_row(&status, *unit)["ops"],
            commune_row(&hub.json(&["status", "--json"]), *unit)["ops"],
            "commune {unit}: the national hub holds exactly the provincial hub's ops"
        );
    }
    for &p in provinces {
        let total: u64 = catalog
            .communes_of(p)
            .map(|c| {
                commune_row(&report, c.code.0)["received"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(total, per_province[&p], "province {p}: national total");
    }
    assert!(national.ok(&["check"]).contains("no damage"));
    for hub in &hubs {
        assert!(!hub.log().contains("not taken"), "{}", hub.log());
    }

    // The national dashboard: the provinces side by side, each drilled down to its
    // communes, each linking to its commune page; the same sums as the agents'.
    let pw = national.user("ana", "viewer");
    let token = national.login("ana", &pw);
    let http = national.client(None);
    let get = |path: &str| -> serde_json::Value {
        let resp = http
            .get(format!("{}{path}", national.url()))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        serde_json::from_slice(&resp.bytes().unwrap()).unwrap()
    };
    let side = get("/api/v1/provinces?period=2026-11");
    let rows = side["tables"]["provinces"].as_array().unwrap();
    assert_eq!(rows.len(), 34, "every province of the country");
    assert_eq!(side["figures"]["communes"], 3321, "{}", side["figures"]);
    assert_eq!(side["figures"]["provinces"], 34);
    for &p in provinces {
        let row = rows
            .iter()
            .find(|r| r["province"].as_str().and_then(|s| s.parse().ok()) == Some(p))
            .unwrap();
        assert_eq!(row["received"], per_province[&p], "province {p}: {row}");
        let reported = desks
            .iter()
            .filter(|(q, u, _)| *q == p && expected.get(u).copied().unwrap_or(0) > 0)
            .count();
        assert_eq!(row["reported"], reported, "province {p}: {row}");
        let down = get(&format!("/api/v1/provinces/{p}?period=2026-11"));
        let communes = down["tables"]["communes"].as_array().unwrap();
        assert_eq!(communes.len(), catalog.communes_of(p).count());
        for (q, unit, _) in desks.iter().filter(|(q, ..)| *q == p) {
            let c = communes
                .iter()
                .find(|r| r["unit"].as_str().and_then(|s| s.parse().ok()) == Some(*unit))
                .unwrap();
            assert_eq!(
                c["received"],
                expected.get(unit).copied().unwrap_or(0),
                "{q}/{unit}"
            );
        }
    }
    let html = http
        .get(format!(
            "{}/province/{}?period=2026-11",
            national.url(),
            provinces[0]
        ))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        html.contains(&format!("href=\"/commune/{}?lang=vi\"", desks[0].1)),
        "drills down to a commune:\n{}",
        &html[..html.len().min(3000)]
    );

    // A provincial hub (its own key) writing for another province's commune, in the
    // request or in an op: refused whole, nothing stored.
    // The provincial hubs stop (their forwarding would move their own bookkeeping).
    for hub in &mut hubs {
        assert!(hub.stop().success());
    }
    let before = national.dump_except(&["audit"]);
    let peer = peer_of(&hubs[0]);
    let theirs = catalog.communes_of(provinces[1]).next().unwrap().code;
    let ours = catalog.communes_of(provinces[0]).next().unwrap().code;
    for (unit, op_unit) in [(theirs, theirs), (ours, theirs)] {
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            unit,
            device: peer.device,
            agent_version: "forged".into(),
            defs: 1,
            have: VersionVector::new(),
            ops: vec![count_op(ActorId(0x00f0_12ed), op_unit, 5)],
            sent_ms: 0,
            platform: String::new(),
            root: 0,
            updates: Vec::new(),
        };
        let body = sync::encode_request(PROTOCOL_VERSION, &req);
        let resp = peer
            .post(
                &http,
                &national.url(),
                UPSTREAM_SYNC_PATH,
                u64::MAX >> 2,
                body,
            )
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .send()
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            403,
            "commune {unit}, op for {op_unit}"
        );
        let doc: serde_json::Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
        assert_eq!(doc["error"], "other_province", "{doc}");
    }
    assert_eq!(national.dump_except(&["audit"]), before, "nothing stored");
    // The provincial hub goes on forwarding (its request numbers were not moved).
    hubs[0].start_with(&["--upstream-every", "1"]);
    let (_, _, a) = &desks[0];
    record(a, 4);
    *expected.entry(desks[0].1).or_default() += 4;
    a.ok(&["sync"]);
    assert!(forward(&hubs[0]));
    let report = national.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(
        commune_row(&report, desks[0].1)["received"]
            .as_u64()
            .unwrap(),
        expected[&desks[0].1]
    );
}
