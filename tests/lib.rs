//! Support for the end-to-end tests: builds the real binaries once, runs them as
//! processes on a fresh temporary directory, and on failure shows the command, its
//! output and the database rows. No sleeps as synchronisation anywhere.
#![deny(missing_docs)]

pub mod browser;
pub mod proxy;

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
            .args([
                "build",
                "-q",
                "-p",
                "cchc-agent",
                "-p",
                "cchc-hub",
                "-p",
                "cchc-agent-next",
                "-p",
                "cchc-agent-bad",
            ])
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
    /// The executable, when it is an install of its own (updates swap it); else the
    /// workspace's build.
    pub exe: Option<PathBuf>,
}

impl Agent {
    /// An agent whose data lives in `dir` (not initialised yet).
    pub fn new(dir: impl Into<PathBuf>) -> Agent {
        Agent {
            dir: dir.into(),
            wrapper: Vec::new(),
            exe: None,
        }
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.join("agent.db")
    }

    /// The command for `args`, in English, on this data dir.
    pub fn command(&self, args: &[&str]) -> Command {
        let exe = self.exe.clone().unwrap_or_else(|| bin("cchc-agent"));
        let mut c = if self.wrapper.is_empty() {
            Command::new(exe)
        } else {
            let mut c = Command::new(&self.wrapper[0]);
            c.args(&self.wrapper[1..]).arg(exe);
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
    dump_db_except(path, &[])
}

/// [`dump_db`] without some tables (the hub's `audit`, which records refusals).
pub fn dump_db_except(path: &Path, skip: &[&str]) -> String {
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
        if skip.contains(&t.as_str()) {
            continue;
        }
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

/// Sends a signal to a process with the system's `kill` (SIGTERM, SIGINT).
pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// Waits for a child to exit, up to `limit`; kills it and panics if it does not.
pub fn wait_exit(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not exit within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The PostgreSQL database `tests/run` starts for the run (`CCHC_TEST_PG_URL`). Tests
/// that need PostgreSQL whatever the pass (migrate) fail loudly without it.
pub fn pg_url() -> String {
    std::env::var("CCHC_TEST_PG_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .expect("CCHC_TEST_PG_URL is not set: run ./tests/run, which starts PostgreSQL")
}

/// The PostgreSQL database hubs are made on, in the pass that asks for it
/// (`CCHC_TEST_STORE=postgres`); None: hubs on SQLite.
pub fn test_pg() -> Option<String> {
    (std::env::var("CCHC_TEST_STORE").ok().as_deref() == Some("postgres")).then(pg_url)
}

/// A URL for a new schema of its own in the run's PostgreSQL database.
pub fn pg_schema_url() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = pg_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}schema=t{}_{n}", std::process::id())
}

/// A connection to a hub's database, on either engine (it implements `cchc_sql::Db`).
pub enum HubDb {
    /// `hub.db`.
    Sqlite(rusqlite::Connection),
    /// The hub's schema on PostgreSQL.
    Postgres(Box<cchc_sql::pg::PgConn>),
}

impl HubDb {
    fn inner(&self) -> &dyn cchc_sql::Db {
        match self {
            HubDb::Sqlite(c) => c,
            HubDb::Postgres(c) => &**c,
        }
    }
}

impl cchc_sql::Db for HubDb {
    fn dialect(&self) -> cchc_sql::Dialect {
        self.inner().dialect()
    }
    fn exec(&self, sql: &str, args: &[cchc_sql::Arg<'_>]) -> Result<usize, cchc_sql::SqlError> {
        self.inner().exec(sql, args)
    }
    fn each(
        &self,
        sql: &str,
        args: &[cchc_sql::Arg<'_>],
        f: &mut dyn FnMut(&dyn cchc_sql::Row) -> cchc_sql::Flow,
    ) -> Result<(), cchc_sql::SqlError> {
        self.inner().each(sql, args, f)
    }
    fn batch(&self, sql: &str) -> Result<(), cchc_sql::SqlError> {
        self.inner().batch(sql)
    }
    fn begin_write(&self) -> Result<(), cchc_sql::SqlError> {
        self.inner().begin_write()
    }
}

/// A provincial hub: its data directory and, while started, its `serve` process.
pub struct Hub {
    /// Data directory.
    pub dir: PathBuf,
    /// Port it serves on (kept across restarts, so agents keep their URL).
    pub port: u16,
    child: Option<std::process::Child>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Hub {
    /// Initialises a hub for a province in `dir`.
    pub fn init(dir: impl Into<PathBuf>, province: u32) -> Hub {
        let dir = dir.into();
        let hub = Hub {
            dir,
            port: 0,
            child: None,
            log: Default::default(),
        };
        let args = hub.init_args(&province.to_string());
        hub.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        hub
    }

    /// Initialises a national hub (every commune of the country), on this pass's
    /// engine.
    pub fn init_national(dir: impl Into<PathBuf>) -> Hub {
        let hub = Hub::open(dir);
        let mut args = vec!["init".to_string(), "--national".into()];
        if test_pg().is_some() {
            args.push("--store".into());
            args.push(pg_schema_url());
        }
        hub.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        hub
    }

    /// Initialises a hub on SQLite whatever the pass (what `migrate` moves).
    pub fn init_on_sqlite(dir: impl Into<PathBuf>, province: u32) -> Hub {
        let hub = Hub::open(dir);
        hub.ok(&["init", "--province", &province.to_string()]);
        hub
    }

    /// `init --province P`, on PostgreSQL when the run asks for it ([`test_pg`]): each
    /// hub in a schema of its own.
    pub fn init_args(&self, province: &str) -> Vec<String> {
        let mut args = vec!["init".to_string(), "--province".into(), province.into()];
        if test_pg().is_some() {
            args.push("--store".into());
            args.push(pg_schema_url());
        }
        args
    }

    /// The hub's database, on whichever engine it was made (`store.url` says
    /// PostgreSQL), for what a test reads or plants directly.
    pub fn database(&self) -> HubDb {
        match std::fs::read_to_string(self.dir.join("store.url")) {
            Ok(url) => {
                let t = cchc_sql::pg::Target::parse(&url, "").expect("store.url");
                HubDb::Postgres(Box::new(
                    cchc_sql::pg::PgConn::connect(&t).expect("hub's PostgreSQL"),
                ))
            }
            Err(_) => {
                let c = rusqlite::Connection::open(self.db()).expect("hub database");
                c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                HubDb::Sqlite(c)
            }
        }
    }

    /// Every row of every table but `skip`, ordered: the logical content of the hub's
    /// database, alike on both engines.
    pub fn dump_except(&self, skip: &[&str]) -> String {
        cchc_sql::dump(&self.database(), skip).expect("dump of the hub's database")
    }

    /// The database's own integrity verdict: SQLite's `integrity_check` of `hub.db`;
    /// on PostgreSQL (which has no file to check), every table read whole.
    pub fn integrity(&self) -> String {
        if self.on_postgres() {
            return match cchc_sql::dump(&self.database(), &[]) {
                Ok(_) => "ok".into(),
                Err(e) => e.to_string(),
            };
        }
        integrity(&self.db())
    }

    /// Whether the hub keeps its data on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.dir.join("store.url").exists()
    }

    /// A hub that already exists in `dir` (not started).
    pub fn open(dir: impl Into<PathBuf>) -> Hub {
        Hub {
            dir: dir.into(),
            port: 0,
            child: None,
            log: Default::default(),
        }
    }

    /// A `cchc-hub` command on this data directory, in English.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("cchc-hub"));
        c.arg("--data-dir")
            .arg(&self.dir)
            .arg("--lang")
            .arg("en")
            .args(args)
            .env_remove("CCHC_LANG")
            .env_remove("CCHC_HUB_DIR")
            .stdin(Stdio::null());
        c
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("hub starts");
        assert!(
            out.status.success(),
            "{}\n--- hub log ---\n{}",
            describe(&args.join(" "), &out),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must print JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let s = self.ok(args);
        serde_json::from_str(&s)
            .unwrap_or_else(|e| panic!("`{}` printed invalid JSON ({e}):\n{s}", args.join(" ")))
    }

    /// Starts `serve` on 127.0.0.1 (the same port as before on a restart) and waits
    /// until it says it is listening.
    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// [`Hub::start`] with extra `serve` arguments.
    pub fn start_with(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "hub already started");
        let listen = format!("127.0.0.1:{}", self.port);
        let mut args = vec!["serve", "--listen", &listen];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hub serve starts");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let log = self.log.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(|l| l.ok())
            {
                let _ = tx.send(line.clone());
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let log = self.log.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(|l| l.ok())
            {
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("hub did not start listening:\n{}", self.log()));
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line}"));
        self.port = port;
        self.child = Some(child);
    }

    /// The serve process's id (while started).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("hub started").id()
    }

    /// The serve process's resident memory now, in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc status of the hub");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Kills the serve process with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the serve process with SIGTERM; returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("hub started");
        signal(c.id(), "TERM");
        wait_exit(&mut c, std::time::Duration::from_secs(30), "hub serve")
    }

    /// The URL agents use (the name in the server certificate).
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The CA certificate agents pin.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("tls").join("ca.pem")
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.join("hub.db")
    }

    /// Every op the hub's log holds, decoded from its rows, by device and number.
    pub fn ops(&self) -> Vec<cchc_common::Op> {
        use cchc_sql::DbExt;
        let rows: Vec<Vec<u8>> = self
            .database()
            .query(
                "SELECT ops FROM op_batches ORDER BY actor, first_seq",
                &[],
                |r| r.get(0),
            )
            .expect("hub op log");
        rows.iter()
            .flat_map(|b| cchc_common::codec::decode_ops(b).expect("op log row"))
            .collect()
    }

    /// Everything `serve` printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A new one-time enrollment code for `unit` (`enroll create --json`).
    pub fn code(&self, unit: u32) -> String {
        let doc = self.json(&["enroll", "create", "--unit", &unit.to_string(), "--json"]);
        assert_eq!(doc["unit"], unit, "{doc}");
        doc["code"].as_str().expect("code").to_string()
    }

    /// Initialises an agent for `unit` and enrolls it with this hub (a fresh code).
    pub fn agent(&self, dir: impl Into<PathBuf>, unit: u32) -> Agent {
        let a = Agent::new(dir);
        self.set_up(&a, unit);
        a
    }

    /// Initialises `a` (any build of the agent) for `unit` and enrolls it with this hub.
    pub fn set_up(&self, a: &Agent, unit: u32) {
        let ca = self.ca();
        let code = self.code(unit);
        a.ok(&[
            "init",
            "--unit",
            &unit.to_string(),
            "--hub",
            &self.url(),
            "--ca",
            ca.to_str().expect("utf-8 path"),
            "--code",
            &code,
        ]);
    }

    /// Adds a hub user with a role; returns the password.
    pub fn user(&self, name: &str, role: &str) -> String {
        self.user_named(name, role, None)
    }

    /// Adds a hub user with a role and, when given, the full name communes see;
    /// returns the password.
    pub fn user_named(&self, name: &str, role: &str, full_name: Option<&str>) -> String {
        let password = format!("pw-{name}-0123456789");
        let mut args = vec!["user", "add", name, "--role", role];
        if let Some(n) = full_name {
            args.extend(["--name", n]);
        }
        let mut child = self
            .command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hub starts");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped");
            writeln!(stdin, "{password}").expect("password written");
        }
        let out = child.wait_with_output().expect("user add ends");
        assert!(out.status.success(), "{}", describe("user add", &out));
        password
    }

    /// An HTTPS client trusting only this hub's CA, optionally from another loopback
    /// address (each address has its own rate limits).
    pub fn client(&self, from: Option<&str>) -> reqwest::blocking::Client {
        let pem = std::fs::read(self.ca()).expect("hub CA");
        let mut b = reqwest::blocking::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA PEM"))
            .timeout(std::time::Duration::from_secs(60));
        if let Some(ip) = from {
            b = b.local_address(ip.parse::<std::net::IpAddr>().expect("address"));
        }
        b.build().expect("client")
    }

    /// Signs in over HTTPS; returns the session token.
    pub fn login(&self, user: &str, password: &str) -> String {
        let resp = self
            .client(None)
            .post(format!("{}/api/v1/login", self.url()))
            .body(serde_json::json!({"user": user, "password": password}).to_string())
            .send()
            .expect("login request");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        assert_eq!(status, 200, "login as {user}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("login JSON");
        v["token"].as_str().expect("token").to_string()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes a bundle file holding `n` count ops (received +1..=9 each, CT-01, 2026-10)
/// made by another desk `sender` of commune `unit`: a desk that worked offline for
/// months, carried in without `n` process runs. Returns the total received.
pub fn write_backlog_bundle(path: &Path, unit: u32, sender: u64, n: u64) -> i64 {
    use cchc_common::op::{CountDelta, Dir};
    use cchc_common::{ActorId, Metric, Op, OpBody, UnitCode};
    let mut total = 0u64;
    let ops: Vec<Op> = (1..=n)
        .map(|seq| {
            let amount = 1 + seq % 9;
            total += amount;
            Op {
                v: 1,
                actor: ActorId(sender),
                seq,
                hlc_ms: 1_790_000_000_000 + seq,
                hlc_c: 0,
                unit: UnitCode(unit),
                defs: 1,
                body: OpBody::Count {
                    period: "2026-10".parse().expect("period"),
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
        })
        .collect();
    let bundle = serde_json::json!({
        "format": "cchc-bundle", "version": 1, "unit": unit, "sender": ActorId(sender),
        "sent_at_ms": 1_790_000_000_000i64, "version_vector": { ActorId(sender).to_string(): n },
        "ops": ops,
    });
    std::fs::write(path, serde_json::to_vec(&bundle).expect("json")).expect("write bundle");
    total as i64
}

/// Definitions version 2, unsigned, in `dir/defs-v2.json`: the built-in version 1 with
/// one more procedure, CT-99, named `name`. Returns the file.
pub fn definitions_v2(dir: &Path, name: &str) -> PathBuf {
    let v1 = std::fs::read_to_string(workspace().join("common/data/definitions-v1.json"))
        .expect("built-in definitions");
    let mut v2: serde_json::Value = serde_json::from_str(&v1).expect("definitions JSON");
    v2["version"] = 2.into();
    v2["procedures"]
        .as_array_mut()
        .expect("procedures")
        .push(serde_json::json!({"code": "CT-99", "name": name}));
    let file = dir.join("defs-v2.json");
    std::fs::write(&file, serde_json::to_string(&v2).expect("json")).expect("write defs-v2.json");
    file
}

/// The communes of `province` in the official list.
pub fn communes_of(province: u32) -> Vec<u32> {
    let csv = std::fs::read_to_string(workspace().join("common/data/vn-units-2025.csv"))
        .expect("unit list");
    csv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse::<u32>().ok()? == province).then(|| f[3].parse().ok())?
        })
        .collect()
}

/// The row of commune `unit` in a hub `status --json` or `report --json` document.
pub fn commune_row(doc: &serde_json::Value, unit: u32) -> serde_json::Value {
    doc["communes"]
        .as_array()
        .expect("a communes array")
        .iter()
        .find(|c| c["unit"] == unit)
        .unwrap_or_else(|| panic!("commune {unit} is missing from {doc}"))
        .clone()
}

/// A device's key and id, for tests that craft requests a real agent would never send
/// (a tampered agent, a replay): signs bodies exactly as the agent does.
pub struct Signer {
    /// Device id.
    pub device: cchc_common::ActorId,
    /// Its key.
    pub key: cchc_common::auth::DeviceKey,
}

impl Signer {
    /// The key of a real agent's data directory (as an attacker with the PC would).
    pub fn of_agent(agent: &Agent) -> Signer {
        let text = std::fs::read_to_string(agent.dir.join("device.key")).expect("device.key");
        let hex = text.lines().nth(1).expect("seed line");
        let seed = cchc_common::auth::unhex(hex, 32, "seed").expect("hex seed");
        let device = agent.json(&["status", "--json"])["device"]
            .as_str()
            .expect("device")
            .parse()
            .expect("device id");
        Signer {
            device,
            key: cchc_common::auth::DeviceKey::from_seed(seed.try_into().expect("32 bytes")),
        }
    }

    /// A new key for a device id.
    pub fn new(device: u64, seed: u8) -> Signer {
        Signer {
            device: cchc_common::ActorId(device),
            key: cchc_common::auth::DeviceKey::from_seed([seed; 32]),
        }
    }

    /// A signed POST of `body` to `path` with `nonce` (add the protocol header for sync).
    pub fn post(
        &self,
        http: &reqwest::blocking::Client,
        base: &str,
        path: &str,
        nonce: u64,
        body: Vec<u8>,
    ) -> reqwest::blocking::RequestBuilder {
        use cchc_common::auth::{DEVICE_HEADER, NONCE_HEADER, SIGNATURE_HEADER};
        let sig = self.key.sign("POST", path, self.device, nonce, &body);
        http.post(format!("{base}{path}"))
            .header(DEVICE_HEADER, self.device.to_string())
            .header(NONCE_HEADER, nonce.to_string())
            .header(SIGNATURE_HEADER, sig)
            .body(body)
    }

    /// Enrolls this key for `unit` with a code, over HTTPS; returns the status.
    pub fn enroll(&self, hub: &Hub, unit: u32, code: &str) -> u16 {
        let req = cchc_common::auth::EnrollRequest {
            protocol: 1,
            code: code.replace('-', ""),
            unit: cchc_common::UnitCode(unit),
            device: self.device,
            public_key: self.key.public(),
            agent_version: "test".into(),
        };
        self.post(
            &hub.client(None),
            &hub.url(),
            cchc_common::auth::ENROLL_PATH,
            1,
            serde_json::to_vec(&req).expect("serializes"),
        )
        .send()
        .expect("enroll request")
        .status()
        .as_u16()
    }
}

/// The province's offline release kit: a release key and a root of trust made with
/// `cchc-hub release keygen` and `release root` (no hub involved), and the signing of
/// bundles with them.
pub struct ReleaseKit {
    /// Folder of the kit.
    pub dir: PathBuf,
    /// The release key file.
    pub key: PathBuf,
    /// The signed root file (version 1, threshold 1).
    pub root: PathBuf,
}

impl ReleaseKit {
    /// Makes a key and a first root in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ReleaseKit {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).expect("kit folder");
        let key = dir.join("release.key");
        let root = dir.join("root-v1.json");
        let kit = ReleaseKit { dir, key, root };
        kit.ok(&["release", "keygen", "--out", path(&kit.key)]);
        kit.ok(&[
            "release",
            "root",
            "--key",
            path(&kit.key),
            "--out",
            path(&kit.root),
        ]);
        kit
    }

    /// An offline `cchc-hub` command (no data directory used).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("cchc-hub"));
        c.args(["--lang", "en"])
            .args(args)
            .env_remove("CCHC_LANG")
            .env_remove("CCHC_HUB_DIR")
            .stdin(Stdio::null());
        c
    }

    /// Runs an offline command that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("cchc-hub runs");
        assert!(out.status.success(), "{}", describe(&args.join(" "), &out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Makes `hub` trust this kit's root (before agents enroll, so they pin it).
    pub fn trust(&self, hub: &Hub) {
        hub.ok(&["release", "trust", path(&self.root)]);
    }

    /// Signs a definitions file into a bundle beside it; returns the bundle.
    pub fn sign_definitions(&self, file: &Path) -> PathBuf {
        let out = file.with_extension("bundle");
        self.ok(&[
            "release",
            "sign",
            "--key",
            path(&self.key),
            "--definitions",
            path(file),
            "--out",
            path(&out),
        ]);
        out
    }

    /// Signs an agent build into a bundle; returns the bundle.
    pub fn sign_agent(&self, file: &Path, version: &str, out: &Path) -> PathBuf {
        self.ok(&[
            "release",
            "sign",
            "--key",
            path(&self.key),
            "--file",
            path(file),
            "--version",
            version,
            "--platform",
            &cchc_common::update::this_platform(),
            "--out",
            path(out),
        ]);
        out.to_path_buf()
    }
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Installs a build as a release would ship it: a copy without debug information
/// (`strip`, from binutils beside gcc), executable, at `to`.
pub fn install_build(from: &Path, to: &Path) {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).expect("install folder");
    }
    let status = Command::new("strip")
        .arg("-o")
        .arg(to)
        .arg(from)
        .status()
        .expect("strip runs (binutils)");
    assert!(status.success(), "strip {} failed", from.display());
}

