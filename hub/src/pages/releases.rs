//! The updates page: the trusted root, published releases, and each rollout's stages
//! with their devices — offered, downloaded, installed, healthy, failed, rolled back —
//! and why a rollout halted. In: `release status`'s document (one source for the
//! command and the page). Out: a [`Page`].

use super::{col, figure, Cell, Page, Table};
use crate::error::Result;
use crate::release::status::{scope_text, status_doc, Figures};
use crate::store::releases::RolloutState;
use crate::store::HubStore;
use cchc_common::Lang;

fn counts(f: &Figures) -> [Cell; 6] {
    [
        Cell::Int(f.offered.into()),
        Cell::Int(f.downloaded.into()),
        Cell::Int(f.installed.into()),
        Cell::Int(f.healthy.into()),
        Cell::Int(f.failed.into()),
        Cell::Int(f.rolled_back.into()),
    ]
}

fn count_cols() -> [super::Column; 6] {
    [
        col("offered", "Đã đề nghị", "Offered"),
        col("downloaded", "Đã tải", "Downloaded"),
        col("installed", "Đã cài", "Installed"),
        col("healthy", "Chạy tốt", "Healthy"),
        col("failed", "Lỗi", "Failed"),
        col("rolled_back", "Đã quay lại bản cũ", "Rolled back"),
    ]
}

fn state_tag(state: RolloutState, reason: Option<&str>) -> Cell {
    let (key, vi, en) = match state {
        RolloutState::Running => ("running", "Đang triển khai", "Running"),
        RolloutState::Halted => ("halted", "Đã dừng", "Halted"),
    };
    let why = reason.map(|r| format!(" — {r}")).unwrap_or_default();
    Cell::Tag {
        key: key.into(),
        vi: format!("{vi}{why}"),
        en: format!("{en}{why}"),
    }
}

fn device_state(s: &str) -> Cell {
    let (vi, en) = match s {
        "healthy" => ("Chạy tốt", "Healthy"),
        "installed" => ("Đã cài, đang theo dõi", "Installed, soaking"),
        "downloaded" => ("Đã tải", "Downloaded"),
        "failed" => ("Lỗi", "Failed"),
        "rolled_back" => ("Đã quay lại bản cũ", "Rolled back"),
        _ => ("Đã đề nghị", "Offered"),
    };
    Cell::Tag {
        key: s.into(),
        vi: vi.into(),
        en: en.into(),
    }
}

/// The updates page.
pub fn releases(store: &dyn HubStore) -> Result<Page> {
    let doc = status_doc(store)?;
    let halted = doc
        .rollouts
        .iter()
        .filter(|r| r.state == RolloutState::Halted)
        .count() as i64;
    let running = doc.rollouts.len() as i64 - halted;
    let mut rollouts = Vec::new();
    let mut stages = Vec::new();
    let mut devices = Vec::new();
    for r in &doc.rollouts {
        let mut row = vec![
            Cell::Text(r.version.clone()),
            state_tag(r.state, r.reason.as_deref()),
            Cell::Int(r.stages.len() as i64),
        ];
        row.extend(counts(&r.totals));
        rollouts.push(row);
        for s in &r.stages {
            let mut row = vec![
                Cell::Text(r.version.clone()),
                Cell::Int(s.stage.number.into()),
                Cell::Tag {
                    key: match &s.stage.scope {
                        crate::store::releases::Scope::Pilot { .. } => "pilot".into(),
                        crate::store::releases::Scope::Percent { percent } => {
                            format!("{percent}%")
                        }
                        crate::store::releases::Scope::All => "all".into(),
                    },
                    vi: scope_text(&s.stage.scope, Lang::Vi),
                    en: scope_text(&s.stage.scope, Lang::En),
                },
                Cell::Date(Some(s.stage.started_ms)),
            ];
            row.extend(counts(&s.figures));
            stages.push(row);
            for d in &s.devices {
                devices.push(vec![
                    Cell::Text(r.version.clone()),
                    Cell::Int(s.stage.number.into()),
                    Cell::Text(d.device.clone()),
                    Cell::Link(d.unit.to_string(), format!("/commune/{}", d.unit)),
                    device_state(d.state),
                    Cell::Text(d.detail.clone()),
                ]);
            }
        }
    }
    let releases = doc
        .releases
        .iter()
        .map(|r| {
            vec![
                Cell::Text(r.version.clone()),
                Cell::Text(r.platform.clone()),
                Cell::Int(r.length as i64),
                Cell::Text(r.sha256.clone()),
                Cell::Date(Some(r.published_ms)),
                Cell::Date(Some(r.expires_ms)),
            ]
        })
        .collect();
    let mut rollout_cols = vec![
        col("version", "Phiên bản", "Version"),
        col("state", "Trạng thái", "State"),
        col("stages", "Số giai đoạn", "Stages"),
    ];
    rollout_cols.extend(count_cols());
    let mut stage_cols = vec![
        col("version", "Phiên bản", "Version"),
        col("stage", "Giai đoạn", "Stage"),
        col("scope", "Phạm vi", "Scope"),
        col("started", "Bắt đầu", "Started"),
    ];
    stage_cols.extend(count_cols());
    Ok(Page {
        name: "releases".into(),
        vi: "Cập nhật phần mềm máy xã".into(),
        en: "Agent updates".into(),
        period: None,
        figures: vec![
            figure(
                "root_version",
                "Gốc tin cậy (phiên bản)",
                "Release root (version)",
                Cell::Int(doc.root.as_ref().map(|r| r.version as i64).unwrap_or(0)),
                None,
            ),
            figure(
                "running",
                "Đợt đang triển khai",
                "Rollouts running",
                Cell::Int(running),
                None,
            ),
            figure(
                "halted",
                "Đợt đã dừng",
                "Rollouts halted",
                Cell::Int(halted),
                None,
            ),
        ],
        charts: Vec::new(),
        tables: vec![
            Table {
                id: "rollouts",
                vi: "Các đợt triển khai".into(),
                en: "Rollouts".into(),
                columns: rollout_cols,
                rows: rollouts,
            },
            Table {
                id: "stages",
                vi: "Các giai đoạn triển khai".into(),
                en: "Rollout stages".into(),
                columns: stage_cols,
                rows: stages,
            },
            Table {
                id: "devices",
                vi: "Máy đã được đề nghị cập nhật".into(),
                en: "Devices offered an update".into(),
                columns: vec![
                    col("version", "Phiên bản", "Version"),
                    col("stage", "Giai đoạn", "Stage"),
                    col("device", "Mã máy", "Device"),
                    col("unit", "Đơn vị", "Commune"),
                    col("state", "Tình trạng", "State"),
                    col("detail", "Chi tiết", "Detail"),
                ],
                rows: devices,
            },
            Table {
                id: "releases",
                vi: "Bản phát hành đã đăng".into(),
                en: "Published releases".into(),
                columns: vec![
                    col("version", "Phiên bản", "Version"),
                    col("platform", "Nền tảng", "Platform"),
                    col("bytes", "Dung lượng (byte)", "Size (bytes)"),
                    col("sha256", "SHA-256", "SHA-256"),
                    col("published", "Ngày đăng", "Published"),
                    col("expires", "Hết hạn chữ ký", "Signature expires"),
                ],
                rows: releases,
            },
        ],
    })
}
