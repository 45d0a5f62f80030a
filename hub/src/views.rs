//! The `status` and `report` documents (CLI `--json` and `/api/v1/status`, `/report`)
//! and their text form. In: the rollups the dashboard reads (the store's `Dashboard`
//! side) and each
//! commune's sync state. Out: typed documents whose keys are written here, never
//! derived from labels.
//!
//! One read model: the figures are the dashboard's. Counts come from the same KPI
//! rollups the figures page reads, the three rates from `cchc_common::kpi` (percent,
//! one decimal, absent without a denominator), the phase standing and pledges from the
//! same rollups as the overview and commune pages; nothing here scans the CRDT tables.

use crate::error::Result;
use crate::pages::kpi::by_unit;
use crate::store::HubStore;
use cchc_common::kpi::{previous_month, round1, trend, Counts};
use cchc_common::rollout::Stage;
use cchc_common::{Date, Lang, Metric, Period, UnitCode};
use serde::Serialize;
use std::collections::BTreeMap;

/// `cchc-hub status --json`: every commune's sync state and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusDoc {
    /// Province code.
    pub province: u32,
    /// Province name.
    pub province_name: String,
    /// Communes with at least one sync.
    pub communes_synced: usize,
    /// Every commune, by code.
    pub communes: Vec<CommuneStatus>,
}

/// One commune in [`StatusDoc`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommuneStatus {
    /// Commune code.
    pub unit: u32,
    /// Name.
    pub name: String,
    /// Last sync of any of its devices (RFC 3339, Vietnam time).
    pub last_sync: Option<String>,
    /// The same in ms since the epoch.
    pub last_sync_ms: Option<i64>,
    /// Ops held.
    pub ops: u64,
    /// Enrolled devices.
    pub devices: u32,
    /// Its phase in the rollout plan.
    pub phase: Option<u32>,
    /// Where it stands in that phase (`assigned`, `self_assessed`, `passed`, `failed`).
    pub stage: Option<Stage>,
    /// Its score in that phase: verified where verified, else self-assessed.
    pub score: Option<f64>,
    /// Pledges signed (every year).
    pub pledges: u64,
    /// Tasks registered in them.
    pub tasks: u64,
    /// Tasks done.
    pub tasks_done: u64,
}

/// The status document.
pub fn status_doc(store: &dyn HubStore) -> Result<StatusDoc> {
    let province = store.province()?;
    let plan: BTreeMap<UnitCode, Option<u32>> = store
        .units()?
        .into_iter()
        .map(|u| (u.unit, u.phase))
        .collect();
    let standings: BTreeMap<UnitCode, _> = store
        .standings(None)?
        .into_iter()
        .map(|s| (s.unit, s.standing))
        .collect();
    let pledges: BTreeMap<UnitCode, _> = store.pledge_units(None)?.into_iter().collect();
    let communes: Vec<CommuneStatus> = store
        .sync_status()?
        .into_iter()
        .map(|u| {
            let st = standings.get(&u.unit);
            let p = pledges.get(&u.unit).copied().unwrap_or_default();
            CommuneStatus {
                unit: u.unit.0,
                name: u.name,
                last_sync: u.last_sync_ms.map(Date::rfc3339_vn),
                last_sync_ms: u.last_sync_ms,
                ops: u.ops,
                devices: u.devices,
                phase: plan.get(&u.unit).copied().flatten(),
                stage: st.map(|s| s.stage),
                score: st.filter(|s| s.has_score()).map(|s| s.score.as_f64()),
                pledges: p.pledges,
                tasks: p.tasks,
                tasks_done: p.done,
            }
        })
        .collect();
    Ok(StatusDoc {
        province: province.code,
        province_name: province.name,
        communes_synced: communes.iter().filter(|c| c.last_sync_ms.is_some()).count(),
        communes,
    })
}

/// Every metric and the three rates, as the figures page shows them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// Dossiers received.
    pub received: i64,
    /// Resolved on time.
    pub on_time: i64,
    /// Resolved late.
    pub late: i64,
    /// Pending.
    pub pending: i64,
    /// Rejected.
    pub rejected: i64,
    /// Received online.
    pub online: i64,
    /// Citizens satisfied.
    pub satisfied: i64,
    /// Citizens not satisfied.
    pub unsatisfied: i64,
    /// On-time share of resolved dossiers (%).
    pub on_time_rate: Option<f64>,
    /// Online share of received dossiers (%).
    pub online_rate: Option<f64>,
    /// Satisfied share (%).
    pub satisfaction: Option<f64>,
    /// On-time rate minus the previous month's, in points (month reports only).
    pub on_time_trend: Option<f64>,
}

