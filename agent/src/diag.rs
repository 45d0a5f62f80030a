//! `cchc-agent diag`: how fast this PC's disk takes durable entries, for whoever
//! supports a commune whose officers find saving slow. In: a number of entries. Out:
//! entries per second through this program's own path (the one `record` and the
//! officers' page take: one IMMEDIATE transaction per entry, the op built, checked,
//! merged and logged, committed with `synchronous=FULL`), beside a bare SQLite loop
//! doing the least an entry needs (an op row and a counter upsert per durable
//! transaction) on the same disk, and the ratio of the two.
//!
//! Everything happens in a scratch directory beside the data (or in the temporary
//! directory before `init`), removed afterwards: the commune's data is never touched.

use crate::clock::{now_ms, today};
use crate::error::{AgentError, Result};
use crate::store::Store;
use cchc_common::{crdt, ActorId, Lang, Metric, UnitCatalog};
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `diag` measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiskFigures {
    /// Entries timed on each side.
    pub entries: usize,
    /// Durable entries per second through this program's path.
    pub agent_per_s: f64,
    /// Durable transactions per second of the bare SQLite loop.
    pub bare_sqlite_per_s: f64,
    /// agent / bare.
    pub ratio: f64,
}

/// Removes the scratch directory however the measurement ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Measures `entries` durable entries each way, in two alternating halves so that
/// neither side gets the disk's better moment.
pub fn disk(data_dir: &Path, entries: usize) -> Result<DiskFigures> {
    let base = if data_dir.is_dir() {
        data_dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let scratch = Scratch(base.join(format!("diag-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).map_err(|e| AgentError::io(&scratch.0, e))?;
    let unit = UnitCatalog::builtin()
        .communes()
        .next()
        .map(|u| u.code)
        .expect("the built-in list has communes");
    let mut store = Store::create(&scratch.0.join("agent.db"), unit, ActorId(1), now_ms())?;
    let defs = store.definitions()?;
    let procedure = defs.procedures[0].code.clone();
    let period = today().month_period();
    let bare = Bare::open(&scratch.0.join("bare.db"))?;
    let half = entries.div_ceil(2).max(1);
    let (mut ours, mut theirs) = (0.0, 0.0);
    let mut seq = 0;
    for _ in 0..2 {
        let t = Instant::now();
        for _ in 0..half {
            store.transact_local(now_ms(), |tx| {
                tx.edit(|o, ctx, defs| {
                    crdt::count_op(
                        o,
                        ctx,
                        defs,
                        period,
                        &procedure,
                        &[(Metric::Received, 1)],
                        false,
                    )
                })?;
                Ok(())
            })?;
        }
        ours += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..half {
            seq += 1;
            bare.entry(seq)?;
        }
        theirs += t.elapsed().as_secs_f64();
    }
    let n = (2 * half) as f64;
    let (agent_per_s, bare_sqlite_per_s) = (n / ours, n / theirs);
    Ok(DiskFigures {
        entries: 2 * half,
        agent_per_s,
        bare_sqlite_per_s,
        ratio: agent_per_s / bare_sqlite_per_s,
    })
}

/// The anchor: the same settings as the agent's database, the least an entry needs.
struct Bare(Connection);

impl Bare {
    fn open(path: &Path) -> Result<Bare> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE ops (actor INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
                               PRIMARY KEY (actor, seq)) WITHOUT ROWID;
             CREATE TABLE cells (key TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;",
        )?;
        Ok(Bare(conn))
    }

    /// One durable transaction: an op row the size of an entry's, a counter upsert.
    fn entry(&self, seq: i64) -> Result<()> {
        const BODY: &str = r#"{"v":1,"actor":"0000000000000001","seq":1,"hlc_ms":1796000000000,"hlc_c":0,"unit":4,"defs":1,"body":{"t":"count","period":"2026-12","procedure":"CT-01","deltas":[{"metric":"received","dir":"inc","amount":1,"total":1}]}}"#;
        self.0.execute_batch("BEGIN IMMEDIATE")?;
        self.0
            .prepare_cached("INSERT INTO ops (actor, seq, body) VALUES (1, ?1, ?2)")?
            .execute(params![seq, BODY])?;
        self.0
            .prepare_cached(
                "INSERT INTO cells (key, v) VALUES ('2026-12/CT-01/received', 1)
                 ON CONFLICT (key) DO UPDATE SET v = v + 1",
            )?
            .execute([])?;
        self.0.execute_batch("COMMIT")?;
        Ok(())
    }
}

/// The figures for a person.
pub fn text(f: &DiskFigures, lang: Lang) -> String {
    lang.pick(
        &format!(
            "Ghi bền vững trên đĩa máy này ({} mục mỗi bên):\n  qua chương trình: {:.0} mục/giây\n  vòng SQLite trần: {:.0} mục/giây\n  tỉ lệ: {:.2}\n",
            f.entries, f.agent_per_s, f.bare_sqlite_per_s, f.ratio
        ),
        &format!(
            "Durable entries on this PC's disk ({} each way):\n  through this program: {:.0} /s\n  bare SQLite loop: {:.0} /s\n  ratio: {:.2}\n",
            f.entries, f.agent_per_s, f.bare_sqlite_per_s, f.ratio
        ),
    )
    .to_string()
}
