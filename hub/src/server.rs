//! The hub's commands. In: the data directory and command-line values. Out: a created
//! hub (`init`), a running HTTPS server (`serve`), and the views printed.
//!
//! Data directory: `hub.db` (SQLite) or `store.url` (the PostgreSQL URL and schema the
//! hub's data lives in, owner-only), and `tls/` (`ca.pem` for agents; keys owner-only).

use crate::admin::{self, Actor};
use crate::auth::{Limits, Rates};
use crate::clock::now_ms;
use crate::error::{HubError, Missing, Result, Rule};
use crate::routes::{router, AppState};
use crate::store::sql::{Source, SqlStore};
use crate::store::{Access, HubStore, Province, Role, Store};
pub use crate::stores::db_path;
pub use crate::stores::StoreArg;
use crate::stores::{source, store_url_path};
use crate::{tls, views};
use cchc_common::{Lang, Period, UnitCatalog};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn open(dir: &Path) -> Result<SqlStore> {
    SqlStore::open_at(&source(dir)?).map_err(|e| match e {
        HubError::NotInitialised { .. } => HubError::NotInitialised {
            dir: dir.to_path_buf(),
        },
        other => other,
    })
}

/// `cchc-hub init`.
pub fn init(
    dir: &Path,
    province: &str,
    hosts: Vec<String>,
    store: &StoreArg,
    lang: Lang,
) -> Result<()> {
    let catalog = UnitCatalog::builtin();
    // `all`: one hub for the whole country (a ministry-level view, and the dashboard
    // bench's 3,321 communes); province code 0.
    let (province, communes): (Province, Vec<_>) = if province.trim().eq_ignore_ascii_case("all") {
        (
            Province {
                code: 0,
                name: "Toàn quốc".to_string(),
            },
            catalog.communes().collect(),
        )
    } else {
        let code: u32 = province.trim().parse().map_err(|_| {
            HubError::Invalid(cchc_common::DomainError::UnknownUnit {
                code: format!("province '{province}'"),
            })
        })?;
        let communes: Vec<_> = catalog.communes_of(code).collect();
        let Some(first) = communes.first() else {
            return Err(HubError::Invalid(cchc_common::DomainError::UnknownUnit {
                code: format!("province {code}"),
            }));
        };
        (
            Province {
                code,
                name: first.province_name.clone(),
            },
            communes,
        )
    };
    let db = db_path(dir);
    if db.exists() || store_url_path(dir).exists() {
        let existing = open(dir)?.province()?;
        return Err(HubError::AlreadyInitialised {
            dir: dir.to_path_buf(),
            province: existing.code,
        });
    }
    crate::private::dir(dir)?;
    // Without hub.db nothing was ever served from here: a leftover tls/ is from an
    // interrupted init and nobody holds its CA yet.
    let tls_dir = dir.join("tls");
    if tls_dir.exists() {
        std::fs::remove_dir_all(&tls_dir).map_err(|e| HubError::io(&tls_dir, e))?;
    }
    let hosts = if hosts.is_empty() {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        hosts
    };
    tls::create(&tls_dir, &province.name, &hosts)?;
    match store {
        StoreArg::Sqlite => {
            SqlStore::create(&db, &province, &communes, now_ms())?;
        }
        StoreArg::Postgres(url) => {
            let target = crate::stores::target("--store", url, province.code)?;
            // Written first, so the data directory names its database from the start;
            // removed again if the hub cannot be made there.
            let file = store_url_path(dir);
            crate::private::write_new(&file, format!("{}\n", target.url).as_bytes())?;
            if let Err(e) = SqlStore::create_at(
                &Source::Postgres(Box::new(target)),
                &province,
                &communes,
                now_ms(),
            ) {
                let _ = std::fs::remove_file(&file);
                return Err(e);
            }
        }
    }
    let ca = tls_dir.join(tls::CA_CERT);
    match lang {
        Lang::Vi => println!(
            "Đã tạo máy chủ tỉnh {} ({} xã/phường) tại {}.\nChứng chỉ CA để cài cho các máy xã: {}\nTên máy chủ trong chứng chỉ: {}\nChạy: cchc-hub --data-dir {} serve --listen 0.0.0.0:8443",
            province.name, communes.len(), dir.display(), ca.display(), hosts.join(", "), dir.display()
        ),
        Lang::En => println!(
            "Created the hub of {} ({} communes) in {}.\nCA certificate to hand to agents: {}\nHosts in the certificate: {}\nRun: cchc-hub --data-dir {} serve --listen 0.0.0.0:8443",
            province.name, communes.len(), dir.display(), ca.display(), hosts.join(", "), dir.display()
        ),
    }
    Ok(())
}

