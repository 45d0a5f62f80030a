//! `cchc-hub enroll create`: one-time codes. For communes (`--unit`: each enrolls one
//! agent) and, on the national hub, for provinces (`--province`: each enrolls that
//! province's hub as a peer that forwards its communes' data).

use crate::admin::{self, Actor};
use crate::clock::now_ms;
use crate::error::{HubError, Missing, Result};
use crate::server::open;
use crate::store::upstream::Upstream;
use crate::store::Store;
use cchc_common::Lang;
use std::path::Path;

fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("serializes"));
}

/// `cchc-hub enroll create --unit …`: one code per `--unit`. With `--json`, one object for
/// one unit, an array for several.
pub fn communes(dir: &Path, units: &[String], expires: &str, json: bool, lang: Lang) -> Result<()> {
    let store = open(dir)?;
    let lifetime = admin::parse_lifetime(expires, "--expires")?;
    // Every commune is checked before any code is made: all or nothing.
    let units = units
        .iter()
        .map(|u| {
            let code = cchc_common::UnitCode::parse(u).map_err(HubError::Invalid)?;
            if store.serves(code)? {
                Ok(code)
            } else {
                Err(HubError::NotFound(Missing::Commune(code.0)))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let names: std::collections::BTreeMap<_, _> = store
        .sync_status()?
        .into_iter()
        .map(|u| (u.unit, u.name))
        .collect();
    let actor = Actor::cli();
    let mut docs = Vec::new();
    for unit in &units {
        let (code, expires_ms) = admin::create_code(&store, *unit, lifetime, &actor, now_ms())?;
        if json {
            docs.push(admin::code_doc(&code, *unit, expires_ms));
            continue;
        }
        let name = names.get(unit).cloned().unwrap_or_default();
        println!("{code}");
        match lang {
            Lang::Vi => println!(
                "  Mã đăng ký dùng một lần cho {name} ({unit}), hết hạn {}.\n  Trên máy của xã: cchc-agent init --unit {unit} --hub <địa chỉ> --ca ca.pem --code {code}",
                cchc_common::Date::display_vn(expires_ms)
            ),
            Lang::En => println!(
                "  One-time enrollment code for {name} ({unit}), expires {}.\n  On the commune's computer: cchc-agent init --unit {unit} --hub <address> --ca ca.pem --code {code}",
                cchc_common::Date::display_vn(expires_ms)
            ),
        }
    }
    if json {
        if docs.len() == 1 {
            print_json(&docs[0]);
        } else {
            print_json(&docs);
        }
    }
    Ok(())
}

/// `cchc-hub enroll create --province N` on the national hub: one-time codes that
/// enroll a provincial hub each.
pub fn provinces(
    dir: &Path,
    provinces: &[u32],
    expires: &str,
    json: bool,
    lang: Lang,
) -> Result<()> {
    let store = open(dir)?;
    if store.province()?.code != 0 {
        return Err(crate::error::BadInput::new(
            "--province",
            provinces
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            crate::error::Rule::NationalOnly,
        )
        .into());
    }
    let catalog = cchc_common::UnitCatalog::builtin();
    for p in provinces {
        if catalog.communes_of(*p).next().is_none() {
            return Err(HubError::Invalid(cchc_common::DomainError::UnknownUnit {
                code: format!("province {p}"),
            }));
        }
    }
    let lifetime = admin::parse_lifetime(expires, "--expires")?;
    let actor = Actor::cli();
    let mut docs = Vec::new();
    for p in provinces {
        let random: [u8; 64] = crate::auth::random()?;
        let code = cchc_common::auth::code_from_random(&random)
            .ok_or_else(|| HubError::Internal("not enough random bytes for a code".into()))?;
        let now = now_ms();
        let expires_ms = now + lifetime;
        store.create_peer_code(
            &crate::auth::sha256(code.as_bytes()),
            *p,
            expires_ms,
            &actor.entry(
                "enroll.create",
                format!("province:{p}"),
                "ok",
                "provincial hub",
            ),
            now,
        )?;
        let shown = cchc_common::auth::display_code(&code);
        if json {
            docs.push(serde_json::json!({"code": shown, "province": p,
                "expires": cchc_common::Date::rfc3339_vn(expires_ms)}));
            continue;
        }
        println!("{shown}");
        match lang {
            Lang::Vi => println!(
                "  Mã dùng một lần cho máy chủ tỉnh {p}, hết hạn {}.\n  Trên máy chủ tỉnh: cchc-hub upstream set <địa chỉ> --ca ca.pem --code {shown}",
                cchc_common::Date::display_vn(expires_ms)
            ),
            Lang::En => println!(
                "  One-time code for the hub of province {p}, expires {}.\n  On the provincial hub: cchc-hub upstream set <address> --ca ca.pem --code {shown}",
                cchc_common::Date::display_vn(expires_ms)
            ),
        }
    }
    if json {
        let doc = if docs.len() == 1 {
            docs.remove(0)
        } else {
            serde_json::Value::Array(docs)
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serializes")
        );
    }
    Ok(())
}
