//! A province's and a commune's first day (issue 19): the places new users tripped on.

use super::ui::{request, session, start_ui};
use cchc_tests::Hub;

/// The agent learns its commune's assigned phase at each sync; scoring another phase
/// is allowed but said on the command line, and the page asks for a confirmation.
#[test]
fn self_scoring_another_phase_than_the_assigned_one_is_said_and_confirmed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    hub.ok(&["phase", "assign", "--phase", "1", "--unit", "70"]);
    let a = hub.agent(tmp.path().join("a"), 70);
    a.ok(&["sync"]);
    assert_eq!(a.json(&["status", "--json"])["phase"], 1);
    let out = a.run(&[
        "assess",
        "--phase",
        "2",
        "--criterion",
        "TC-01",
        "--score",
        "5",
    ]);
    assert!(out.status.success());
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("assigned this commune to phase 1") && note.contains("phase 2"),
        "{note}"
    );
    let out = a.run(&[
        "assess",
        "--phase",
        "1",
        "--criterion",
        "TC-01",
        "--score",
        "5",
    ]);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        cchc_tests::describe("assess 1", &out)
    );
    hub.stop();
    // The page opens on the assigned phase; another one needs the box ticked.
    let (mut run, port) = start_ui(&a, &tmp.path().join("run.log"));
    let own = format!("127.0.0.1:{port}");
    let (cookie, token) = session(port, &own);
    let (_, _, page) = request(port, &own, "GET", "/assess", &cookie, "");
    assert!(page.contains("<option value=\"1\" selected>"), "{page}");
    assert!(!page.contains("id=\"other-phase\""));
    let before = cchc_tests::dump_db(&a.db());
    let form = format!("token={token}&phase=2&by=Lan&s.TC-02=3");
    let (status, _, page) = request(port, &own, "POST", "/assess", &cookie, &form);
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("id=\"other-phase\"") && page.contains("Hãy đánh dấu ô này"),
        "{page}"
    );
    assert_eq!(cchc_tests::dump_db(&a.db()), before);
    let (status, _, _) = request(
        port,
        &own,
        "POST",
        "/assess",
        &cookie,
        &format!("{form}&confirm_phase=2"),
    );
    assert_eq!(status, 303);
    cchc_tests::signal(run.id(), "TERM");
    cchc_tests::wait_exit(&mut run, std::time::Duration::from_secs(30), "run");
}

/// A CA and a server certificate for localhost and 127.0.0.1, as a province's own
/// PKI would issue: (CA PEM, server certificate PEM, server key PEM).
fn province_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "PKI Công an tỉnh (thử)");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = server.signed_by(&key, &ca_cert, &ca_key).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// `serve --tls-cert/--tls-key`: the province's own certificate is served (staff
/// browsers that trust the PKI accept it); agents enrolled with that PKI's CA sync; a
/// key that is not the certificate's is refused at start, naming the files. The
/// favicon answers without a session.
#[test]
fn the_hub_serves_a_certificate_of_the_provinces_own_pki() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = province_pki();
    let (ca_file, cert_file, key_file) = (
        tmp.path().join("pki-ca.pem"),
        tmp.path().join("hub.pem"),
        tmp.path().join("hub.key"),
    );
    std::fs::write(&ca_file, &ca).unwrap();
    std::fs::write(&cert_file, &cert).unwrap();
    std::fs::write(&key_file, &key).unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    // A key that is not the certificate's: refused before serving.
    let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let wrong = tmp.path().join("other.key");
    std::fs::write(&wrong, other).unwrap();
    let out = hub
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            wrong.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("hub.pem") && said.contains("other.key"),
        "{said}"
    );
    hub.start_with(&[
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
    ]);
    // A browser trusting the PKI (not the hub's own CA) gets the favicon, no session.
    let pki = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let icon = pki
        .get(format!("{}/favicon.ico", hub.url()))
        .send()
        .unwrap();
    assert_eq!(icon.status().as_u16(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    // The hub's self-made CA no longer vouches for what is served.
    assert!(hub
        .client(None)
        .get(format!("{}/health", hub.url()))
        .send()
        .is_err());
    // An agent given the PKI's CA enrolls and syncs.
    let code = hub.json(&["enroll", "create", "--unit", "70", "--json"])["code"]
        .as_str()
        .unwrap()
        .to_string();
    let a = cchc_tests::Agent::new(tmp.path().join("a"));
    a.ok(&[
        "init",
        "--unit",
        "70",
        "--hub",
        &hub.url(),
        "--ca",
        ca_file.to_str().unwrap(),
        "--code",
        &code,
    ]);
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "2",
    ]);
    a.ok(&["sync"]);
    let report = hub.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(cchc_tests::commune_row(&report, 70)["received"], 2);
    hub.stop();
}

