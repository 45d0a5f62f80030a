//! [`Dashboard`] on SQLite: reads of the rollups (see `rollup.rs`) and of one
//! commune's merged objects. Nothing here reads the op log.

use super::{bad_db, rollup, unit_served, SqlStore};
use crate::error::{HubError, Result};
use crate::store::{
    CommuneData, CriterionTotal, Dashboard, KpiValue, PhaseTotal, PledgeFigures, ReportRow,
    StandingRow, UnitRow,
};
use cchc_common::rollout::Standing;
use cchc_common::{Definitions, Metric, Period, Score, UnitCode};
use cchc_sql::SqlObjects;
use cchc_sql::{args, Arg, DbExt, Row, SqlError};

/// (commune, procedure, period, metric, value) as read.
type KpiRow = (Option<u32>, Option<String>, String, String, i64);

impl SqlStore {
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
        args: &[Arg<'_>],
        unit: bool,
        procedure: bool,
    ) -> Result<Vec<KpiValue>> {
        let conn = self.read()?;
        let rows: Vec<KpiRow> = conn.query(sql, args, |r| {
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
        })?;
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

fn standing_row(r: &dyn Row) -> Result<(StandingRow, String), SqlError> {
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

impl Dashboard for SqlStore {
    fn newest_definitions(&self) -> Result<Definitions> {
        rollup::newest_definitions(&*self.read()?)
    }

    fn units(&self) -> Result<Vec<UnitRow>> {
        let conn = self.read()?;
        let rows = conn.query(
            "SELECT u.code, u.name, u.kind, p.phase,
                    (SELECT max(last_sync) FROM devices d WHERE d.unit = u.code)
             FROM units u LEFT JOIN phase_plan p ON p.unit = u.code ORDER BY u.code",
            args![],
            |r| {
                Ok(UnitRow {
                    unit: UnitCode(r.get(0)?),
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    phase: r.get(3)?,
                    last_sync_ms: r.get(4)?,
                })
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    fn standings(&self, phase: Option<u32>) -> Result<Vec<StandingRow>> {
        let defs = self.newest_definitions()?;
        let conn = self.read()?;
        let rows: Vec<(StandingRow, String)> = conn.query(
            "SELECT unit, phase, criteria, self_scored, self_total, verified, verified_total,
                    score, max_total, permille, provisional, stage, grade, assigned_at,
                    self_assessed_at, verified_at
             FROM standing WHERE phase = ?1 OR ?1 IS NULL ORDER BY unit",
            args![phase],
            standing_row,
        )?;
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
        let rows = conn.query(
            "SELECT phase, assigned, reported, verified, passed FROM phase_totals ORDER BY phase",
            args![],
            |r| {
                Ok(PhaseTotal {
                    phase: r.get(0)?,
                    assigned: r.get(1)?,
                    reported: r.get(2)?,
                    verified: r.get(3)?,
                    passed: r.get(4)?,
                })
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    fn criterion_totals(&self) -> Result<Vec<CriterionTotal>> {
        let conn = self.read()?;
        let rows = conn.query(
            "SELECT phase, criterion, communes, total, at_max FROM criterion_totals
             ORDER BY phase, criterion",
            args![],
            |r| {
                Ok(CriterionTotal {
                    phase: r.get(0)?,
                    criterion: r.get(1)?,
                    communes: r.get(2)?,
                    total_tenths: r.get(3)?,
                    at_max: r.get(4)?,
                })
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    fn pledge_totals(&self, year: i32) -> Result<PledgeFigures> {
        let conn = self.read()?;
        let figures = conn.query_opt(
            "SELECT units, pledges, tasks, done FROM pledge_totals WHERE year = ?1",
            args![year],
            |r| {
                Ok(PledgeFigures {
                    units: r.get(0)?,
                    pledges: r.get(1)?,
                    tasks: r.get(2)?,
                    done: r.get(3)?,
                })
            },
        )?;
        Ok(figures.unwrap_or_default())
    }

    fn pledge_units(&self, year: Option<i32>) -> Result<Vec<(UnitCode, PledgeFigures)>> {
        let conn = self.read()?;
        let rows = conn.query(
            "SELECT unit, CAST(sum(pledges) AS BIGINT), CAST(sum(tasks) AS BIGINT),
                    CAST(sum(done) AS BIGINT) FROM pledge_units
             WHERE year = ?1 OR ?1 IS NULL GROUP BY unit HAVING sum(pledges) > 0 ORDER BY unit",
            args![year],
            |r| {
                Ok((
                    UnitCode(r.get(0)?),
                    PledgeFigures {
                        units: 1,
                        pledges: r.get(1)?,
                        tasks: r.get(2)?,
                        done: r.get(3)?,
                    },
                ))
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    fn kpi_province(&self, year: i32) -> Result<Vec<KpiValue>> {
        self.kpis(
            "SELECT period, metric, value FROM kpi_province WHERE substr(period, 1, 4) = ?1
             ORDER BY period, metric",
            args![year.to_string()],
            false,
            false,
        )
    }

    fn kpi_units(&self, period: Period) -> Result<Vec<KpiValue>> {
        self.kpis(
            "SELECT unit, period, metric, value FROM kpi_unit WHERE period = ?1 ORDER BY unit, metric",
            args![period.to_string()],
            true,
            false,
        )
    }

    fn kpi_units_within(&self, within: Period) -> Result<Vec<KpiValue>> {
        let mut rows = self.kpis(
            "SELECT unit, period, metric, value FROM kpi_unit WHERE substr(period, 1, 4) = ?1
             ORDER BY unit, period, metric",
            args![within.year().to_string()],
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
            args![period.to_string()],
            false,
            true,
        )
    }

    fn reports(&self, period: Period) -> Result<Vec<ReportRow>> {
        let conn = self.read()?;
        let rows = conn.query(
            "SELECT unit, first_at, last_at, ops FROM reports WHERE period = ?1 ORDER BY unit",
            args![period.to_string()],
            |r| {
                Ok(ReportRow {
                    unit: UnitCode(r.get(0)?),
                    period,
                    first_at: r.get(1)?,
                    last_at: r.get(2)?,
                    ops: r.get(3)?,
                })
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    fn period_totals(&self, year: i32) -> Result<Vec<(Period, u64)>> {
        let rows: Vec<(String, u64)> = {
            let conn = self.read()?;
            let rows = conn.query(
                "SELECT period, communes FROM period_totals WHERE substr(period, 1, 4) = ?1
                 ORDER BY period",
                args![year.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            rows.into_iter().collect()
        };
        rows.into_iter()
            .map(|(p, n)| Ok((self.period(&p)?, n)))
            .collect()
    }

    fn effective_scores(&self) -> Result<Vec<(UnitCode, u32, String, i64)>> {
        let conn = self.read()?;
        Ok(conn.query(
            "SELECT unit, phase, criterion, score FROM effective_scores ORDER BY unit, criterion",
            args![],
            |r| Ok((UnitCode(r.get(0)?), r.get(1)?, r.get(2)?, r.get(3)?)),
        )?)
    }

    fn commune(&self, unit: UnitCode) -> Result<Option<CommuneData>> {
        let conn = self.read()?;
        if !unit_served(&*conn, unit)? {
            return Ok(None);
        }
        let objects = SqlObjects::<HubError>::new(&*conn, unit).load(None)?;
        let seen = {
            let rows = conn.query(
                "SELECT phase, criterion, kind, first_at, last_at FROM score_seen WHERE unit = ?1
                 ORDER BY phase, criterion, kind",
                args![unit.0],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
            rows.into_iter().collect()
        };
        let reports: Vec<(String, i64, i64, u64)> = {
            let rows = conn.query("SELECT period, first_at, last_at, ops FROM reports WHERE unit = ?1 ORDER BY period", args![unit.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.into_iter().collect()
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
