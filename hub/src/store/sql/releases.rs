//! The update channel in SQLite: roots, releases, rollouts and their stages, each
//! device's milestones. Every change is one IMMEDIATE transaction with its audit entry.

use super::access::append;
use super::{bad_db, SqlStore};
use crate::error::{ReleaseRefusal, Result};
use crate::store::releases::{
    halt_reason, stage_of, DeviceUpdate, HaltRule, Releases, RolloutRow, RolloutState, Scope,
    Stage, StoredRelease, Verdicts,
};
use crate::store::AuditEntry;
use cchc_common::release::{Release, Root, Signed, Target};
use cchc_common::update::{UpdateEvent, UpdateReport};
use cchc_common::{ActorId, UnitCode};
use cchc_sql::{a2i, i2a};
use cchc_sql::{args, Db, DbExt, Tx};
use semver::Version;
use std::path::Path;

fn json<T: serde::de::DeserializeOwned>(path: &Path, what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| bad_db(path, format!("stored {what}: {e}")))
}

fn version(path: &Path, text: &str) -> Result<Version> {
    text.parse()
        .map_err(|e| bad_db(path, format!("stored version '{text}': {e}")))
}

fn load_releases(conn: &dyn Db, path: &Path) -> Result<Vec<StoredRelease>> {
    let rows = conn.query(
        "SELECT meta, file, published_at, platform FROM releases",
        args![],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<i64>(2)?,
                r.get::<String>(3)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for (meta, file, published_ms, platform) in rows {
        out.push(StoredRelease {
            meta: json(path, "release", &meta)?,
            platform,
            file,
            published_ms,
        });
    }
    out.sort_by(|a, b| {
        (&b.meta.signed.version, &b.meta.signed.platform)
            .cmp(&(&a.meta.signed.version, &a.meta.signed.platform))
    });
    Ok(out)
}

fn load_rollouts(conn: &dyn Db, path: &Path) -> Result<Vec<RolloutRow>> {
    let rows = conn.query(
        "SELECT version, state, reason, halt_at_percent, min_reports, soak_s, started_at
         FROM rollouts",
        args![],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<Option<String>>(2)?,
                r.get::<u32>(3)?,
                r.get::<u32>(4)?,
                r.get::<i64>(5)?,
                r.get::<i64>(6)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for (v, state, reason, halt, min, soak, started_ms) in rows {
        let mut stages = Vec::new();
        let srows = conn.query(
            "SELECT stage, scope, started_at FROM rollout_stages WHERE version = ?1 ORDER BY stage",
            args![v],
            |r| Ok((r.get::<u32>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?)),
        )?;
        for (number, scope, started_ms) in srows {
            stages.push(Stage {
                number,
                scope: json(path, "rollout stage", &scope)?,
                started_ms,
            });
        }
        out.push(RolloutRow {
            version: version(path, &v)?,
            state: if state == "halted" {
                RolloutState::Halted
            } else {
                RolloutState::Running
            },
            reason,
            rule: HaltRule {
                halt_at_percent: halt,
                min_reports: min,
                soak_s: soak.max(0) as u64,
            },
            stages,
            started_ms,
        });
    }
    out.sort_by(|a, b| b.version.cmp(&a.version));
    Ok(out)
}

fn milestone(event: UpdateEvent) -> &'static [&'static str] {
    match event {
        UpdateEvent::Downloaded => &["downloaded_at"],
        UpdateEvent::Installed => &["downloaded_at", "installed_at"],
        UpdateEvent::Healthy => &["downloaded_at", "installed_at", "healthy_at"],
        UpdateEvent::Failed => &["failed_at"],
        UpdateEvent::RolledBack => &["failed_at", "rolled_back_at"],
    }
}

fn verdicts(conn: &dyn Db, version: &str, stage: u32) -> Result<Verdicts> {
    Ok(conn.query_one(
        "SELECT count(*) FILTER (WHERE healthy_at IS NOT NULL OR failed_at IS NOT NULL),
                    count(*) FILTER (WHERE failed_at IS NOT NULL)
             FROM device_updates WHERE version = ?1 AND stage = ?2",
        args![version, stage],
        |r| {
            Ok(Verdicts {
                reports: r.get(0)?,
                failed: r.get(1)?,
            })
        },
    )?)
}

impl Releases for SqlStore {
    fn roots(&self) -> Result<Vec<Signed<Root>>> {
        let conn = self.read()?;
        let docs: Vec<String> = conn
            .query(
                "SELECT doc FROM release_roots ORDER BY version",
                args![],
                |r| r.get(0),
            )?
            .into_iter()
            .collect();
        docs.iter()
            .map(|d| json(&self.path, "release root", d))
            .collect()
    }

    fn trust_root(&self, root: &Signed<Root>, audit: &AuditEntry, now_ms: i64) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        tx.exec(
            "INSERT INTO release_roots (version, doc, trusted_at) VALUES (?1, ?2, ?3)",
            args![
                root.signed.version as i64,
                serde_json::to_string(root).expect("serializes"),
                now_ms
            ],
        )?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn publish_release(
        &self,
        release: &Signed<Release>,
        file: &str,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<()> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let r = &release.signed;
        let newest = load_releases(&tx, &self.path)?
            .into_iter()
            .find(|s| s.platform == r.platform)
            .map(|s| s.meta.signed.version);
        if let Some(newest) = newest.filter(|n| *n >= r.version) {
            return Err(ReleaseRefusal::NotNewer {
                version: r.version.to_string(),
                platform: r.platform.clone(),
                newest: newest.to_string(),
            }
            .into());
        }
        tx.exec(
            "INSERT INTO releases (version, platform, meta, file, sha256, published_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![
                r.version.to_string(),
                r.platform,
                serde_json::to_string(release).expect("serializes"),
                file,
                r.target.sha256,
                now_ms
            ],
        )?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn releases(&self) -> Result<Vec<StoredRelease>> {
        load_releases(&*self.read()?, &self.path)
    }

    fn add_stage(
        &self,
        version: &Version,
        scope: &Scope,
        rule: Option<HaltRule>,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<u32> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let v = version.to_string();
        let published: bool = tx
            .query_opt(
                "SELECT 1 FROM releases WHERE version = ?1",
                args![&v],
                |_| Ok(()),
            )?
            .is_some();
        if !published {
            return Err(ReleaseRefusal::Unpublished { version: v }.into());
        }
        let existing: Option<(String, Option<String>)> = tx.query_opt(
            "SELECT state, reason FROM rollouts WHERE version = ?1",
            args![&v],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        match existing {
            Some((state, reason)) if state == "halted" => {
                return Err(ReleaseRefusal::Halted {
                    version: v,
                    reason: reason.unwrap_or_default(),
                }
                .into())
            }
            Some(_) => {
                if let Some(rule) = rule {
                    tx.exec(
                        "UPDATE rollouts SET halt_at_percent = ?2, min_reports = ?3, soak_s = ?4,
                         updated_at = ?5 WHERE version = ?1",
                        args![
                            v,
                            rule.halt_at_percent,
                            rule.min_reports,
                            rule.soak_s as i64,
                            now_ms
                        ],
                    )?;
                }
            }
            None => {
                let rule = rule.unwrap_or(crate::release::DEFAULT_RULE);
                tx.exec("INSERT INTO rollouts (version, state, reason, halt_at_percent, min_reports,
                     soak_s, started_at, updated_at) VALUES (?1, 'running', NULL, ?2, ?3, ?4, ?5, ?5)", args![v, rule.halt_at_percent, rule.min_reports, rule.soak_s as i64, now_ms])?;
            }
        }
        let number: u32 = tx.query_one(
            "SELECT coalesce(max(stage), 0) + 1 FROM rollout_stages WHERE version = ?1",
            args![&v],
            |r| r.get(0),
        )?;
        tx.exec("INSERT INTO rollout_stages (version, stage, scope, started_at) VALUES (?1, ?2, ?3, ?4)", args![v, number, serde_json::to_string(scope).expect("serializes"), now_ms])?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(number)
    }

    fn set_halted(
        &self,
        version: &Version,
        halted: bool,
        reason: &str,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<bool> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let v = version.to_string();
        let state: Option<String> = tx.query_opt(
            "SELECT state FROM rollouts WHERE version = ?1",
            args![&v],
            |r| r.get(0),
        )?;
        let Some(state) = state else {
            return Err(ReleaseRefusal::Unpublished { version: v }.into());
        };
        let want = if halted { "halted" } else { "running" };
        if state == want {
            // Halting a halted rollout changes nothing (and never undoes the halt).
            return Ok(false);
        }
        tx.exec(
            "UPDATE rollouts SET state = ?2, reason = ?3, updated_at = ?4 WHERE version = ?1",
            args![v, want, halted.then_some(reason), now_ms],
        )?;
        append(&tx, audit, now_ms)?;
        tx.commit()?;
        Ok(true)
    }

    fn rollouts(&self) -> Result<Vec<RolloutRow>> {
        load_rollouts(&*self.read()?, &self.path)
    }

    fn device_updates(&self, version: &Version) -> Result<Vec<DeviceUpdate>> {
        let conn = self.read()?;
        let rows = conn.query(
            "SELECT device, unit, stage, offered_at, downloaded_at, installed_at, healthy_at,
                    failed_at, rolled_back_at, detail
             FROM device_updates WHERE version = ?1 ORDER BY stage, unit, device",
            args![version.to_string()],
            |r| {
                Ok(DeviceUpdate {
                    device: i2a(r.get(0)?),
                    unit: UnitCode(r.get(1)?),
                    stage: r.get(2)?,
                    offered_ms: r.get(3)?,
                    downloaded_ms: r.get(4)?,
                    installed_ms: r.get(5)?,
                    healthy_ms: r.get(6)?,
                    failed_ms: r.get(7)?,
                    rolled_back_ms: r.get(8)?,
                    detail: r.get(9)?,
                })
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    fn offer(
        &self,
        device: ActorId,
        unit: UnitCode,
        platform: &str,
        running: &str,
        now_ms: i64,
    ) -> Result<Option<(StoredRelease, u64)>> {
        let Ok(running) = running.parse::<Version>() else {
            return Ok(None);
        };
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let releases = load_releases(&tx, &self.path)?;
        for rollout in load_rollouts(&tx, &self.path)? {
            if rollout.state != RolloutState::Running || rollout.version <= running {
                continue;
            }
            let Some(release) = releases
                .iter()
                .find(|r| r.meta.signed.version == rollout.version && r.platform == platform)
            else {
                continue;
            };
            let v = rollout.version.to_string();
            let seen: Option<(Option<i64>,)> = tx.query_opt(
                "SELECT failed_at FROM device_updates WHERE device = ?1 AND version = ?2",
                args![a2i(device), v],
                |r| Ok((r.get(0)?,)),
            )?;
            match seen {
                // It failed this release: never offered it again.
                Some((Some(_),)) => continue,
                Some((None,)) => {}
                None => {
                    let Some(stage) = stage_of(&rollout.stages, device, unit, &rollout.version)
                    else {
                        continue;
                    };
                    tx.exec(
                        "INSERT INTO device_updates (device, version, unit, stage, offered_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        args![a2i(device), v, unit.0, stage, now_ms],
                    )?;
                }
            }
            tx.commit()?;
            return Ok(Some((release.clone(), rollout.rule.soak_s)));
        }
        Ok(None)
    }

    fn report(
        &self,
        device: ActorId,
        reports: &[UpdateReport],
        now_ms: i64,
    ) -> Result<Vec<String>> {
        let conn = self.conn();
        let tx = Tx::write(&*conn)?;
        let mut touched = Vec::new();
        for r in reports {
            let v = r.version.to_string();
            let stage: Option<u32> = tx.query_opt(
                "SELECT stage FROM device_updates WHERE device = ?1 AND version = ?2",
                args![a2i(device), v],
                |row| row.get(0),
            )?;
            // A report about a release this device was never offered is not counted.
            let Some(stage) = stage else { continue };
            for col in milestone(r.event) {
                tx.exec(
                    &format!(
                        "UPDATE device_updates SET {col} = coalesce({col}, ?3)
                         WHERE device = ?1 AND version = ?2"
                    ),
                    args![a2i(device), v, r.at_ms],
                )?;
            }
            // Failures say why; a download says how it came (a delta, the full file).
            let keep = match r.event {
                UpdateEvent::Failed | UpdateEvent::RolledBack => true,
                UpdateEvent::Downloaded => !r.detail.is_empty(),
                UpdateEvent::Installed | UpdateEvent::Healthy => false,
            };
            if keep {
                let detail: String = r.detail.chars().take(300).collect();
                tx.exec(
                    "UPDATE device_updates SET detail = ?3 WHERE device = ?1 AND version = ?2",
                    args![a2i(device), v, detail],
                )?;
            }
            if !touched.contains(&(v.clone(), stage)) {
                touched.push((v, stage));
            }
        }
        let mut halts = Vec::new();
        let rollouts = load_rollouts(&tx, &self.path)?;
        for (v, number) in touched {
            let Some(rollout) = rollouts
                .iter()
                .find(|r| r.version.to_string() == v && r.state == RolloutState::Running)
            else {
                continue;
            };
            let Some(stage) = rollout.stages.iter().find(|s| s.number == number) else {
                continue;
            };
            let Some(reason) = halt_reason(stage, verdicts(&tx, &v, number)?, &rollout.rule) else {
                continue;
            };
            tx.exec(
                "UPDATE rollouts SET state = 'halted', reason = ?2, updated_at = ?3
                 WHERE version = ?1 AND state = 'running'",
                args![v, reason, now_ms],
            )?;
            append(
                &tx,
                &AuditEntry {
                    actor: "hub".into(),
                    action: "release.halt".into(),
                    target: format!("version:{v}"),
                    outcome: "ok".into(),
                    ip: None,
                    detail: reason.clone(),
                },
                now_ms,
            )?;
            halts.push(format!("{v}: {reason}"));
        }
        tx.commit()?;
        Ok(halts)
    }

    fn may_download(&self, device: ActorId, sha256: &str) -> Result<Option<StoredRelease>> {
        let conn = self.read()?;
        let found: Option<(String, String, i64, String)> = conn.query_opt(
            "SELECT r.meta, r.file, r.published_at, r.platform
                 FROM releases r JOIN device_updates d ON d.version = r.version
                 WHERE d.device = ?1 AND r.sha256 = ?2 AND d.failed_at IS NULL
                 ORDER BY d.offered_at DESC LIMIT 1",
            args![a2i(device), sha256],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let Some((meta, file, published_ms, platform)) = found else {
            return Ok(None);
        };
        Ok(Some(StoredRelease {
            meta: json(&self.path, "release", &meta)?,
            platform,
            file,
            published_ms,
        }))
    }

    fn add_delta(
        &self,
        to_sha256: &str,
        from_sha256: &str,
        file: &str,
        patch: &Target,
    ) -> Result<()> {
        self.conn().exec(
            "INSERT INTO release_deltas (to_sha256, from_sha256, file, length, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (to_sha256, from_sha256) DO UPDATE
             SET file = excluded.file, length = excluded.length, sha256 = excluded.sha256",
            args![
                to_sha256,
                from_sha256,
                file,
                patch.length as i64,
                patch.sha256
            ],
        )?;
        Ok(())
    }

    fn delta(&self, to_sha256: &str, from_sha256: &str) -> Result<Option<(String, Target)>> {
        Ok(self.conn().query_opt(
            "SELECT file, length, sha256 FROM release_deltas
                 WHERE to_sha256 = ?1 AND from_sha256 = ?2",
            args![to_sha256, from_sha256],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    Target {
                        length: r.get::<i64>(1)?.max(0) as u64,
                        sha256: r.get(2)?,
                    },
                ))
            },
        )?)
    }
}
