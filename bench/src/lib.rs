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

/// A throwaway PostgreSQL: a cluster in a temporary directory, listening on a Unix
/// socket there only (no TCP port), one database; stopped and removed when dropped.
/// Needs Debian's `postgresql` (`tests/run` installs it); as root, the cluster belongs
/// to the package's `postgres` user (initdb refuses root).
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    as_pg: bool,
    /// The database's URL (`postgres://postgres@%2F…/cchc_bench`).
    pub url: String,
}

impl Postgres {
    /// Starts one; panics, naming what is missing, if it cannot.
    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| {
                let mut v: Vec<PathBuf> = d
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|p| p.join("initdb").exists())
                    .collect();
                v.sort();
                v.pop()
            })
            .expect(
                "PostgreSQL's server is not installed (apt-get install postgresql; tests/run does)",
            );
        let dir = std::env::temp_dir().join(format!("cchc-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        // Who runs the bench (`id -u`): root must hand the cluster to `postgres`.
        let root = must(Command::new("id").arg("-u")).trim() == "0";
        if root {
            must(Command::new("chown").arg("postgres").arg(&dir));
        }
        let pg = Postgres {
            url: format!(
                "postgres://postgres@{}/cchc_bench",
                dir.display().to_string().replace('/', "%2F")
            ),
            bin,
            dir,
            as_pg: root,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                "data",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let opts = format!(
            "-k {} -c listen_addresses='' -c max_connections=400",
            pg.dir.display()
        );
        pg.run(
            "pg_ctl",
            &["-D", "data", "-l", "server.log", "-w", "-o", &opts, "start"],
        );
        must(Command::new(pg.bin.join("createdb")).args([
            "-h",
            &pg.dir.display().to_string(),
            "-U",
            "postgres",
            "cchc_bench",
        ]));
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let mut c = if self.as_pg {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        must(c.args(args).current_dir(&self.dir));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut c = if self.as_pg {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = c
            .args(["-D", "data", "-m", "immediate", "stop"])
            .current_dir(&self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
