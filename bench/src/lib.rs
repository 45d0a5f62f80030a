//! What the benches share: where the workspace is, building the binaries they measure
//! (release for figures; the debug build, already made by the tests, for `--quick`,
//! which only proves a bench still runs), and running a command that must succeed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is in the workspace")
        .to_path_buf()
}

/// Builds `packages` (release, or the debug build when `quick`) and returns the
/// directory holding their binaries. Each package is built on its own, as it ships:
/// built together, cargo would give the agent the hub's features of shared crates
/// (a bigger agent than the one installed on commune PCs).
pub fn build(quick: bool, packages: &[&str]) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for p in packages {
        let mut c = Command::new(&cargo);
        c.args(["build", "-q", "-p", p]);
        if !quick {
            c.arg("--release");
        }
        let ok = c
            .current_dir(workspace())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "building {p} failed");
    }
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target"))
        .join(if quick { "debug" } else { "release" })
}

/// Runs a command that must succeed; returns its standard output.
pub fn must(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line every bench prints first in `--quick` mode.
pub fn quick_banner(quick: bool) {
    if quick {
        println!("(--quick: debug build, tiny sizes — this only shows the bench still runs; its figures mean nothing)\n");
    }
}
