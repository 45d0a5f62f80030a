//! Human-readable output. In: views and ops. Out: text in Vietnamese (default) or
//! English, with Vietnamese number and date formats (1.234; dd/mm/yyyy). Machine
//! output (`--json`) does not pass through here.

use cchc_common::definitions::Definitions;
use cchc_common::op::{OpBody, TaskStatus};
use cchc_common::rollout::{CriterionScores, Stage, Standing};
use cchc_common::view::{PledgeView, StateView};
use cchc_common::{ActorId, Date, Lang, Metric, Op, Score};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Formats an integer with the language's thousands separator.
pub fn num(n: i64, lang: Lang) -> String {
    let sep = lang.pick(".", ",");
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn metric_label(m: Metric, lang: Lang) -> &'static str {
    lang.pick(m.vi(), m.en())
}

pub fn status_label(s: TaskStatus, lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => s.vi(),
        Lang::En => s.as_str(),
    }
}

/// Pads to a width in characters (not bytes: Vietnamese letters are multi-byte).
fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| pad(c, widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header) + "\n";
    for r in rows {
        out += &line(r);
        out += "\n";
    }
    out
}

/// "Saved" line for a count op.
pub fn saved_count(op: &Op, lang: Lang) -> String {
    let OpBody::Count {
        period,
        procedure,
        deltas,
        ..
    } = &op.body
    else {
        return String::new();
    };
    let parts: Vec<String> = deltas
        .iter()
        .map(|d| {
            let sign = if d.dir == cchc_common::op::Dir::Inc {
                "+"
            } else {
                "-"
            };
            format!(
                "{} {sign}{}",
                metric_label(d.metric, lang),
                num(d.amount as i64, lang)
            )
        })
        .collect();
    format!(
        "{} ({} {}): {procedure} {period}: {}",
        lang.pick("Đã lưu", "Saved"),
        lang.pick("bản ghi", "op"),
        op.id(),
        parts.join(", ")
    )
}

/// "Saved" line for a pledge-task op.
pub fn saved_task(op: &Op, lang: Lang) -> String {
    let what = match &op.body {
        OpBody::TaskAdd { task, title, .. } => format!(
            "{} {task}: {title}",
            lang.pick("thêm nhiệm vụ", "task added")
        ),
        OpBody::TaskStatus { task, status, .. } => {
            format!(
                "{} {task}: {}",
                lang.pick("nhiệm vụ", "task"),
                status_label(*status, lang)
            )
        }
        OpBody::TaskRemove { task, .. } => {
            format!("{} {task}", lang.pick("đã rút nhiệm vụ", "task withdrawn"))
        }
        _ => String::new(),
    };
    format!(
        "{} ({} {}): {what}",
        lang.pick("Đã lưu", "Saved"),
        lang.pick("bản ghi", "op"),
        op.id()
    )
}

/// "Saved" line for an assessment op.
pub fn saved_assessment(op: &Op, defs: &Definitions, lang: Lang) -> String {
    let OpBody::Assess {
        phase,
        criterion,
        score,
        ..
    } = &op.body
    else {
        return String::new();
    };
    let max = defs
        .criterion(*phase, criterion)
        .map(|c| c.max_score)
        .unwrap_or_default();
    format!(
        "{} ({} {}): {} {criterion}, {} {phase}: {} / {}",
        lang.pick("Đã lưu", "Saved"),
        lang.pick("bản ghi", "op"),
        op.id(),
        lang.pick("tiêu chí", "criterion"),
        lang.pick("giai đoạn", "phase"),
        score.display(lang),
        max.display(lang)
    )
}

