//! Text typed at a commune is data, never markup and never a spreadsheet formula,
//! wherever it leaves the hub. Real agents sync pledges, tasks and evidence holding
//! HTML (`<script>`, `"><img onerror=…>`, `</textarea>`) and formula starts (`=`, `+`,
//! `-`, `@`, and tab and CR through a desk's bundle, since the command line trims
//! them); the province records comments holding the same. Then every dashboard page
//! and the verification form (over HTTPS, and rendered in headless Chromium) show the
//! text as text, and every CSV and XLSX export of every page holds it without a
//! formula, numbers still numbers.

use calamine::Reader;
use cchc_common::op::OpBody;
use cchc_common::{ActorId, Date, Op, Score, UnitCode};
use cchc_tests::browser::{runtime, Browser};
use cchc_tests::Hub;
use std::path::Path;

/// Markup a commune might type, by accident or not.
const SIGNER: &str = "<script>alert('signer')</script> Lê Văn An";
const ROLE: &str = "\"><img src=x onerror=alert('role')>";
const TASK_HTML: &str = "</textarea><u>task</u>";
const EVIDENCE_HTML: &str = "</textarea><script>alert('evidence')</script>";
const EVIDENCE_ATTR: &str = "\"><img src=x onerror=alert('evidence')>";
const COMMENT_HTML: &str = "<script>alert('comment')</script>";
const BY_HTML: &str = "\"><img src=x onerror=alert('by')>";
/// Formula starts the command line keeps.
const TASK_FORMULAS: [&str; 4] = [
    "=HYPERLINK(\"http://evil.example\",\"bấm vào đây\")",
    "+1+2",
    "-3+4",
    "@SUM(1,2)",
];
/// Formula starts only a crafted bundle can carry (the command line trims them).
const TAB_TITLE: &str = "\t=1+2";
const CR_TITLE: &str = "\r=3+4";
const TAB_EVIDENCE: &str = "\t-5+6";
const COMMENT_FORMULA: &str = "=1+1";

/// What maud writes for a text (it escapes `&`, `<`, `>` and `"`).
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bundle from another desk of commune `unit` (device `sender`) holding text whose
/// first character is a tab or a carriage return: a pledge with two tasks and a
/// self-assessment.
fn write_tab_bundle(path: &Path, unit: u32, sender: u64) {
    let actor = ActorId(sender);
    let op = |seq: u64, body: OpBody| Op {
        v: 1,
        actor,
        seq,
        hlc_ms: 1_790_000_000_000 + seq,
        hlc_c: 0,
        unit: UnitCode(unit),
        defs: 1,
        body,
    };
    let pledge = "tab-desk".to_string();
    let ops = vec![
        op(
            1,
            OpBody::PledgeSign {
                year: 2026,
                pledge: pledge.clone(),
                signer: "\tTab Desk".into(),
                role: "\r@role".into(),
                signed_on: Date::new(2026, 2, 1).unwrap(),
            },
        ),
        op(
            2,
            OpBody::TaskAdd {
                year: 2026,
                pledge: pledge.clone(),
                task: format!("{actor}-2"),
                title: TAB_TITLE.into(),
                dot: 1,
            },
        ),
        op(
            3,
            OpBody::TaskAdd {
                year: 2026,
                pledge,
                task: format!("{actor}-3"),
                title: CR_TITLE.into(),
                dot: 2,
            },
        ),
        op(
            4,
            OpBody::Assess {
                phase: 1,
                criterion: "TC-05".into(),
                score: Score::parse("6").unwrap(),
                evidence: TAB_EVIDENCE.into(),
                by: String::new(),
            },
        ),
    ];
    let bundle = serde_json::json!({
        "format": "cchc-bundle", "version": 1, "unit": unit, "sender": actor,
        "sent_at_ms": 1_790_000_000_000i64, "version_vector": { actor.to_string(): ops.len() },
        "ops": ops,
    });
    std::fs::write(path, serde_json::to_vec(&bundle).unwrap()).unwrap();
}

/// Whether Excel would read a CSV cell as a formula: it starts with one of OWASP's
/// characters and is not a plain number.
fn formula_like(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err()
}