impl Figures {
    fn of(c: &Counts, before: Option<&Counts>) -> Figures {
        Figures {
            received: c.get(Metric::Received),
            on_time: c.get(Metric::OnTime),
            late: c.get(Metric::Late),
            pending: c.get(Metric::Pending),
            rejected: c.get(Metric::Rejected),
            online: c.get(Metric::Online),
            satisfied: c.get(Metric::Satisfied),
            unsatisfied: c.get(Metric::Unsatisfied),
            on_time_rate: c.on_time_rate().map(round1),
            online_rate: c.online_rate().map(round1),
            satisfaction: c.satisfaction().map(round1),
            on_time_trend: before
                .and_then(|b| trend(c.on_time_rate(), b.on_time_rate()))
                .map(round1),
        }
    }
}

/// `cchc-hub report --json`: the province's and every commune's figures for a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportDoc {
    /// The period (a month, quarter or year), with every period recorded within it.
    pub period: String,
    /// Province code.
    pub province: u32,
    /// Province name.
    pub province_name: String,
    /// Communes that recorded any count within the period.
    pub communes_reported: usize,
    /// The province's figures.
    pub totals: Figures,
    /// Communes whose figures look impossible (see `warnings`).
    pub communes_doubtful: usize,
    /// Every commune, by code.
    pub communes: Vec<CommuneReport>,
}

/// One commune in [`ReportDoc`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommuneReport {
    /// Commune code.
    pub unit: u32,
    /// Name.
    pub name: String,
    /// Whether it recorded any count within the period.
    pub reported: bool,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// Figures that look impossible (plausibility rules): questions for the analyst.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<cchc_common::kpi::Doubt>,
}

