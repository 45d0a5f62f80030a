//! `cchc-hub upstream …` and `enroll create --province`: linking a provincial hub to
//! the national hub (`set`), forwarding now (`sync`), the link's state (`status`), and
//! the national hub's codes for provincial hubs.

use super::{http, pass, unreachable, Link, Reply, CA_FILE, KEY_FILE};
use crate::clock::now_ms;
use crate::error::{HubError, Result};
use crate::store::upstream::{Upstream, UpstreamLink};
use crate::store::Store;
use cchc_common::auth::{
    normalize_code, DeviceKey, PeerEnrollRequest, PeerEnrollResponse, UPSTREAM_ENROLL_PATH,
};
use cchc_common::sync::PROTOCOL_VERSION;
use cchc_common::{ActorId, Lang};
use std::path::{Path, PathBuf};

/// `cchc-hub upstream …`.
#[derive(clap::Subcommand, Debug)]
pub enum UpstreamCmd {
    /// Link this provincial hub to the national hub: a new key, enrolled there with a
    /// one-time code for this province (`cchc-hub enroll create --province N` on the
    /// national hub). `serve` then forwards the communes' data continuously.
    Set {
        /// The national hub's address, https://HOST:PORT.
        url: String,
        /// The national hub's CA certificate (its tls/ca.pem).
        #[arg(long)]
        ca: PathBuf,
        /// The one-time code.
        #[arg(long)]
        code: String,
    },
    /// Forward every commune's data now (one pass), and take what the national hub
    /// made.
    Sync {
        /// Print {"communes", "sent", "sent_new", "received"}.
        #[arg(long)]
        json: bool,
    },
    /// The link and the last forwarding (on the national hub: the provincial hubs).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `upstream` command.
pub fn run(dir: &Path, cmd: UpstreamCmd, lang: Lang) -> Result<()> {
    match cmd {
        UpstreamCmd::Set { url, ca, code } => set(dir, &url, &ca, &code, lang),
        UpstreamCmd::Sync { json } => sync_now(dir, json, lang),
        UpstreamCmd::Status { json } => status(dir, json, lang),
    }
}

/// `cchc-hub upstream status`.
fn status(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    let store = crate::server::open(dir)?;
    let link = store.upstream()?;
    let peers = store.peers()?;
    if json {
        let doc = serde_json::json!({
            "upstream": link.as_ref().map(|l| serde_json::json!({
                "url": l.url, "hub": l.peer.to_string(), "national": l.national,
                "linked_ms": l.linked_ms, "last_sync_ms": l.last_sync_ms, "last_error": l.last_error,
            })),
            "peers": peers.iter().map(|p| serde_json::json!({
                "hub": p.peer.to_string(), "province": p.province, "version": p.version,
                "enrolled_ms": p.enrolled_ms, "last_seen_ms": p.last_seen_ms,
            })).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serializes")
        );
        return Ok(());
    }
    match &link {
        Some(l) => println!(
            "{} {} ({}) — {}: {}{}",
            lang.pick("Cấp trên:", "Upstream:"),
            l.national,
            l.url,
            lang.pick("lần chuyển cuối", "last forwarded"),
            l.last_sync_ms
                .map(cchc_common::Date::display_vn)
                .unwrap_or_else(|| lang.pick("chưa", "never").to_string()),
            l.last_error
                .as_deref()
                .map(|e| format!(" — {}: {e}", lang.pick("lỗi", "error")))
                .unwrap_or_default()
        ),
        None => println!(
            "{}",
            lang.pick("Chưa kết nối cấp trên.", "No upstream link.")
        ),
    }
    for p in &peers {
        println!(
            "{} {} — {} {}",
            lang.pick("Tỉnh", "Province"),
            p.province,
            p.peer,
            p.last_seen_ms
                .map(cchc_common::Date::display_vn)
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `cchc-hub upstream set URL --ca FILE --code CODE`: a new key, enrolled with the
/// national hub for this province; the link stored.
pub fn set(dir: &Path, url: &str, ca: &Path, code: &str, lang: Lang) -> Result<()> {
    let store = crate::server::open(dir)?;
    let province = store.province()?;
    if province.code == 0 {
        return Err(HubError::NoUpstream);
    }
    let url = url.trim().trim_end_matches('/').to_string();
    if !url.starts_with("https://") {
        return Err(crate::error::BadInput::new("URL", &url, crate::error::Rule::HttpsUrl).into());
    }
    let pem = std::fs::read(ca).map_err(|e| HubError::io(ca, e))?;
    let client = http(&url, &pem)?;
    let seed: [u8; 32] = crate::auth::random()?;
    let key = DeviceKey::from_seed(seed);
    let peer = ActorId(u64::from_le_bytes(crate::auth::random()?));
    let code = normalize_code(code).map_err(|_| crate::error::Denied::BadCode)?;
    let req = PeerEnrollRequest {
        protocol: PROTOCOL_VERSION,
        code,
        province: province.code,
        peer,
        public_key: key.public(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let body = serde_json::to_vec(&req).expect("serializes");
    let link = Link {
        http: client,
        url: url.clone(),
        peer,
        key,
    };
    let resp: PeerEnrollResponse = match link.post(UPSTREAM_ENROLL_PATH, 1, body)? {
        Reply::Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| unreachable(&url, format!("answer damaged: {e}")))?,
        _ => return Err(unreachable(&url, "unexpected answer to the enrollment")),
    };
    // Key and CA first (owner-only), then the link: a hub with a link has its key.
    for name in [KEY_FILE, CA_FILE] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    crate::private::write_new(
        &dir.join(KEY_FILE),
        cchc_common::auth::hex(&seed).as_bytes(),
    )?;
    crate::private::write_new(&dir.join(CA_FILE), &pem)?;
    let now = now_ms();
    store.set_upstream(
        &UpstreamLink {
            url: url.clone(),
            peer,
            national: resp.national.clone(),
            linked_ms: now,
            last_sync_ms: None,
            last_error: None,
        },
        &crate::admin::Actor::cli().entry("upstream.set", url.clone(), "ok", format!("hub {peer}")),
        now,
    )?;
    match lang {
        Lang::Vi => println!(
            "Đã kết nối với máy chủ {} ({url}) với mã máy chủ {peer}. Dữ liệu các xã được chuyển lên khi `serve` chạy, hoặc chạy `cchc-hub upstream sync`.",
            resp.national
        ),
        Lang::En => println!(
            "Linked to {} ({url}) as hub {peer}. Communes' data is forwarded while `serve` runs, or run `cchc-hub upstream sync`.",
            resp.national
        ),
    }
    Ok(())
}

/// `cchc-hub upstream sync`: one full pass now.
pub fn sync_now(dir: &Path, json: bool, lang: Lang) -> Result<()> {
    // What `serve` would log as a warning (definitions not taken, say) the admin sees.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let store = crate::server::open(dir)?;
    let p = pass(&store, dir, true)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "communes": p.communes, "sent": p.sent, "sent_new": p.applied, "received": p.received
            })
        );
        return Ok(());
    }
    match lang {
        Lang::Vi => println!(
            "Đã chuyển lên máy chủ cấp trên: {} xã/phường, gửi {} bản ghi ({} mới), nhận {}.",
            p.communes, p.sent, p.applied, p.received
        ),
        Lang::En => println!(
            "Forwarded to the national hub: {} communes, {} ops sent ({} new), {} received.",
            p.communes, p.sent, p.applied, p.received
        ),
    }
    Ok(())
}
