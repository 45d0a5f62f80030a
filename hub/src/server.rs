//! The hub's commands. In: the data directory and command-line values. Out: a created
//! hub (`init`), a running HTTPS server (`serve`), and the views printed.
//!
//! Data directory: `hub.db` (SQLite) and `tls/` (`ca.pem` for agents; keys owner-only).

use crate::error::{HubError, Result};
use crate::routes::{router, AppState};
use crate::store::sqlite::SqliteStore;
use crate::store::{Province, Store};
use crate::{tls, views};
use cchc_common::{Definitions, Lang, Period, UnitCatalog};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The hub's physical clock, milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The database file of a hub directory.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("hub.db")
}

fn open(dir: &Path) -> Result<SqliteStore> {
    SqliteStore::open(&db_path(dir)).map_err(|e| match e {
        HubError::NotInitialised { .. } => HubError::NotInitialised {
            dir: dir.to_path_buf(),
        },
        other => other,
    })
}

/// `cchc-hub init`.
pub fn init(dir: &Path, province: &str, hosts: Vec<String>, lang: Lang) -> Result<()> {
    let code: u32 = province.trim().parse().map_err(|_| {
        HubError::Invalid(cchc_common::DomainError::UnknownUnit {
            code: format!("province '{province}'"),
        })
    })?;
    let catalog = UnitCatalog::builtin();
    let communes: Vec<_> = catalog.communes_of(code).collect();
    let Some(first) = communes.first() else {
        return Err(HubError::Invalid(cchc_common::DomainError::UnknownUnit {
            code: format!("province {code}"),
        }));
    };
    let province = Province {
        code,
        name: first.province_name.clone(),
    };
    let db = db_path(dir);
    if db.exists() {
        let existing = open(dir)?.province()?;
        return Err(HubError::AlreadyInitialised {
            dir: dir.to_path_buf(),
            province: existing.code,
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
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
    SqliteStore::create(&db, &province, &communes, now_ms())?;
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

/// `cchc-hub serve`: prints `listening on https://ADDR` once accepting, and stops
/// cleanly on SIGINT or SIGTERM.
pub fn serve(dir: &Path, listen: &str, lang: Lang) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let store: Arc<dyn Store> = Arc::new(open(dir)?);
    let province = store.province()?;
    let config = tls::server_config(&dir.join("tls"))?;
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
    runtime.block_on(async move {
        let handle = axum_server::Handle::new();
        let shutdown = handle.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        });
        let app = router(AppState { store });
        let server = axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(config),
        )
        .handle(handle);
        println!(
            "{} {} — listening on https://{bound}",
            lang.pick("Máy chủ tỉnh", "Hub of"),
            province.name
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        server
            .serve(app.into_make_service())
            .await
            .map_err(|e| HubError::io(bound.to_string(), e))
    })
}

async fn wait_for_signal() {
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

/// `cchc-hub definitions publish`.
pub fn publish_definitions(dir: &Path, file: &Path, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    let text = std::fs::read_to_string(file).map_err(|e| HubError::io(file, e))?;
    let defs = Definitions::from_json(&text)
        .map_err(|e| HubError::BadDefinitions(format!("{}: {e}", file.display())))?;
    store.publish_definitions(&defs, now_ms())?;
    println!(
        "{} {}",
        lang.pick(
            "Đã ban hành bộ định nghĩa phiên bản",
            "Published definitions version"
        ),
        defs.version
    );
    Ok(())
}