/// Polls `cond` every 100 ms until it holds or `secs` pass; panics with `what` (and
/// the last value seen) when it never does.
pub fn wait_for<T: std::fmt::Debug>(
    what: &str,
    secs: u64,
    mut probe: impl FnMut() -> T,
    cond: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let v = probe();
        if cond(&v) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not reached within {secs} s; last seen: {v:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// What an attacker with the hub's database can do: put any release row, any file
/// and any rollout in it.
pub fn plant_release(
    hub: &Hub,
    meta: &cchc_common::release::Signed<cchc_common::release::Release>,
    file: &[u8],
    platform_column: &str,
) {
    let v = meta.signed.version.to_string();
    let rel = format!("releases/planted-{v}");
    std::fs::create_dir_all(hub.dir.join("releases")).unwrap();
    std::fs::write(hub.dir.join(&rel), file).unwrap();
    use cchc_sql::Db;
    let db = hub.database();
    db.exec(
        "INSERT INTO releases (version, platform, meta, file, sha256, published_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0)",
        cchc_sql::args![
            v,
            platform_column,
            serde_json::to_string(meta).unwrap(),
            rel,
            meta.signed.target.sha256
        ],
    )
    .unwrap();
    db.exec(
        "INSERT INTO rollouts (version, state, reason, halt_at_percent, min_reports, soak_s,
         started_at, updated_at) VALUES (?1, 'running', NULL, 100, 1000, 1, 0, 0)",
        cchc_sql::args![v],
    )
    .unwrap();
    db.exec(
        "INSERT INTO rollout_stages (version, stage, scope, started_at)
         VALUES (?1, 1, '{\"scope\":\"all\"}', 0)",
        cchc_sql::args![v],
    )
    .unwrap();
}
