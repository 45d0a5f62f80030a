//! The hub's read views for the CLI (and later the API). In: what the store holds.
//! Out: the stable `status --json` and `report --json` documents, and their text form.

use crate::error::Result;
use crate::store::Store;
use cchc_common::{Date, Lang, Metric, Period, UnitCode};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The `status --json` document: every commune of the province.
pub fn status_doc(store: &dyn Store) -> Result<Value> {
    let province = store.province()?;
    let communes: Vec<Value> = store
        .unit_status()?
        .into_iter()
        .map(|u| {
            json!({
                "unit": u.unit,
                "name": u.name,
                "last_sync": u.last_sync_ms.map(Date::rfc3339_vn),
                "last_sync_ms": u.last_sync_ms,
                "ops": u.ops,
                "devices": u.devices,
                "pledges": u.pledges,
                "pledges_pending": u.pledges_pending,
                "assessment_totals": u.assessment.iter()
                    .map(|(p, s)| (p.to_string(), json!(s.to_string())))
                    .collect::<Map<String, Value>>(),
            })
        })
        .collect();
    Ok(json!({
        "province": province.code,
        "province_name": province.name,
        "communes_synced": communes.iter().filter(|c| !c["last_sync"].is_null()).count(),
        "communes": communes,
    }))
}

fn rate(num: i64, den: i64) -> Value {
    if den <= 0 {
        Value::Null
    } else {
        json!((num as f64 / den as f64 * 1000.0).round() / 1000.0)
    }
}

/// Metrics plus the three rates the province reports on.
fn figures(values: &BTreeMap<Metric, i64>) -> Map<String, Value> {
    let get = |m: Metric| values.get(&m).copied().unwrap_or(0);
    let mut out: Map<String, Value> = Metric::ALL
        .iter()
        .map(|m| (m.as_str().to_string(), json!(get(*m))))
        .collect();
    out.insert(
        "on_time_rate".into(),
        rate(get(Metric::OnTime), get(Metric::OnTime) + get(Metric::Late)),
    );
    out.insert(
        "online_rate".into(),
        rate(get(Metric::Online), get(Metric::Received)),
    );
    out.insert(
        "satisfaction_rate".into(),
        rate(
            get(Metric::Satisfied),
            get(Metric::Satisfied) + get(Metric::Unsatisfied),
        ),
    );
    out
}

/// The `report --json` document for a period: province totals and every commune.
pub fn report_doc(store: &dyn Store, period: Period) -> Result<Value> {
    let province = store.province()?;
    let mut per_unit: BTreeMap<UnitCode, BTreeMap<Metric, i64>> = BTreeMap::new();
    let mut totals: BTreeMap<Metric, i64> = BTreeMap::new();
    for s in store.count_sums(period)? {
        *per_unit
            .entry(s.unit)
            .or_default()
            .entry(s.metric)
            .or_default() += s.value;
        *totals.entry(s.metric).or_default() += s.value;
    }
    let communes: Vec<Value> = store
        .unit_status()?
        .into_iter()
        .map(|u| {
            let values = per_unit.remove(&u.unit).unwrap_or_default();
            let mut m = Map::new();
            m.insert("unit".into(), json!(u.unit));
            m.insert("name".into(), json!(u.name));
            m.insert("reported".into(), json!(!values.is_empty()));
            m.extend(figures(&values));
            Value::Object(m)
        })
        .collect();
    Ok(json!({
        "period": period,
        "province": province.code,
        "province_name": province.name,
        "communes_reported": communes.iter().filter(|c| c["reported"] == json!(true)).count(),
        "totals": figures(&totals),
        "communes": communes,
    }))
}

fn pct(v: &Value) -> String {
    match v.as_f64() {
        Some(r) => format!("{:.1}%", r * 100.0).replace('.', ","),
        None => "—".into(),
    }
}

