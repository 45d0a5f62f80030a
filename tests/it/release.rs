//! Signed updates (issue 13), as far as they go: release keys are made offline, in an
//! owner-only file the command never overwrites, and the key id it prints is the key's.

use cchc_common::release::{key_id, ReleaseKey};
use cchc_tests::{bin, describe};
use std::process::Command;

fn keygen(out: &std::path::Path) -> std::process::Output {
    Command::new(bin("cchc-hub"))
        .args(["--lang", "en", "release", "keygen", "--out"])
        .arg(out)
        .env_remove("CCHC_HUB_DIR")
        .output()
        .expect("cchc-hub runs")
}

#[test]
fn a_release_key_is_made_owner_only_and_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("release.key");
    // No hub here: keygen runs on any machine.
    let out = keygen(&path);
    assert!(out.status.success(), "{}", describe("release keygen", &out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = std::fs::read_to_string(&path).unwrap();
    let key = ReleaseKey::from_file_text(&text).expect("a release key file");
    let id = key_id(&key.public());
    assert!(
        stdout.contains(&format!(
            "Created release key {id} (public key {})",
            key.public()
        )),
        "{stdout}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is owner-only");
    }
    // A second run never replaces the key.
    let again = keygen(&path);
    let said = describe("release keygen again", &again);
    assert!(
        !again.status.success() && String::from_utf8_lossy(&again.stderr).contains("release.key"),
        "the second run must refuse, naming the file: {said}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    // And two runs make two different keys.
    let other = tmp.path().join("second.key");
    assert!(keygen(&other).status.success());
    assert_ne!(std::fs::read_to_string(&other).unwrap(), text);
}

fn hub_cmd(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(bin("cchc-hub"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--lang", "en"])
        .args(args)
        .env_remove("CCHC_HUB_DIR")
        .output()
        .expect("cchc-hub runs")
}

#[test]
fn the_hub_trusts_and_publishes_only_what_its_root_signed() {
    use cchc_tests::{path, ReleaseKit};
    let tmp = tempfile::tempdir().unwrap();
    let kit = ReleaseKit::new(tmp.path().join("kit"));
    let other = ReleaseKit::new(tmp.path().join("other"));
    // A root whose threshold its own keys cannot meet: init refuses and creates nothing.
    // (`release root` itself refuses to make one.)
    let greedy = tmp.path().join("greedy.json");
    let refused = kit
        .command(&[
            "release",
            "root",
            "--key",
            path(&kit.key),
            "--threshold",
            "2",
            "--out",
            path(&greedy),
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("from 1 to the number of keys (1)"));
    let key = ReleaseKey::from_file_text(&std::fs::read_to_string(&kit.key).unwrap()).unwrap();
    let root = cchc_common::release::Root {
        version: 1,
        expires_ms: i64::MAX,
        keys: [(key_id(&key.public()), key.public())]
            .into_iter()
            .collect(),
        threshold: 2,
    };
    let doc = cchc_common::release::Signed {
        signatures: vec![key.sign(cchc_common::release::Role::Root, &root)],
        signed: root,
    };
    std::fs::write(&greedy, serde_json::to_string(&doc).unwrap()).unwrap();
    let hub_dir = tmp.path().join("hub");
    let init = |root: &std::path::Path| {
        let mut args = cchc_tests::Hub::open(&hub_dir).init_args("1");
        args.extend(["--release-root".to_string(), path(root).to_string()]);
        hub_cmd(
            &hub_dir,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let out = init(&greedy);
    assert_eq!(out.status.code(), Some(3), "{}", describe("init", &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs 2 of its 1 key(s)"));
    assert!(!hub_dir.join("hub.db").exists(), "a hub was created");
    assert!(!hub_dir.join("store.url").exists(), "a hub was created");
    // The kit's own root: the hub is made trusting it.
    let out = init(&kit.root);
    assert!(out.status.success(), "{}", describe("init", &out));
    let status = hub_cmd(&hub_dir, &["release", "status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["root"]["version"], 1, "{doc}");

    // Another province's root is no rotation of this one.
    let out = hub_cmd(&hub_dir, &["release", "trust", path(&other.root)]);
    assert_eq!(out.status.code(), Some(3), "{}", describe("trust", &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("root version 1 does not follow"));
    let rotated = tmp.path().join("root-v2.json");
    other.ok(&[
        "release",
        "root",
        "--version",
        "2",
        "--key",
        path(&other.key),
        "--out",
        path(&rotated),
    ]);
    let out = hub_cmd(&hub_dir, &["release", "trust", path(&rotated)]);
    assert_eq!(out.status.code(), Some(3), "{}", describe("trust v2", &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 trusted key(s)"));

    // Bundles: signed by another key, expired, unsigned: refused, nothing stored.
    let build = tmp.path().join("cchc-agent");
    std::fs::write(&build, b"\x7fELF not really a build").unwrap();
    let foreign = tmp.path().join("foreign.bundle");
    other.sign_agent(&build, "0.2.0", &foreign);
    let out = hub_cmd(&hub_dir, &["release", "publish", path(&foreign)]);
    assert_eq!(out.status.code(), Some(3), "{}", describe("publish", &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not trusted"));
    let expired = tmp.path().join("expired.bundle");
    // Signed by the right key, but a day ago for a day.
    let bytes = std::fs::read(&build).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let stale = cchc_common::release::Release {
        version: "0.2.0".parse().unwrap(),
        platform: "linux-x86_64".into(),
        min_from: "0.1.0".parse().unwrap(),
        target: cchc_common::release::target_of(&bytes),
        expires_ms: now - 1,
    };
    let head = cchc_common::update::BundleHead::Agent {
        release: cchc_common::release::Signed {
            signatures: vec![key.sign(cchc_common::release::Role::Release, &stale)],
            signed: stale,
        },
    };
    std::fs::write(&expired, cchc_common::update::write_bundle(&head, &bytes)).unwrap();
    let out = hub_cmd(&hub_dir, &["release", "publish", path(&expired)]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        describe("publish expired", &out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired"));
    let out = hub_cmd(&hub_dir, &["release", "publish", path(&build)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a release bundle"));
    let status = hub_cmd(&hub_dir, &["release", "status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["releases"], serde_json::json!([]), "{doc}");

    // A genuine one goes in; the same version again, or a lower one, does not.
    let good = tmp.path().join("good.bundle");
    kit.sign_agent(&build, "0.2.0", &good);
    let out = hub_cmd(&hub_dir, &["release", "publish", path(&good)]);
    assert!(out.status.success(), "{}", describe("publish", &out));
    let lower = tmp.path().join("lower.bundle");
    kit.sign_agent(&build, "0.1.9", &lower);
    let out = hub_cmd(&hub_dir, &["release", "publish", path(&lower)]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        describe("publish lower", &out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("versions only go up"));
    // A rollout of an unknown version is refused; of the real one, staged.
    let out = hub_cmd(
        &hub_dir,
        &["release", "rollout", "--version", "0.9.0", "--all"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", describe("rollout", &out));
    let out = hub_cmd(
        &hub_dir,
        &[
            "release",
            "rollout",
            "--version",
            "0.2.0",
            "--percent",
            "10",
            "--halt-at",
            "5%",
        ],
    );
    assert!(out.status.success(), "{}", describe("rollout", &out));
    let audit = hub_cmd(&hub_dir, &["audit", "--action", "release", "--json"]);
    let log = String::from_utf8_lossy(&audit.stdout);
    for action in ["release.trust", "release.publish", "release.rollout"] {
        assert!(log.contains(action), "{action} not audited: {log}");
    }
}
