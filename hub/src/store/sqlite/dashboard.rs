//! [`Dashboard`] on SQLite: reads of the rollups (see `rollup.rs`) and of one
//! commune's merged objects. Nothing here reads the op log.

use super::{bad_db, rollup, unit_served, SqliteStore};
use crate::error::{HubError, Result};
use crate::store::{
    CommuneData, CriterionTotal, Dashboard, KpiValue, PhaseTotal, PledgeFigures, ReportRow,
    StandingRow, UnitRow,
};
use cchc_common::rollout::Standing;
use cchc_common::{Definitions, Metric, Period, Score, UnitCode};
use cchc_sql::SqlObjects;
use rusqlite::{OptionalExtension, Row};

/// (commune, procedure, period, metric, value) as read.
type KpiRow = (Option<u32>, Option<String>, String, String, i64);

impl SqliteStore {
    fn period(&self, s: &str) -> Result<Period> {
        s.parse()
            .map_err(|e| bad_db(&self.path, format!("stored period '{s}': {e}")))
    }

    fn metric(&self, s: &str) -> Result<Metric> {
        s.parse()
            .map_err(|e| bad_db(&self.path, format!("stored metric '{s}': {e}")))
    }

    fn kpis(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        unit: bool,
        procedure: bool,
    ) -> Result<Vec<KpiValue>> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(sql)?;
        let rows: Vec<KpiRow> = st
            .query_map(args, |r| {
                let mut i = 0;
                let mut next = || {
                    i += 1;
                    i - 1
                };
                let u = if unit { Some(r.get(next())?) } else { None };
                let p = if procedure {
                    Some(r.get(next())?)
                } else {
                    None
                };
                Ok((u, p, r.get(next())?, r.get(next())?, r.get(next())?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        drop(st);
        drop(conn);
        rows.into_iter()
            .map(|(u, p, period, metric, value)| {
                Ok(KpiValue {
                    unit: u.map(UnitCode),
                    procedure: p,
                    period: self.period(&period)?,
                    metric: self.metric(&metric)?,
                    value,
                })
            })
            .collect()
    }
}

fn standing_row(r: &Row<'_>) -> rusqlite::Result<(StandingRow, String)> {
    let stage: String = r.get(11)?;
    Ok((
        StandingRow {
            unit: UnitCode(r.get(0)?),
            standing: Standing {
                phase: r.get(1)?,
                criteria: r.get(2)?,
                self_scored: r.get(3)?,
                self_total: Score(r.get(4)?),
                verified: r.get(5)?,
                verified_total: Score(r.get(6)?),
                score: Score(r.get(7)?),
                max_total: Score(r.get(8)?),
                pass_threshold: Score(0),
                provisional: r.get(10)?,
                stage: cchc_common::rollout::Stage::Assigned,
            },
            grade: r.get(12)?,
            assigned_at: r.get(13)?,
            self_assessed_at: r.get(14)?,
            verified_at: r.get(15)?,
        },
        stage,
    ))
}

impl Dashboard for SqliteStore {
    fn newest_definitions(&self) -> Result<Definitions> {
        rollup::newest_definitions(&*self.read()?)
    }

    fn units(&self) -> Result<Vec<UnitRow>> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT u.code, u.name, u.kind, p.phase,
                    (SELECT max(last_sync) FROM devices d WHERE d.unit = u.code)
             FROM units u LEFT JOIN phase_plan p ON p.unit = u.code ORDER BY u.code",
        )?;
        let rows = st.query_map([], |r| {
            Ok(UnitRow {
                unit: UnitCode(r.get(0)?),
                name: r.get(1)?,
                kind: r.get(2)?,
                phase: r.get(3)?,
                last_sync_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn standings(&self, phase: Option<u32>) -> Result<Vec<StandingRow>> {
        let defs = self.newest_definitions()?;
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT unit, phase, criteria, self_scored, self_total, verified, verified_total,
                    score, max_total, permille, provisional, stage, grade, assigned_at,
                    self_assessed_at, verified_at
             FROM standing WHERE ?1 IS NULL OR phase = ?1 ORDER BY unit",
        )?;
        let rows: Vec<(StandingRow, String)> = st
            .query_map([phase], standing_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(mut row, stage)| {
                row.standing.stage = stage
                    .parse()
                    .map_err(|e: String| bad_db(&self.path, format!("standing: {e}")))?;
                row.standing.pass_threshold = defs
                    .phase(row.standing.phase)
                    .map(|p| p.pass_threshold)
                    .unwrap_or_default();
                Ok(row)
            })
            .collect()
    }

    fn phase_totals(&self) -> Result<Vec<PhaseTotal>> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT phase, assigned, reported, verified, passed FROM phase_totals ORDER BY phase",
        )?;
        let rows = st.query_map([], |r| {
            Ok(PhaseTotal {
                phase: r.get(0)?,
                assigned: r.get(1)?,
                reported: r.get(2)?,
                verified: r.get(3)?,
                passed: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn criterion_totals(&self) -> Result<Vec<CriterionTotal>> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT phase, criterion, communes, total, at_max FROM criterion_totals
             ORDER BY phase, criterion",
        )?;
        let rows = st.query_map([], |r| {
            Ok(CriterionTotal {
                phase: r.get(0)?,
                criterion: r.get(1)?,
                communes: r.get(2)?,
                total_tenths: r.get(3)?,
                at_max: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn pledge_totals(&self, year: i32) -> Result<PledgeFigures> {
        let conn = self.read()?;
        let figures = conn
            .prepare_cached(
                "SELECT units, pledges, tasks, done FROM pledge_totals WHERE year = ?1",
            )?
            .query_row([year], |r| {
                Ok(PledgeFigures {
                    units: r.get(0)?,
                    pledges: r.get(1)?,
                    tasks: r.get(2)?,
                    done: r.get(3)?,
                })
            })
            .optional()?;
        Ok(figures.unwrap_or_default())
    }

    fn pledge_units(&self, year: Option<i32>) -> Result<Vec<(UnitCode, PledgeFigures)>> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT unit, sum(pledges), sum(tasks), sum(done) FROM pledge_units
             WHERE ?1 IS NULL OR year = ?1 GROUP BY unit HAVING sum(pledges) > 0 ORDER BY unit",
        )?;
        let rows = st.query_map([year], |r| {
            Ok((
                UnitCode(r.get(0)?),
                PledgeFigures {
                    units: 1,
                    pledges: r.get(1)?,
                    tasks: r.get(2)?,
                    done: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn kpi_province(&self, year: i32) -> Result<Vec<KpiValue>> {
        self.kpis(
            "SELECT period, metric, value FROM kpi_province WHERE substr(period, 1, 4) = ?1
             ORDER BY period, metric",
            [year.to_string()],
            false,
            false,
        )
    }

    fn kpi_units(&self, period: Period) -> Result<Vec<KpiValue>> {
        self.kpis(
            "SELECT unit, period, metric, value FROM kpi_unit WHERE period = ?1 ORDER BY unit, metric",
            [period.to_string()],
            true,
            false,
        )
    }

    fn kpi_units_within(&self, within: Period) -> Result<Vec<KpiValue>> {
        let mut rows = self.kpis(
            "SELECT unit, period, metric, value FROM kpi_unit WHERE substr(period, 1, 4) = ?1
             ORDER BY unit, period, metric",
            [within.year().to_string()],
            true,
            false,
        )?;
        rows.retain(|k| within.contains(&k.period));
        Ok(rows)
    }

    fn kpi_procedures(&self, period: Period) -> Result<Vec<KpiValue>> {
        self.kpis(
            "SELECT procedure, period, metric, value FROM kpi_procedure WHERE period = ?1
             ORDER BY procedure, metric",
            [period.to_string()],
            false,
            true,
        )
    }

    fn reports(&self, period: Period) -> Result<Vec<ReportRow>> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT unit, first_at, last_at, ops FROM reports WHERE period = ?1 ORDER BY unit",
        )?;
        let rows = st.query_map([period.to_string()], |r| {
            Ok(ReportRow {
                unit: UnitCode(r.get(0)?),
                period,
                first_at: r.get(1)?,
                last_at: r.get(2)?,
                ops: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn period_totals(&self, year: i32) -> Result<Vec<(Period, u64)>> {
        let rows: Vec<(String, u64)> = {
            let conn = self.read()?;
            let mut st = conn.prepare_cached(
                "SELECT period, communes FROM period_totals WHERE substr(period, 1, 4) = ?1
                 ORDER BY period",
            )?;
            let rows = st.query_map([year.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        rows.into_iter()
            .map(|(p, n)| Ok((self.period(&p)?, n)))
            .collect()
    }

    fn commune(&self, unit: UnitCode) -> Result<Option<CommuneData>> {
        let conn = self.read()?;
        if !unit_served(&conn, unit)? {
            return Ok(None);
        }
        let objects = SqlObjects::<HubError>::new(&conn, unit).load(None)?;
        let seen = {
            let mut st = conn.prepare_cached(
                "SELECT phase, criterion, kind, first_at, last_at FROM score_seen WHERE unit = ?1
                 ORDER BY phase, criterion, kind",
            )?;
            let rows = st.query_map([unit.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let reports: Vec<(String, i64, i64, u64)> = {
            let mut st = conn.prepare_cached(
                "SELECT period, first_at, last_at, ops FROM reports WHERE unit = ?1 ORDER BY period",
            )?;
            let rows = st.query_map([unit.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        drop(conn);
        let view = objects.view(unit);
        let reports = reports
            .into_iter()
            .map(|(p, first_at, last_at, ops)| {
                Ok(ReportRow {
                    unit,
                    period: self.period(&p)?,
                    first_at,
                    last_at,
                    ops,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Some(CommuneData {
            view,
            seen,
            reports,
        }))
    }
}
