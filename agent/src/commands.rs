//! One function per command. In: parsed command-line arguments. Out: validated
//! values handed to the store as one transaction per user action, and the result
//! printed (human text in the officer's language, or stable JSON).
//! "Saved" is printed only after the transaction has committed.

use crate::bundle;
use crate::clock::{now_ms, today, CLOCK_WARN_MS};
use crate::error::{AgentError, Result};
use crate::present;
use crate::store::Store;
use crate::{key, sync};
use crate::{
    AssessArgs, AssessCmd, BundleCmd, Cli, Command, InitArgs, PledgeCmd, RecordArgs, RunArgs,
};
use cchc_common::auth::normalize_code;
use cchc_common::crdt;
use cchc_common::op::TaskStatus;
use cchc_common::state::VersionVector;
use cchc_common::{ActorId, Date, DomainError, Lang, Metric, Period, Score, UnitCatalog, UnitCode};
use std::path::{Path, PathBuf};

/// The data directory: `--data-dir` (or `CCHC_DATA_DIR`, which clap reads into it);
/// else the machine-wide one when it holds an install — where the service keeps the
/// station's data, so the officer's own commands and page see the same data as the
/// service; else this user's own.
fn data_dir(cli: &Option<PathBuf>) -> PathBuf {
    match cli {
        Some(d) => d.clone(),
        None => {
            let machine = machine_dir();
            if db_path(&machine).exists() {
                machine
            } else {
                user_data_dir()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("cchc-agent")
            }
        }
    }
}

/// This user's own data directory: `%LOCALAPPDATA%` on Windows, `$XDG_DATA_HOME` (or
/// `~/.local/share`) on Linux, `~/Library/Application Support` on macOS. Read here, not
/// through the `dirs` crate: its Windows part imports `CoTaskMemFree` from combase.dll,
/// which Windows 7 lacks, so the program would not even start there.
fn user_data_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|h| h.join("Library").join("Application Support"))
    } else {
        var("XDG_DATA_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| h.join(".local").join("share")))
    }
}

/// The machine-wide data directory: `%ProgramData%\cchc-agent` on Windows,
/// `/var/lib/cchc-agent` elsewhere; `CCHC_MACHINE_DATA_DIR` moves it (packagers).
pub fn machine_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CCHC_MACHINE_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if cfg!(windows) {
        std::env::var_os("ProgramData")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
            .join("cchc-agent")
    } else {
        PathBuf::from("/var/lib/cchc-agent")
    }
}

/// The database file of a data directory.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("agent.db")
}

pub(crate) fn open(dir: &Path) -> Result<Store> {
    let path = db_path(dir);
    if !path.exists() {
        return Err(AgentError::NotInitialised {
            dir: dir.to_path_buf(),
        });
    }
    Store::open(&path)
}

/// A whole count as typed (`12`), named by its field in the message.
pub fn whole(field: &str, input: &str) -> Result<u64, DomainError> {
    let s = input.trim();
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::BadCount {
            field: field.to_string(),
            input: input.to_string(),
        });
    }
    s.parse().map_err(|_| DomainError::BadCount {
        field: field.to_string(),
        input: input.to_string(),
    })
}

pub fn year(input: &str) -> Result<i32, DomainError> {
    use cchc_common::period::{MAX_YEAR, MIN_YEAR};
    let y = i32::try_from(whole("year", input)?).unwrap_or(i32::MAX);
    if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
        return Err(DomainError::YearRange {
            year: y,
            min: MIN_YEAR,
            max: MAX_YEAR,
        });
    }
    Ok(y)
}

