//! What an agent refuses to install, each with a clear reason and its running build
//! untouched: the hub here is held by an attacker who edits its database (release
//! rows, files, roots) but holds no release key. Only the genuine release, signed by
//! the pinned root's threshold, is taken.

use cchc_common::release::{target_of, Release, ReleaseKey, Role, Root, Signed};
use cchc_common::update::this_platform;
use cchc_sql::{args, Db};
use cchc_tests::{bin, install_build, path, plant_release as plant, Hub, ReleaseKit};
use serde_json::Value;
use std::path::Path;

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn release(version: &str, platform: &str, bytes: &[u8], expires_ms: i64) -> Release {
    Release {
        version: version.parse().unwrap(),
        platform: platform.into(),
        min_from: "0.1.0".parse().unwrap(),
        target: target_of(bytes),
        expires_ms,
    }
}

fn signed(r: &Release, by: &[&ReleaseKey]) -> Signed<Release> {
    Signed {
        signed: r.clone(),
        signatures: by.iter().map(|k| k.sign(Role::Release, r)).collect(),
    }
}

fn key_of(file: &Path) -> ReleaseKey {
    ReleaseKey::from_file_text(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn an_agent_installs_nothing_the_pinned_root_did_not_sign_whatever_the_hub_says() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    let kit = ReleaseKit::new(tmp.path().join("kit"));
    kit.trust(&hub);
    hub.start();
    let mut agent = hub.agent(tmp.path().join("a"), 70);
    let exe = tmp.path().join("install").join("cchc-agent");
    install_build(&bin("cchc-agent"), &exe);
    agent.exe = Some(exe.clone());
    let original = std::fs::read(&exe).unwrap();
    let a = &agent;
    let check = || -> Value { a.json(&["update", "check", "--json"]) };
    // Each refusal: said, reported to the hub, and the running build untouched.
    let untouched = |what: &str| {
        assert!(
            std::fs::read(&exe).unwrap() == original,
            "{what}: the build changed"
        );
        a.ok(&["check"]);
    };
    let k1 = key_of(&kit.key);
    let stranger = ReleaseKey::from_seed([0x66; 32]);
    let next = tmp.path().join("next").join("cchc-agent");
    install_build(&bin("cchc-agent-next"), &next);
    let build = std::fs::read(&next).unwrap();
    let platform = this_platform();
    let year = now_ms() + 365 * DAY;

    // A release row pointing to another file than the one signed (same length).
    let mut signed_file = build.clone();
    let mid = signed_file.len() / 2;
    signed_file[mid] ^= 0x0f;
    let meta = signed(&release("0.1.1", &platform, &signed_file, year), &[&k1]);
    let mut other = signed_file.clone();
    other[mid] ^= 0xf0;
    plant(&hub, &meta, &other, &platform);
    let doc = check();
    assert_eq!(
        doc["update"]["refused"],
        serde_json::json!(["0.1.1"]),
        "{doc}"
    );
    untouched("another file");

    // Signed by a key the root does not list.
    plant(
        &hub,
        &signed(&release("0.1.2", &platform, &build, year), &[&stranger]),
        &build,
        &platform,
    );
    let doc = check();
    assert_eq!(doc["update"]["refused"][1], "0.1.2", "{doc}");
    untouched("unknown key");

    // A genuine release for another platform, offered to this one.
    let windows = signed(&release("0.1.3", "windows-x86_64", &build, year), &[&k1]);
    plant(&hub, &windows, &build, &platform);
    let doc = check();
    assert_eq!(doc["update"]["refused"][2], "0.1.3", "{doc}");
    untouched("other platform");

    // Expired metadata: not installed, the agent warns and keeps its build.
    let expired = signed(&release("0.1.4", &platform, &build, now_ms() - DAY), &[&k1]);
    plant(&hub, &expired, &build, &platform);
    let doc = check();
    let warning = doc["update"]["warning"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(warning.contains("expired"), "{doc}");
    assert!(!doc["update"]["refused"].to_string().contains("0.1.4"));
    untouched("expired");

    // The province rotates to two keys, threshold 2 (signed by the old root and the
    // new); the agent follows on its next sync.
    let k2_file = kit.dir.join("second.key");
    kit.ok(&["release", "keygen", "--out", path(&k2_file)]);
    let root2 = kit.dir.join("root-v2.json");
    kit.ok(&[
        "release",
        "root",
        "--version",
        "2",
        "--threshold",
        "2",
        "--key",
        path(&kit.key),
        "--key",
        path(&k2_file),
        "--out",
        path(&root2),
    ]);
    hub.ok(&["release", "trust", path(&root2)]);
    let k2 = key_of(&k2_file);
    let below = signed(&release("0.1.6", &platform, &build, year), &[&k1]);
    plant(&hub, &below, &build, &platform);
    let doc = check();
    assert_eq!(doc["update"]["root_version"], 2, "{doc}");
    assert!(
        doc["update"]["refused"].to_string().contains("0.1.6"),
        "{doc}"
    );
    untouched("below threshold");

    // A root slipped into the hub's database, signed only by its own (attacker's) key:
    // the agent keeps the root it holds.
    let evil_root = Root {
        version: 3,
        expires_ms: year,
        keys: [(
            cchc_common::release::key_id(&stranger.public()),
            stranger.public(),
        )]
        .into_iter()
        .collect(),
        threshold: 1,
    };
    let evil = Signed {
        signatures: vec![stranger.sign(Role::Root, &evil_root)],
        signed: evil_root,
    };
    hub.database()
        .exec(
            "INSERT INTO release_roots (version, doc, trusted_at) VALUES (3, ?1, 0)",
            args![serde_json::to_string(&evil).unwrap()],
        )
        .unwrap();
    let by_stranger = signed(&release("0.1.7", &platform, &build, year), &[&stranger]);
    plant(&hub, &by_stranger, &build, &platform);
    let doc = check();
    assert_eq!(doc["update"]["root_version"], 2, "{doc}");
    let warnings = doc["sync"]["warnings"].to_string();
    assert!(
        warnings.contains("release root version 3 not taken"),
        "{doc}"
    );
    assert!(
        doc["update"]["refused"].to_string().contains("0.1.7"),
        "{doc}"
    );
    untouched("root not signed by the current root");

    // The hub learnt of each failure from the device's reports.
    let status = hub.json(&["release", "status", "--json"]);
    let failed: Vec<String> = status["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["totals"]["failed"] == 1)
        .map(|r| r["version"].as_str().unwrap().to_string())
        .collect();
    for v in ["0.1.1", "0.1.2", "0.1.3", "0.1.6"] {
        assert!(
            failed.contains(&v.to_string()),
            "{v} not reported: {status}"
        );
    }

    // The genuine release, signed by both keys of the current root, from a hub
    // whose copy of the file was cut short: the download stops short and is resumed
    // later, never installed short.
    let good = signed(&release("0.2.0", &platform, &build, year), &[&k1, &k2]);
    plant(&hub, &good, &build[..build.len() / 3], &platform);
    // And a "delta" from the running build that patches into something else: the
    // agent checks the result, drops it and takes the full file.
    let running = std::fs::read(&exe).unwrap();
    let mut bogus = Vec::new();
    let mut not_the_build = build.clone();
    not_the_build[100] ^= 1;
    {
        let mut raw = Vec::new();
        bsdiff::diff(&running, &not_the_build, &mut raw).unwrap();
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(&mut bogus, flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap();
    }
    std::fs::write(hub.dir.join("releases/bogus.patch.gz"), &bogus).unwrap();
    let base = signed(&release("0.1.0", &platform, &running, year), &[&k1, &k2]);
    let db = hub.database();
    db.exec(
        "INSERT INTO releases (version, platform, meta, file, sha256, published_at)
         VALUES ('0.1.0', ?1, ?2, 'releases/none', ?3, 0)",
        args![
            platform,
            serde_json::to_string(&base).unwrap(),
            base.signed.target.sha256
        ],
    )
    .unwrap();
    let patch = target_of(&bogus);
    db.exec(
        "INSERT INTO release_deltas (to_sha256, from_sha256, file, length, sha256)
         VALUES (?1, ?2, 'releases/bogus.patch.gz', ?3, ?4)",
        args![
            good.signed.target.sha256,
            base.signed.target.sha256,
            patch.length as i64,
            patch.sha256
        ],
    )
    .unwrap();
    let doc = check();
    let warning = doc["update"]["warning"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        warning.contains("resuming later"),
        "{doc}\n{}",
        std::fs::read_to_string(a.dir.join("update/state.json")).unwrap_or_default()
    );
    assert!(
        !doc["update"]["refused"].to_string().contains("0.2.0"),
        "{doc}"
    );
    untouched("truncated download");
    // The hub is put right: the download resumes where it stopped, and the build is
    // checked, self-tested and staged (the resident `run` swaps it in).
    std::fs::write(hub.dir.join("releases/planted-0.2.0"), &build).unwrap();
    let doc = check();
    assert_eq!(doc["update"]["offered"], "0.2.0", "{doc}");
    assert_eq!(doc["update"]["warning"], Value::Null, "{doc}");
    assert!(
        !doc["update"]["refused"].to_string().contains("0.2.0"),
        "{doc}"
    );
    untouched("staged only");
    a.ok(&["sync"]);
    let status = hub.json(&["release", "status", "--json"]);
    let r = status["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == "0.2.0")
        .unwrap()
        .clone();
    assert_eq!(r["totals"]["downloaded"], 1, "{r}");
    let how = r["stages"][0]["devices"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(how, format!("full file of {} bytes", build.len()), "{r}");
    hub.stop();
}