/// The report document for a period.
pub fn report_doc(store: &dyn HubStore, period: Period) -> Result<ReportDoc> {
    let province = store.province()?;
    let now = by_unit(store.kpi_units_within(period)?);
    let before = match previous_month(period) {
        Some(p) => Some(by_unit(store.kpi_units_within(p)?)),
        None => None,
    };
    let communes: Vec<CommuneReport> = store
        .units()?
        .into_iter()
        .map(|u| {
            let counts = now.get(&u.unit);
            // Pending carried over from the month before (months only).
            let pending_before = before.as_ref().map(|b| {
                b.get(&u.unit)
                    .map_or(0, |c| c.get(cchc_common::Metric::Pending))
            });
            CommuneReport {
                unit: u.unit.0,
                name: u.name,
                reported: counts.is_some(),
                figures: Figures::of(
                    &counts.copied().unwrap_or_default(),
                    before.as_ref().and_then(|b| b.get(&u.unit)),
                ),
                warnings: counts
                    .map(|c| cchc_common::kpi::doubts(c, pending_before))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let before_total: Option<Counts> = before.as_ref().map(|b| b.values().sum());
    Ok(ReportDoc {
        period: period.to_string(),
        province: province.code,
        province_name: province.name,
        communes_reported: communes.iter().filter(|c| c.reported).count(),
        communes_doubtful: communes.iter().filter(|c| !c.warnings.is_empty()).count(),
        totals: Figures::of(&now.values().sum(), before_total.as_ref()),
        communes,
    })
}

/// A rate as text: `97,3%` in Vietnamese, `97.3%` in English, `—` when absent.
fn pct(v: Option<f64>, lang: Lang) -> String {
    v.map(|r| format!("{}%", lang.number(r, 1)))
        .unwrap_or_else(|| "—".into())
}

/// Text form of the status document.
pub fn status_text(doc: &StatusDoc, lang: Lang) -> String {
    let mut out = format!(
        "{} {} ({}) — {} {}/{}\n\n",
        lang.pick("Máy chủ tỉnh:", "Hub of"),
        doc.province_name,
        doc.province,
        lang.pick("xã đã đồng bộ", "communes synced"),
        doc.communes_synced,
        doc.communes.len(),
    );
    out.push_str(&format!(
        "{:<7} {:<32} {:<17} {:>7} {:>5} {:>3} {:<14} {:>6} {:>9}\n",
        lang.pick("Mã", "Code"),
        lang.pick("Đơn vị", "Commune"),
        lang.pick("Đồng bộ lần cuối", "Last sync"),
        lang.pick("Bản ghi", "Ops"),
        lang.pick("Máy", "PCs"),
        lang.pick("GĐ", "Ph."),
        lang.pick("Trạng thái", "Stage"),
        lang.pick("Điểm", "Score"),
        lang.pick("Nhiệm vụ", "Tasks"),
    ));
    for c in &doc.communes {
        let last = c
            .last_sync_ms
            .map(Date::display_vn)
            .unwrap_or_else(|| lang.pick("chưa đồng bộ", "never").to_string());
        let stage = c.stage.map(|s| s.label(lang)).unwrap_or_default();
        out.push_str(&format!(
            "{:<7} {:<32} {:<17} {:>7} {:>5} {:>3} {:<14} {:>6} {:>9}\n",
            c.unit,
            c.name,
            last,
            c.ops,
            c.devices,
            c.phase.map(|p| p.to_string()).unwrap_or_default(),
            stage,
            c.score.map(|s| lang.number(s, 1)).unwrap_or_default(),
            format!("{}/{}", c.tasks_done, c.tasks),
        ));
    }
    out.push_str(lang.pick(
        "\n(Điểm: điểm thẩm định nếu đã thẩm định, nếu không là điểm tự chấm; Nhiệm vụ: đã hoàn thành / đã đăng ký)\n",
        "\n(Score: verified where verified, else self-assessed; Tasks: done / registered)\n",
    ));
    out
}

/// Text form of the report document.
pub fn report_text(doc: &ReportDoc, lang: Lang) -> String {
    let t = &doc.totals;
    let mut out = format!(
        "{} {} — {} {}\n",
        lang.pick("Báo cáo thủ tục hành chính", "Procedure report"),
        doc.province_name,
        lang.pick("kỳ", "period"),
        doc.period,
    );
    out.push_str(&format!(
        "{}: {} {} {}/{}; {} {}, {} {}, {} {}\n\n",
        lang.pick("Toàn tỉnh", "Province"),
        lang.number(t.received as f64, 0),
        lang.pick(
            "hồ sơ tiếp nhận; xã đã báo cáo",
            "dossiers received; communes reported"
        ),
        doc.communes_reported,
        doc.communes.len(),
        lang.pick("đúng hạn", "on time"),
        pct(t.on_time_rate, lang),
        lang.pick("trực tuyến", "online"),
        pct(t.online_rate, lang),
        lang.pick("hài lòng", "satisfied"),
        pct(t.satisfaction, lang),
    ));
    out.push_str(&format!(
        "{:<7} {:<32} {:>9} {:>9} {:>9} {:>9}\n",
        lang.pick("Mã", "Code"),
        lang.pick("Đơn vị", "Commune"),
        lang.pick("Tiếp nhận", "Received"),
        lang.pick("Đúng hạn", "On time"),
        lang.pick("Trực tuyến", "Online"),
        lang.pick("Hài lòng", "Satisfied"),
    ));
    for c in doc.communes.iter().filter(|c| c.reported) {
        out.push_str(&format!(
            "{:<7} {:<32} {:>9} {:>9} {:>9} {:>9}\n",
            c.unit,
            c.name,
            lang.number(c.figures.received as f64, 0),
            pct(c.figures.on_time_rate, lang),
            pct(c.figures.online_rate, lang),
            pct(c.figures.satisfaction, lang),
        ));
    }
    let doubtful: Vec<&CommuneReport> = doc
        .communes
        .iter()
        .filter(|c| !c.warnings.is_empty())
        .collect();
    if !doubtful.is_empty() {
        out.push_str(&format!(
            "\n{} ({}):\n",
            lang.pick(
                "Số liệu khó xảy ra, cần hỏi lại đơn vị",
                "Figures that look impossible: ask the commune"
            ),
            doubtful.len()
        ));
        for c in doubtful {
            for w in &c.warnings {
                out.push_str(&format!(
                    "  {} {}: {}\n",
                    c.unit,
                    c.name,
                    lang.pick(&w.vi, &w.en)
                ));
            }
        }
    }
    let missing: Vec<String> = doc
        .communes
        .iter()
        .filter(|c| !c.reported)
        .map(|c| c.unit.to_string())
        .collect();
    if !missing.is_empty() {
        let shown = missing.len().min(20);
        out.push_str(&format!(
            "\n{} ({}): {}{}\n",
            lang.pick("Chưa báo cáo", "Not reported"),
            missing.len(),
            missing[..shown].join(", "),
            if shown < missing.len() {
                ", … (--json)"
            } else {
                ""
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_written_as_the_language_writes_them() {
        assert_eq!(pct(Some(97.3), Lang::Vi), "97,3%");
        assert_eq!(pct(Some(97.3), Lang::En), "97.3%");
        assert_eq!(pct(None, Lang::En), "—");
    }
}