/// Runs one command.
pub fn run(cli: Cli, lang: Lang) -> Result<()> {
    // The service keeps the station's data machine-wide, whoever installs it.
    let dir = match (&cli.command, &cli.data_dir) {
        (Command::Service(_), None) => machine_dir(),
        _ => data_dir(&cli.data_dir),
    };
    match cli.command {
        Command::Init(a) => init(&dir, a, lang),
        Command::Record(a) => record(&dir, a, lang),
        Command::Pledge(p) => pledge(&dir, p, lang),
        Command::Assess(a) => assess(&dir, a, lang),
        Command::Show(a) => {
            let period = a.period.as_deref().map(str::parse::<Period>).transpose()?;
            let mut store = open(&dir)?;
            let view = store.view(period)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&view).expect("view serializes")
                );
            } else {
                print!(
                    "{}",
                    present::state(&view, &store.definitions()?, &unit_label(&store)?, lang)
                );
            }
            Ok(())
        }
        Command::Catalog(j) => {
            let store = open(&dir)?;
            let defs = store.definitions()?;
            if j.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&defs.catalog_json()).expect("catalog serializes")
                );
            } else {
                print!("{}", present::catalog(&defs, lang));
            }
            Ok(())
        }
        Command::Status(j) => status(&dir, j.json, lang),
        Command::Diag(a) => {
            let f = crate::diag::disk(&dir, a.entries.clamp(2, 1_000_000))?;
            if a.json {
                println!("{}", serde_json::to_string(&f).expect("figures serialize"));
            } else {
                print!("{}", crate::diag::text(&f, lang));
            }
            Ok(())
        }
        Command::Check => {
            let mut store = open(&dir)?;
            let problems = store.check()?;
            if problems.is_empty() {
                println!(
                    "{}",
                    lang.pick(
                        "Cơ sở dữ liệu tốt: toàn vẹn, khớp với nhật ký.",
                        "Database ok: intact and consistent with the op log."
                    )
                );
                Ok(())
            } else {
                Err(AgentError::BadDatabase {
                    path: store.path().to_path_buf(),
                    detail: problems.join("; "),
                })
            }
        }
        Command::Bundle(b) => bundle_cmd(&dir, b, lang),
        Command::Sync(j) => sync_cmd(&dir, j.json, lang),
        Command::Update(crate::UpdateCmd::Status(j)) => {
            let store = open(&dir)?;
            let doc = crate::update::status(&dir, &store)?;
            if j.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&doc).expect("serializes")
                );
            } else {
                print!("{}", present::update_status(&doc, lang));
            }
            Ok(())
        }
        Command::Update(crate::UpdateCmd::Check(j)) => update_check(&dir, j.json, lang),
        Command::Ui(a) => {
            let addr = crate::ui::check_addr(&a.ui)?;
            let url = crate::ui::open_browser(addr, a.print)?;
            println!(
                "{} {url}",
                lang.pick("Trang cho cán bộ:", "Officers' page:")
            );
            Ok(())
        }
        Command::SelfTest => {
            Store::self_test(&db_path(&dir))?;
            println!(
                "cchc-agent self-test ok {} {}",
                crate::update::VERSION,
                cchc_common::update::this_platform()
            );
            Ok(())
        }
        Command::Run(a) => {
            // A bad --ui is refused before anything starts.
            let ui = ui_of(&a)?;
            let store = open(&dir)?;
            let next = crate::run::run(&dir, store, timing_of(&a), ui, lang, None)?;
            crate::run::restart_if_asked(next)
        }
        Command::Service(s) => crate::service::command(s, &dir, lang),
    }
}

/// The page's address of `run` (or of the service), checked: loopback only.
pub fn ui_of(a: &RunArgs) -> Result<Option<std::net::SocketAddr>> {
    if a.no_ui {
        Ok(None)
    } else {
        crate::ui::check_addr(&a.ui).map(Some)
    }
}

/// The loop's timing from `run`'s (or the service's) options.
pub fn timing_of(a: &RunArgs) -> crate::run::Timing {
    let ms = std::time::Duration::from_millis;
    crate::run::Timing {
        interval: std::time::Duration::from_secs(a.interval.max(1)),
        settle: ms(a.settle_ms),
        retry_min: ms(a.retry_min_ms.max(10)),
        retry_max: ms(a.retry_max_ms.max(a.retry_min_ms.max(10))),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AgentError::io("tokio runtime", e))
}

fn sync_cmd(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    let mut store = open(dir)?;
    let client = sync::Client::new(dir, &store)?;
    let rt = runtime()?;
    let summary = rt.block_on(sync::sync(&mut store, &client, now_ms))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("serializes")
        );
    } else {
        println!("{}", present::sync_summary(&summary, lang));
    }
    Ok(())
}

/// `update check`: a sync now, then the offer (if any) downloaded, checked and
/// self-tested; the resident `run` swaps it in at its next round.
fn update_check(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    use crate::update;
    let mut store = open(dir)?;
    let client = sync::Client::new(dir, &store)?;
    let rt = runtime()?;
    let mut summary = rt.block_on(sync::sync(&mut store, &client, now_ms))?;
    let offer = summary.offer.take();
    rt.block_on(update::after_sync(
        dir,
        &mut store,
        &client,
        offer,
        update::Mode::Stage,
        now_ms(),
    ))?;
    let doc = update::status(dir, &store)?;
    if json {
        #[derive(serde::Serialize)]
        struct Checked<'a> {
            sync: &'a sync::Summary,
            update: &'a update::StatusDoc,
        }
        let both = Checked {
            sync: &summary,
            update: &doc,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&both).expect("serializes")
        );
    } else {
        println!("{}", present::sync_summary(&summary, lang));
        print!("{}", present::update_status(&doc, lang));
    }
    Ok(())
}