/// The `show` text.
pub fn state(view: &StateView, defs: &Definitions, unit: &str, lang: Lang) -> String {
    let mut out = format!("{} {unit}\n\n", lang.pick("Đơn vị:", "Commune:"));
    out += lang.pick("SỐ LIỆU THỦ TỤC HÀNH CHÍNH\n", "PROCEDURE COUNTS\n");
    if view.counts.is_empty() {
        out += lang.pick("  (chưa có số liệu)\n", "  (none recorded)\n");
    } else {
        let mut rows: BTreeMap<(String, String), BTreeMap<Metric, i64>> = BTreeMap::new();
        for c in &view.counts {
            rows.entry((c.period.to_string(), c.procedure.clone()))
                .or_default()
                .insert(c.metric, c.value);
        }
        let mut header = vec![
            lang.pick("Kỳ", "Period").to_string(),
            lang.pick("Thủ tục", "Procedure").to_string(),
        ];
        header.extend(
            Metric::ALL
                .iter()
                .map(|m| metric_label(*m, lang).to_string()),
        );
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|((p, proc_), ms)| {
                let mut r = vec![p.clone(), proc_.clone()];
                r.extend(Metric::ALL.iter().map(|m| {
                    ms.get(m)
                        .map(|v| num(*v, lang))
                        .unwrap_or_else(|| "·".into())
                }));
                r
            })
            .collect();
        out += &table(&header, &body);
        let names: Vec<String> = rows
            .keys()
            .map(|(_, p)| p.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter_map(|p| {
                defs.procedure(&p)
                    .ok()
                    .map(|d| format!("  {}: {}", d.code, d.name))
            })
            .collect();
        out += &names.join("\n");
        out += "\n";
        if view.counts.iter().any(|c| c.value < 0) {
            out += lang.pick(
                "  ! Có số liệu âm: hai máy đã cùng điều chỉnh giảm một số liệu; hãy kiểm tra và ghi lại cho đúng.\n",
                "  ! Some counts are negative: two desks corrected the same count at once; check and re-record.\n",
            );
        }
    }
    out += "\n";
    out += &pledges(&view.pledges, lang);
    out += "\n";
    out += &assessment(&assessment_doc(view, defs, None), lang);
    out
}

/// The pledges text.
pub fn pledges(pledges: &[PledgeView], lang: Lang) -> String {
    let mut out = lang.pick("CAM KẾT\n", "PLEDGES\n").to_string();
    if pledges.is_empty() {
        out += lang.pick("  (chưa có cam kết)\n", "  (none signed)\n");
    }
    for p in pledges {
        let done = p
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Done)
            .count();
        let date = p
            .signed_on
            .map(|d| {
                if lang == Lang::Vi {
                    d.to_vn_string()
                } else {
                    d.to_string()
                }
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} {} — {} ({}), {} {date}; {} {done}/{}",
            lang.pick("Năm", "Year"),
            p.year,
            p.signer,
            p.role,
            lang.pick("ký ngày", "signed"),
            lang.pick("hoàn thành", "done"),
            p.tasks.len()
        );
        let header = vec![
            lang.pick("STT", "No.").to_string(),
            lang.pick("Mã", "Id").to_string(),
            lang.pick("Trạng thái", "Status").to_string(),
            lang.pick("Nhiệm vụ", "Task").to_string(),
        ];
        let rows: Vec<Vec<String>> = p
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    format!("  {}", i + 1),
                    t.id.clone(),
                    status_label(t.status, lang).into(),
                    t.title.clone(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            out += &table(&header, &rows);
        }
    }
    out
}

