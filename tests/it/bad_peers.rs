//! Malformed or hostile sync requests: each gets a 4xx whose body names the problem,
//! and the hub's database content is exactly what it was before (nothing partial,
//! not even a device's last-seen time). The hub keeps serving honest agents.

use cchc_common::op::{CountDelta, Dir};
use cchc_common::state::VersionVector;
use cchc_common::sync::{self, SyncRequest, PROTOCOL_HEADER, SYNC_PATH};
use cchc_common::{ActorId, Metric, Op, OpBody, Score, UnitCode};
use cchc_tests::{dump_db, Hub};
use std::io::Write;

fn client(hub: &Hub) -> reqwest::blocking::Client {
    let pem = std::fs::read(hub.ca()).unwrap();
    reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

const DEVICE: ActorId = ActorId(0x5eed_0000_0000_0001);

fn count_op(seq: u64, amount: u64, total: u64) -> Op {
    Op {
        v: 1,
        actor: DEVICE,
        seq,
        hlc_ms: 1_795_000_000_000 + seq,
        hlc_c: 0,
        unit: UnitCode(4),
        defs: 1,
        body: OpBody::Count {
            period: "2026-11".parse().unwrap(),
            procedure: "CT-01".into(),
            deltas: vec![CountDelta {
                metric: Metric::Received,
                dir: Dir::Inc,
                amount,
                total,
            }],
        },
    }
}

fn request(ops: Vec<Op>) -> SyncRequest {
    let mut have = VersionVector::new();
    for op in &ops {
        have.advance(op.actor, op.seq);
    }
    SyncRequest {
        protocol: 1,
        unit: UnitCode(4),
        device: DEVICE,
        agent_version: "test".into(),
        defs: 1,
        have,
        ops,
        sent_ms: 1_795_000_000_000,
    }
}

/// The request as JSON, for cases that smuggle values our types cannot hold.
fn json_of(req: &SyncRequest) -> serde_json::Value {
    serde_json::to_value(req).unwrap()
}

struct Case {
    name: &'static str,
    protocol_header: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    message: &'static str,
}

fn case(
    name: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    message: &'static str,
) -> Case {
    Case {
        name,
        protocol_header: Some("1"),
        body,
        status,
        code,
        message,
    }
}

#[test]
fn malformed_requests_get_4xx_naming_the_problem_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    // Real data first, so "unchanged" is about a database with content.
    let agent = hub.agent(tmp.path().join("a"), 4);
    agent.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "3",
    ]);
    agent.ok(&["sync"]);
    let agent_device: String = agent.json(&["status", "--json"])["device"]
        .as_str()
        .unwrap()
        .to_string();
    let agent_op1: Op = {
        let conn = rusqlite::Connection::open(agent.db()).unwrap();
        let body: String = conn
            .query_row("SELECT body FROM ops ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        Op::from_json(&body).unwrap()
    };

    let enc = |r: &SyncRequest| sync::encode(r);
    let enc_json = |v: &serde_json::Value| gzip(&serde_json::to_vec(v).unwrap());

    let mut cases = vec![
        case(
            "not gzip",
            b"{\"protocol\":1}".to_vec(),
            400,
            "bad_body",
            "not valid gzip",
        ),
        case(
            "gzip of broken JSON",
            gzip(b"{\"protocol\": 1, \"unit\": "),
            400,
            "bad_body",
            "not a valid sync message",
        ),
        case(
            "JSON missing fields",
            gzip(b"{\"protocol\": 1}"),
            400,
            "bad_body",
            "missing field",
        ),
        case(
            "wrong protocol version in the body",
            {
                let mut r = request(vec![count_op(1, 5, 5)]);
                r.protocol = 99;
                enc(&r)
            },
            400,
            "protocol_version",
            "protocol version 99",
        ),
        case(
            "gap in sequence",
            enc(&request(vec![count_op(2, 5, 5)])),
            409,
            "seq_gap",
            "next op expected from device 5eed000000000001 is number 1",
        ),
        case(
            "unknown commune",
            {
                let mut r = request(vec![]);
                r.unit = UnitCode(99_999);
                enc(&r)
            },
            403,
            "unknown_unit",
            "commune 99999 is not served",
        ),
        case(
            "commune of another province",
            {
                let mut r = request(vec![]);
                r.unit = UnitCode(1273);
                enc(&r)
            },
            403,
            "unknown_unit",
            "commune 1273",
        ),
        case(
            "op for another commune than the request's",
            {
                let mut op = count_op(1, 5, 5);
                op.unit = UnitCode(8);
                enc(&request(vec![op]))
            },
            422,
            "wrong_unit",
            "is for commune 8",
        ),
        case(
            "negative count smuggled in an op",
            {
                let mut v = json_of(&request(vec![count_op(1, 5, 5)]));
                v["ops"][0]["body"]["deltas"][0]["amount"] = serde_json::json!(-5);
                enc_json(&v)
            },
            400,
            "bad_body",
            "-5",
        ),
        case(
            "zero count",
            enc(&request(vec![count_op(1, 0, 0)])),
            422,
            "refused_op",
            "amount 0",
        ),
        case(
            "count above the per-entry limit",
            enc(&request(vec![count_op(1, 1_000_000, 1_000_000)])),
            422,
            "refused_op",
            "amount 1000000",
        ),
        case(
            "running total that does not continue the device's",
            enc(&request(vec![count_op(1, 5, 50)])),
            422,
            "refused_op",
            "total",
        ),
        case(
            "score above the maximum (after a valid op in the same batch)",
            {
                let mut bad = count_op(2, 1, 6);
                bad.body = OpBody::Assess {
                    phase: 1,
                    criterion: "TC-01".into(),
                    score: Score(999),
                    evidence: String::new(),
                };
                enc(&request(vec![count_op(1, 5, 5), bad]))
            },
            422,
            "refused_op",
            "above the maximum 15",
        ),
        case(
            "unknown procedure",
            {
                let mut op = count_op(1, 5, 5);
                if let OpBody::Count { procedure, .. } = &mut op.body {
                    *procedure = "XX-99".into();
                }
                enc(&request(vec![op]))
            },
            422,
            "refused_op",
            "XX-99",
        ),
        case(
            "definitions version never published",
            {
                let mut op = count_op(1, 5, 5);
                op.defs = 7;
                enc(&request(vec![op]))
            },
            422,
            "unknown_definitions",
            "definitions version 7",
        ),
        case(
            "same op id as a held op, different content",
            {
                let mut op = agent_op1.clone();
                op.hlc_c += 1;
                let mut r = request(vec![op]);
                r.device = agent_op1.actor;
                enc(&r)
            },
            422,
            "op_conflict",
            "conflicts",
        ),
        case(
            "a device of commune 4 writing for commune 8",
            {
                let mut r = request(vec![]);
                r.unit = UnitCode(8);
                r.device = agent_device.parse().unwrap();
                enc(&r)
            },
            403,
            "foreign_device",
            "belongs to commune 4",
        ),
        case(
            "envelope version from the future",
            {
                let mut op = count_op(1, 5, 5);
                op.v = 2;
                enc(&request(vec![op]))
            },
            422,
            "refused_op",
            "envelope version 2",
        ),
        case(
            "too many ops in one batch",
            enc(&request((1..=2001).map(|s| count_op(s, 1, s)).collect())),
            413,
            "too_large",
            "2001 ops",
        ),
        case(
            "compression bomb",
            gzip(&vec![b' '; 17 << 20]),
            413,
            "too_large",
            "limit",
        ),
        case(
            "huge body",
            {
                // Incompressible bytes, larger than the wire limit.
                let mut x = 0x9e37_79b9_7f4a_7c15u64;
                (0..5 << 20)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            },
            413,
            "too_large",
            "limit",
        ),
    ];
    cases.push(Case {
        name: "missing protocol header",
        protocol_header: None,
        body: enc(&request(vec![count_op(1, 5, 5)])),
        status: 400,
        code: "protocol_version",
        message: "missing",
    });
    cases.push(Case {
        name: "wrong protocol version in the header",
        protocol_header: Some("2"),
        body: enc(&request(vec![count_op(1, 5, 5)])),
        status: 400,
        code: "protocol_version",
        message: "protocol version 2",
    });
    assert!(cases.len() >= 10);

    let http = client(&hub);
    let url = format!("{}{SYNC_PATH}", hub.url());
    for c in cases {
        let before = dump_db(&hub.db());
        let mut req = http
            .post(&url)
            .header("content-type", sync::MEDIA_TYPE)
            .header("content-encoding", "gzip")
            .body(c.body);
        if let Some(v) = c.protocol_header {
            req = req.header(PROTOCOL_HEADER, v);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{}: request failed: {e}", c.name));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        assert_eq!(status, c.status, "{}: status {status}, body {text}", c.name);
        let body: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: error body is not JSON ({e}): {text}", c.name));
        assert_eq!(body["error"], c.code, "{}: {text}", c.name);
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(c.message),
            "{}: message should name '{}': {message}",
            c.name,
            c.message
        );
        assert!(
            !body["message_vi"].as_str().unwrap_or("").is_empty(),
            "{}: no Vietnamese message",
            c.name
        );
        assert_eq!(
            dump_db(&hub.db()),
            before,
            "{}: the hub database changed",
            c.name
        );
    }

    // Still serving: the honest agent syncs, and the honest form of the refused
    // request is accepted.
    agent.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "2",
    ]);
    agent.ok(&["sync"]);
    let ok = http
        .post(&url)
        .header(PROTOCOL_HEADER, "1")
        .body(sync::encode(&request(vec![count_op(1, 5, 5)])))
        .send()
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let report = hub.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(report["totals"]["received"], 3 + 2 + 5, "{report}");
}
