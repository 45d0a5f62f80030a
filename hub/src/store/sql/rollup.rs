//! The dashboard's aggregates, kept up to date inside the transaction that changes
//! what they summarise, so a page never rescans the op log. In: each op as it is
//! merged ([`Touched::observe`]), phase assignments and newly published definitions.
//! Out: the rollup tables of schema 3:
//!
//! - `kpi_unit`, `kpi_province`, `kpi_procedure`: merged counts per commune / province /
//!   procedure, per period and metric, moved by each applied count op's deltas;
//! - `reports`, `period_totals`: who reported counts for which period, and how many;
//! - `score_seen`: when the hub first and last received each self-score and verification;
//! - `standing`, `effective_scores`: each planned commune's [`Standing`] in its phase and
//!   the score that counts per criterion; `phase_totals` and `criterion_totals` sum
//!   them, moved by the difference between a commune's old and new rows;
//! - `pledge_units`, `pledge_totals`: pledges, tasks and tasks done per commune and year.
//!
//! Every op is applied exactly once by the merge rules, so the deltas count it once.

use crate::error::Result;
use cchc_common::crdt::PledgeCrdt;
use cchc_common::op::{Dir, OpBody, TaskStatus};
use cchc_common::rollout::{CriterionScores, Standing};
use cchc_common::{Definitions, Metric, Op, Period, Score, UnitCode};
use cchc_sql::{args, insert_rows, Arg, Db, DbExt};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

/// What one batch of ops for one commune changed, collected while merging.
#[derive(Debug, Default)]
pub(super) struct Touched {
    /// (period, metric) → procedure → signed change (looked up by the op's own
    /// strings: a code is copied once per batch, not once per op).
    kpi: FxHashMap<(Period, Metric), FxHashMap<String, i64>>,
    /// Period → count ops received for it.
    reports: BTreeMap<Period, i64>,
    /// (phase, criterion, kind) of scores received.
    seen: BTreeSet<(u32, String, &'static str)>,
    /// Pledge years touched.
    pledge_years: BTreeSet<i32>,
}

impl Touched {
    /// Notes what an applied op changes.
    pub(super) fn observe(&mut self, op: &Op) {
        match &op.body {
            OpBody::Count {
                period,
                procedure,
                deltas,
                ..
            } => {
                for d in deltas {
                    let signed = match d.dir {
                        Dir::Inc => d.amount as i64,
                        Dir::Dec => -(d.amount as i64),
                    };
                    let by_procedure = self.kpi.entry((*period, d.metric)).or_default();
                    match by_procedure.get_mut(procedure.as_str()) {
                        Some(v) => *v += signed,
                        None => {
                            by_procedure.insert(procedure.clone(), signed);
                        }
                    }
                }
                *self.reports.entry(*period).or_default() += 1;
            }
            OpBody::Assess {
                phase, criterion, ..
            } => {
                self.seen.insert((*phase, criterion.clone(), "self"));
            }
            OpBody::Verify {
                phase, criterion, ..
            } => {
                self.seen.insert((*phase, criterion.clone(), "verified"));
            }
            OpBody::PledgeSign { year, .. }
            | OpBody::TaskAdd { year, .. }
            | OpBody::TaskStatus { year, .. }
            | OpBody::TaskRemove { year, .. } => {
                self.pledge_years.insert(*year);
            }
        }
    }