/// The `assess show --json` document: per phase, each criterion with its self-score
/// and the province's verified score (thẩm định) where one has synced down, the totals,
/// the stage reached and whether the score is still provisional.
pub fn assessment_doc(view: &StateView, defs: &Definitions, only: Option<u32>) -> Value {
    let phases: Vec<Value> = defs
        .phases
        .iter()
        .filter(|ph| only.is_none_or(|p| p == ph.phase))
        .map(|ph| {
            let own = |c: &str| view.assessments.iter().find(|a| a.phase == ph.phase && a.criterion == c);
            let verified = |c: &str| view.verifications.iter().find(|v| v.phase == ph.phase && v.criterion == c);
            let standing = Standing::evaluate(ph, |c| CriterionScores {
                self_score: own(c).map(|r| r.score),
                verified: verified(c).map(|v| v.score),
            });
            let criteria: Vec<Value> = ph
                .criteria
                .iter()
                .map(|c| {
                    let row = own(&c.code);
                    let v = verified(&c.code);
                    json!({
                        "code": c.code, "name": c.name, "max_score": c.max_score,
                        "score": row.map(|r| r.score), "evidence": row.map(|r| r.evidence.clone()),
                        "verified": v.map(|v| json!({"score": v.score, "comment": v.comment, "by": v.by})),
                    })
                })
                .collect();
            let complete = standing.self_scored == standing.criteria;
            json!({
                "phase": ph.phase, "name": ph.name, "pass_threshold": ph.pass_threshold,
                "max_total": ph.max_total(), "self_total": standing.self_total,
                "scored": standing.self_scored, "complete": complete,
                "reaches_threshold": complete && standing.self_total >= ph.pass_threshold,
                "verified": standing.verified, "verified_total": standing.verified_total,
                "score": standing.score, "provisional": standing.provisional,
                "stage": standing.stage,
                "grade": standing.grade(defs),
                "criteria": criteria,
            })
        })
        .collect();
    json!({ "phases": phases })
}

/// The assessment text.
pub fn assessment(doc: &Value, lang: Lang) -> String {
    let mut out = lang
        .pick("TỰ ĐÁNH GIÁ, CHẤM ĐIỂM\n", "SELF-ASSESSMENT\n")
        .to_string();
    let sc = |v: &Value| {
        v.as_f64()
            .and_then(Score::from_f64)
            .map(|s| s.display(lang))
            .unwrap_or_else(|| "—".into())
    };
    for ph in doc["phases"].as_array().into_iter().flatten() {
        let n = ph["criteria"].as_array().map(|a| a.len()).unwrap_or(0);
        let _ = writeln!(
            out,
            "{} {} — {}: {} {} / {} ({} {}); {} {}; {} {}",
            lang.pick("Giai đoạn", "Phase"),
            ph["phase"],
            ph["name"].as_str().unwrap_or_default(),
            lang.pick("tự chấm", "self-score"),
            sc(&ph["self_total"]),
            sc(&ph["max_total"]),
            lang.pick("ngưỡng đạt", "pass at"),
            sc(&ph["pass_threshold"]),
            lang.pick("đã chấm", "scored"),
            format_args!("{}/{n}", ph["scored"]),
            lang.pick("tỉnh đã thẩm định", "verified by the province"),
            format_args!("{}/{n}", ph["verified"]),
        );
        let stage: Stage = ph["stage"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(Stage::Assigned);
        let verdict = match stage {
            Stage::Passed | Stage::Failed => format!(
                "{} {} / {}: {}",
                lang.pick("điểm thẩm định", "verified score"),
                sc(&ph["verified_total"]),
                sc(&ph["max_total"]),
                stage.label(lang).to_uppercase()
            ),
            _ if !ph["complete"].as_bool().unwrap_or(false) => lang
                .pick("chưa chấm đủ tiêu chí", "not all criteria scored")
                .to_string(),
            _ if ph["reaches_threshold"].as_bool().unwrap_or(false) => lang
                .pick(
                    "đạt ngưỡng (tạm tính, chờ tỉnh thẩm định)",
                    "reaches the threshold (provisional until verified)",
                )
                .to_string(),
            _ => lang
                .pick(
                    "chưa đạt ngưỡng (tạm tính)",
                    "below the threshold (provisional)",
                )
                .to_string(),
        };
        let _ = writeln!(out, "  → {verdict}");
        let rows: Vec<Vec<String>> = ph["criteria"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let v = &c["verified"];
                vec![
                    format!("  {}", c["code"].as_str().unwrap_or_default()),
                    format!("{}/{}", sc(&c["score"]), sc(&c["max_score"])),
                    sc(&v["score"]),
                    c["name"].as_str().unwrap_or_default().to_string(),
                    v["comment"].as_str().unwrap_or_default().to_string(),
                ]
            })
            .collect();
        let header = vec![
            lang.pick("  Mã", "  Code").to_string(),
            lang.pick("Tự chấm", "Self").to_string(),
            lang.pick("Thẩm định", "Verified").to_string(),
            lang.pick("Tiêu chí", "Criterion").to_string(),
            lang.pick("Nhận xét của tỉnh", "Province's comment")
                .to_string(),
        ];
        out += &table(&header, &rows);
    }
    out
}

