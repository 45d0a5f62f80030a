//! The province's dashboard in headless Chromium, on a hub fed by real agent processes:
//! the overview's phase counts, an analyst's verification through the form (a refused
//! entry stores nothing; an accepted one passes the commune), the verified scores
//! reaching the commune's agent on its next sync, a viewer kept out of the form, and
//! every exported table (XLSX read back with calamine, CSV with its BOM) holding what
//! the page shows. Screenshots: `target/artefacts/browser/<test>/`.

use calamine::Reader;
use cchc_sql::DbExt;
use cchc_tests::browser::{runtime, vn_number, Browser};
use cchc_tests::{Agent, Hub};
use std::collections::BTreeMap;
use std::path::Path;

/// Phase 1 of the published definitions: (criterion, self-score) of a commune that
/// reaches the threshold (80 of 100, threshold 70).
const GOOD: [(&str, &str); 7] = [
    ("TC-01", "12"),
    ("TC-02", "8"),
    ("TC-03", "15"),
    ("TC-04", "12"),
    ("TC-05", "16"),
    ("TC-06", "8"),
    ("TC-07", "9"),
];
/// Phase 2's criteria.
const PHASE2: [&str; 8] = [
    "TC-01", "TC-02", "TC-03", "TC-04", "TC-05", "TC-06", "TC-07", "TC-08",
];

fn assess(a: &Agent, phase: u32, code: &str, score: &str, evidence: &str) {
    a.ok(&[
        "assess",
        "--phase",
        &phase.to_string(),
        "--criterion",
        code,
        "--score",
        score,
        "--evidence",
        evidence,
    ]);
}

