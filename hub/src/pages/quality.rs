//! The data-quality page: communes whose figures for a month look impossible, by the
//! plausibility rules of `cchc_common::kpi::doubts` (more resolved than received plus
//! the pending carried over, more pending than that, more online or survey answers
//! than received). Warnings, not refusals: the analyst asks the commune. In: the same
//! report document as `cchc-hub report --json`. Out: a [`Page`].

use super::{col, figure, Cell, Page, Table};
use crate::error::Result;
use crate::store::HubStore;
use cchc_common::kpi::DOUBT_RULES;
use cchc_common::Period;

/// The data-quality page for a month.
pub fn quality(store: &dyn HubStore, period: Period) -> Result<Page> {
    let report = crate::views::report_doc(store, period)?;
    let mut rows = Vec::new();
    for c in report.communes.iter().filter(|c| !c.warnings.is_empty()) {
        for w in &c.warnings {
            rows.push(vec![
                Cell::Id(c.unit as i64),
                Cell::Link(c.name.clone(), format!("/commune/{}", c.unit)),
                Cell::Tag {
                    key: w.rule.to_string(),
                    vi: w.vi.clone(),
                    en: w.en.clone(),
                },
                Cell::Int(c.figures.received),
            ]);
        }
    }
    let rules = DOUBT_RULES
        .iter()
        .map(|(key, vi, en)| {
            let n = report
                .communes
                .iter()
                .filter(|c| c.warnings.iter().any(|w| w.rule == *key))
                .count();
            vec![
                Cell::Tag {
                    key: key.to_string(),
                    vi: vi.to_string(),
                    en: en.to_string(),
                },
                Cell::Int(n as i64),
            ]
        })
        .collect();
    Ok(Page {
        name: "quality".into(),
        vi: format!("Chất lượng số liệu {}", period.vi()),
        en: format!("Data quality, {period}"),
        period: Some(period),
        figures: vec![figure(
            "doubtful",
            "Đơn vị có số liệu cần hỏi lại",
            "Communes to ask about their figures",
            Cell::Int(report.communes_doubtful as i64),
            Some(report.communes_reported as i64),
        )],
        charts: Vec::new(),
        tables: vec![
            Table {
                id: "doubts",
                vi: "Số liệu khó xảy ra (cảnh báo, không từ chối)".into(),
                en: "Figures that look impossible (warnings, not refusals)".into(),
                columns: vec![
                    col("unit", "Mã đơn vị", "Code"),
                    col("name", "Đơn vị", "Commune"),
                    col("rule", "Điều cần hỏi lại", "What to ask"),
                    col("received", "Tiếp nhận", "Received"),
                ],
                rows,
            },
            Table {
                id: "rules",
                vi: "Các quy tắc kiểm tra".into(),
                en: "The rules".into(),
                columns: vec![
                    col("rule", "Quy tắc", "Rule"),
                    col("communes", "Số đơn vị", "Communes"),
                ],
                rows: rules,
            },
        ],
    })
}