/// The catalog text.
pub fn catalog(defs: &Definitions, lang: Lang) -> String {
    let mut out = format!(
        "{} {}\n\n{}\n",
        lang.pick("Bộ định nghĩa phiên bản", "Definitions version"),
        defs.version,
        lang.pick("DANH MỤC THỦ TỤC HÀNH CHÍNH", "PROCEDURE CATALOG")
    );
    let rows: Vec<Vec<String>> = defs
        .procedures
        .iter()
        .map(|p| vec![format!("  {}", p.code), p.name.clone()])
        .collect();
    out += &table(
        &[
            lang.pick("  Mã", "  Code").into(),
            lang.pick("Tên thủ tục", "Name").into(),
        ],
        &rows,
    );
    out += &format!("\n{}\n", lang.pick("CHỈ SỐ", "METRICS"));
    for m in Metric::ALL {
        let _ = writeln!(
            out,
            "  --{}  {}",
            m.as_str().replace('_', "-"),
            metric_label(m, lang)
        );
    }
    for ph in &defs.phases {
        let _ = writeln!(
            out,
            "\n{} {} — {} ({} {} / {})",
            lang.pick("BỘ TIÊU CHÍ GIAI ĐOẠN", "CRITERIA, PHASE"),
            ph.phase,
            ph.name,
            lang.pick("ngưỡng đạt", "pass at"),
            ph.pass_threshold.display(lang),
            ph.max_total().display(lang)
        );
        let rows: Vec<Vec<String>> = ph
            .criteria
            .iter()
            .map(|c| {
                vec![
                    format!("  {}", c.code),
                    c.max_score.display(lang),
                    c.name.clone(),
                ]
            })
            .collect();
        out += &table(
            &[
                lang.pick("  Mã", "  Code").into(),
                lang.pick("Tối đa", "Max").into(),
                lang.pick("Tiêu chí", "Criterion").into(),
            ],
            &rows,
        );
    }
    let bands: Vec<String> = defs
        .grade_bands
        .iter()
        .map(|b| format!("{} ≥ {}%", b.name, b.min_percent))
        .collect();
    let _ = writeln!(
        out,
        "\n{} {}",
        lang.pick("XẾP LOẠI:", "GRADES:"),
        bands.join(", ")
    );
    out
}

fn duration(ms: i64, lang: Lang) -> String {
    let a = ms.unsigned_abs();
    let sign = if ms < 0 { "-" } else { "+" };
    if a >= 86_400_000 {
        format!("{sign}{} {}", a / 86_400_000, lang.pick("ngày", "days"))
    } else if a >= 3_600_000 {
        format!("{sign}{} {}", a / 3_600_000, lang.pick("giờ", "hours"))
    } else {
        format!("{sign}{} {}", a / 60_000, lang.pick("phút", "minutes"))
    }
}

/// Warning about a peer whose clock is far from ours.
pub fn clock_warning(peer: ActorId, offset_ms: i64, lang: Lang) -> String {
    format!(
        "{} {peer} {} {} {}",
        lang.pick("Cảnh báo: đồng hồ máy", "Warning: the clock of device"),
        lang.pick("lệch", "differs by"),
        duration(offset_ms, lang),
        lang.pick(
            "so với máy này. Dữ liệu vẫn được nhận đầy đủ; hãy chỉnh lại giờ hệ thống của máy bị lệch.",
            "from this one. Its data is still accepted in full; correct the system time of the wrong PC."
        )
    )
}

