//! Malformed or hostile sync requests from an enrolled device (and unsigned, wrongly
//! signed or replayed ones): each gets a 4xx whose body names the problem, and the
//! hub's data is exactly what it was before (nothing partial, not even a device's
//! last-seen time or nonce; only the audit log records the refusal). The hub keeps
//! serving honest agents.

use cchc_common::op::{CountDelta, Dir};
use cchc_common::state::VersionVector;
use cchc_common::sync::{self, SyncRequest, PROTOCOL_HEADER, SYNC_PATH};
use cchc_common::{ActorId, Metric, Op, OpBody, Score, UnitCode};
use cchc_sql::DbExt;
use cchc_tests::{Hub, Signer};
use std::io::Write;

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
            by: String::new(),
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
        platform: String::new(),
        root: 0,
        updates: Vec::new(),
    }
}

/// The request as JSON, for cases that smuggle values our types cannot hold.
fn json_of(req: &SyncRequest) -> serde_json::Value {
    serde_json::to_value(req).unwrap()
}

/// How a case's request is signed.
#[derive(Clone, Copy)]
enum Auth {
    /// By the enrolled test device, with a fresh nonce.
    Signed,
    /// No signature headers at all.
    Unsigned,
    /// The device's signature of another body.
    OtherBody,
    /// A key the hub never enrolled.
    UnknownDevice,
    /// A nonce the hub has already seen from the device.
    OldNonce,
}