/// Pins the hub: checks the address and the CA file, keeps a copy of the CA.
fn set_hub(dir: &Path, store: &mut Store, url: &str, ca: &Path) -> Result<String> {
    let url = sync::check_url(url)?;
    let pem = sync::read_ca(ca)?;
    let target = dir.join(sync::CA_FILE);
    let tmp = dir.join(format!("{}.tmp", sync::CA_FILE));
    std::fs::write(&tmp, &pem)
        .and_then(|_| std::fs::rename(&tmp, &target))
        .map_err(|e| AgentError::io(&target, e))?;
    store.set_meta("hub_url", &url)?;
    Ok(url)
}

/// Enrolls the device with the configured hub using a one-time code, creating its
/// key pair first if it has none. The code is not used up if the hub is unreachable.
fn enroll(dir: &Path, store: &mut Store, code: &str, lang: Lang) -> Result<()> {
    if !key::exists(dir) {
        key::create(dir)?;
    }
    let client = sync::Client::new(dir, store)?;
    let r = runtime()?.block_on(client.enroll(store, code))?;
    // The hub's release root is pinned here, once: from now on only a root it signs
    // replaces it. One that does not even vouch for itself is not pinned.
    if let Some(root) = &r.release_root {
        if store.release_root()?.is_none()
            && cchc_common::release::accept_first_root(root, now_ms()).is_ok()
        {
            store.set_release_root(root)?;
        }
    }
    store.set_meta("enrolled_at", &r.enrolled_ms.to_string())?;
    store.set_meta("enrolled_hub", client.url())?;
    println!(
        "{} {} ({}); {} {}",
        lang.pick(
            "Đã đăng ký máy với máy chủ tỉnh cho đơn vị",
            "Enrolled with the hub for commune"
        ),
        r.unit,
        client.url(),
        lang.pick("mã máy", "device"),
        r.device
    );
    Ok(())
}

fn unit_label(store: &Store) -> Result<String> {
    let id = store.identity()?;
    let name = store.get_meta("unit_name")?.unwrap_or_default();
    let province = store.get_meta("province_name")?.unwrap_or_default();
    Ok(format!("{} — {}, {}", id.unit, name, province))
}

