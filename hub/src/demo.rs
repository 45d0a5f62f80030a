//! The demo (README's first command). In: nothing but the built binaries. Out: a real
//! hub for Hà Nội serving HTTPS on loopback, real agent processes for three of its
//! communes (two desks in one station) that record offline and then sync through the
//! hub, and a printed walk-through of the province's status and figures.

use crate::admin::{self, Actor};
use crate::clock::now_ms;
use crate::store::sql::SqlStore;
use crate::store::Role;
use crate::views;
use cchc_common::{Date, Lang, Period, UnitCatalog, UnitCode};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Finds `cchc-agent` next to this executable, building it with cargo when run from a
/// checkout (`cargo run -p cchc-hub -- demo`).
fn agent_bin() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("no executable directory")?;
    let bin = dir.join(format!("cchc-agent{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = dir.ends_with("release");
        let mut c = Command::new(cargo);
        c.args(["build", "-q", "-p", "cchc-agent"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            c.arg("--release");
        }
        let ok = c.status().map(|s| s.success()).unwrap_or(false);
        if !ok || !bin.exists() {
            return Err(format!(
                "cchc-agent is not installed next to {} and could not be built",
                exe.display()
            ));
        }
    }
    Ok(bin)
}

struct Desk {
    name: &'static str,
    unit: u32,
    dir: PathBuf,
}

fn agent(bin: &Path, desk: &Desk, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(&desk.dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "`cchc-agent {}` on {} failed: {}{}",
            args.join(" "),
            desk.name,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// Runs the demo; unless `no_wait`, then keeps the hub's dashboard and one desk's
/// officer page serving until Ctrl-C (or SIGTERM).
pub fn run(dir: Option<PathBuf>, no_wait: bool) -> Result<(), String> {
    let bin = agent_bin()?;
    let root = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("cchc-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let hub_dir = root.join("hub");
    let mut hub = HubProcess::start(&hub_dir)?;
    let result = walk_through(&bin, &root, &hub_dir, &hub.url);
    let result = match result {
        Ok(password) if !no_wait => serve_both(&bin, &root.join(UI_DESK), &hub.url, &password),
        other => other.map(|_| ()),
    };
    hub.stop();
    result
}

/// The desk whose officer page the demo keeps open.
const UI_DESK: &str = "hoan-kiem-ban-1";

/// Starts the desk's resident `run` with its page, prints both addresses and the
/// sign-in, and waits for Ctrl-C; then stops the desk (the caller stops the hub).
fn serve_both(bin: &Path, desk: &Path, hub_url: &str, password: &str) -> Result<(), String> {
    let mut run = Command::new(bin)
        .arg("--data-dir")
        .arg(desk)
        .args(["run", "--ui", "127.0.0.1:0", "--interval", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = run.stdout.take().ok_or("no agent output")?;
    let mut lines = BufReader::new(stdout).lines();
    // `run` says where its page is before anything else it does.
    let ui = lines.by_ref().take(20).map_while(|l| l.ok()).find_map(|l| {
        l.split_once("http://")
            .map(|(_, u)| format!("http://{}", u.trim()))
    });
    // Its later lines are not the demo's; drained so the pipe never fills.
    std::thread::spawn(move || lines.for_each(drop));
    let Some(ui) = ui else {
        let _ = run.kill();
        let _ = run.wait();
        return Err("the desk's officer page did not start".into());
    };
    println!("\n== Đang phục vụ / serving — nhấn Ctrl-C để dừng / press Ctrl-C to stop\n");
    println!("  Bảng điều hành của tỉnh / the province's dashboard: {hub_url}/");
    println!("    đăng nhập / sign in: admin / {password}  (chứng chỉ tự cấp của demo / the demo's own certificate)");
    println!("  Trang cho cán bộ xã (Phường Hoàn Kiếm, bàn 1) / a desk's officer page: {ui}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(crate::server::wait_for_signal());
    println!("\n== Dừng / stopping.");
    stop_child(&mut run);
    Ok(())
}

/// SIGTERM for a clean stop where `kill` exists; SIGKILL is safe too (WAL).
fn stop_child(child: &mut Child) {
    let termed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !termed {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// The hub's `serve` process, stopped cleanly at the end.
struct HubProcess {
    child: Child,
    url: String,
}

impl HubProcess {
    fn start(dir: &Path) -> Result<HubProcess, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        if !dir.join("hub.db").exists() {
            let out = Command::new(&exe)
                .arg("--data-dir")
                .arg(dir)
                .args(["init", "--province", "1"])
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        let mut child = Command::new(&exe)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the hub: {e}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no hub output")?;
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        // Whatever the hub says later is drained, so it never writes into a closed or
        // full pipe while the demo keeps it serving.
        std::thread::spawn(move || reader.lines().for_each(drop));
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| format!("the hub did not start: {line}"))?;
        Ok(HubProcess {
            child,
            url: format!("https://localhost:{port}"),
        })
    }

    fn stop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// The walk-through; returns the demo admin's password.
fn walk_through(bin: &Path, root: &Path, hub_dir: &Path, hub_url: &str) -> Result<String, String> {
    let units = UnitCatalog::builtin();
    let ca = hub_dir.join("tls").join("ca.pem");
    let ca = ca.to_str().ok_or("non-UTF-8 path")?;
    let desks = [
        Desk {
            name: "hoan-kiem-ban-1",
            unit: 70,
            dir: root.join("hoan-kiem-ban-1"),
        },
        Desk {
            name: "hoan-kiem-ban-2",
            unit: 70,
            dir: root.join("hoan-kiem-ban-2"),
        },
        Desk {
            name: "cua-nam",
            unit: 73,
            dir: root.join("cua-nam"),
        },
        Desk {
            name: "ba-dinh",
            unit: 4,
            dir: root.join("ba-dinh"),
        },
    ];
    println!(
        "== cchc demo: Công an cấp xã, Thành phố Hà Nội — dữ liệu tại {}\n",
        root.display()
    );
    println!("  Máy chủ tỉnh (hub): {hub_url}  (CA: {ca})\n");
    // The province hands each desk a one-time code (cchc-hub enroll create); the
    // officer types it once at init and the desk is enrolled for its commune only.
    let store = SqlStore::open(&hub_dir.join("hub.db")).map_err(|e| e.to_string())?;
    let admin = Actor {
        name: "cli:demo".into(),
        ip: None,
    };
    println!("== Đăng ký máy bằng mã dùng một lần do Công an tỉnh cấp (cchc-hub enroll create)");
    for d in &desks {
        let (code, _) = admin::create_code(&store, UnitCode(d.unit), 86_400_000, &admin, now_ms())
            .map_err(|e| e.to_string())?;
        agent(
            bin,
            d,
            &[
                "init",
                "--unit",
                &d.unit.to_string(),
                "--hub",
                hub_url,
                "--ca",
                ca,
                "--code",
                &code,
            ],
        )?;
        let u = units.commune(UnitCode(d.unit)).map_err(|e| e.to_string())?;
        println!("  {:<16} {} ({}) — mã {code}", d.name, u.name, u.code);
    }
    let password = crate::auth::new_token()
        .map(|(t, _)| t[..16].to_string())
        .map_err(|e| e.to_string())?;
    admin::add_user(
        &store,
        "admin",
        "Quản trị demo",
        Role::Admin,
        &password,
        &admin,
        now_ms(),
    )
    .map_err(|e| e.to_string())?;
    drop(store);

    let today = Date::from_unix_ms_vn(now_ms());
    let this_month = today.month_period();
    let last_month = match this_month {
        Period::Month(y, 1) => Period::Month(y - 1, 12),
        Period::Month(y, m) => Period::Month(y, m - 1),
        p => p,
    };
    // Realistic monthly figures per desk: residence, ID cards, vehicles.
    let figures: [(&str, [u32; 6]); 4] = [
        ("CT-01", [18, 16, 1, 1, 9, 17]),
        ("CT-02", [42, 40, 0, 2, 30, 41]),
        ("CC-01", [65, 63, 0, 2, 12, 64]),
        ("DX-01", [27, 25, 1, 1, 20, 26]),
    ];
    println!("\n== Ghi số liệu (không cần mạng), kỳ {last_month} và {this_month}");
    for (i, d) in desks.iter().enumerate() {
        for (k, period) in [last_month, this_month].iter().enumerate() {
            for (proc_, f) in &figures {
                let scale = |x: u32| ((x as usize * (2 + i + k)) / 3).to_string();
                agent(
                    bin,
                    d,
                    &[
                        "record",
                        "--period",
                        &period.to_string(),
                        "--procedure",
                        proc_,
                        "--received",
                        &scale(f[0]),
                        "--on-time",
                        &scale(f[1]),
                        "--late",
                        &scale(f[2]),
                        "--pending",
                        &scale(f[3]),
                        "--online",
                        &scale(f[4]),
                        "--satisfied",
                        &scale(f[5]),
                        "--unsatisfied",
                        &scale(f[0] - f[5]),
                    ],
                )?;
            }
        }
    }
    // A correction on desk 2: two dossiers were typed twice.
    let out = agent(
        bin,
        &desks[1],
        &[
            "record",
            "--period",
            &this_month.to_string(),
            "--procedure",
            "CT-02",
            "--received",
            "2",
            "--correct",
        ],
    )?;
    print!("  {}: {out}", desks[1].name);

    println!("\n== Cam kết và tự đánh giá");
    let year = today.year().to_string();
    let heads = [
        ("Nguyễn Văn Hùng", 0usize),
        ("Trần Thị Lan", 2),
        ("Lê Minh Tuấn", 3),
    ];
    for (signer, idx) in heads {
        let out = agent(
            bin,
            &desks[idx],
            &[
                "pledge",
                "add",
                "--year",
                &year,
                "--signer",
                signer,
                "--role",
                "Trưởng Công an phường",
                "--task",
                "Niêm yết công khai, đầy đủ 100% thủ tục hành chính tại bộ phận một cửa",
                "--task",
                "Nâng tỷ lệ hồ sơ trực tuyến toàn trình lên trên 80%",
                "--task",
                "Không để hồ sơ quá hạn; xin lỗi người dân khi trễ hẹn",
                "--task",
                "Hướng dẫn người dân kích hoạt tài khoản định danh điện tử mức độ 2",
                "--task",
                "Khảo sát sự hài lòng của người dân hằng tháng",
                "--task",
                "Số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
            ],
        )?;
        print!("  {}: {out}", desks[idx].name);
    }
    let scores = [
        ("TC-01", "14"),
        ("TC-02", "10"),
        ("TC-03", "18,5"),
        ("TC-04", "12"),
        ("TC-05", "19"),
        ("TC-06", "9,5"),
        ("TC-07", "9"),
    ];
    for (c, s) in scores {
        agent(
            bin,
            &desks[0],
            &[
                "assess",
                "--phase",
                "1",
                "--criterion",
                c,
                "--score",
                s,
                "--evidence",
                "Biên bản tự kiểm tra",
            ],
        )?;
    }

    println!("\n== Đồng bộ với máy chủ tỉnh qua HTTPS khi có mạng (cchc-agent sync)");
    for d in &desks {
        print!("  {}: {}", d.name, agent(bin, d, &["sync"])?);
    }
    // Desk 2 of Hoàn Kiếm received the pledge signed at desk 1 through the hub, and
    // reports progress on it.
    for (task, status) in [("1", "done"), ("2", "in_progress")] {
        let args = [
            "pledge",
            "task",
            "--year",
            &year,
            "--signer",
            "Nguyễn Văn Hùng",
            "--task",
            task,
            "--status",
            status,
        ];
        agent(bin, &desks[1], &args)?;
    }
    print!("  {}: {}", desks[1].name, agent(bin, &desks[1], &["sync"])?);
    print!("  {}: {}", desks[0].name, agent(bin, &desks[0], &["sync"])?);

    println!(
        "\n== Phường Hoàn Kiếm, bàn 1, sau khi hợp nhất (cchc-agent show --period {this_month})\n"
    );
    print!(
        "{}",
        agent(
            bin,
            &desks[0],
            &["show", "--period", &this_month.to_string()]
        )?
    );
    let v1 = agent(bin, &desks[0], &["show", "--json"])?;
    let v2 = agent(bin, &desks[1], &["show", "--json"])?;
    println!(
        "\n== Hai bàn {} cùng một dữ liệu.",
        if v1 == v2 { "đã có" } else { "CHƯA có" }
    );

    let store = SqlStore::open(&hub_dir.join("hub.db")).map_err(|e| e.to_string())?;
    let mut status = views::status_doc(&store).map_err(|e| e.to_string())?;
    status.communes.retain(|c| c.devices > 0);
    println!("\n== Máy chủ tỉnh: tình hình đồng bộ (cchc-hub status, các xã đã đồng bộ)\n");
    print!("{}", views::status_text(&status, Lang::Vi));
    let report = views::report_doc(&store, this_month).map_err(|e| e.to_string())?;
    println!("\n== Máy chủ tỉnh: số liệu thủ tục kỳ {this_month} (cchc-hub report)\n");
    print!("{}", views::report_text(&report, Lang::Vi));

    let hub_exe = std::env::current_exe().map_err(|e| e.to_string())?;
    println!("\nThử tiếp / try next:");
    println!(
        "  {} --data-dir {} status",
        bin.display(),
        desks[0].dir.display()
    );
    println!(
        "  {} --data-dir {} --lang en show",
        bin.display(),
        desks[1].dir.display()
    );
    println!(
        "  {} --data-dir {} report --period {this_month} --json",
        hub_exe.display(),
        hub_dir.display()
    );
    println!(
        "  {} --data-dir {} device list   (máy đã đăng ký / enrolled devices)",
        hub_exe.display(),
        hub_dir.display()
    );
    println!(
        "  {} --data-dir {} audit   (nhật ký kiểm tra / audit log)",
        hub_exe.display(),
        hub_dir.display()
    );
    println!(
        "  {} --data-dir {} serve --listen 127.0.0.1:8443   (then: cchc-agent run)",
        hub_exe.display(),
        hub_dir.display()
    );
    println!(
        "  POST https://localhost:8443/api/v1/login — tài khoản quản trị / admin account: admin / {password}"
    );
    if v1 != v2 {
        return Err("the two desks of Phường Hoàn Kiếm did not converge".into());
    }
    Ok(password)
}