/// Text form of the status document.
pub fn status_text(doc: &Value, lang: Lang) -> String {
    let mut out = format!(
        "{} {} ({}) — {} {}/{}\n\n",
        lang.pick("Máy chủ tỉnh:", "Hub of"),
        doc["province_name"].as_str().unwrap_or(""),
        doc["province"],
        lang.pick("xã đã đồng bộ", "communes synced"),
        doc["communes_synced"],
        doc["communes"].as_array().map(|a| a.len()).unwrap_or(0),
    );
    out.push_str(&format!(
        "{:<7} {:<32} {:<17} {:>7} {:>5} {:>9}  {}\n",
        lang.pick("Mã", "Code"),
        lang.pick("Đơn vị", "Commune"),
        lang.pick("Đồng bộ lần cuối", "Last sync"),
        lang.pick("Bản ghi", "Ops"),
        lang.pick("Máy", "PCs"),
        lang.pick("Cam kết", "Pledges"),
        lang.pick("Tự chấm theo giai đoạn", "Self-score per phase"),
    ));
    for c in doc["communes"].as_array().into_iter().flatten() {
        let last = c["last_sync_ms"]
            .as_i64()
            .map(Date::display_vn)
            .unwrap_or_else(|| lang.pick("chưa đồng bộ", "never").to_string());
        let scores: Vec<String> = c["assessment_totals"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(p, s)| format!("GĐ{p}: {}", s.as_str().unwrap_or("")))
            .collect();
        let pledges = format!(
            "{}/{}",
            c["pledges_pending"].as_u64().unwrap_or(0),
            c["pledges"].as_u64().unwrap_or(0)
        );
        out.push_str(&format!(
            "{:<7} {:<32} {:<17} {:>7} {:>5} {:>9}  {}\n",
            c["unit"].to_string(),
            c["name"].as_str().unwrap_or(""),
            last,
            c["ops"].to_string(),
            c["devices"].to_string(),
            pledges,
            scores.join(", "),
        ));
    }
    out.push_str(lang.pick(
        "\n(Cam kết: số chưa hoàn thành / tổng số)\n",
        "\n(Pledges: not yet completed / total)\n",
    ));
    out
}

/// Text form of the report document.
pub fn report_text(doc: &Value, lang: Lang) -> String {
    let t = &doc["totals"];
    let mut out = format!(
        "{} {} — {} {}\n",
        lang.pick("Báo cáo thủ tục hành chính", "Procedure report"),
        doc["province_name"].as_str().unwrap_or(""),
        lang.pick("kỳ", "period"),
        doc["period"].as_str().unwrap_or(""),
    );
    out.push_str(&format!(
        "{}: {} {} {}/{}; {} {}, {} {}, {} {}\n\n",
        lang.pick("Toàn tỉnh", "Province"),
        t["received"],
        lang.pick(
            "hồ sơ tiếp nhận; xã đã báo cáo",
            "dossiers received; communes reported"
        ),
        doc["communes_reported"],
        doc["communes"].as_array().map(|a| a.len()).unwrap_or(0),
        lang.pick("đúng hạn", "on time"),
        pct(&t["on_time_rate"]),
        lang.pick("trực tuyến", "online"),
        pct(&t["online_rate"]),
        lang.pick("hài lòng", "satisfied"),
        pct(&t["satisfaction_rate"]),
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
    for c in doc["communes"].as_array().into_iter().flatten() {
        if c["reported"] != json!(true) {
            continue;
        }
        out.push_str(&format!(
            "{:<7} {:<32} {:>9} {:>9} {:>9} {:>9}\n",
            c["unit"].to_string(),
            c["name"].as_str().unwrap_or(""),
            c["received"].to_string(),
            pct(&c["on_time_rate"]),
            pct(&c["online_rate"]),
            pct(&c["satisfaction_rate"]),
        ));
    }
    let missing: Vec<String> = doc["communes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["reported"] != json!(true))
        .map(|c| c["unit"].to_string())
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