/// The `status` text.
pub fn status(doc: &Value, lang: Lang) -> String {
    let mut out = String::new();
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    let _ = writeln!(
        out,
        "{} {} — {}, {}",
        lang.pick("Đơn vị:", "Commune:"),
        doc["unit"],
        s(&doc["unit_name"]),
        s(&doc["province_name"])
    );
    let _ = writeln!(
        out,
        "{} {}",
        lang.pick("Mã máy:", "Device:"),
        s(&doc["device"])
    );
    let _ = writeln!(
        out,
        "{} {}",
        lang.pick("Dữ liệu:", "Database:"),
        s(&doc["database"])
    );
    let _ = writeln!(
        out,
        "{} {} ({} {})",
        lang.pick("Bản ghi:", "Ops held:"),
        num(doc["ops_total"].as_i64().unwrap_or(0), lang),
        lang.pick("của máy này", "made here"),
        num(doc["ops_own"].as_i64().unwrap_or(0), lang)
    );
    let _ = writeln!(
        out,
        "{} {}",
        lang.pick("Bộ định nghĩa: phiên bản", "Definitions: version"),
        doc["definitions_version"]
    );
    match doc["hub_url"].as_str() {
        None => {
            let _ = writeln!(
                out,
                "{}",
                lang.pick(
                    "Đồng bộ máy chủ tỉnh: chưa cấu hình (trao đổi với máy khác qua `cchc-agent bundle`)",
                    "Hub sync: not configured (exchange with other desks with `cchc-agent bundle`)"
                )
            );
        }
        Some(url) => {
            let last = doc["last_sync_ms"]
                .as_i64()
                .map(Date::display_vn)
                .unwrap_or_else(|| lang.pick("chưa lần nào", "never").to_string());
            let _ = writeln!(out, "{} {url}", lang.pick("Máy chủ tỉnh:", "Hub:"));
            let enrolled = match doc["enrolled_at"].as_str() {
                Some(_) if doc["enrolled"].as_bool() == Some(true) => format!(
                    "{} {}",
                    lang.pick("đã đăng ký lúc", "enrolled at"),
                    Date::display_vn(doc["enrolled_at_ms"].as_i64().unwrap_or(0))
                ),
                _ => lang
                    .pick(
                        "CHƯA ĐĂNG KÝ: chạy `cchc-agent init … --code <mã do Công an tỉnh cấp>`",
                        "NOT ENROLLED: run `cchc-agent init … --code <code from the province>`",
                    )
                    .to_string(),
            };
            let _ = writeln!(out, "{} {enrolled}", lang.pick("Đăng ký:", "Enrollment:"));
            let _ = writeln!(
                out,
                "{} {last}; {} {}",
                lang.pick("Đồng bộ thành công lần cuối:", "Last successful sync:"),
                lang.pick("bản ghi chờ gửi:", "ops pending:"),
                num(doc["ops_pending"].as_i64().unwrap_or(0), lang)
            );
            if let Some(off) = doc["hub_clock_offset_ms"].as_i64() {
                if off.abs() > crate::clock::CLOCK_WARN_MS {
                    let _ = writeln!(
                        out,
                        "{} {}",
                        lang.pick(
                            "Cảnh báo: đồng hồ máy này lệch so với máy chủ tỉnh",
                            "Warning: this PC's clock differs from the hub's by"
                        ),
                        duration(off, lang)
                    );
                }
            }
        }
    }
    let lead = doc["clock"]["hlc_ahead_of_physical_ms"]
        .as_i64()
        .unwrap_or(0);
    if lead > crate::clock::CLOCK_WARN_MS {
        let _ = writeln!(
            out,
            "{} {}",
            lang.pick(
                "Cảnh báo: đã nhận dữ liệu ghi bởi một máy có đồng hồ chạy nhanh hơn máy này",
                "Warning: data was received from a device whose clock is ahead of this one by"
            ),
            duration(lead, lang)
        );
    }
    for p in doc["peers"].as_array().into_iter().flatten() {
        let off = p["offset_ms"].as_i64().unwrap_or(0);
        if p["far"].as_bool().unwrap_or(false) {
            let actor: ActorId = s(&p["device"]).parse().unwrap_or_default();
            let _ = writeln!(out, "{}", clock_warning(actor, off, lang));
        } else {
            let _ = writeln!(
                out,
                "{} {}: {} {}",
                lang.pick("Máy", "Device"),
                s(&p["device"]),
                lang.pick("đồng hồ lệch", "clock offset"),
                duration(off, lang)
            );
        }
    }
    out
}