/// Settings of `serve` beyond the address.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Rate limits.
    pub rates: Rates,
    /// Longest wait for a request's headers, and for each piece of its body.
    pub client_timeout: Duration,
    /// Connections held at once, in all.
    pub max_connections: usize,
    /// Connections held at once from one address.
    pub max_connections_ip: usize,
    /// Time between forwardings to the national hub.
    pub upstream_every: Duration,
}

/// `cchc-hub serve`: prints `listening on https://ADDR` once accepting, and stops
/// cleanly on SIGINT or SIGTERM.
pub fn serve(
    dir: &Path,
    listen: &str,
    opts: ServeOptions,
    tls: Option<(PathBuf, PathBuf)>,
    lang: Lang,
) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let store: Arc<dyn HubStore> = Arc::new(open(dir)?);
    let province = store.province()?;
    let config = match &tls {
        None => tls::server_config(&dir.join("tls"))?,
        Some((cert, key)) => tls::server_config_from(cert, key)?,
    };
    let addr: SocketAddr = listen.parse().map_err(|_| HubError::Io {
        path: PathBuf::from(listen),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "--listen must be an address and port, like 0.0.0.0:8443",
        ),
    })?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| HubError::io(listen, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| HubError::io(listen, e))?;
    let bound = listener.local_addr().map_err(|e| HubError::io(listen, e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| HubError::io("tokio runtime", e))?;
    // The store is dropped here, after the runtime: closing a PostgreSQL connection
    // blocks, which must not happen on an async worker.
    let _store_outlives_the_runtime = store.clone();
    runtime.block_on(async move {
        let handle = axum_server::Handle::new();
        let shutdown = handle.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        });
        if province.code != 0 {
            // A provincial hub forwards to its national hub once `upstream set` links it.
            tokio::spawn(crate::upstream::run_forever(
                Arc::downgrade(&store),
                dir.to_path_buf(),
                opts.upstream_every,
            ));
        }
        let state = AppState::new(store, Limits::new(opts.rates), opts.client_timeout, dir);
        let limits = state.limits.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.tidy();
            }
        });
        let app = router(state);
        // Connections over the caps are closed before their TLS handshake.
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
            axum_server::tls_rustls::RustlsConfig::from_config(config),
        )
        .handshake_timeout(opts.client_timeout)
        .acceptor(crate::conn::Limited::new(
            opts.max_connections,
            opts.max_connections_ip,
        ));
        let mut server = axum_server::from_tcp(listener)
            .acceptor(acceptor)
            .handle(handle);
        // A client that opens a connection and then dribbles its headers is dropped.
        // Request heads are small: a head over 16 KiB or 64 header lines is refused
        // (431) before anything else reads it.
        server
            .http_builder()
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(opts.client_timeout)
            .max_buf_size(16 << 10)
            .max_headers(64);
        println!(
            "{} {} — listening on https://{bound}",
            lang.pick("Máy chủ tỉnh", "Hub of"),
            province.name
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .map_err(|e| HubError::io(bound.to_string(), e))
    })
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `cchc-hub status`.
pub fn status(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    let doc = views::status_doc(&open(dir)?)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serializes")
        );
    } else {
        print!("{}", views::status_text(&doc, lang));
    }
    Ok(())
}

/// `cchc-hub report`.
pub fn report(dir: &Path, period: &str, json: bool, lang: Lang) -> Result<()> {
    let period: Period = period.parse().map_err(HubError::Invalid)?;
    let doc = views::report_doc(&open(dir)?, period)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serializes")
        );
    } else {
        print!("{}", views::report_text(&doc, lang));
    }
    Ok(())
}

