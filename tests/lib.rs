//! Support for the end-to-end tests: builds the real binaries once, runs them as
//! processes on a fresh temporary directory, and on failure shows the command, its
//! output and the database rows. No sleeps as synchronisation anywhere.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Path of a workspace binary, built once per test run (same profile as the tests).
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "cchc-agent", "-p", "cchc-hub"])
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
        // target/<profile>/deps/it-<hash> -> target/<profile>/
        let exe = std::env::current_exe().expect("test exe path");
        exe.parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf()
    });
    let p = dir.join(name);
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// A small deterministic PRNG (xorshift64*), seeded per test and printed, so a failing
/// random run can be replayed with `CCHC_TEST_SEED`.
pub struct Rng(u64);

impl Rng {
    /// Seeds from `CCHC_TEST_SEED` or the clock, and prints the seed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("CCHC_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: CCHC_TEST_SEED={seed}");
        Rng(seed.max(1))
    }

    /// Next random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Renders a finished process for a failure message.
pub fn describe(cmd: &str, out: &Output) -> String {
    format!(
        "command: {cmd}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One agent install (one desk) in its own data directory.
pub struct Agent {
    /// Data directory.
    pub dir: PathBuf,
    /// Optional wrapper (e.g. `faketime -f +365d`) the agent runs under.
    pub wrapper: Vec<String>,
}

impl Agent {
    /// An agent whose data lives in `dir` (not initialised yet).
    pub fn new(dir: impl Into<PathBuf>) -> Agent {
        Agent {
            dir: dir.into(),
            wrapper: Vec::new(),
        }
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.join("agent.db")
    }

    /// The command for `args`, in English, on this data dir.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = if self.wrapper.is_empty() {
            Command::new(bin("cchc-agent"))
        } else {
            let mut c = Command::new(&self.wrapper[0]);
            c.args(&self.wrapper[1..]).arg(bin("cchc-agent"));
            c
        };
        c.arg("--data-dir")
            .arg(&self.dir)
            .arg("--lang")
            .arg("en")
            .args(args);
        c.env_remove("CCHC_LANG")
            .env_remove("CCHC_DATA_DIR")
            .stdin(Stdio::null());
        c
    }

    /// Runs a command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("agent starts")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{}\n{}",
            describe(&args.join(" "), &out),
            self.dump()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must print JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let s = self.ok(args);
        serde_json::from_str(&s)
            .unwrap_or_else(|e| panic!("`{}` printed invalid JSON ({e}):\n{s}", args.join(" ")))
    }

    /// Every row of every table, ordered: the logical content of the database.
    pub fn dump(&self) -> String {
        dump_db(&self.db())
    }
}

/// Every row of every table of an SQLite file, ordered, as text. Opens read-only.
pub fn dump_db(path: &Path) -> String {
    let conn = match rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) {
        Ok(c) => c,
        Err(e) => return format!("(cannot open {}: {e})", path.display()),
    };
    let mut out = String::new();
    let tables: Vec<String> =
        match conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") {
            Ok(mut st) => st
                .query_map([], |r| r.get(0))
                .and_then(|r| r.collect())
                .unwrap_or_default(),
            Err(e) => return format!("(cannot read {}: {e})", path.display()),
        };
    for t in tables {
        out += &format!("== {t}\n");
        let mut st = conn
            .prepare(&format!("SELECT * FROM \"{t}\""))
            .expect("select");
        let n = st.column_count();
        let mut rows: Vec<String> = st
            .query_map([], |r| {
                let cells: Vec<String> = (0..n)
                    .map(|i| match r.get_ref(i) {
                        Ok(rusqlite::types::ValueRef::Null) => "NULL".to_string(),
                        Ok(rusqlite::types::ValueRef::Integer(n)) => n.to_string(),
                        Ok(rusqlite::types::ValueRef::Real(x)) => x.to_string(),
                        Ok(rusqlite::types::ValueRef::Text(t)) => {
                            format!("'{}'", String::from_utf8_lossy(t))
                        }
                        Ok(rusqlite::types::ValueRef::Blob(b)) => format!(
                            "x'{}'",
                            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
                        ),
                        Err(e) => format!("<{e}>"),
                    })
                    .collect();
                Ok(cells.join(" | "))
            })
            .and_then(|r| r.collect())
            .unwrap_or_default();
        rows.sort();
        for r in rows {
            out += &r;
            out.push('\n');
        }
    }
    out
}

/// `PRAGMA integrity_check` of a database file.
pub fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open for integrity check");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .expect("integrity_check runs")
}