/// The current month as the hub's pages default to it (Vietnam time).
fn this_month() -> String {
    let d = cchc_common::Date::from_unix_ms_vn(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    format!("{:04}-{:02}", d.year(), d.month())
}

/// A rollout in Hà Nội fed by three real agents:
/// - Phường Ba Đình (4), phase 1, self-assessed every criterion (80, above 70);
/// - Phường Ngọc Hà (8), phase 1, three criteria so far;
/// - Phường Giảng Võ (25), phase 2, every criterion;
/// - Phường Hoàn Kiếm (70), phase 3, no agent at all.
///
/// 4 and 8 report procedure counts for this month; 25 and 70 do not.
struct Rollout {
    hub: Hub,
    agents: BTreeMap<u32, Agent>,
    plan: BTreeMap<u32, Vec<u32>>,
    /// Communes with every criterion of their phase self-scored.
    self_assessed: Vec<u32>,
}

fn rollout(dir: &Path) -> Rollout {
    let mut hub = Hub::init(dir.join("hub"), 1);
    hub.start();
    let plan: BTreeMap<u32, Vec<u32>> = [(1, vec![4, 8]), (2, vec![25]), (3, vec![70])].into();
    for (phase, units) in &plan {
        let mut args = vec!["phase".to_string(), "assign".into(), "--phase".into()];
        args.push(phase.to_string());
        for u in units {
            args.push("--unit".into());
            args.push(u.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hub.ok(&args);
    }
    let agents: BTreeMap<u32, Agent> = [4, 8, 25]
        .into_iter()
        .map(|u| (u, hub.agent(dir.join(format!("agent-{u}")), u)))
        .collect();
    for (code, score) in GOOD {
        assess(
            &agents[&4],
            1,
            code,
            score,
            &format!("Biên bản kiểm tra {code}, lưu tại Đội Tham mưu"),
        );
    }
    for (code, score) in &GOOD[..3] {
        assess(&agents[&8], 1, code, score, "Đã niêm yết công khai");
    }
    for code in PHASE2 {
        assess(&agents[&25], 2, code, "5", "Sổ theo dõi hồ sơ");
    }
    let month = this_month();
    for (u, n) in [(4, "12"), (8, "30")] {
        agents[&u].ok(&[
            "record",
            "--period",
            &month,
            "--procedure",
            "CT-01",
            "--received",
            n,
            "--on-time",
            "7",
            "--late",
            "1",
            "--online",
            "5",
        ]);
    }
    for a in agents.values() {
        a.ok(&["sync"]);
    }
    Rollout {
        hub,
        agents,
        plan,
        self_assessed: vec![4, 25],
    }
}

/// The hub's stored verifications (read from its database; on a thread of its own, as
/// PostgreSQL's blocking client cannot run inside the browser's async runtime).
fn verifications_in(hub: &Hub) -> i64 {
    std::thread::scope(|s| {
        s.spawn(|| {
            hub.database()
                .query_one("SELECT count(*) FROM verifications", &[], |r| r.get(0))
                .expect("count")
        })
        .join()
        .expect("count thread")
    })
}

/// The overview's phase table as (phase → assigned, self-assessed, verified, passed).
async fn phase_counts(b: &Browser) -> BTreeMap<u32, [i64; 4]> {
    let rows = b.table("phases").await;
    rows.iter()
        .map(|r| {
            let n = |i: usize| r[i].1.parse::<i64>().expect("a count");
            (
                r[0].1.parse::<u32>().expect("phase"),
                [n(3), n(4), n(5), n(6)],
            )
        })
        .collect()
}

#[test]
fn analyst_verifies_in_the_browser_and_the_commune_passes_down_to_its_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let r = rollout(tmp.path());
    let hub = &r.hub;
    let analyst = hub.user("thu", "analyst");
    let viewer = hub.user("xem", "viewer");
    let base = hub.url();
    let rt = runtime();
    rt.block_on(async {
        let b = Browser::start("verify").await;
        b.sign_in(&base, "thu", &analyst).await;
        b.wait_for("#t-phases").await;
        b.shot("01-overview").await;

        // The overview's phase counts are what the agents and the plan made.
        let expect = |verified: &[u32], passed: &[u32]| -> BTreeMap<u32, [i64; 4]> {
            r.plan
                .iter()
                .map(|(p, units)| {
                    let n = |set: &[u32]| units.iter().filter(|u| set.contains(u)).count() as i64;
                    (
                        *p,
                        [
                            units.len() as i64,
                            n(&r.self_assessed),
                            n(verified),
                            n(passed),
                        ],
                    )
                })
                .collect()
        };
        assert_eq!(phase_counts(&b).await, expect(&[], &[]));
        assert_eq!(b.text(".fig[data-key=passed] b").await, "0 / 4");
        let planned = b.text(".fig[data-key=planned] b").await;
        assert!(planned.starts_with("4 / "), "{planned}");

        // Ba Đình's page: self-assessed, provisional; the analyst opens the form.
        b.open(&format!("{base}/commune/4"), "#verify-link").await;
        assert_eq!(b.text(".fig[data-key=stage] b").await, "Đã tự đánh giá");
        b.click("#verify-link").await;
        let field = b.wait_for("input[name='s_TC-03']").await;
        assert_eq!(
            field.prop("value").await.unwrap().as_deref(),
            Some("15"),
            "the form starts from the self-score"
        );
        b.shot("02-form").await;

        // A score above the criterion's maximum: refused, nothing stored, typed values kept.
        let set = |name: &'static str, value: &'static str| {
            let b = &b;
            async move {
                let f = b
                    .client
                    .find(fantoccini::Locator::Css(&format!("input[name='{name}']")))
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                f.clear().await.unwrap();
                f.send_keys(value).await.unwrap();
            }
        };
        set("s_TC-05", "25").await;
        set("c_TC-03", "Thiếu biên bản họp dân").await;
        b.submit("#save").await;
        let err = b.wait_for("p.error").await.text().await.unwrap();
        assert!(
            err.contains("TC-05"),
            "the error names the criterion: {err}"
        );
        b.shot("03-refused").await;
        assert_eq!(verifications_in(hub), 0, "a refused form stores nothing");
        let kept = b
            .wait_for("input[name='c_TC-03']")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("Thiếu biên bản họp dân"));

        // Corrected (TC-03 lowered to 12,5 in the Vietnamese way): recorded, passed.
        set("s_TC-05", "16").await;
        set("s_TC-03", "12,5").await;
        b.submit("#save").await;
        let flash = b.wait_for("#flash").await.text().await.unwrap();
        assert!(flash.contains("7 điểm thẩm định"), "{flash}");
        assert_eq!(b.text(".fig[data-key=stage] b").await, "Đạt");
        assert_eq!(b.text(".fig[data-key=score] b").await, "77,5 / 100");
        b.shot("04-passed").await;
        assert_eq!(verifications_in(hub), 7);

        b.open(&format!("{base}/"), "#t-phases").await;
        assert_eq!(phase_counts(&b).await, expect(&[4], &[4]));
        assert_eq!(b.text(".fig[data-key=passed] b").await, "1 / 4");
        b.shot("05-overview-after").await;

        // A viewer reads the page but gets no form.
        b.click("header form button").await;
        b.wait_for("input[name=user]").await;
        b.sign_in(&base, "xem", &viewer).await;
        b.open(&format!("{base}/commune/4"), ".fig[data-key=stage]")
            .await;
        assert!(
            b.client
                .find(fantoccini::Locator::Css("#verify-link"))
                .await
                .is_err(),
            "a viewer is not offered the form"
        );
        b.open(&format!("{base}/verify/4"), "p.error").await;
        let refused = b.text("p.error").await;
        assert!(refused.contains("analyst"), "{refused}");
        b.shot("06-viewer-refused").await;
        b.close().await;
    });

    // A form posted without this session's token is refused and stores nothing.
    let token = hub.login("thu", &analyst);
    let resp = hub
        .client(None)
        .post(format!("{base}/verify/8"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=0000&phase=1&s_TC-01=5")
        .send()
        .expect("post");
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().unwrap().contains("biểu mẫu đã cũ"));
    assert_eq!(verifications_in(hub), 7);

    // The verification reaches Ba Đình's agent on its next sync.
    let a = &r.agents[&4];
    let before = a.json(&["assess", "show", "--phase", "1", "--json"]);
    assert_eq!(before["phases"][0]["verified"], 0);
    a.ok(&["sync"]);
    let doc = a.json(&["assess", "show", "--phase", "1", "--json"]);
    let ph = &doc["phases"][0];
    assert_eq!(ph["stage"], "passed", "{doc}");
    assert_eq!(ph["verified"], 7);
    assert_eq!(ph["provisional"], false);
    let tc3 = ph["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "TC-03")
        .expect("TC-03");
    assert_eq!(tc3["score"].as_f64(), Some(15.0), "own score kept: {tc3}");
    assert_eq!(tc3["verified"]["score"].as_f64(), Some(12.5), "{tc3}");
    assert_eq!(tc3["verified"]["comment"], "Thiếu biên bản họp dân");
    assert_eq!(tc3["verified"]["by"], "thu");
    // The commune that was not verified has nothing new.
    let other = r.agents[&8].json(&["assess", "show", "--phase", "1", "--json"]);
    assert_eq!(other["phases"][0]["verified"], 0);
}

/// A cell of an exported sheet as the page would show it in Vietnamese.
fn sheet_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::Empty => "—".into(),
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::DateTime(d) => {
            // Days since 1899-12-30; midnight UTC is the same day in Vietnam.
            let ms = ((d.as_f64() - 25_569.0) * 86_400_000.0).round() as i64;
            cchc_common::Date::from_unix_ms_vn(ms).to_vn_string()
        }
        other => panic!("unexpected cell {other:?}"),
    }
}

/// Whether an exported value (`12.5`, `77`, text) equals what the page shows
/// (`12,5`, `1.234`, `+2,5`, `—`).
/// A CSV number in the Vietnamese convention (`-77,5`) with a decimal point; any
/// other text as it is.
fn decimal_point(cell: &str) -> String {
    let t = cell.trim_start_matches('-');
    let numeric = !t.is_empty()
        && t.split_once(',')
            .map_or(t.chars().all(|c| c.is_ascii_digit()), |(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && (a.to_owned() + b).chars().all(|c| c.is_ascii_digit())
            });
    if numeric {
        cell.replace(',', ".")
    } else {
        cell.to_string()
    }
}

fn same_value(page: &str, export: &str) -> bool {
    if page == export {
        return true;
    }
    let empty = |s: &str| s.is_empty() || s == "—";
    if empty(page) && empty(export) {
        return true;
    }
    let looks_numeric = page
        .trim_start_matches(['+', '-'])
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        && !page.is_empty();
    if looks_numeric {
        if let (Some(p), Ok(e)) = (vn_number(page), export.parse::<f64>()) {
            return (p - e).abs() < 1e-9;
        }
    }
    false
}

#[test]
fn every_exported_table_holds_what_the_page_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let r = rollout(tmp.path());
    let hub = &r.hub;
    // A verification with Vietnamese text, from the command line this time.
    hub.ok(&[
        "verify",
        "--unit",
        "25",
        "--phase",
        "2",
        "--criterion",
        "TC-04",
        "--score",
        "4,5",
        "--comment",
        "Chưa cập nhật sổ theo dõi tháng trước",
        "--by",
        "Nguyễn Thị Thu",
    ]);
    let analyst = hub.user("thu", "analyst");
    let token = hub.login("thu", &analyst);
    let http = hub.client(None);
    let base = hub.url();
    let rt = runtime();
    let pages = [
        "/",
        "/phase/1",
        "/phase/2",
        "/commune/25",
        "/completeness",
        "/figures",
        "/releases",
    ];
    // What the browser shows: per table its header, its rows and its export links.
    let shown_tables = rt.block_on(async {
        let b = Browser::start("exports").await;
        b.sign_in(&base, "thu", &analyst).await;
        let mut out = Vec::new();
        for path in pages {
            b.open(&format!("{base}{path}"), "main h1").await;
            let ids = b.table_ids().await;
            assert!(!ids.is_empty(), "{path} shows tables");
            for id in ids {
                let headers = b.headers(&id).await;
                let shown: Vec<Vec<String>> = b
                    .table(&id)
                    .await
                    .into_iter()
                    .map(|r| r.into_iter().map(|c| c.0).collect())
                    .collect();
                // The page's own export links, as the reader would click them.
                let mut links = Vec::new();
                for ext in ["xlsx", "csv"] {
                    let href = b
                        .client
                        .execute(
                            "return document.querySelector('#t-'+arguments[0]+'-box a.export[href*=\".'+arguments[1]+'\"]').getAttribute('href');",
                            vec![serde_json::json!(id), serde_json::json!(ext)],
                        )
                        .await
                        .expect("export link");
                    links.push(href.as_str().expect("href").to_string());
                }
                out.push((headers, shown, links));
            }
        }
        b.shot("commune-25").await;
        b.close().await;
        out
    });
    drop(rt);
    let get = |url: &str| {
        let resp = http
            .get(format!("{base}{url}"))
            .bearer_auth(&token)
            .send()
            .expect("export request");
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        resp.bytes().expect("export body").to_vec()
    };
    for (headers, shown, links) in &shown_tables {
        let (xlsx_url, csv_url) = (&links[0], &links[1]);
        // XLSX: same header and rows as the page.
        let bytes = get(xlsx_url);
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes))
            .unwrap_or_else(|e| panic!("{xlsx_url} is not a workbook: {e}"));
        let sheet = book
            .worksheet_range_at(0)
            .expect("one sheet")
            .expect("readable sheet");
        let grid: Vec<Vec<String>> = sheet
            .rows()
            .map(|r| r.iter().map(sheet_text).collect())
            .collect();
        assert_eq!(&grid[0], headers, "{xlsx_url}: header");
        assert_eq!(grid.len() - 1, shown.len(), "{xlsx_url}: rows");
        for (i, (row, page_row)) in grid[1..].iter().zip(shown).enumerate() {
            for (j, page_cell) in page_row.iter().enumerate() {
                let cell = row.get(j).map(String::as_str).unwrap_or("—");
                assert!(
                    same_value(page_cell, cell),
                    "{xlsx_url} row {i} column {}: page shows {page_cell:?}, sheet holds {cell:?}",
                    headers[j]
                );
            }
        }

        // CSV: a BOM, then the same header and rows; parsing gives them back.
        let bytes = get(csv_url);
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "{csv_url}: no BOM");
        // The Vietnamese convention: `;` between fields, a decimal comma.
        let mut rd = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(b';')
            .from_reader(&bytes[3..]);
        let parsed: Vec<Vec<String>> = rd
            .records()
            .map(|r| r.expect("CSV record").iter().map(str::to_string).collect())
            .collect();
        assert_eq!(&parsed[0], headers, "{csv_url}: header");
        assert_eq!(parsed.len() - 1, shown.len(), "{csv_url}: rows");
        for (i, (row, page_row)) in parsed[1..].iter().zip(shown).enumerate() {
            assert_eq!(row.len(), page_row.len(), "{csv_url} row {i}");
            for (j, (cell, page_cell)) in row.iter().zip(page_row).enumerate() {
                assert!(
                    same_value(page_cell, &decimal_point(cell)),
                    "{csv_url} row {i} column {}: page shows {page_cell:?}, CSV holds {cell:?}",
                    headers[j]
                );
            }
        }
        // Written again from what was read, the CSV is byte for byte the same.
        let mut w = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_writer(vec![0xEF, 0xBB, 0xBF]);
        for row in &parsed {
            w.write_record(row).unwrap();
        }
        assert_eq!(w.into_inner().unwrap(), bytes, "{csv_url} round trip");
    }
    let checked = shown_tables.len();
    // Vietnamese text made it through: the comment is on the commune page's export.
    let resp = http
        .get(format!("{base}/api/v1/export/commune-25/criteria.xlsx"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    let mut book =
        calamine::Xlsx::new(std::io::Cursor::new(resp.bytes().unwrap().to_vec())).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    assert!(sheet.rows().any(|r| r
        .iter()
        .any(|c| sheet_text(c) == "Chưa cập nhật sổ theo dõi tháng trước")));
    assert!(checked > pages.len(), "only {checked} tables were compared");
}
