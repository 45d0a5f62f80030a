//! The demo. In: nothing but the built binaries. Out: a data directory with several
//! real agent installs, and a printed walk-through of what they hold.

use cchc_common::{Date, Period, UnitCatalog, UnitCode};
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs the demo.
pub fn run(dir: Option<PathBuf>) -> Result<(), String> {
    let bin = agent_bin()?;
    let root = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("cchc-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let units = UnitCatalog::builtin();
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
    for d in &desks {
        if !d.dir.join("agent.db").exists() {
            agent(&bin, d, &["init", "--unit", &d.unit.to_string()])?;
        }
        let u = units.commune(UnitCode(d.unit)).map_err(|e| e.to_string())?;
        println!("  {:<16} {} ({})", d.name, u.name, u.code);
    }

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
                    &bin,
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
                    ],
                )?;
            }
        }
    }
    // A correction on desk 2: two dossiers were typed twice.
    let out = agent(
        &bin,
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
            &bin,
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
            &bin,
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

    println!("\n== Hai bàn tiếp dân của Phường Hoàn Kiếm trao đổi dữ liệu qua tệp (USB)");
    let b1 = root.join("ban-1.json");
    let b2 = root.join("ban-2.json");
    print!(
        "  ban-1: {}",
        agent(
            &bin,
            &desks[0],
            &["bundle", "export", "--out", b1.to_str().unwrap_or_default()]
        )?
    );
    print!(
        "  ban-2: {}",
        agent(
            &bin,
            &desks[1],
            &["bundle", "import", b1.to_str().unwrap_or_default()]
        )?
    );
    // Desk 2 now sees the pledge and reports progress on it.
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
        agent(&bin, &desks[1], &args)?;
    }
    print!(
        "  ban-2: {}",
        agent(
            &bin,
            &desks[1],
            &[
                "bundle",
                "export",
                "--out",
                b2.to_str().unwrap_or_default(),
                "--since",
                b1.to_str().unwrap_or_default()
            ]
        )?
    );
    print!(
        "  ban-1: {}",
        agent(
            &bin,
            &desks[0],
            &["bundle", "import", b2.to_str().unwrap_or_default()]
        )?
    );

    println!(
        "\n== Phường Hoàn Kiếm, bàn 1, sau khi hợp nhất (cchc-agent show --period {this_month})\n"
    );
    print!(
        "{}",
        agent(
            &bin,
            &desks[0],
            &["show", "--period", &this_month.to_string()]
        )?
    );
    let v1 = agent(&bin, &desks[0], &["show", "--json"])?;
    let v2 = agent(&bin, &desks[1], &["show", "--json"])?;
    println!(
        "\n== Hai bàn {} cùng một dữ liệu.",
        if v1 == v2 { "đã có" } else { "CHƯA có" }
    );
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
        "  {} --data-dir {} catalog",
        bin.display(),
        desks[2].dir.display()
    );
    println!("\nMáy chủ tỉnh (đồng bộ qua HTTPS, tổng hợp toàn tỉnh) sẽ tham gia bản demo khi tính năng đồng bộ hoàn thành.");
    println!("The provincial hub (HTTPS sync, province roll-up) joins this demo when the sync issue lands.");
    if v1 != v2 {
        return Err("the two desks of Phường Hoàn Kiếm did not converge".into());
    }
    Ok(())
}
