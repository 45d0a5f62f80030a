//! `cargo run --release -p cchc-bench --bin update-bench [-- --agents N] [--quick]`: what it
//! costs to deliver a release to N agents (default 100), measured in one run against
//! the release binaries: two real builds of one source (`cchc-agent` and
//! `cchc-agent-next`), a real hub on loopback HTTPS, N real `cchc-agent run`
//! processes, each from an install of its own. Not a test: nothing here asserts a
//! time or a size.
//!
//! Two rounds on two hubs: the full file to every agent, then a bsdiff delta from the
//! build they run. Printed: the agent binary's size, the delta's, bytes delivered in
//! all, and the time from `release rollout --all` until every agent reports its new
//! build installed (health check passed) and healthy (after a one-second soak).

use cchc_bench::must;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Delivering a release to N agents, full file then delta.
#[derive(clap::Parser)]
#[command(name = "update-bench")]
struct Opts {
    /// Agents updated in each round.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Two agents on the debug build, the full file only (a bsdiff of a debug build
    /// takes minutes): only shows the bench still runs (CI).
    #[arg(long)]
    quick: bool,
}

struct Hub {
    bin: PathBuf,
    dir: PathBuf,
    serve: Child,
    url: String,
}

impl Hub {
    fn cmd(&self, args: &[&str]) -> String {
        must(
            Command::new(&self.bin)
                .arg("--data-dir")
                .arg(&self.dir)
                .args(["--lang", "en"])
                .args(args),
        )
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.cmd(&["release", "status", "--json"])).expect("json")
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

fn start_hub(bin: &Path, dir: &Path, root: &Path) -> Hub {
    must(
        Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--lang",
                "en",
                "init",
                "--province",
                "all",
                "--release-root",
            ])
            .arg(root),
    );
    let mut serve = Command::new(bin)
        .arg("--data-dir")
        .arg(dir)
        .args(["--lang", "en", "serve", "--listen", "127.0.0.1:0"])
        .args(["--rate-guesses", "100000", "--rate-ip", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("hub starts");
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(serve.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("hub says where it listens");
    let addr = line
        .trim()
        .rsplit("https://")
        .next()
        .expect("listening on https://ADDR")
        .to_string();
    let port = addr.rsplit(':').next().expect("port");
    Hub {
        bin: bin.to_path_buf(),
        dir: dir.to_path_buf(),
        serve,
        url: format!("https://localhost:{port}"),
    }
}

/// One round: N agents on the old build, the new one rolled out to all.
fn round(
    bins: &Path,
    tmp: &Path,
    root: &Path,
    key: &Path,
    agents: usize,
    delta: bool,
) -> (Duration, Duration, u64, u64) {
    let hub_bin = bins.join("cchc-hub");
    let hub = start_hub(&hub_bin, &tmp.join("hub"), root);
    let communes: Vec<u32> = cchc_common::UnitCatalog::builtin()
        .communes()
        .take(agents)
        .map(|c| c.code.0)
        .collect();
    let ca = hub.dir.join("tls/ca.pem");
    let mut runs = Vec::new();
    for (i, unit) in communes.iter().enumerate() {
        let install = tmp.join(format!("install-{i}"));
        std::fs::create_dir_all(&install).expect("install dir");
        let exe = install.join("cchc-agent");
        std::fs::copy(bins.join("cchc-agent"), &exe).expect("install");
        let code: serde_json::Value = serde_json::from_str(&hub.cmd(&[
            "enroll",
            "create",
            "--unit",
            &unit.to_string(),
            "--json",
        ]))
        .expect("code");
        let data = tmp.join(format!("data-{i}"));
        let agent = |args: &[&str]| {
            let mut c = Command::new(&exe);
            c.arg("--data-dir")
                .arg(&data)
                .args(["--lang", "en"])
                .args(args);
            c
        };
        must(
            agent(&[
                "init",
                "--unit",
                &unit.to_string(),
                "--hub",
                &hub.url,
                "--ca",
            ])
            .arg(&ca)
            .args(["--code", code["code"].as_str().expect("code")]),
        );
        let run = agent(&["run", "--interval", "2", "--settle-ms", "100"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("agent runs");
        runs.push(run);
    }
    let sign = |file: &Path, version: &str, out: &Path| {
        must(
            Command::new(&hub_bin)
                .args(["--lang", "en", "release", "sign", "--key"])
                .arg(key)
                .arg("--file")
                .arg(file)
                .args(["--version", version, "--platform"])
                .arg(cchc_common::update::this_platform())
                .arg("--out")
                .arg(out),
        );
        hub.cmd(&["release", "publish", out.to_str().expect("utf-8")]);
    };
    if delta {
        sign(&bins.join("cchc-agent"), "0.1.0", &tmp.join("base.bundle"));
    }
    sign(
        &bins.join("cchc-agent-next"),
        "0.2.0",
        &tmp.join("next.bundle"),
    );
    let t0 = Instant::now();
    hub.cmd(&[
        "release",
        "rollout",
        "--version",
        "0.2.0",
        "--all",
        "--soak",
        "1s",
    ]);
    let mut installed_at = None;
    let deadline = t0 + Duration::from_secs(1800);
    let doc = loop {
        let doc = hub.status();
        let totals = &doc["rollouts"][0]["totals"];
        if installed_at.is_none() && totals["installed"] == agents {
            installed_at = Some(t0.elapsed());
        }
        if totals["healthy"] == agents {
            break doc;
        }
        assert!(
            Instant::now() < deadline,
            "not every agent updated: {totals}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let healthy = t0.elapsed();
    let mut bytes = 0u64;
    let mut per_agent = 0u64;
    for stage in doc["rollouts"][0]["stages"].as_array().expect("stages") {
        for d in stage["devices"].as_array().expect("devices") {
            let n: u64 = d["detail"]
                .as_str()
                .and_then(|s| s.split(" of ").nth(1))
                .and_then(|s| s.trim_end_matches(" bytes").parse().ok())
                .expect("a download says its size");
            bytes += n;
            per_agent = n;
        }
    }
    for mut r in runs {
        let _ = r.kill();
        let _ = r.wait();
    }
    (installed_at.unwrap_or(healthy), healthy, bytes, per_agent)
}

fn main() {
    let opts = <Opts as clap::Parser>::parse();
    let agents = if opts.quick { 2 } else { opts.agents };
    cchc_bench::quick_banner(opts.quick);
    let bins = cchc_bench::build(opts.quick, &["cchc-agent", "cchc-hub", "cchc-agent-next"]);
    let tmp = std::env::temp_dir().join(format!("cchc-update-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let hub_bin = bins.join("cchc-hub");
    let key = tmp.join("release.key");
    let root = tmp.join("root.json");
    must(
        Command::new(&hub_bin)
            .args(["release", "keygen", "--out"])
            .arg(&key),
    );
    must(
        Command::new(&hub_bin)
            .args(["release", "root", "--key"])
            .arg(&key)
            .arg("--out")
            .arg(&root),
    );
    let size = std::fs::metadata(bins.join("cchc-agent"))
        .expect("agent")
        .len();
    let next = std::fs::metadata(bins.join("cchc-agent-next"))
        .expect("next")
        .len();
    println!(
        "agent binary ({}): {size} bytes (the next build: {next} bytes)",
        if opts.quick { "debug" } else { "release" }
    );
    let full_dir = tmp.join("full");
    let (f_inst, f_ok, f_bytes, f_each) = round(&bins, &full_dir, &root, &key, agents, false);
    println!(
        "full file to {agents} agents: {f_each} bytes each, {f_bytes} bytes in all; \
         all installed in {:.1} s, all healthy (1 s soak) in {:.1} s",
        f_inst.as_secs_f64(),
        f_ok.as_secs_f64()
    );
    if opts.quick {
        let _ = std::fs::remove_dir_all(&tmp);
        return;
    }
    let delta_dir = tmp.join("delta");
    let (d_inst, d_ok, d_bytes, d_each) = round(&bins, &delta_dir, &root, &key, agents, true);
    println!(
        "delta to {agents} agents: {d_each} bytes each, {d_bytes} bytes in all; \
         all installed in {:.1} s, all healthy (1 s soak) in {:.1} s",
        d_inst.as_secs_f64(),
        d_ok.as_secs_f64()
    );
    println!(
        "delta / full: {:.4} of the bytes ({:.0}× fewer)",
        d_bytes as f64 / f_bytes.max(1) as f64,
        f_bytes as f64 / d_bytes.max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