    /// Writes the batch's changes into the rollups of commune `unit`.
    pub(super) fn flush(self, conn: &dyn Db, unit: UnitCode, now_ms: i64) -> Result<()> {
        if !self.kpi.is_empty() {
            // One statement per table (multi-row), not one per row: a database on the
            // other side of a socket pays a round trip per statement.
            let (mut by_procedure, mut by_unit, mut by_province) =
                (Vec::new(), Vec::new(), Vec::new());
            for ((period, metric), procedures) in &self.kpi {
                let period = period.to_string();
                let mut sum = 0;
                for (procedure, v) in procedures {
                    by_procedure.extend([
                        Arg::Text(period.clone().into()),
                        Arg::Text(procedure.as_str().into()),
                        Arg::Text(metric.as_str().into()),
                        Arg::Int(*v),
                    ]);
                    sum += v;
                }
                by_unit.extend([
                    Arg::Int(i64::from(unit.0)),
                    Arg::Text(period.clone().into()),
                    Arg::Text(metric.as_str().into()),
                    Arg::Int(sum),
                ]);
                by_province.extend([
                    Arg::Text(period.into()),
                    Arg::Text(metric.as_str().into()),
                    Arg::Int(sum),
                ]);
            }
            insert_rows(
                conn,
                "INSERT INTO kpi_procedure (period, procedure, metric, value)",
                "ON CONFLICT (period, procedure, metric)
                 DO UPDATE SET value = kpi_procedure.value + excluded.value",
                4,
                &by_procedure,
            )?;
            insert_rows(
                conn,
                "INSERT INTO kpi_unit (unit, period, metric, value)",
                "ON CONFLICT (unit, period, metric)
                 DO UPDATE SET value = kpi_unit.value + excluded.value",
                4,
                &by_unit,
            )?;
            insert_rows(
                conn,
                "INSERT INTO kpi_province (period, metric, value)",
                "ON CONFLICT (period, metric)
                 DO UPDATE SET value = kpi_province.value + excluded.value",
                3,
                &by_province,
            )?;
        }
        for (period, ops) in &self.reports {
            let period = period.to_string();
            let new = conn
                .exec("INSERT INTO reports (unit, period, first_at, last_at, ops) VALUES (?1, ?2, ?3, ?3, ?4)
                     ON CONFLICT (unit, period) DO NOTHING", args![unit.0, period, now_ms, ops])?;
            if new == 1 {
                conn.exec(
                    "INSERT INTO period_totals (period, communes) VALUES (?1, 1)
                     ON CONFLICT (period) DO UPDATE SET communes = period_totals.communes + 1",
                    args![period],
                )?;
            } else {
                conn.exec("UPDATE reports SET last_at = ?3, ops = ops + ?4 WHERE unit = ?1 AND period = ?2", args![unit.0, period, now_ms, ops])?;
            }
        }
        for (phase, criterion, kind) in &self.seen {
            conn.exec("INSERT INTO score_seen (unit, phase, criterion, kind, first_at, last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (unit, phase, criterion, kind) DO UPDATE SET last_at = excluded.last_at", args![unit.0, phase, criterion, kind, now_ms])?;
        }
        if !self.seen.is_empty() {
            refresh_standing(conn, unit, &newest_definitions(conn)?)?;
        }
        for year in self.pledge_years {
            refresh_pledges(conn, unit, year)?;
        }
        Ok(())
    }
}

/// A commune's standing row as stored (what the phase totals count).
#[derive(Debug, Clone, PartialEq, Eq)]
struct StandingRow {
    phase: u32,
    reported: bool,
    verified: bool,
    passed: bool,
}

/// Recomputes one commune's standing in its assigned phase from its current scores,
/// and moves the phase and criterion totals by the difference. A commune outside the
/// rollout plan (or in a phase the definitions no longer have) has no standing.
pub(super) fn refresh_standing(conn: &dyn Db, unit: UnitCode, defs: &Definitions) -> Result<()> {
    let old: Option<StandingRow> = conn.query_opt(
        "SELECT phase, self_scored = criteria, stage IN ('passed', 'failed'), stage = 'passed'
             FROM standing WHERE unit = ?1",
        args![unit.0],
        |r| {
            Ok(StandingRow {
                phase: r.get(0)?,
                reported: r.get(1)?,
                verified: r.get(2)?,
                passed: r.get(3)?,
            })
        },
    )?;
    if let Some(o) = &old {
        move_phase_totals(conn, o, -1)?;
        conn.exec("DELETE FROM standing WHERE unit = ?1", args![unit.0])?;
    }
    let old_scores: Vec<(u32, String, i64, bool)> = conn.query(
        "SELECT phase, criterion, score, at_max FROM effective_scores WHERE unit = ?1",
        args![unit.0],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    for (phase, criterion, score, at_max) in &old_scores {
        move_criterion_totals(conn, *phase, criterion, -1, -score, -(*at_max as i64))?;
    }
    conn.exec(
        "DELETE FROM effective_scores WHERE unit = ?1",
        args![unit.0],
    )?;

    let plan: Option<(u32, i64)> = conn.query_opt(
        "SELECT phase, assigned_at FROM phase_plan WHERE unit = ?1",
        args![unit.0],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((phase_no, assigned_at)) = plan else {
        return Ok(());
    };
    let Ok(phase) = defs.phase(phase_no) else {
        return Ok(());
    };
    let mut scores: BTreeMap<String, CriterionScores> = BTreeMap::new();
    for (table, verified) in [("assessments", false), ("verifications", true)] {
        let rows = conn.query(
            &format!("SELECT criterion, score FROM {table} WHERE unit = ?1 AND phase = ?2"),
            args![unit.0, phase_no],
            |r| Ok((r.get::<String>(0)?, Score(r.get(1)?))),
        )?;
        for (c, s) in rows {
            let e = scores.entry(c).or_default();
            if verified {
                e.verified = Some(s);
            } else {
                e.self_score = Some(s);
            }
        }
    }
    let standing = Standing::evaluate(phase, |c| scores.get(c).copied().unwrap_or_default());
    // When the last criterion was first self-scored / last verified, if all are.
    let when = |kind: &str, col: &str, complete: bool| -> Result<Option<i64>> {
        if !complete {
            return Ok(None);
        }
        let mut at: Option<i64> = None;
        let sql = format!(
            "SELECT {col} FROM score_seen WHERE unit = ?1 AND phase = ?2 AND criterion = ?3 AND kind = ?4"
        );
        for c in &phase.criteria {
            let t: Option<i64> =
                conn.query_opt(&sql, args![unit.0, phase_no, c.code, kind], |r| r.get(0))?;
            at = at.max(t);
        }
        Ok(at)
    };
    let self_at = when(
        "self",
        "first_at",
        standing.self_scored == standing.criteria,
    )?;
    let verified_at = when("verified", "last_at", !standing.provisional)?;
    conn.exec(
        "INSERT INTO standing (unit, phase, criteria, self_scored, self_total, verified,
             verified_total, score, max_total, permille, provisional, stage, grade,
             assigned_at, self_assessed_at, verified_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        args![
            unit.0,
            phase_no,
            standing.criteria,
            standing.self_scored,
            standing.self_total.0,
            standing.verified,
            standing.verified_total.0,
            standing.score.0,
            standing.max_total.0,
            standing.permille(),
            standing.provisional,
            standing.stage.as_str(),
            if standing.has_score() {
                standing.grade(defs)
            } else {
                ""
            },
            assigned_at,
            self_at,
            verified_at
        ],
    )?;
    move_phase_totals(
        conn,
        &StandingRow {
            phase: phase_no,
            reported: standing.self_scored == standing.criteria,
            verified: standing.stage.is_verified(),
            passed: standing.stage == cchc_common::rollout::Stage::Passed,
        },
        1,
    )?;
    for c in &phase.criteria {
        if let Some(s) = scores.get(&c.code).and_then(|cs| cs.effective()) {
            let at_max = s >= c.max_score;
            conn.exec(
                "INSERT INTO effective_scores (unit, phase, criterion, score, at_max)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                args![unit.0, phase_no, c.code, s.0, at_max],
            )?;
            move_criterion_totals(conn, phase_no, &c.code, 1, s.0 as i64, at_max as i64)?;
        }
    }
    Ok(())
}

fn move_phase_totals(conn: &dyn Db, row: &StandingRow, sign: i64) -> Result<()> {
    conn.exec(
        "INSERT INTO phase_totals (phase, assigned, reported, verified, passed)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (phase) DO UPDATE SET assigned = phase_totals.assigned + excluded.assigned,
             reported = phase_totals.reported + excluded.reported,
             verified = phase_totals.verified + excluded.verified,
             passed = phase_totals.passed + excluded.passed",
        args![
            row.phase,
            sign,
            sign * row.reported as i64,
            sign * row.verified as i64,
            sign * row.passed as i64
        ],
    )?;
    conn.exec(
        "DELETE FROM phase_totals WHERE phase = ?1 AND assigned = 0",
        args![row.phase],
    )?;
    Ok(())
}

fn move_criterion_totals(
    conn: &dyn Db,
    phase: u32,
    criterion: &str,
    communes: i64,
    total: i64,
    at_max: i64,
) -> Result<()> {
    conn.exec(
        "INSERT INTO criterion_totals (phase, criterion, communes, total, at_max)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (phase, criterion)
         DO UPDATE SET communes = criterion_totals.communes + excluded.communes,
             total = criterion_totals.total + excluded.total,
             at_max = criterion_totals.at_max + excluded.at_max",
        args![phase, criterion, communes, total, at_max],
    )?;
    conn.exec(
        "DELETE FROM criterion_totals WHERE phase = ?1 AND criterion = ?2 AND communes = 0",
        args![phase, criterion],
    )?;
    Ok(())
}

/// Recomputes one commune's pledge figures for a year from its merged pledges, and
/// moves the year's totals by the difference.
pub(super) fn refresh_pledges(conn: &dyn Db, unit: UnitCode, year: i32) -> Result<()> {
    let old: Option<(i64, i64, i64)> = conn.query_opt(
        "SELECT pledges, tasks, done FROM pledge_units WHERE unit = ?1 AND year = ?2",
        args![unit.0, year],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let states: Vec<String> = conn.query(
        "SELECT state FROM pledges WHERE unit = ?1 AND year = ?2",
        args![unit.0, year],
        |r| r.get(0),
    )?;
    let (mut pledges, mut tasks, mut done) = (0i64, 0i64, 0i64);
    for s in states {
        let p: PledgeCrdt =
            serde_json::from_str(&s).map_err(|e| crate::error::HubError::BadDatabase {
                path: "hub.db".into(),
                detail: format!("pledge state: {e}"),
            })?;
        if p.header.is_none() {
            continue;
        }
        pledges += 1;
        for id in p.task_ids() {
            tasks += 1;
            if p.statuses.get(&id).map(|s| s.val) == Some(TaskStatus::Done) {
                done += 1;
            }
        }
    }
    let (op, ot, od) = old.unwrap_or((0, 0, 0));
    conn.exec(
        "INSERT INTO pledge_units (unit, year, pledges, tasks, done) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (unit, year) DO UPDATE SET pledges = excluded.pledges,
             tasks = excluded.tasks, done = excluded.done",
        args![unit.0, year, pledges, tasks, done],
    )?;
    conn.exec(
        "INSERT INTO pledge_totals (year, units, pledges, tasks, done) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (year) DO UPDATE SET units = pledge_totals.units + excluded.units,
             pledges = pledge_totals.pledges + excluded.pledges,
             tasks = pledge_totals.tasks + excluded.tasks,
             done = pledge_totals.done + excluded.done",
        args![
            year,
            (pledges > 0) as i64 - (op > 0) as i64,
            pledges - op,
            tasks - ot,
            done - od
        ],
    )?;
    Ok(())
}

/// The newest published definitions (the criteria sets the dashboard judges by).
pub(super) fn newest_definitions(conn: &dyn Db) -> Result<Definitions> {
    let body: String = conn.query_one(
        "SELECT body FROM definitions ORDER BY version DESC LIMIT 1",
        args![],
        |r| r.get(0),
    )?;
    serde_json::from_str(&body).map_err(|e| crate::error::HubError::BadDatabase {
        path: "hub.db".into(),
        detail: format!("stored definitions: {e}"),
    })
}

/// Recomputes the standing of every commune in the rollout plan (after new definitions
/// change criteria sets or thresholds).
pub(super) fn refresh_all_standings(conn: &dyn Db) -> Result<()> {
    let defs = newest_definitions(conn)?;
    let units: Vec<u32> = conn.query(
        "SELECT unit FROM phase_plan UNION SELECT unit FROM standing",
        args![],
        |r| r.get(0),
    )?;
    for u in units {
        refresh_standing(conn, UnitCode(u), &defs)?;
    }
    Ok(())
}

/// Rebuilds every rollup from the op log and merged state (once, when a hub created
/// before the rollups existed is migrated).
pub(super) fn rebuild(conn: &dyn Db) -> Result<()> {
    let rows = conn.query(
        "SELECT unit, received_at, body FROM ops ORDER BY received_at, actor, seq",
        args![],
        |r| Ok((r.get::<u32>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?)),
    )?;
    let mut pending: Option<(u32, i64, Touched)> = None;
    for (unit, at, body) in rows {
        let op = Op::from_json(&body).map_err(|e| crate::error::HubError::BadDatabase {
            path: "hub.db".into(),
            detail: format!("op log entry: {e}"),
        })?;
        if pending
            .as_ref()
            .is_some_and(|(u, t, _)| (*u, *t) != (unit, at))
        {
            let (u, t, touched) = pending.take().expect("checked");
            touched.flush(conn, UnitCode(u), t)?;
        }
        pending
            .get_or_insert_with(|| (unit, at, Touched::default()))
            .2
            .observe(&op);
    }
    if let Some((u, t, touched)) = pending {
        touched.flush(conn, UnitCode(u), t)?;
    }
    Ok(())
}