/// Plausibility warnings: each rule flags the commune whose month trips it, and not
/// the one whose figures sit exactly at every limit; `report --json` and the
/// data-quality page say the same, and nothing is refused.
#[test]
fn figures_that_look_impossible_are_flagged_for_the_analyst_not_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    hub.start();
    // (commune, [(period, procedure, [(flag, n)])], the rule it trips)
    type Entry<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let months: [(u32, &[Entry], Option<&str>); 5] = [
        // At every limit: 10 + 2 carried = 12 ≥ 11 resolved, pending 1, online 10,
        // survey 10 of 10 received.
        (
            73,
            &[
                (
                    "2026-10",
                    "CT-01",
                    &[("--received", "2"), ("--pending", "2")],
                ),
                (
                    "2026-11",
                    "CT-01",
                    &[
                        ("--received", "10"),
                        ("--on-time", "8"),
                        ("--late", "2"),
                        ("--rejected", "1"),
                        ("--pending", "1"),
                        ("--online", "10"),
                        ("--satisfied", "9"),
                        ("--unsatisfied", "1"),
                    ],
                ),
            ],
            None,
        ),
        (
            70,
            &[(
                "2026-11",
                "CT-01",
                &[("--received", "10"), ("--on-time", "8"), ("--late", "3")],
            )],
            Some("resolved_above_inflow"),
        ),
        (
            4,
            &[(
                "2026-11",
                "CT-02",
                &[("--received", "2"), ("--pending", "5")],
            )],
            Some("pending_above_inflow"),
        ),
        (
            8,
            &[(
                "2026-11",
                "CT-03",
                &[("--received", "3"), ("--online", "4")],
            )],
            Some("online_above_received"),
        ),
        (
            25,
            &[(
                "2026-11",
                "CT-01",
                &[
                    ("--received", "3"),
                    ("--satisfied", "3"),
                    ("--unsatisfied", "1"),
                ],
            )],
            Some("survey_above_received"),
        ),
    ];
    for (unit, entries, _) in &months {
        let a = hub.agent(tmp.path().join(format!("a{unit}")), *unit);
        for (period, procedure, flags) in entries.iter() {
            let mut args = vec!["record", "--period", period, "--procedure", procedure];
            for (f, n) in flags.iter() {
                args.extend([*f, *n]);
            }
            a.ok(&args);
        }
        a.ok(&["sync"]);
    }
    let report = hub.json(&["report", "--period", "2026-11", "--json"]);
    assert_eq!(report["communes_doubtful"], 4, "{report}");
    for (unit, _, rule) in &months {
        let row = cchc_tests::commune_row(&report, *unit);
        let rules: Vec<&str> = row["warnings"]
            .as_array()
            .map(|w| w.iter().map(|d| d["rule"].as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(
            rules,
            rule.iter().copied().collect::<Vec<_>>(),
            "commune {unit}: {row}"
        );
    }
    let text = hub.ok(&["report", "--period", "2026-11"]);
    assert!(
        text.contains("Figures that look impossible: ask the commune (4)"),
        "{text}"
    );
    // The data-quality page: the same four, with the rule in words.
    let pw = hub.user("xem", "viewer");
    let token = hub.login("xem", &pw);
    let page: serde_json::Value = serde_json::from_str(
        &hub.client(None)
            .get(format!("{}/api/v1/quality?period=2026-11", hub.url()))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    let flagged: Vec<(String, String)> = page["tables"]["doubts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unit"].as_u64().unwrap().to_string(),
                r["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = months
        .iter()
        .filter_map(|(u, _, r)| r.map(|r| (u.to_string(), r.to_string())))
        .collect();
    let mut got = flagged.clone();
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want, "{page}");
    hub.stop();
}

/// What a Hà Tĩnh analyst saw on day one, in Chromium: commune codes and years shown
/// as identifiers (never `18.766`), a filter that finds `ky xuan` without diacritics,
/// periods read `tháng 11/2026`, whole-number axes for counts, the completeness page
/// named for what it shows, the data-quality page in the navigation.
#[test]
fn the_dashboard_reads_as_a_vietnamese_province_office_expects() {
    use cchc_tests::browser::{runtime, Browser};
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 42);
    hub.start();
    hub.ok(&["phase", "assign", "--phase", "1", "--unit", "18766"]);
    let a = hub.agent(tmp.path().join("a"), 18766);
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "1234",
    ]);
    a.ok(&["sync"]);
    let pw = hub.user("xem", "viewer");
    let base = hub.url();
    runtime().block_on(async {
        let b = Browser::start("first-day-dashboard").await;
        b.sign_in(&base, "xem", &pw).await;
        // Months read as Vietnamese writes them, in tables too.
        b.open(&format!("{base}/?period=2026-11"), "#t-completeness").await;
        let months: Vec<String> = b.table("completeness").await.iter().map(|r| r[0].0.clone()).collect();
        assert!(months.contains(&"tháng 11/2026".to_string()), "{months:?}");
        b.open(&format!("{base}/completeness?period=2026-11"), "#t-reported").await;
        let title = b.text("h1").await;
        assert!(title.contains("tháng 11/2026"), "{title}");
        let nav = b.text("header nav").await;
        assert!(nav.contains("Tình hình báo cáo") && nav.contains("Chất lượng số liệu"), "{nav}");
        assert!(!nav.contains("Báo cáo đầy đủ"), "{nav}");
        // The code is an identifier; the count next to it a quantity.
        let row = b.table("reported").await;
        let kx = row
            .iter()
            .find(|r| r[1].0 == "Xã Kỳ Xuân")
            .unwrap_or_else(|| panic!("{row:?}"));
        assert_eq!(kx[0].0, "18766", "{kx:?}");
        // Filtering without diacritics or capitals finds it, and nothing else.
        let filter = b
            .client
            .find(fantoccini::Locator::Css("input.filter[data-table='t-missing']"))
            .await
            .unwrap();
        filter.send_keys("ky xuan").await.unwrap();
        let filter = b
            .client
            .find(fantoccini::Locator::Css("input.filter[data-table='t-reported']"))
            .await
            .unwrap();
        filter.send_keys("KY XUAN").await.unwrap();
        let shown = b
            .client
            .execute(
                "return Array.from(document.querySelectorAll('#t-reported tbody tr')).filter(function(r){return !r.hidden;}).map(function(r){return r.cells[1].innerText.trim();});",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(shown, serde_json::json!(["Xã Kỳ Xuân"]));
        let missing_shown = b
            .client
            .execute(
                "return Array.from(document.querySelectorAll('#t-missing tbody tr')).filter(function(r){return !r.hidden;}).length;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(missing_shown, 0, "Kỳ Xuân reported: it is not among the missing");
        // The count chart's axis: whole numbers only.
        let ticks = b
            .client
            .execute(
                "return Array.from(document.querySelector('svg.chart').querySelectorAll('text[text-anchor=end]')).map(function(t){return t.textContent;});",
                vec![],
            )
            .await
            .unwrap();
        let ticks: Vec<String> = serde_json::from_value(ticks).unwrap();
        assert!(ticks.len() >= 2 && ticks.iter().all(|t| t.chars().all(|c| c.is_ascii_digit() || c == '.')), "{ticks:?}");
        b.shot("01-completeness").await;
        b.click("header nav a[href='/quality']").await;
        b.wait_for("#t-doubts").await;
        b.shot("02-quality").await;
        b.close().await;
    });
    hub.stop();
}

/// The commune sees who verified it by name: a hub user's full name (`user add
/// --name`), not the login; a user without one shows the login.
#[test]
fn a_verification_carries_the_analysts_full_name_to_the_commune() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    let pw = hub.user_named("phantich", "analyst", Some("Nguyễn Thị Thu"));
    let pw2 = hub.user("minh", "analyst");
    hub.start();
    hub.ok(&[
        "phase", "assign", "--phase", "1", "--unit", "70", "--unit", "73",
    ]);
    let users = hub.json(&["user", "list", "--json"]);
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "phantich" && u["display_name"] == "Nguyễn Thị Thu"),
        "{users}"
    );
    let a = hub.agent(tmp.path().join("a"), 70);
    let b = hub.agent(tmp.path().join("b"), 73);
    for (user, password, unit) in [("phantich", &pw, 70), ("minh", &pw2, 73)] {
        let token = hub.login(user, password);
        let resp = hub
            .client(None)
            .post(format!("{}/api/v1/communes/{unit}/verification", hub.url()))
            .bearer_auth(&token)
            .body(serde_json::json!({"phase": 1, "scores": [{"criterion": "TC-01", "score": 10, "comment": "Đã kiểm tra"}]}).to_string())
            .send()
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "{}",
            resp.text().unwrap_or_default()
        );
    }
    for (agent, who) in [(&a, "Nguyễn Thị Thu"), (&b, "minh")] {
        agent.ok(&["sync"]);
        let doc = agent.json(&["assess", "show", "--phase", "1", "--json"]);
        let c = doc["phases"][0]["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "TC-01")
            .unwrap()
            .clone();
        assert_eq!(c["verified"]["by"], who, "{c}");
    }
    hub.stop();
}