struct Case {
    name: &'static str,
    protocol_header: Option<&'static str>,
    auth: Auth,
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
        auth: Auth::Signed,
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
    // The province has verified one of the commune's scores: its province actor holds ops.
    hub.ok(&["phase", "assign", "--phase", "1", "--unit", "4"]);
    hub.ok(&[
        "verify",
        "--unit",
        "4",
        "--phase",
        "1",
        "--criterion",
        "TC-01",
        "--score",
        "10",
        "--by",
        "thu",
    ]);
    let province_actor: ActorId = {
        let id: i64 = hub
            .database()
            .query_one(
                "SELECT actor FROM province_actors WHERE unit = 4",
                &[],
                |r| r.get(0),
            )
            .unwrap();
        ActorId(id as u64)
    };
    // The test device: enrolled for commune 4 like any agent, then used to send what
    // no honest agent would.
    let device = Signer::new(DEVICE.0, 0x5e);
    assert_eq!(device.enroll(&hub, 4, &hub.code(4)), 200);
    let stranger = Signer::new(0x0bad_0000_0000_0001, 0x0b);
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
            "wrong_commune",
            "enrolled for commune 4; this request writes for commune 99999",
        ),
        case(
            "commune of another province",
            {
                let mut r = request(vec![]);
                r.unit = UnitCode(1273);
                enc(&r)
            },
            403,
            "wrong_commune",
            "writes for commune 1273",
        ),
        case(
            "op for another commune than the request's",
            {
                let mut op = count_op(1, 5, 5);
                op.unit = UnitCode(8);
                enc(&request(vec![op]))
            },
            403,
            "wrong_commune",
            "writes for commune 8",
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
                    by: String::new(),
                };
                enc(&request(vec![count_op(1, 5, 5), bad]))
            },
            422,
            "refused_op",
            "above the maximum 15",
        ),
        case(
            "a verification (thẩm định) forged by a commune's device",
            {
                let mut forged = count_op(2, 1, 6);
                forged.body = OpBody::Verify {
                    phase: 1,
                    criterion: "TC-02".into(),
                    score: Score(100),
                    comment: "tự thẩm định".into(),
                    by: "thu".into(),
                };
                enc(&request(vec![count_op(1, 5, 5), forged]))
            },
            403,
            "province_only",
            "only the province records these",
        ),
        case(
            "an op in the name of the province's own actor for the commune",
            {
                let mut op = count_op(2, 5, 5);
                op.actor = province_actor;
                let mut r = request(vec![op]);
                r.have = VersionVector::new();
                r.have.advance(province_actor, 2);
                enc(&r)
            },
            403,
            "province_only",
            "province-side op",
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
                enc(&request(vec![op]))
            },
            422,
            "op_conflict",
            "conflicts",
        ),
        case(
            "an op by the real agent of commune 4, relayed for commune 8",
            {
                let mut r = request(vec![]);
                r.unit = UnitCode(8);
                enc(&r)
            },
            403,
            "wrong_commune",
            "writes for commune 8",
        ),
        case(
            "a body naming another device than the signer",
            {
                let mut r = request(vec![]);
                r.device = agent_op1.actor;
                enc(&r)
            },
            401,
            "bad_signature",
            "signed by 5eed000000000001",
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
    for (name, auth, status, code, message) in [
        (
            "unsigned",
            Auth::Unsigned,
            401,
            "not_signed",
            "x-cchc-device is missing",
        ),
        (
            "signed for another body",
            Auth::OtherBody,
            401,
            "bad_signature",
            "does not match",
        ),
        (
            "a key the hub never enrolled",
            Auth::UnknownDevice,
            401,
            "unknown_device",
            "not enrolled",
        ),
        (
            "a nonce already used",
            Auth::OldNonce,
            409,
            "stale_nonce",
            "replayed",
        ),
    ] {
        cases.push(Case {
            name,
            protocol_header: Some("1"),
            auth,
            body: enc(&request(vec![count_op(1, 5, 5)])),
            status,
            code,
            message,
        });
    }
    cases.push(Case {
        name: "missing protocol header",
        auth: Auth::Signed,
        protocol_header: None,
        body: enc(&request(vec![count_op(1, 5, 5)])),
        status: 400,
        code: "protocol_version",
        message: "missing",
    });
    cases.push(Case {
        name: "wrong protocol version in the header",
        auth: Auth::Signed,
        protocol_header: Some("3"),
        body: enc(&request(vec![count_op(1, 5, 5)])),
        status: 400,
        code: "protocol_version",
        message: "protocol version 3",
    });
    // Protocol 2 (binary) bodies that are not what they claim.
    let v2 = |name, body, status, code, message| Case {
        protocol_header: Some("2"),
        ..case(name, body, status, code, message)
    };
    let good_v2 = |ops| {
        let r = SyncRequest {
            protocol: 2,
            ..request(ops)
        };
        sync::encode_request(2, &r)
    };
    let whole = good_v2(vec![count_op(1, 5, 5)]);
    cases.extend([
        v2(
            "version 2 header, not deflate data",
            b"garbage".to_vec(),
            400,
            "bad_body",
            "not a valid protocol 2 message",
        ),
        v2(
            "version 2 header, the body cut in half",
            whole[..whole.len() / 2].to_vec(),
            400,
            "bad_body",
            "not a valid protocol 2 message",
        ),
        v2(
            "version 2 header, a version 1 body",
            enc(&request(vec![count_op(1, 5, 5)])),
            400,
            "bad_body",
            "not a valid protocol 2 message",
        ),
        v2(
            "version 2, gap in sequence",
            good_v2(vec![count_op(2, 5, 5)]),
            409,
            "seq_gap",
            "next op expected from device 5eed000000000001 is number 1",
        ),
        Case {
            protocol_header: Some("1"),
            ..v2(
                "version 1 header, a version 2 body",
                whole.clone(),
                400,
                "bad_body",
                "not valid gzip",
            )
        },
    ]);
    assert!(cases.len() >= 10);

    let http = hub.client(None);
    let base = hub.url();
    // The enrollment used nonce 1; each case signs with a new one, and none of them
    // may move the hub's record of it.
    let mut nonce = 1;
    for c in cases {
        let before = hub.dump_except(&["audit"]);
        nonce += 1;
        let mut req = match c.auth {
            Auth::Signed => device.post(&http, &base, SYNC_PATH, nonce, c.body),
            Auth::Unsigned => http.post(format!("{base}{SYNC_PATH}")).body(c.body),
            Auth::OtherBody => {
                let sig = device
                    .key
                    .sign("POST", SYNC_PATH, DEVICE, nonce, b"another body");
                http.post(format!("{base}{SYNC_PATH}"))
                    .header(cchc_common::auth::DEVICE_HEADER, DEVICE.to_string())
                    .header(cchc_common::auth::NONCE_HEADER, nonce.to_string())
                    .header(cchc_common::auth::SIGNATURE_HEADER, sig)
                    .body(c.body)
            }
            Auth::UnknownDevice => stranger.post(&http, &base, SYNC_PATH, nonce, c.body),
            Auth::OldNonce => device.post(&http, &base, SYNC_PATH, 1, c.body),
        };
        req = req
            .header("content-type", sync::MEDIA_TYPE)
            .header("content-encoding", "gzip");
        match c.protocol_header {
            Some(v) => req = req.header(PROTOCOL_HEADER, v),
            None => {
                // Rebuild without the header the signer adds.
                let body = enc(&request(vec![count_op(1, 5, 5)]));
                let sig = device.key.sign("POST", SYNC_PATH, DEVICE, nonce, &body);
                req = http
                    .post(format!("{base}{SYNC_PATH}"))
                    .header(cchc_common::auth::DEVICE_HEADER, DEVICE.to_string())
                    .header(cchc_common::auth::NONCE_HEADER, nonce.to_string())
                    .header(cchc_common::auth::SIGNATURE_HEADER, sig)
                    .body(body);
            }
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
            hub.dump_except(&["audit"]),
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
    let ok = device
        .post(
            &http,
            &base,
            SYNC_PATH,
            nonce + 1,
            sync::encode(&request(vec![count_op(1, 5, 5)])),
        )
        .header(PROTOCOL_HEADER, "1")
        .send()
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    // Every refusal is in the audit log (the quieting of repeats is per reason).
    let audit = hub.json(&["audit", "--action", "sync", "--limit", "1000", "--json"]);
    let outcomes: std::collections::BTreeSet<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .collect();
    for code in [
        "not_signed",
        "bad_signature",
        "unknown_device",
        "stale_nonce",
        "wrong_commune",
        "bad_body",
        "seq_gap",
        "too_large",
    ] {
        assert!(
            outcomes.contains(code),
            "no audit entry for {code}: {outcomes:?}"
        );
    }
    let report = hub.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(report["totals"]["received"], 3 + 2 + 5, "{report}");
}