/// One line about a finished sync.
pub fn sync_summary(s: &crate::sync::Summary, lang: Lang) -> String {
    let mut out = format!(
        "{} {}: {} {} ({} {}), {} {}; {} {}.",
        lang.pick("Đã đồng bộ với máy chủ tỉnh", "Synced with the hub"),
        s.hub,
        lang.pick("gửi", "sent"),
        num(s.sent as i64, lang),
        num(s.sent_new as i64, lang),
        lang.pick("mới", "new"),
        lang.pick("nhận", "received"),
        num(s.received as i64, lang),
        lang.pick("còn chờ gửi", "pending"),
        num(s.pending as i64, lang),
    );
    if !s.definitions.is_empty() {
        let v: Vec<String> = s.definitions.iter().map(u32::to_string).collect();
        out.push_str(&format!(
            " {} {}.",
            lang.pick(
                "Đã nhận bộ định nghĩa mới, phiên bản",
                "New definitions installed: version"
            ),
            v.join(", ")
        ));
    }
    for w in &s.warnings {
        out.push_str(&format!(" {}: {w}.", lang.pick("Cảnh báo", "Warning")));
    }
    out
}

/// `update status`.
pub fn update_status(d: &crate::update::StatusDoc, lang: Lang) -> String {
    let none = lang.pick("không có", "none");
    let phase = match d.phase {
        "trial" => lang.pick("đang kiểm tra bản mới", "new build on trial"),
        "soak" => lang.pick("bản mới đang chạy thử", "new build soaking"),
        "swapping" => lang.pick("đang thay bản", "swapping builds"),
        _ => lang.pick("bình thường", "idle"),
    };
    let mut out = format!(
        "{}: {} ({})\n{}: {}\n{}: {}\n{}: {}\n",
        lang.pick("Phiên bản đang chạy", "Running version"),
        d.current,
        d.platform,
        lang.pick(
            "Phiên bản trước (để quay lại)",
            "Previous version (to roll back to)"
        ),
        d.previous.as_deref().unwrap_or(none),
        lang.pick("Phiên bản được đề nghị", "Offered version"),
        d.offered.as_deref().unwrap_or(none),
        lang.pick("Trạng thái cập nhật", "Update state"),
        phase,
    );
    if d.root_version == 0 {
        out.push_str(lang.pick(
            "Chưa ghim gốc tin cậy phát hành: máy này không cài bản cập nhật nào.\n",
            "No release root pinned: this computer installs no update.\n",
        ));
    }
    if !d.refused.is_empty() {
        out.push_str(&format!(
            "{}: {}\n",
            lang.pick("Bản đã từ chối hoặc đã quay lại", "Refused or rolled back"),
            d.refused.join(", ")
        ));
    }
    if let Some(w) = &d.warning {
        out.push_str(&format!("{}: {w}\n", lang.pick("Cảnh báo", "Warning")));
    }
    out
}

/// The line an import ends with.
pub fn imported(done: &crate::bundle::Imported, lang: Lang) -> String {
    format!(
        "{} {} {} ({} {})",
        lang.pick("Đã nhận", "Imported"),
        done.applied,
        lang.pick("bản ghi mới", "new ops"),
        done.duplicates,
        lang.pick("đã có", "already held")
    )
}

/// A clock warning after an import, when the sender's clock was far from ours.
pub fn imported_clock(done: &crate::bundle::Imported, lang: Lang) -> Option<String> {
    (done.offset_ms.abs() > crate::clock::CLOCK_WARN_MS)
        .then(|| clock_warning(done.sender, done.offset_ms, lang))
}
