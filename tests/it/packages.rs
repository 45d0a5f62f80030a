//! The Debian packages (deploy/build-deb) of the tests' own builds: they install with
//! `dpkg -i` on this machine, their systemd units pass `systemd-analyze verify`, the
//! installed programs run, and removing them keeps the data.

use cchc_tests::{bin, describe, workspace};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Runs a command as root (this machine's CI runs as root; elsewhere `sudo -n`).
fn as_root(program: &str, args: &[&str]) -> Output {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut c = if root {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").arg(program);
        c
    };
    c.args(args).stdin(Stdio::null()).output().expect("starts")
}

fn ok(what: &str, out: Output) -> String {
    assert!(out.status.success(), "{}", describe(what, &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_debs_install_with_dpkg_their_units_verify_and_removal_keeps_the_data() {
    // The tests' builds of the agent and the hub, packaged as a release would be.
    let dir = bin("cchc-agent").parent().unwrap().to_path_buf();
    let out = Command::new(workspace().join("deploy/build-deb"))
        .args(["--bin-dir", dir.to_str().unwrap(), "agent", "hub"])
        .stdin(Stdio::null())
        .output()
        .expect("build-deb starts");
    let debs: Vec<PathBuf> = ok("build-deb", out)
        .lines()
        .map(|l| workspace().join(l.trim()))
        .collect();
    assert_eq!(debs.len(), 2, "{debs:?}");
    for d in &debs {
        let info = ok(
            "dpkg-deb --info",
            Command::new("dpkg-deb")
                .arg("--info")
                .arg(d)
                .output()
                .unwrap(),
        );
        assert!(info.contains("Architecture: amd64"), "{info}");
        // Rust's std on Debian 12 needs glibc 2.34: a lower floor would install a
        // program that cannot start.
        assert!(info.contains("Depends: libc6 (>= 2.34), passwd"), "{info}");
    }

    let paths: Vec<&str> = debs.iter().map(|d| d.to_str().unwrap()).collect();
    let mut install = vec!["-i"];
    install.extend(&paths);
    ok("dpkg -i", as_root("dpkg", &install));

    // Their own users, data directories of theirs only, the programs on PATH.
    for (user, mode) in [("cchc-agent", "2770"), ("cchc-hub", "700")] {
        ok(
            "getent",
            Command::new("getent")
                .args(["passwd", user])
                .output()
                .unwrap(),
        );
        let stat = ok(
            "stat",
            Command::new("stat")
                .args(["-c", "%U %G %a", &format!("/var/lib/{user}")])
                .output()
                .unwrap(),
        );
        assert_eq!(
            stat.trim(),
            format!("{user} {user} {mode}"),
            "/var/lib/{user}"
        );
    }
    let version = ok(
        "cchc-agent --version",
        Command::new("/usr/bin/cchc-agent")
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert!(version.starts_with("cchc-agent "), "{version}");
    let version = ok(
        "cchc-hub --version",
        Command::new("/usr/bin/cchc-hub")
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert!(version.starts_with("cchc-hub "), "{version}");
    // The agent the service runs (and updates) was put in its data directory.
    let seeded = ok(
        "the service's agent",
        as_root("/var/lib/cchc-agent/bin/cchc-agent", &["--version"]),
    );
    assert!(seeded.starts_with("cchc-agent "), "{seeded}");

    // The installed units: systemd's own check, and the hardening they promise.
    let units = [
        "/lib/systemd/system/cchc-agent.service",
        "/lib/systemd/system/cchc-hub.service",
    ];
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .output()
        .expect("systemd-analyze (package systemd) starts");
    assert!(
        out.status.success(),
        "{}",
        describe("systemd-analyze verify", &out)
    );
    assert!(
        out.stderr.is_empty(),
        "systemd-analyze verify warns: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for unit in units {
        let text = std::fs::read_to_string(unit).unwrap();
        for line in [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "Restart=on-failure",
            "StateDirectory=",
            "User=",
        ] {
            assert!(text.contains(line), "{unit} lacks {line}");
        }
    }

    // Removed (and purged): the programs go, the data directories stay.
    let marker = "/var/lib/cchc-hub/kept-by-the-test";
    ok("touch", as_root("touch", &[marker]));
    ok(
        "dpkg --purge",
        as_root("dpkg", &["--purge", "cchc-agent", "cchc-hub"]),
    );
    assert!(!std::path::Path::new("/usr/bin/cchc-hub").exists());
    assert!(!std::path::Path::new("/usr/lib/cchc-agent/cchc-agent").exists());
    assert!(
        std::path::Path::new(marker).exists(),
        "purge removed the hub's data"
    );
    ok("rm", as_root("rm", &["-f", marker]));
}
