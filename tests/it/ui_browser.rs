//! The officers' page in headless Chromium (issue 14): an officer enters a month for
//! three procedures, corrects one figure, signs a pledge with two tasks and marks one
//! done, scores every phase-1 criterion and presses "Đồng bộ ngay"; the hub's report
//! and its commune page hold exactly those values, and a second desk's entry shows in
//! the grid after a sync. Real clicks and typing; screenshots under
//! target/artefacts/browser/officer-ui/.

use super::ui::start_ui;
use cchc_tests::browser::{runtime, vn_number, Browser};
use cchc_tests::Hub;
use fantoccini::Locator;
use serde_json::Value;

const PERIOD: &str = "2026-11";

/// Types into a field (cleared first).
async fn type_in(b: &Browser, css: &str, text: &str) {
    let f = b
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    f.clear().await.unwrap();
    f.send_keys(text).await.unwrap();
}

/// The merged total a grid cell shows, as a number (0 when empty).
async fn cell(b: &Browser, procedure: &str, metric: &str) -> f64 {
    let t = b
        .text(&format!(
            "td[data-procedure='{procedure}'][data-metric='{metric}'] .total"
        ))
        .await;
    vn_number(&t).unwrap_or(0.0)
}

#[test]
fn an_officer_fills_the_month_pledge_and_assessment_in_the_browser_and_the_hub_has_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    hub.ok(&["phase", "assign", "--phase", "1", "--unit", "70"]);
    let a = hub.agent(tmp.path().join("a"), 70);
    let desk2 = hub.agent(tmp.path().join("b"), 70);
    a.ok(&["sync"]);
    let catalog = a.json(&["catalog", "--json"]);
    let phase1: Vec<(String, f64)> = catalog["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["phase"] == 1)
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_string(),
                c["max_score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(phase1.len() >= 3, "{catalog}");
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    let base = format!("http://127.0.0.1:{port}");

    // (procedure, metric, typed): three procedures in one save.
    let month = [
        ("CT-01", "received", 10u64),
        ("CT-01", "on_time", 7),
        ("CT-01", "late", 2),
        ("CT-02", "received", 5),
        ("CT-02", "online", 3),
        ("CT-03", "received", 8),
        ("CT-03", "satisfied", 6),
    ];
    let scores: Vec<(String, String, String)> = phase1
        .iter()
        .enumerate()
        .map(|(i, (code, max))| {
            // A score with a decimal comma where the maximum allows it.
            let s = if i % 2 == 0 {
                (max / 2.0).floor() + 0.5
            } else {
                *max
            };
            (
                code.clone(),
                format!("{s}").replace('.', ","),
                format!("Biên bản số {i}/2026"),
            )
        })
        .collect();

    let rt = runtime();
    rt.block_on(async {
        let b = Browser::start("officer-ui").await;
        // Home, in Vietnamese, with the phase the province assigned.
        b.open(&format!("{base}/"), "#phase").await;
        assert_eq!(b.text("#phase b").await, "Giai đoạn 1");
        let lang = b.client.execute("return document.documentElement.lang", vec![]).await.unwrap();
        assert_eq!(lang, "vi");
        b.shot("01-home").await;

        // The month: typed into the grid, saved as one entry.
        b.open(&format!("{base}/ledger?period={PERIOD}"), "#ledger").await;
        for (p, m, n) in month {
            type_in(&b, &format!("input[name='v.{p}.{m}']"), &n.to_string()).await;
        }
        type_in(&b, "#by", "Lan").await;
        // A figure the rules refuse, typed among good ones: said next to its box, every
        // box keeps what was typed, nothing stored.
        let before = cchc_tests::dump_db(&a.db());
        type_in(&b, "input[name='v.CT-04.received']", "12a").await;
        b.click("#save").await;
        let err = b.wait_for("td[data-procedure='CT-04'][data-metric='received'] .err").await;
        assert!(err.text().await.unwrap().contains("'12a'"), "the rule is named next to the box");
        let kept = b.wait_for("input[name='v.CT-01.received']").await.prop("value").await.unwrap();
        assert_eq!(kept.as_deref(), Some("10"));
        assert_eq!(cchc_tests::dump_db(&a.db()), before, "a refused form stored something");
        b.shot("02-ledger-refused").await;
        type_in(&b, "input[name='v.CT-04.received']", "").await;
        b.shot("02-ledger-typed").await;
        b.submit("#save").await;
        b.wait_for("#saved").await;
        for (p, m, n) in month {
            assert_eq!(cell(&b, p, m).await, n as f64, "{p} {m}");
        }
        // A correction: CT-01 late 2 → 1, marked as such; the name is kept.
        type_in(&b, "input[name='v.CT-01.late']", "1").await;
        b.click("#correct").await;
        let by = b.wait_for("#by").await.prop("value").await.unwrap();
        assert_eq!(by.as_deref(), Some("Lan"), "the session keeps who is entering");
        b.submit("#save").await;
        b.wait_for("#saved").await;
        assert_eq!(cell(&b, "CT-01", "late").await, 1.0);
        b.shot("03-ledger-corrected").await;
        // The cell's history: two entries, one a correction, both by Lan.
        b.click("td a[href*='procedure=CT-01']").await;
        b.wait_for("#history").await;
        let rows = b.client.execute(
            "return Array.from(document.querySelectorAll('#history tbody tr')).map(function(r){\
             return [r.cells[1].dataset.metric, r.cells[2].innerText.trim(), r.cells[3].innerText.trim(), r.className];});",
            vec![],
        ).await.unwrap();
        let rows: Vec<Vec<String>> = serde_json::from_value(rows).unwrap();
        assert!(rows.contains(&vec!["late".into(), "+2".into(), "Lan".into(), "".into()]), "{rows:?}");
        assert!(
            rows.iter().any(|r| r[0] == "late" && r[1].starts_with("−1") && r[2] == "Lan" && r[3] == "corr"),
            "{rows:?}"
        );
        b.shot("04-history").await;

        // The pledge: signed with two tasks, the first marked done.
        b.open(&format!("{base}/pledge?year=2026"), "#sign").await;
        type_in(&b, "#signer", "Nguyễn Văn An").await;
        type_in(&b, "#role", "Trưởng Công an xã").await;
        type_in(&b, "#tasks", "Niêm yết công khai thủ tục\nTiếp dân ngày thứ Bảy").await;
        b.submit("#sign-button").await;
        b.wait_for("#saved").await;
        let first = b.wait_for("table.tasks tbody tr:first-child select").await;
        first.select_by_value("done").await.unwrap();
        b.submit("table.tasks tbody tr:first-child button").await;
        b.wait_for("#saved").await;
        assert_eq!(
            b.wait_for("table.tasks tbody tr:first-child").await.attr("data-status").await.unwrap().as_deref(),
            Some("done")
        );
        assert!(b.text(".progress").await.contains("1/2"), "{}", b.text(".progress").await);
        b.shot("05-pledge").await;

        // Every phase-1 criterion scored, with evidence.
        b.open(&format!("{base}/assess?phase=1"), "#criteria").await;
        for (code, s, e) in &scores {
            type_in(&b, &format!("input[name='s.{code}']"), s).await;
            type_in(&b, &format!("textarea[name='e.{code}']"), e).await;
        }
        b.submit("#save").await;
        b.wait_for("#saved").await;
        assert!(b.text("#totals").await.contains(&format!("{}/{}", scores.len(), scores.len())));
        b.shot("06-assessed").await;

        // "Đồng bộ ngay": the page follows the sync and tells how it went.
        b.open(&format!("{base}/sync"), "#sync-now").await;
        b.click("#sync-now").await;
        b.wait_for("#last[data-fresh='1'][data-code='0']").await;
        assert_eq!(b.text("#pending b").await, "0");
        b.shot("07-synced").await;

        // A second desk's entry arrives with the next sync.
        desk2.ok(&["record", "--period", PERIOD, "--procedure", "CT-04", "--received", "4", "--by", "Minh"]);
        desk2.ok(&["sync"]);
        b.open(&format!("{base}/sync"), "#sync-now").await;
        b.click("#sync-now").await;
        b.wait_for("#last[data-fresh='1'][data-code='0']").await;
        b.open(&format!("{base}/ledger?period={PERIOD}"), "#ledger").await;
        assert_eq!(cell(&b, "CT-04", "received").await, 4.0);
        b.click("td a[href*='procedure=CT-04']").await;
        assert_eq!(b.text("#history td.by").await, "Minh");
        b.shot("08-second-desk").await;
        b.close().await;
    });
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");

    // The hub's report holds exactly the month as typed and corrected.
    let report = hub.json(&["report", "--period", PERIOD, "--json"]);
    let row = cchc_tests::commune_row(&report, 70);
    let sum = |metric: &str| -> i64 {
        month
            .iter()
            .filter(|(_, m, _)| *m == metric)
            .map(|(_, _, n)| *n as i64)
            .sum::<i64>()
    };
    assert_eq!(row["received"].as_i64(), Some(sum("received") + 4), "{row}");
    assert_eq!(row["late"].as_i64(), Some(sum("late") - 1), "{row}");
    assert_eq!(row["on_time"].as_i64(), Some(sum("on_time")), "{row}");
    assert_eq!(row["online"].as_i64(), Some(sum("online")), "{row}");
    // The commune page's document: the pledge and every score as entered.
    let password = hub.user("xem", "viewer");
    let token = hub.login("xem", &password);
    let page: Value = serde_json::from_str(
        &hub.client(None)
            .get(format!("{}/api/v1/communes/70?year=2026", hub.url()))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .expect("the commune page's JSON");
    let t = &page["tables"];
    for (code, s, e) in &scores {
        let row = t["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == code.as_str() && c["phase"] == 1)
            .unwrap_or_else(|| panic!("{code} missing: {page}"));
        let typed: f64 = s.replace(',', ".").parse().unwrap();
        assert_eq!(row["self_score"].as_f64(), Some(typed), "{code}: {row}");
        assert_eq!(row["evidence"].as_str(), Some(e.as_str()), "{code}: {row}");
    }
    let pledge = &t["pledges"][0];
    assert_eq!(pledge["signer"], "Nguyễn Văn An", "{page}");
    assert_eq!(
        (pledge["tasks"].as_i64(), pledge["done"].as_i64()),
        (Some(2), Some(1))
    );
    let tasks: Vec<(String, String)> = t["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["task"].as_str().unwrap().into(),
                x["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        vec![
            ("Niêm yết công khai thủ tục".to_string(), "done".to_string()),
            (
                "Tiếp dân ngày thứ Bảy".to_string(),
                "not_started".to_string()
            )
        ]
    );
    // The figures row of the month on the commune page, as the report says.
    let fig = t["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["period"] == PERIOD)
        .expect("the month's figures");
    for m in ["received", "on_time", "late", "online", "satisfied"] {
        assert_eq!(fig[m], row[m], "{m}: page {fig} report {row}");
    }
    hub.stop();
}