fn init(dir: &Path, a: InitArgs, lang: Lang) -> Result<()> {
    let catalog = match &a.units_csv {
        None => UnitCatalog::builtin(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| AgentError::io(p, e))?;
            UnitCatalog::parse_csv(&text)?
        }
    };
    let code = UnitCode::parse(&a.unit)?;
    let unit = catalog.commune(code)?.clone();
    // A mistyped enrollment code is refused before anything is created.
    let enrollment = match &a.code {
        Some(c) => Some(normalize_code(c).map_err(|e| AgentError::BadCode(e.to_string()))?),
        None => None,
    };
    let path = db_path(dir);
    if path.exists() {
        let store = Store::open(&path)?;
        let id = store.identity()?;
        if id.unit != code {
            // A mistyped commune is corrected while nothing binds the install to it:
            // no entry of its own, no enrollment. Otherwise say exactly what to do.
            let (_, own) = store.op_counts()?;
            let enrolled = store.get_meta("enrolled_at")?.is_some();
            if own > 0 || enrolled {
                let (why, why_vi) = if own > 0 {
                    (
                        format!(
                            "holds {own} {} of its own",
                            if own == 1 { "entry" } else { "entries" }
                        ),
                        format!("đã có {own} bản ghi của chính máy này"),
                    )
                } else {
                    (
                        "is enrolled with the hub".to_string(),
                        "đã đăng ký với máy chủ tỉnh".to_string(),
                    )
                };
                return Err(AgentError::OtherUnit {
                    existing: id.unit.0,
                    requested: code.0,
                    device: id.actor.to_string(),
                    why,
                    why_vi,
                });
            }
            drop(store);
            forget_install(dir)?;
            println!(
                "{} {} → {}",
                lang.pick(
                    "Máy chưa có bản ghi nào và chưa đăng ký: đổi đơn vị",
                    "Nothing recorded and not enrolled: commune changed"
                ),
                id.unit,
                code
            );
            return init(dir, a, lang);
        }
        let mut store = store;
        if let (Some(url), Some(ca)) = (&a.hub, &a.ca) {
            let url = set_hub(dir, &mut store, url, ca)?;
            println!("{} {url}", lang.pick("Máy chủ tỉnh:", "Hub:"));
        }
        println!(
            "{} {} ({}); {} {}",
            lang.pick("Máy đã được khởi tạo cho", "Already initialised for"),
            unit.name,
            unit.code,
            lang.pick("mã máy", "device"),
            id.actor
        );
        if let Some(c) = &enrollment {
            enroll(dir, &mut store, c, lang)?;
        }
        return Ok(());
    }
    if let (Some(url), Some(ca)) = (&a.hub, &a.ca) {
        // Refuse a bad hub setting before anything is created.
        sync::check_url(url)?;
        sync::read_ca(ca)?;
    }
    create_private_dir(dir)?;
    let mut actor = 0u64;
    while actor == 0 {
        let mut buf = [0u8; 8];
        getrandom::getrandom(&mut buf)
            .map_err(|e| AgentError::io(dir, std::io::Error::other(e.to_string())))?;
        actor = u64::from_le_bytes(buf);
    }
    let mut store = Store::create(&path, code, ActorId(actor), now_ms())?;
    store.set_meta("unit_name", &unit.name)?;
    store.set_meta("province_name", &unit.province_name)?;
    store.set_meta("province_code", &unit.province_code.to_string())?;
    if let (Some(url), Some(ca)) = (&a.hub, &a.ca) {
        let url = set_hub(dir, &mut store, url, ca)?;
        println!("{} {url}", lang.pick("Máy chủ tỉnh:", "Hub:"));
    }
    println!(
        "{} {} ({}, {}).\n{} {}\n{} {}",
        lang.pick("Đã khởi tạo cho", "Initialised for"),
        unit.name,
        lang.pick(&format!("mã {}", unit.code), &format!("code {}", unit.code)),
        unit.province_name,
        lang.pick("Mã máy:", "Device:"),
        ActorId(actor),
        lang.pick("Dữ liệu:", "Data:"),
        path.display()
    );
    if let Some(c) = &enrollment {
        enroll(dir, &mut store, c, lang)?;
    }
    Ok(())
}

/// Removes an install that holds nothing of its own (a mistyped commune): the
/// database with its WAL, the unused key, the hub's CA copy.
fn forget_install(dir: &Path) -> Result<()> {
    let db = db_path(dir);
    let mut files = vec![db.clone()];
    for ext in ["-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(ext);
        files.push(PathBuf::from(p));
    }
    files.push(dir.join(sync::CA_FILE));
    files.push(key::path(dir));
    for f in files {
        match std::fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AgentError::io(&f, e)),
        }
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| AgentError::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| AgentError::io(dir, e))?;
    }
    Ok(())
}

/// The "entered by" name as typed (`--by` or the officers' page): trimmed, NFC, one
/// line, at most `text::BY_MAX` characters; empty when not given.
pub fn entered_by(input: Option<&str>) -> Result<String, DomainError> {
    let Some(v) = input else {
        return Ok(String::new());
    };
    let v = cchc_common::text::optional("entered by", v, cchc_common::text::BY_MAX)?;
    if v.contains(['\n', '\t']) {
        return Err(DomainError::ControlChars {
            field: "entered by",
        });
    }
    Ok(v)
}

fn record(dir: &Path, a: RecordArgs, lang: Lang) -> Result<()> {
    let mut store = open(dir)?;
    let period: Period = a.period.parse()?;
    period.check_not_future(today())?;
    let given = [
        (Metric::Received, &a.received),
        (Metric::OnTime, &a.on_time),
        (Metric::Late, &a.late),
        (Metric::Pending, &a.pending),
        (Metric::Rejected, &a.rejected),
        (Metric::Online, &a.online),
        (Metric::Satisfied, &a.satisfied),
        (Metric::Unsatisfied, &a.unsatisfied),
    ];
    let mut changes = Vec::new();
    for (m, v) in given {
        if let Some(v) = v {
            changes.push((m, whole(m.as_str(), v)?));
        }
    }
    let correct = a.correct;
    let procedure = a.procedure;
    let by = entered_by(a.by.as_deref())?;
    let ops = store.transact_local(now_ms(), |tx| {
        tx.entered_by(&by);
        tx.edit(|o, ctx, defs| {
            crdt::count_op(o, ctx, defs, period, &procedure, &changes, correct)
        })?;
        Ok(())
    })?;
    println!("{}", present::saved_count(&ops[0], lang));
    Ok(())
}