#[test]
fn commune_text_is_text_on_every_page_and_in_every_export() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    hub.ok(&["phase", "assign", "--phase", "1", "--unit", "4"]);
    let agent = hub.agent(tmp.path().join("agent"), 4);
    let mut pledge = vec![
        "pledge".to_string(),
        "add".into(),
        "--year".into(),
        "2026".into(),
        "--signer".into(),
        SIGNER.into(),
        "--role".into(),
        ROLE.into(),
        "--date".into(),
        "2026-01-15".into(),
        format!("--task={TASK_HTML}"),
    ];
    pledge.extend(TASK_FORMULAS.iter().map(|t| format!("--task={t}")));
    agent.ok(&pledge.iter().map(String::as_str).collect::<Vec<_>>());
    for (criterion, evidence) in [
        ("TC-01", EVIDENCE_HTML),
        ("TC-02", EVIDENCE_ATTR),
        ("TC-03", "=1+2"),
    ] {
        agent.ok(&[
            "assess",
            "--phase",
            "1",
            "--criterion",
            criterion,
            "--score",
            "5",
            &format!("--evidence={evidence}"),
        ]);
    }
    // A name typed decomposed (NFD) is stored precomposed (NFC).
    agent.ok(&[
        "pledge",
        "add",
        "--year",
        "2026",
        "--signer",
        "Nguye\u{302}\u{303}n Thi\u{323} Thu",
        "--role",
        "Phó Trưởng Công an xã",
        "--date",
        "2026-01-16",
    ]);
    let shown = agent.json(&["pledge", "show", "--json"]).to_string();
    assert!(shown.contains("Nguyễn Thị Thu"), "{shown}");
    assert!(
        !shown.contains("Nguye\u{302}"),
        "stored decomposed: {shown}"
    );
    let bundle = tmp.path().join("tab.cchc");
    write_tab_bundle(&bundle, 4, 0x5eed_0000_0000_0077);
    agent.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    agent.ok(&["sync"]);
    for (criterion, comment, by) in [
        ("TC-01", COMMENT_HTML, BY_HTML),
        ("TC-02", COMMENT_FORMULA, "Nguyễn Thị Thu"),
    ] {
        hub.ok(&[
            "verify",
            "--unit",
            "4",
            "--phase",
            "1",
            "--criterion",
            criterion,
            "--score",
            "4",
            &format!("--comment={comment}"),
            &format!("--by={by}"),
        ]);
    }

    let analyst = hub.user("thu", "analyst");
    let token = hub.login("thu", &analyst);
    let http = hub.client(None);
    let base = hub.url();
    let get = |url: &str| {
        let resp = http
            .get(format!("{base}{url}"))
            .bearer_auth(&token)
            .send()
            .expect("request");
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        resp.bytes().expect("body").to_vec()
    };

    // Every page and the form: the commune's text is there, escaped; no markup of
    // its own made it through (one script, ours; no img, no u).
    let markup = [
        SIGNER,
        ROLE,
        TASK_HTML,
        EVIDENCE_HTML,
        EVIDENCE_ATTR,
        COMMENT_HTML,
        BY_HTML,
    ];
    let pages = [
        "/",
        "/phase/1",
        "/completeness",
        "/figures",
        "/commune/4",
        "/verify/4",
    ];
    for path in pages {
        let html = String::from_utf8(get(path)).unwrap();
        for s in markup {
            assert!(!html.contains(s), "{path} holds {s:?} unescaped");
        }
        assert_eq!(html.matches("<script").count(), 1, "{path}: scripts");
        assert!(!html.contains("<img") && !html.contains("<u>"), "{path}");
    }
    let commune = String::from_utf8(get("/commune/4")).unwrap();
    for s in [
        SIGNER,
        ROLE,
        TASK_HTML,
        EVIDENCE_HTML,
        EVIDENCE_ATTR,
        COMMENT_HTML,
        BY_HTML,
    ] {
        assert!(commune.contains(&escaped(s)), "/commune/4 lacks {s:?}");
    }
    let form = String::from_utf8(get("/verify/4")).unwrap();
    for s in [EVIDENCE_HTML, EVIDENCE_ATTR, COMMENT_HTML] {
        assert!(form.contains(&escaped(s)), "/verify/4 lacks {s:?}");
    }

    // In Chromium: the pages render the text as text and run no script of it.
    let rt = runtime();
    rt.block_on(async {
        let b = Browser::start("hostile-text").await;
        b.sign_in(&base, "thu", &analyst).await;
        for path in pages {
            b.open(&format!("{base}{path}"), "main h1").await;
            let v = b
                .client
                .execute(
                    "return [document.scripts.length, document.images.length, \
                     document.getElementsByTagName('u').length, document.body.innerText];",
                    vec![],
                )
                .await
                .expect("script runs");
            assert_eq!(v[0], 1, "{path}: scripts");
            assert_eq!(v[1], 0, "{path}: images");
            assert_eq!(v[2], 0, "{path}: u elements");
            if path == "/commune/4" {
                let text = v[3].as_str().unwrap();
                for s in [SIGNER, TASK_HTML, EVIDENCE_HTML, COMMENT_HTML] {
                    assert!(text.contains(s), "{path} does not show {s:?} as text");
                }
            }
            if path == "/verify/4" {
                let value = b
                    .client
                    .execute(
                        "return document.querySelector(\"input[name='c_TC-01']\").value;",
                        vec![],
                    )
                    .await
                    .expect("comment input");
                assert_eq!(value, COMMENT_HTML, "the form keeps the comment as typed");
            }
        }
        b.shot("verify-4").await;
        b.close().await;
    });
    drop(rt);

    // Every table of every page, as CSV and as XLSX.
    let mut carried: Vec<String> = Vec::new();
    let mut tables = 0;
    for page in [
        "overview",
        "phases/1",
        "completeness",
        "figures",
        "communes/4",
    ] {
        let doc: serde_json::Value = serde_json::from_slice(&get(&format!("/api/v1/{page}")))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        let name = doc["page"].as_str().unwrap().to_string();
        for (table, rows) in doc["tables"].as_object().unwrap() {
            assert!(rows.is_array(), "{page}: {table}");
            tables += 1;
            let csv_url = format!("/api/v1/export/{name}/{table}.csv");
            let bytes = get(&csv_url);
            let mut rd = csv::ReaderBuilder::new()
                .has_headers(true)
                .delimiter(b';')
                .from_reader(&bytes[3..]);
            let parsed: Vec<Vec<String>> = rd
                .records()
                .map(|r| r.unwrap().iter().map(str::to_string).collect())
                .collect();
            assert_eq!(parsed.len(), rows.as_array().unwrap().len(), "{csv_url}");
            for (i, row) in parsed.iter().enumerate() {
                for cell in row {
                    assert!(
                        !formula_like(cell),
                        "{csv_url} row {i}: {cell:?} is a formula"
                    );
                    if let Some(text) = cell.strip_prefix('\'') {
                        carried.push(text.to_string());
                    }
                }
            }
            // The XLSX holds the same cells: numbers as numbers (the CSV's plain number),
            // text as string cells with the text as typed (no quote), and no formula.
            let xlsx_url = format!("/api/v1/export/{name}/{table}.xlsx");
            let mut book = calamine::Xlsx::new(std::io::Cursor::new(get(&xlsx_url))).unwrap();
            let sheet_name = book.sheet_names()[0].clone();
            let formulas = book.worksheet_formula(&sheet_name).unwrap();
            assert!(
                formulas.used_cells().all(|(_, _, f)| f.is_empty()),
                "{xlsx_url} holds a formula"
            );
            let sheet = book.worksheet_range(&sheet_name).unwrap();
            assert_eq!(sheet.rows().count() - 1, parsed.len(), "{xlsx_url}: rows");
            for (i, (row, csv_row)) in sheet.rows().skip(1).zip(&parsed).enumerate() {
                for (cell, text) in row.iter().zip(csv_row) {
                    match cell {
                        // The CSV's number has the Vietnamese decimal comma.
                        calamine::Data::Float(f) => assert_eq!(
                            text.replace(',', ".").parse::<f64>().ok(),
                            Some(*f),
                            "{xlsx_url} row {i}: a number in the sheet, {text:?} in the CSV"
                        ),
                        calamine::Data::String(s) => assert!(
                            *text == *s || *text == format!("'{s}"),
                            "{xlsx_url} row {i}: {s:?} in the sheet, {text:?} in the CSV"
                        ),
                        calamine::Data::DateTime(_) | calamine::Data::Empty => {}
                        other => panic!("{xlsx_url} row {i}: unexpected cell {other:?}"),
                    }
                }
            }
        }
    }
    assert!(tables > 10, "only {tables} tables exported");
    // Each formula start reached an export, neutralised.
    let mut expected: Vec<String> = TASK_FORMULAS.iter().map(|s| s.to_string()).collect();
    expected.extend([TAB_TITLE, CR_TITLE, TAB_EVIDENCE, COMMENT_FORMULA, "=1+2"].map(String::from));
    for s in &expected {
        assert!(
            carried.contains(s),
            "{s:?} never reached a CSV export: {carried:?}"
        );
    }
    hub.stop();
}
