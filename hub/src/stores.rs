//! Where a hub keeps its data, and moving it: `init --store` (SQLite in the data
//! directory, or a PostgreSQL schema named in `store.url`), `check` (each table's rows
//! and digest: two stores holding the same data print the same), `backup` (a
//! consistent copy while serving), `restore` (a backup back in place; agents re-send
//! what it lacks) and `migrate` (a province's SQLite hub moved to PostgreSQL).

use crate::error::{BadInput, HubError, Result, Rule};
use crate::server::open;
use crate::store::sql::archive::{self, Held};
use crate::store::sql::copy::TableDigest;
use crate::store::sql::{Source, Target};
use crate::store::Store;
use cchc_common::Lang;
use std::path::{Path, PathBuf};

/// The SQLite file of a hub directory.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("hub.db")
}

/// The schema a province's hub gets on PostgreSQL unless the URL names one:
/// `cchc_p01` for Hà Nội, `cchc_all` for the whole country.
pub(crate) fn default_schema(province: u32) -> String {
    match province {
        0 => "cchc_all".to_string(),
        code => format!("cchc_p{code:02}"),
    }
}

/// A PostgreSQL URL from a flag, with the province's default schema.
pub(crate) fn target(flag: &str, url: &str, province: u32) -> Result<Target> {
    Target::parse(url, &default_schema(province))
        .map_err(|detail| BadInput::new(flag, url, Rule::PostgresUrl { detail }).into())
}

/// The file that says a hub's data is on PostgreSQL, and where.
pub(crate) fn store_url_path(dir: &Path) -> PathBuf {
    dir.join("store.url")
}

/// Where the hub of `dir` keeps its data: PostgreSQL if `store.url` says so, else
/// `hub.db`.
pub(crate) fn source(dir: &Path) -> Result<Source> {
    let file = store_url_path(dir);
    match std::fs::read_to_string(&file) {
        // The URL may hold a password: owner-only, as the SQLite file is.
        Ok(url) => crate::private::file(&file)
            .and_then(|_| {
                Target::parse(&url, "").map_err(|detail| HubError::BadDatabase {
                    path: file.clone(),
                    detail,
                })
            })
            .map(|t| Source::Postgres(Box::new(t))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Source::Sqlite(db_path(dir))),
        Err(e) => Err(HubError::io(&file, e)),
    }
}

/// What `init --store` names: the embedded SQLite file, or a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreArg {
    /// `sqlite` (the default).
    Sqlite,
    /// `postgres://…`.
    Postgres(String),
}

impl std::str::FromStr for StoreArg {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<StoreArg, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("sqlite") {
            Ok(StoreArg::Sqlite)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreArg::Postgres(s.to_string()))
        } else {
            Err("use sqlite, or a PostgreSQL URL such as postgres://cchc@localhost/cchc".into())
        }
    }
}

/// The Vietnamese or the English text, as the reader reads.
fn say(lang: Lang, vi: String, en: String) -> String {
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

fn print_digests(digests: &[TableDigest], json: bool, store: &Path) {
    if json {
        let tables: Vec<serde_json::Value> = digests
            .iter()
            .map(|d| serde_json::json!({"table": d.table, "rows": d.rows, "sha256": d.sha256}))
            .collect();
        let doc = serde_json::json!({"store": store.display().to_string(), "tables": tables});
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serializes")
        );
        return;
    }
    for d in digests {
        println!("{:<20} {:>10}  {}", d.table, d.rows, d.sha256);
    }
}

/// `cchc-hub check`: reads every row of every table and prints each table's rows and
/// digest (SQLite's own integrity check first).
pub fn check(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    store.integrity()?;
    let digests = store.digests()?;
    if !json {
        println!(
            "{}",
            say(
                lang,
                format!(
                    "Kho dữ liệu: {} — đọc được toàn bộ, không lỗi.",
                    store.label().display()
                ),
                format!(
                    "Store: {} — every row read, no damage found.",
                    store.label().display()
                ),
            )
        );
    }
    print_digests(&digests, json, &store.label());
    Ok(())
}

fn say_held(h: &Held, lang: Lang) -> String {
    say(
        lang,
        format!(
            "tỉnh {}, {} bản ghi, {} máy đã đăng ký",
            h.province,
            lang.number(h.ops as f64, 0),
            lang.number(h.devices as f64, 0)
        ),
        format!(
            "province {}, {} ops, {} enrolled devices",
            h.province,
            lang.number(h.ops as f64, 0),
            lang.number(h.devices as f64, 0)
        ),
    )
}

/// `cchc-hub backup --out FILE`: a consistent copy of the hub while it serves.
pub fn backup(dir: &Path, out: &Path, lang: Lang) -> Result<()> {
    let held = open(dir)?.backup(out)?;
    println!(
        "{}",
        say(
            lang,
            format!(
                "Đã sao lưu vào {}: {}.",
                out.display(),
                say_held(&held, lang)
            ),
            format!("Backed up to {}: {}.", out.display(), say_held(&held, lang)),
        )
    );
    Ok(())
}

/// `cchc-hub restore --from FILE`: the hub's data replaced by a backup's (stop `serve`
/// first). Agents that synced after the backup re-send what it lacks on their next
/// sync (the hub answers their upload with what it holds).
pub fn restore(dir: &Path, from: &Path, lang: Lang) -> Result<()> {
    let held = archive::restore(&source(dir)?, from, dir)?;
    println!(
        "{}",
        say(
                lang,
            format!(
                "Đã khôi phục từ {}: {}. Các máy xã sẽ tự gửi lại dữ liệu ghi sau bản sao lưu khi đồng bộ.",
                from.display(),
                say_held(&held, lang)
            ),
            format!(
                "Restored from {}: {}. Agents re-send what they recorded after the backup on their next sync.",
                from.display(),
                say_held(&held, lang)
            ),
        )
    );
    Ok(())
}

/// `cchc-hub migrate --from sqlite:DIR --to postgres://…`: the province's SQLite hub
/// moved to PostgreSQL (stop `serve` first; start it again afterwards: it opens
/// PostgreSQL). Prints the digests, equal on both sides.
pub fn migrate(from: &str, to: &str, json: bool, lang: Lang) -> Result<()> {
    let dir = match from.strip_prefix("sqlite:") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            return Err(BadInput::new("--from", from, Rule::SqliteDir).into());
        }
    };
    if store_url_path(&dir).exists() {
        return Err(HubError::AlreadyInitialised {
            dir: store_url_path(&dir),
            province: open(&dir)?.province()?.code,
        });
    }
    let province = open(&dir)?.province()?.code;
    let target = target("--to", to, province)?;
    let digests = archive::migrate(&dir, &target)?;
    if !json {
        println!(
            "{}",
            say(
                lang,
                format!(
                    "Đã chuyển máy chủ tỉnh {province} sang {}; mọi bảng khớp với hub.db (giữ lại là hub.db.migrated).",
                    target.label
                ),
                format!(
                    "Moved the hub of province {province} to {}; every table equals hub.db (kept as hub.db.migrated).",
                    target.label
                ),
            )
        );
    }
    print_digests(&digests, json, Path::new(&target.label));
    Ok(())
}