fn pledge(dir: &Path, cmd: PledgeCmd, lang: Lang) -> Result<()> {
    let mut store = open(dir)?;
    match cmd {
        PledgeCmd::Add {
            year: y,
            signer,
            role,
            date,
            tasks,
        } => {
            let y = year(&y)?;
            let date = match date {
                Some(d) => d.parse::<Date>()?,
                None => today(),
            };
            let ops = store.transact_local(now_ms(), |tx| {
                tx.edit(|_, ctx, _| Ok(crdt::pledge_sign_op(ctx, y, &signer, &role, date)?))?;
                for t in &tasks {
                    tx.edit(|o, ctx, _| crdt::task_add_op(o, ctx, y, &signer, t))?;
                }
                Ok(())
            })?;
            println!(
                "{} {} — {} ({}), {} {}",
                lang.pick("Đã lưu cam kết năm", "Saved pledge for"),
                y,
                signer.trim(),
                role.trim(),
                ops.len() - 1,
                lang.pick("nhiệm vụ mới", "new task(s)")
            );
        }
        PledgeCmd::Task {
            year: y,
            signer,
            add,
            task,
            status,
            remove,
        } => {
            let y = year(&y)?;
            let status = status
                .as_deref()
                .map(str::parse::<TaskStatus>)
                .transpose()?;
            let ops = store.transact_local(now_ms(), |tx| {
                if let Some(title) = &add {
                    tx.edit(|o, ctx, _| crdt::task_add_op(o, ctx, y, &signer, title))?;
                } else {
                    let task = task.as_deref().unwrap_or_default();
                    match (status, remove) {
                        (Some(s), false) => {
                            tx.edit(|o, ctx, _| crdt::task_status_op(o, ctx, y, &signer, task, s))?;
                        }
                        (None, true) => {
                            tx.edit(|o, ctx, _| crdt::task_remove_op(o, ctx, y, &signer, task))?;
                        }
                        _ => {
                            return Err(DomainError::EmptyText {
                                field: "--status / --remove",
                            }
                            .into())
                        }
                    }
                }
                Ok(())
            })?;
            println!("{}", present::saved_task(&ops[0], lang));
        }
        PledgeCmd::Show { year: y, json } => {
            let y = y.as_deref().map(year).transpose()?;
            let view = store.view(None)?;
            let pledges: Vec<_> = view
                .pledges
                .into_iter()
                .filter(|p| y.is_none_or(|y| p.year == y))
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "pledges": pledges }))
                        .expect("serializes")
                );
            } else {
                print!("{}", present::pledges(&pledges, lang));
            }
        }
    }
    Ok(())
}

fn assess(dir: &Path, a: AssessArgs, lang: Lang) -> Result<()> {
    let mut store = open(dir)?;
    if let Some(AssessCmd::Show { phase, json }) = a.show {
        let phase = phase
            .as_deref()
            .map(|p| whole("phase", p))
            .transpose()?
            .map(|p| p as u32);
        let defs = store.definitions()?;
        if let Some(p) = phase {
            defs.phase(p)?;
        }
        let view = store.view(None)?;
        let doc = present::assessment_doc(&view, &defs, phase);
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).expect("serializes")
            );
        } else {
            print!("{}", present::assessment(&doc, lang));
        }
        return Ok(());
    }
    let phase = a.phase.ok_or(DomainError::EmptyText { field: "--phase" })?;
    let phase = whole("phase", &phase)? as u32;
    let criterion = a.criterion.ok_or(DomainError::EmptyText {
        field: "--criterion",
    })?;
    let score = Score::parse(&a.score.ok_or(DomainError::EmptyText { field: "--score" })?)?;
    let evidence = a.evidence.unwrap_or_default();
    let by = entered_by(a.by.as_deref())?;
    let ops = store.transact_local(now_ms(), |tx| {
        tx.entered_by(&by);
        tx.edit(|_, ctx, defs| {
            Ok(crdt::assess_op(
                ctx, defs, phase, &criterion, score, &evidence,
            )?)
        })?;
        Ok(())
    })?;
    println!(
        "{}",
        present::saved_assessment(&ops[0], &store.definitions()?, lang)
    );
    // Scoring a phase other than the one the province assigned is allowed (a commune
    // prepares the next phase) but rarely meant: said, on stderr.
    if let Some(assigned) = store
        .get_meta("phase")?
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|p| *p != phase)
    {
        eprintln!(
            "{}",
            lang.pick(
                &format!("Lưu ý: tỉnh xếp đơn vị này ở giai đoạn {assigned}, điểm vừa lưu là của giai đoạn {phase}."),
                &format!("Note: the province assigned this commune to phase {assigned}; the score saved is for phase {phase}."),
            )
        );
    }
    Ok(())
}