/// The service and the officer see the same data: without `--data-dir`, the agent
/// uses the machine-wide data directory once it holds an install (the service's),
/// else the user's own.
#[test]
fn without_a_data_dir_the_machine_wide_install_is_used_when_there_is_one() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let machine = tmp.path().join("machine");
    std::fs::create_dir_all(&home).unwrap();
    let agent = |args: &[&str]| {
        let out = std::process::Command::new(cchc_tests::bin("cchc-agent"))
            .args(["--lang", "en"])
            .args(args)
            .env_remove("CCHC_DATA_DIR")
            .env_remove("XDG_DATA_HOME")
            .env("HOME", &home)
            .env("CCHC_MACHINE_DATA_DIR", &machine)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            cchc_tests::describe(&args.join(" "), &out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // No machine-wide install: the officer's own directory.
    agent(&["init", "--unit", "70"]);
    assert!(home.join(".local/share/cchc-agent/agent.db").exists());
    let status: serde_json::Value = serde_json::from_str(&agent(&["status", "--json"])).unwrap();
    assert_eq!(status["unit"], 70);
    // The service's install (made with --data-dir by the installer): from now on the
    // officer's commands read and write it.
    agent(&[
        "--data-dir",
        machine.to_str().unwrap(),
        "init",
        "--unit",
        "73",
    ]);
    let status: serde_json::Value = serde_json::from_str(&agent(&["status", "--json"])).unwrap();
    assert_eq!(status["unit"], 73, "{status}");
    agent(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "2",
    ]);
    let shown: serde_json::Value = serde_json::from_str(&agent(&[
        "--data-dir",
        machine.to_str().unwrap(),
        "show",
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["counts"][0]["value"], 2, "{shown}");
}

/// An admin's day in the browser: codes for communes made and shown as a sheet (one
/// enrolls a real agent), the device revoked (its next sync is refused), a user added
/// with a full name, a phase plan pasted from Excel; each audited as the admin. A
/// viewer gets none of it.
#[test]
fn an_admin_enrolls_revokes_adds_users_and_plans_in_the_browser_and_a_viewer_cannot() {
    use cchc_tests::browser::{runtime, Browser};
    use fantoccini::Locator;
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::init(tmp.path().join("hub"), 1);
    let admin_pw = hub.user("quantri", "admin");
    let viewer_pw = hub.user("xem", "viewer");
    hub.start();
    let base = hub.url();
    let a = cchc_tests::Agent::new(tmp.path().join("a"));
    let ca = hub.ca();
    let rt = runtime();
    let code = rt.block_on(async {
        let b = Browser::start("first-day-admin").await;
        b.sign_in(&base, "quantri", &admin_pw).await;
        b.click("header nav a[href='/admin']").await;
        b.wait_for("#units").await;
        let units = b.client.find(Locator::Css("#units")).await.unwrap();
        units.send_keys("70, 73").await.unwrap();
        b.click("#make-codes").await;
        let cell = b.wait_for("#t-codes tr[data-unit='70'] td.code").await;
        let code = cell.text().await.unwrap();
        assert_eq!(
            b.client
                .find_all(Locator::Css("#t-codes tbody tr"))
                .await
                .unwrap()
                .len(),
            2
        );
        b.shot("01-code-sheet").await;
        b.close().await;
        code
    });
    assert_eq!(code.len(), 14, "{code}");
    // The code enrolls a real agent for that commune.
    a.ok(&[
        "init",
        "--unit",
        "70",
        "--hub",
        &base,
        "--ca",
        ca.to_str().unwrap(),
        "--code",
        &code,
    ]);
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "1",
    ]);
    a.ok(&["sync"]);
    let device = a.json(&["status", "--json"])["device"]
        .as_str()
        .unwrap()
        .to_string();
    rt.block_on(async {
        let b = Browser::start("first-day-admin-2").await;
        b.sign_in(&base, "quantri", &admin_pw).await;
        b.open(&format!("{base}/admin"), "#t-devices").await;
        b.click(&format!("tr[data-device='{device}'] button")).await;
        b.wait_for("#done[data-done='revoked']").await;
        let state = b
            .text(&format!("tr[data-device='{device}'] td:last-child"))
            .await;
        assert!(state.contains("Đã thu hồi"), "{state}");
        // A user with a full name.
        for (css, text) in [
            ("#u-name", "thu"),
            ("#u-full", "Nguyễn Thị Thu"),
            ("#u-pw", "mat-khau-dai-0123"),
        ] {
            b.client
                .find(Locator::Css(css))
                .await
                .unwrap()
                .send_keys(text)
                .await
                .unwrap();
        }
        b.client
            .find(Locator::Css("#u-role"))
            .await
            .unwrap()
            .select_by_value("analyst")
            .await
            .unwrap();
        b.click("#add-user").await;
        b.wait_for("#done[data-done='user']").await;
        b.wait_for("tr[data-user='thu']").await;
        // The plan, pasted as Excel copies it on Vietnamese settings.
        b.client
            .find(Locator::Css("#plan-csv"))
            .await
            .unwrap()
            .send_keys("unit;phase\n70;1\n73;2\n")
            .await
            .unwrap();
        b.click("#assign").await;
        b.wait_for("#done[data-done='plan']").await;
        b.shot("02-admin-after").await;
        b.close().await;
    });
    let out = a.run(&["sync"]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "a revoked device is refused: {}",
        cchc_tests::describe("sync", &out)
    );
    let users = hub.json(&["user", "list", "--json"]);
    assert!(
        users.as_array().unwrap().iter().any(|u| u["name"] == "thu"
            && u["role"] == "analyst"
            && u["display_name"] == "Nguyễn Thị Thu"),
        "{users}"
    );
    let status = hub.json(&["status", "--json"]);
    assert_eq!(cchc_tests::commune_row(&status, 70)["phase"], 1, "{status}");
    assert_eq!(cchc_tests::commune_row(&status, 73)["phase"], 2);
    for action in ["enroll.create", "device.revoke", "user.add", "phase.assign"] {
        let rows = hub.json(&["audit", "--action", action, "--json"]);
        assert!(
            rows.as_array()
                .unwrap()
                .iter()
                .any(|r| r["actor"] == "user:quantri"),
            "{action}: {rows}"
        );
    }
    // A viewer: no link, and the page itself is refused.
    rt.block_on(async {
        let b = Browser::start("first-day-admin-viewer").await;
        b.sign_in(&base, "xem", &viewer_pw).await;
        assert!(b
            .client
            .find(Locator::Css("header nav a[href='/admin']"))
            .await
            .is_err());
        b.open(&format!("{base}/admin"), "p.error").await;
        assert!(b.client.find(Locator::Css("#units")).await.is_err());
        b.shot("03-viewer-refused").await;
        b.close().await;
    });
    hub.stop();
}

/// `diag` measures the disk in a scratch directory beside the data and removes it:
/// the commune's database is byte for byte what it was, and the figures are there
/// (in Vietnamese by default for the person, in JSON for a script).
#[test]
fn diag_measures_the_disk_without_touching_the_communes_data() {
    let tmp = tempfile::tempdir().unwrap();
    let a = cchc_tests::Agent::new(tmp.path().join("desk"));
    a.ok(&["init", "--unit", "4"]);
    a.ok(&[
        "record",
        "--period",
        "2026-11",
        "--procedure",
        "CT-01",
        "--received",
        "3",
    ]);
    let before = a.dump();
    let f = a.json(&["diag", "--entries", "20", "--json"]);
    assert_eq!(f["entries"], 20, "{f}");
    for k in ["agent_per_s", "bare_sqlite_per_s", "ratio"] {
        assert!(f[k].as_f64().is_some_and(|v| v > 0.0), "{k}: {f}");
    }
    assert_eq!(a.dump(), before, "the commune's data was touched");
    let left: Vec<_> = std::fs::read_dir(&a.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("diag-"))
        .collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
    let out = a
        .command(&["diag", "--entries", "4"])
        .arg("--lang")
        .arg("vi")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("mục/giây"), "{text}");
}