/// `cchc-hub phase assign`.
pub fn phase_assign(
    dir: &Path,
    phase: Option<&str>,
    units: &[String],
    csv: Option<&Path>,
    lang: Lang,
) -> Result<()> {
    let store = open(dir)?;
    let text = csv
        .map(|f| std::fs::read_to_string(f).map_err(|e| HubError::io(f, e)))
        .transpose()?;
    let source = csv.map(|f| f.display().to_string()).unwrap_or_default();
    let plan = admin::parse_plan(units, phase, text.as_deref().map(|t| (t, source.as_str())))?;
    admin::assign(&store, &plan, &Actor::cli(), now_ms())?;
    let mut phases: std::collections::BTreeMap<u32, usize> = Default::default();
    for (_, p) in &plan {
        *phases.entry(*p).or_default() += 1;
    }
    for (p, n) in phases {
        println!(
            "{}",
            match lang {
                Lang::Vi => format!("Đã giao {n} đơn vị vào giai đoạn {p}."),
                Lang::En => format!("Assigned {n} communes to phase {p}."),
            }
        );
    }
    Ok(())
}

/// `cchc-hub verify`: one criterion of one commune.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    dir: &Path,
    unit: &str,
    phase: &str,
    criterion: &str,
    score: &str,
    comment: &str,
    by: &str,
    lang: Lang,
) -> Result<()> {
    let store = open(dir)?;
    let unit = cchc_common::UnitCode::parse(unit).map_err(HubError::Invalid)?;
    let phase: u32 = phase
        .trim()
        .parse()
        .map_err(|_| HubError::input("--phase", phase, Rule::Phase))?;
    let score = cchc_common::Score::parse(score).map_err(HubError::Invalid)?;
    let scores = [crate::store::Verification {
        criterion: criterion.to_string(),
        score,
        comment: comment.to_string(),
    }];
    let ops = admin::verify(&store, unit, phase, &scores, by, &Actor::cli(), now_ms())?;
    println!(
        "{}",
        match (lang, ops.is_empty()) {
            (Lang::Vi, false) => format!(
                "Đã ghi điểm thẩm định {} cho tiêu chí {} của đơn vị {unit}; xã nhận được ở lần đồng bộ tới.",
                score.display(lang),
                criterion.trim().to_ascii_uppercase()
            ),
            (Lang::En, false) => format!(
                "Recorded verified score {score} for criterion {} of commune {unit}; the commune gets it on its next sync.",
                criterion.trim().to_ascii_uppercase()
            ),
            (Lang::Vi, true) => "Điểm thẩm định không đổi; không ghi gì thêm.".to_string(),
            (Lang::En, true) => "The verified score is unchanged; nothing recorded.".to_string(),
        }
    );
    Ok(())
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("serializes"));
}

/// `cchc-hub device list`.
pub fn device_list(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    let devices = open(dir)?.devices()?;
    if json {
        print_json(&admin::devices_doc(&devices));
        return Ok(());
    }
    if devices.is_empty() {
        println!(
            "{}",
            lang.pick("Chưa có máy nào được đăng ký.", "No device enrolled yet.")
        );
    }
    for d in devices {
        println!(
            "{}  {:>5} {:<28} {} {}  {} {}{}",
            d.device,
            d.unit,
            d.unit_name,
            lang.pick("đăng ký", "enrolled"),
            cchc_common::Date::display_vn(d.enrolled_ms),
            lang.pick("liên lạc cuối", "last seen"),
            d.last_seen_ms
                .map(cchc_common::Date::display_vn)
                .unwrap_or_else(|| "—".into()),
            match d.revoked_ms {
                Some(at) => format!(
                    "  {} {}",
                    lang.pick("ĐÃ THU HỒI", "REVOKED"),
                    cchc_common::Date::display_vn(at)
                ),
                None => String::new(),
            }
        );
    }
    Ok(())
}

