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