fn status(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    let mut store = open(dir)?;
    let doc = status_doc(dir, &mut store)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serializes")
        );
    } else {
        print!("{}", present::status(&doc, lang));
    }
    Ok(())
}

/// The `status --json` document (also the officer UI's home page).
pub fn status_doc(dir: &Path, store: &mut Store) -> Result<serde_json::Value> {
    let id = store.identity()?;
    let (total, own) = store.op_counts()?;
    let hlc = store.clock()?;
    let now = now_ms();
    let peers = store.peer_clocks()?;
    let lead = hlc.lead_over(now.max(0) as u64) as i64;
    let last_sync: Option<i64> = store.get_meta("last_sync_ms")?.and_then(|v| v.parse().ok());
    let enrolled_at: Option<i64> = store.get_meta("enrolled_at")?.and_then(|v| v.parse().ok());
    let hub_offset: Option<i64> = store
        .get_meta("hub_clock_offset_ms")?
        .and_then(|v| v.parse().ok());
    let warn = lead > CLOCK_WARN_MS
        || peers.iter().any(|p| p.offset_ms.abs() > CLOCK_WARN_MS)
        || hub_offset.is_some_and(|o| o.abs() > CLOCK_WARN_MS);
    let doc = serde_json::json!({
        "unit": id.unit,
        "unit_name": store.get_meta("unit_name")?,
        "province_name": store.get_meta("province_name")?,
        "device": id.actor,
        "database": store.path(),
        "ops_total": total,
        "ops_own": own,
        "last_own_op_at_ms": store.last_own_op()?.map(|(_, at)| at),
        "definitions_version": store.definitions()?.version,
        "phase": store.get_meta("phase")?.and_then(|p| p.parse::<u32>().ok()),
        "version_vector": store.version_vector()?,
        "hub_url": store.get_meta("hub_url")?,
        "enrolled": key::exists(dir) && enrolled_at.is_some(),
        "enrolled_at": enrolled_at.map(Date::rfc3339_vn),
        "enrolled_at_ms": enrolled_at,
        "last_sync": last_sync.map(Date::rfc3339_vn),
        "last_sync_ms": last_sync,
        "ops_pending": store.ops_pending()?,
        "hub_clock_offset_ms": hub_offset,
        "clock": { "physical_ms": now, "hlc_ms": hlc.wall_ms, "hlc_ahead_of_physical_ms": lead },
        "peers": peers.iter().map(|p| serde_json::json!({
            "device": p.actor, "offset_ms": p.offset_ms, "via": p.via,
            "last_exchange_ms": p.last_exchange_ms, "far": p.offset_ms.abs() > CLOCK_WARN_MS,
        })).collect::<Vec<_>>(),
        "clock_warning": warn,
    });
    Ok(doc)
}

fn bundle_cmd(dir: &Path, cmd: BundleCmd, lang: Lang) -> Result<()> {
    let mut store = open(dir)?;
    match cmd {
        BundleCmd::Export { out, since } => {
            let peer: VersionVector = match &since {
                Some(p) => bundle::read_version_vector(p)?,
                None => VersionVector::new(),
            };
            let b = bundle::export(&mut store, &peer, now_ms())?;
            bundle::write(&out, &b)?;
            println!(
                "{} {} {} {}",
                lang.pick("Đã ghi", "Wrote"),
                b.ops.len(),
                lang.pick("bản ghi vào", "ops to"),
                out.display()
            );
        }
        BundleCmd::Import { file } => {
            let b = bundle::read(&file)?;
            let done = bundle::import(&mut store, b, &file, now_ms())?;
            println!("{}", present::imported(&done, lang));
            if let Some(w) = present::imported_clock(&done, lang) {
                println!("{w}");
            }
        }
    }
    Ok(())
}