/// `cchc-hub device revoke`.
pub fn device_revoke(dir: &Path, id: &str, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    let (id, done) = admin::revoke(&store, id, &Actor::cli(), now_ms())?;
    if done {
        println!(
            "{} {id}. {}",
            lang.pick("Đã thu hồi máy", "Revoked device"),
            lang.pick(
                "Dữ liệu máy đã gửi được giữ nguyên; lần kết nối tới máy sẽ bị từ chối.",
                "Its data stays; its next request will be refused."
            )
        );
    } else {
        println!(
            "{} {id}",
            lang.pick("Máy đã bị thu hồi từ trước:", "Already revoked:")
        );
    }
    Ok(())
}

/// Reads a new password: without echo at a terminal, else one line of stdin.
fn read_password(lang: Lang) -> Result<String> {
    use std::io::IsTerminal;
    let pw = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password(lang.pick("Mật khẩu mới: ", "New password: "))
            .map_err(|e| HubError::io("terminal", e))?;
        let b = rpassword::prompt_password(lang.pick("Nhập lại: ", "Again: "))
            .map_err(|e| HubError::io("terminal", e))?;
        if a != b {
            return Err(HubError::input("password", "…", Rule::PasswordsDiffer));
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| HubError::io("stdin", e))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    crate::auth::check_password(&pw)?;
    Ok(pw)
}

/// `cchc-hub user add`.
pub fn user_add(dir: &Path, name: &str, display_name: &str, role: &str, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    let role = Role::parse(role).ok_or_else(|| HubError::input("role", role, Rule::Role))?;
    admin::check_user_name(name)?;
    let pw = read_password(lang)?;
    admin::add_user(
        &store,
        name,
        display_name,
        role,
        &pw,
        &Actor::cli(),
        now_ms(),
    )?;
    println!(
        "{} {name} ({})",
        lang.pick("Đã thêm người dùng", "Added user"),
        role.as_str()
    );
    Ok(())
}

/// `cchc-hub user passwd`.
pub fn user_passwd(dir: &Path, name: &str, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    if store.user(name)?.is_none() {
        return Err(HubError::NotFound(Missing::User(name.to_string())));
    }
    let pw = read_password(lang)?;
    let hash = crate::auth::hash_password(&pw)?;
    store.set_password(
        name,
        &hash,
        &Actor::cli().entry("user.passwd", format!("user:{name}"), "ok", ""),
        now_ms(),
    )?;
    println!(
        "{} {name}; {}",
        lang.pick("Đã đổi mật khẩu của", "Changed the password of"),
        lang.pick(
            "các phiên đăng nhập cũ đã kết thúc.",
            "their sessions have ended."
        )
    );
    Ok(())
}

/// `cchc-hub user remove`.
pub fn user_remove(dir: &Path, name: &str, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    store.remove_user(
        name,
        &Actor::cli().entry("user.remove", format!("user:{name}"), "ok", ""),
        now_ms(),
    )?;
    println!("{} {name}", lang.pick("Đã xóa người dùng", "Removed user"));
    Ok(())
}

/// `cchc-hub user list`.
pub fn user_list(dir: &Path, json: bool) -> Result<()> {
    let users = open(dir)?.users()?;
    if json {
        #[derive(serde::Serialize)]
        struct UserDoc<'a> {
            name: &'a str,
            role: &'static str,
            display_name: &'a str,
        }
        let docs: Vec<UserDoc> = users
            .iter()
            .map(|u| UserDoc {
                name: &u.name,
                role: u.role.as_str(),
                display_name: &u.display_name,
            })
            .collect();
        print_json(&docs);
    } else {
        for u in users {
            println!("{:<24} {:<8} {}", u.name, u.role.as_str(), u.display_name);
        }
    }
    Ok(())
}

/// `cchc-hub audit`.
pub fn audit(dir: &Path, limit: usize, action: Option<&str>, json: bool) -> Result<()> {
    let rows = open(dir)?.audit_log(limit, action)?;
    if json {
        print_json(&admin::audit_doc(&rows));
    } else {
        print!("{}", admin::audit_text(&rows));
    }
    Ok(())
}
