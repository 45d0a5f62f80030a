//! Signed, staged updates end to end (issue 13): real hub, real agents running
//! `cchc-agent run` from installs of their own, and two real builds of the agent
//! (`cchc-agent` 0.1.0 and `cchc-agent-next` 0.2.0, one source), plus a bad build
//! (`cchc-agent-bad` 0.3.0) whose health check fails after its swap.

use cchc_tests::{bin, install_build, path, wait_for, Agent, Hub, ReleaseKit};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// One commune's computer: its data, its own install, its resident `run`.
struct Desk {
    agent: Agent,
    unit: u32,
    run: Option<Child>,
    recorded: u64,
}

impl Desk {
    fn new(hub: &Hub, root: &Path, unit: u32) -> Desk {
        let exe = root.join(format!("install-{unit}")).join("cchc-agent");
        install_build(&bin("cchc-agent"), &exe);
        let mut agent = hub.agent(root.join(format!("data-{unit}")), unit);
        agent.exe = Some(exe);
        Desk {
            agent,
            unit,
            run: None,
            recorded: 0,
        }
    }

    fn start(&mut self) {
        self.start_with_env(&[]);
    }

    fn start_with_env(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.agent.dir.join("run.log"))
            .unwrap();
        let mut cmd = self.agent.command(&[
            "run",
            "--interval",
            "1",
            "--settle-ms",
            "100",
            "--retry-min-ms",
            "200",
            "--retry-max-ms",
            "1000",
        ]);
        cmd.envs(env.iter().copied());
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.run = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.run.take() {
            cchc_tests::signal(c.id(), "TERM");
            cchc_tests::wait_exit(&mut c, std::time::Duration::from_secs(30), "agent run");
        }
    }

    /// Records one dossier received: an entry the hub must end up holding once.
    fn record(&mut self) {
        self.agent.ok(&[
            "record",
            "--period",
            "2026-11",
            "--procedure",
            "CT-01",
            "--received",
            "1",
        ]);
        self.recorded += 1;
    }

    /// Syncs (its `run` stopped), checks its database, and requires every entry it
    /// recorded at the hub exactly once.
    fn assert_all_at_hub(&self, hub: &Hub) {
        self.agent.ok(&["sync"]);
        self.agent.ok(&["check"]);
        assert_eq!(
            hub_received(hub, self.unit),
            self.recorded,
            "commune {}\n{}",
            self.unit,
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.agent.dir.join("run.log")).unwrap_or_default()
    }

    fn update_status(&self) -> Value {
        self.agent.json(&["update", "status", "--json"])
    }

    fn installed_version(&self) -> String {
        let out = std::process::Command::new(self.agent.exe.as_ref().unwrap())
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        if let Some(mut c) = self.run.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A started hub trusting a fresh release kit's root (before any desk enrolls, so
/// every desk pins it). Many desks enroll from this one address within a minute.
fn province(tmp: &Path) -> (Hub, ReleaseKit) {
    let mut hub = Hub::init(tmp.join("hub"), 1);
    let kit = ReleaseKit::new(tmp.join("kit"));
    kit.trust(&hub);
    hub.start_with(&["--rate-guesses", "100"]);
    (hub, kit)
}

fn status(hub: &Hub) -> Value {
    hub.json(&["release", "status", "--json"])
}

fn rollout<'a>(doc: &'a Value, version: &str) -> &'a Value {
    doc["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == version)
        .unwrap_or(&Value::Null)
}

/// Signs and publishes a build (stripped, as released) as `version`.
fn publish(hub: &Hub, kit: &ReleaseKit, build: &str, version: &str, tmp: &Path) -> PathBuf {
    let file = tmp.join(format!("release-{version}")).join("cchc-agent");
    install_build(&bin(build), &file);
    let bundle = kit.sign_agent(&file, version, &tmp.join(format!("agent-{version}.bundle")));
    hub.ok(&["release", "publish", path(&bundle)]);
    file
}

/// The hub's ops and received total for a commune, from `report`.
fn hub_received(hub: &Hub, unit: u32) -> u64 {
    let doc = hub.json(&["report", "--period", "2026-11", "--json"]);
    doc["communes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["unit"] == unit)
        .map(|c| c["received"].as_u64().unwrap_or(0))
        .unwrap_or(0)
}

fn devices_of(stage: &Value) -> Vec<String> {
    stage["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_release_goes_from_pilots_to_half_to_all_and_every_entry_arrives_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut hub, kit) = province(tmp.path());
    let units = [70, 73, 4, 8, 25, 256];
    let mut desks: Vec<Desk> = units
        .iter()
        .map(|u| Desk::new(&hub, tmp.path(), *u))
        .collect();
    for d in &mut desks {
        d.record();
        d.start();
    }
    // The build the desks run is a published release too: the hub makes a delta
    // from it to 0.2.0 and offers that instead of the whole file.
    publish(&hub, &kit, "cchc-agent", "0.1.0", tmp.path());
    let full = publish(&hub, &kit, "cchc-agent-next", "0.2.0", tmp.path());
    let full_len = std::fs::metadata(&full).unwrap().len();
    let pilots = [70, 73];
    hub.ok(&[
        "release",
        "rollout",
        "--version",
        "0.2.0",
        "--stage",
        "pilot",
        "--unit",
        "70",
        "--unit",
        "73",
        "--soak",
        "2s",
        "--halt-at",
        "50%",
        "--min-reports",
        "2",
    ]);
    // Entries go on while the pilots update.
    let doc = wait_for(
        "the pilots to be healthy on 0.2.0",
        180,
        || {
            for d in desks.iter_mut().filter(|d| pilots.contains(&d.unit)) {
                d.record();
            }
            status(&hub)
        },
        |doc| rollout(doc, "0.2.0")["stages"][0]["healthy"] == 2,
    );
    let r = rollout(&doc, "0.2.0");
    assert_eq!(r["state"], "running", "{r}");
    assert_eq!(
        r["totals"]["offered"], 2,
        "only the pilots were offered it: {r}"
    );
    for d in desks.iter().filter(|d| pilots.contains(&d.unit)) {
        assert_eq!(d.installed_version(), "cchc-agent 0.2.0", "{}", d.log());
        let st = d.update_status();
        assert_eq!(st["current"], "0.2.0", "{st}");
        assert_eq!(st["previous"], "0.1.0", "{st}");
    }
    for d in desks.iter().filter(|d| !pilots.contains(&d.unit)) {
        assert_eq!(d.installed_version(), "cchc-agent 0.1.0");
    }
    let pilot_devices = devices_of(&r["stages"][0]);

    hub.ok(&[
        "release",
        "rollout",
        "--version",
        "0.2.0",
        "--percent",
        "50",
    ]);
    let doc = wait_for(
        "the 50% stage to be healthy",
        180,
        || {
            for d in desks.iter_mut() {
                d.record();
            }
            status(&hub)
        },
        |doc| {
            let s = &rollout(doc, "0.2.0")["stages"][1];
            s["healthy"] == s["offered"]
        },
    );
    // Widening only adds: the pilots stay in their stage.
    assert_eq!(
        devices_of(&rollout(&doc, "0.2.0")["stages"][0]),
        pilot_devices
    );

    hub.ok(&["release", "rollout", "--version", "0.2.0", "--all"]);
    let doc = wait_for(
        "every device to be healthy on 0.2.0",
        240,
        || {
            for d in desks.iter_mut() {
                d.record();
            }
            status(&hub)
        },
        |doc| rollout(doc, "0.2.0")["totals"]["healthy"] == units.len(),
    );
    let totals = &rollout(&doc, "0.2.0")["totals"];
    // Every desk took the delta: a few kilobytes against the whole build.
    for stage in rollout(&doc, "0.2.0")["stages"].as_array().unwrap() {
        for dev in stage["devices"].as_array().unwrap() {
            let detail = dev["detail"].as_str().unwrap_or_default();
            let bytes: u64 = detail
                .strip_prefix("delta of ")
                .and_then(|d| d.strip_suffix(" bytes"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{dev} did not come by delta"));
            assert!(bytes * 20 < full_len, "{bytes} of {full_len}");
        }
    }
    assert_eq!(totals["failed"], 0, "{doc}");
    assert_eq!(totals["rolled_back"], 0, "{doc}");
    for d in &mut desks {
        d.record();
        d.stop();
        assert_eq!(d.installed_version(), "cchc-agent 0.2.0", "{}", d.log());
        // Every entry, made before, during and after the update, is at the hub once.
        d.assert_all_at_hub(&hub);
        let held = d.agent.json(&["status", "--json"]);
        assert_eq!(held["ops_pending"], 0, "{held}");
    }
    hub.stop();
}

#[test]
fn a_bad_build_halts_at_its_threshold_and_the_pilots_roll_back_losing_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut hub, kit) = province(tmp.path());
    let pilots = [70, 73, 4, 8, 25];
    let others = [256, 283];
    let mut desks: Vec<Desk> = pilots
        .iter()
        .chain(&others)
        .map(|u| Desk::new(&hub, tmp.path(), *u))
        .collect();
    for d in &mut desks {
        d.record();
        d.start();
    }
    publish(&hub, &kit, "cchc-agent-bad", "0.3.0", tmp.path());
    let mut args = vec![
        "release",
        "rollout",
        "--version",
        "0.3.0",
        "--stage",
        "pilot",
    ];
    let unit_args: Vec<String> = pilots.iter().map(|u| u.to_string()).collect();
    for u in &unit_args {
        args.extend(["--unit", u.as_str()]);
    }
    args.extend(["--soak", "2s", "--halt-at", "10%", "--min-reports", "5"]);
    hub.ok(&args);
    let doc = wait_for(
        "the rollout to halt itself",
        240,
        || {
            for d in desks.iter_mut() {
                d.record();
            }
            status(&hub)
        },
        |doc| rollout(doc, "0.3.0")["state"] == "halted",
    );
    let r = rollout(&doc, "0.3.0");
    assert!(
        r["reason"].as_str().unwrap().contains("failed on 5 of 5"),
        "{r}"
    );
    assert_eq!(
        r["totals"]["offered"], 5,
        "no device outside the pilot: {r}"
    );
    assert_eq!(r["totals"]["rolled_back"], 5, "{r}");
    let audit = hub.json(&["audit", "--action", "release.halt", "--json"]);
    assert!(audit.to_string().contains("failed on 5 of 5"), "{audit}");
    // Halting a halted rollout is a no-op, never an undoing of the halt; widening it
    // is refused until someone resumes it.
    hub.ok(&["release", "halt", "--version", "0.3.0"]);
    let widen = hub
        .command(&["release", "rollout", "--version", "0.3.0", "--all"])
        .output()
        .unwrap();
    assert_eq!(widen.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&widen.stderr).contains("halted"));
    assert_eq!(rollout(&status(&hub), "0.3.0")["state"], "halted");

    // The dashboard's updates page shows the same figures, in a real browser.
    let password = hub.user("lan", "viewer");
    let rt = cchc_tests::browser::runtime();
    let shown = rt.block_on(async {
        let b = cchc_tests::browser::Browser::start("updates").await;
        b.sign_in(&hub.url(), "lan", &password).await;
        b.open(&format!("{}/releases", hub.url()), "#t-rollouts")
            .await;
        let rollouts = b.table("rollouts").await;
        let devices = b.table("devices").await;
        b.shot("updates").await;
        b.close().await;
        (rollouts, devices)
    });
    let (rollouts, devices) = shown;
    let row: Vec<String> = rollouts[0].iter().map(|c| c.0.clone()).collect();
    assert_eq!(row[0], "0.3.0", "{row:?}");
    assert!(
        row[1].starts_with("Đã dừng") && row[1].contains("5 of 5"),
        "{row:?}"
    );
    // Offered, downloaded, installed, healthy, failed, rolled back.
    let t = &r["totals"];
    let want: Vec<String> = [
        "offered",
        "downloaded",
        "installed",
        "healthy",
        "failed",
        "rolled_back",
    ]
    .iter()
    .map(|k| t[*k].to_string())
    .collect();
    assert_eq!(row[3..9].to_vec(), want, "{row:?} vs {t}");
    assert_eq!(devices.len(), 5);
    assert!(
        devices.iter().all(|d| d[4].0 == "Đã quay lại bản cũ"),
        "{devices:?}"
    );

    for d in &mut desks {
        d.record();
        d.stop();
        assert_eq!(d.installed_version(), "cchc-agent 0.1.0", "{}", d.log());
        let st = d.update_status();
        if pilots.contains(&d.unit) {
            assert_eq!(st["refused"], serde_json::json!(["0.3.0"]), "{st}");
        } else {
            assert_eq!(st["offered"], Value::Null, "{st}");
        }
        // Still syncing, nothing lost.
        d.assert_all_at_hub(&hub);
    }
    // An older genuine release offered after 0.3.0 was seen is a replay: a pilot that
    // took 0.3.0 refuses 0.2.0 (the province signs a fix as 0.3.1 instead).
    // The hub itself refuses to publish it (versions only go up there too), so an
    // attacker who kept the old signed release plants it in the hub's database.
    let file = tmp.path().join("release-0.2.0").join("cchc-agent");
    install_build(&bin("cchc-agent-next"), &file);
    let bundle = kit.sign_agent(&file, "0.2.0", &tmp.path().join("agent-0.2.0.bundle"));
    let refused = hub
        .command(&["release", "publish", path(&bundle)])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("versions only go up"));
    let bytes = std::fs::read(&bundle).unwrap();
    let (head, build) = cchc_common::update::read_bundle(&bytes).unwrap();
    let cchc_common::update::BundleHead::Agent { release } = head else {
        unreachable!("an agent bundle")
    };
    cchc_tests::plant_release(&hub, &release, build, &cchc_common::update::this_platform());
    let pilot = desks.iter().find(|d| d.unit == 70).unwrap();
    let doc = pilot.agent.json(&["update", "check", "--json"]);
    assert_eq!(
        doc["update"]["refused"],
        serde_json::json!(["0.3.0", "0.2.0"]),
        "{doc}"
    );
    assert_eq!(pilot.installed_version(), "cchc-agent 0.1.0");
    pilot.agent.ok(&["sync"]);
    let r = rollout(&status(&hub), "0.2.0").clone();
    let detail = r["stages"][0]["devices"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("a downgrade or a replayed old release"),
        "{r}"
    );
    hub.stop();
}

/// Where a killed desk was: from its updater's state and files.
fn where_killed(d: &Desk) -> String {
    let state = std::fs::read_to_string(d.agent.dir.join("update/state.json")).unwrap_or_default();
    let phase = serde_json::from_str::<Value>(&state)
        .ok()
        .and_then(|s| s["phase"]["phase"].as_str().map(str::to_string))
        .unwrap_or_else(|| "none".into());
    let download = d.agent.dir.join("update/download");
    let part = std::fs::read_dir(&download)
        .map(|r| {
            r.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
        })
        .unwrap_or(false);
    let staged = d
        .agent
        .exe
        .as_ref()
        .unwrap()
        .with_file_name("cchc-agent.new")
        .exists();
    format!(
        "{phase}{}{}",
        if part { "+download" } else { "" },
        if staged { "+staged" } else { "" }
    )
}

#[test]
fn killed_anywhere_in_download_swap_and_restart_an_agent_starts_on_one_build_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut hub, kit) = province(tmp.path());
    publish(&hub, &kit, "cchc-agent-next", "0.2.0", tmp.path());
    hub.ok(&[
        "release",
        "rollout",
        "--version",
        "0.2.0",
        "--all",
        "--soak",
        "1s",
    ]);
    let mut rng = cchc_tests::Rng::from_env("update kill points");
    let units: Vec<u32> = [70, 73, 4, 8, 25, 256, 283, 277, 235, 226, 196, 187, 190, 97]
        .into_iter()
        .chain([328, 319, 304, 313, 316, 337, 331])
        .collect();
    let mut desks: Vec<(Desk, u64)> = units
        .iter()
        .map(|u| {
            let mut d = Desk::new(&hub, tmp.path(), *u);
            d.record();
            (d, rng.below(8_000))
        })
        .collect();
    // Every desk starts at once; each is killed (SIGKILL) at its own random moment
    // within the first eight seconds: while downloading, testing, swapping or
    // restarting.
    // And one desk per step of the swap and restart, ended there for certain (debug
    // builds stop at `CCHC_TEST_CRASH_AT`, as at a power cut).
    let steps = ["staged", "swapping", "swapped", "restart", "trial"];
    let mut stepped: Vec<Desk> = [367, 364, 352, 167, 160]
        .iter()
        .map(|u| {
            let mut d = Desk::new(&hub, tmp.path(), *u);
            d.record();
            d
        })
        .collect();
    for (d, step) in stepped.iter_mut().zip(steps) {
        d.start_with_env(&[("CCHC_TEST_CRASH_AT", step)]);
    }
    let started = std::time::Instant::now();
    for (d, _) in desks.iter_mut() {
        d.start();
    }
    desks.sort_by_key(|(_, at)| *at);
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    for (d, at) in desks.iter_mut() {
        let when = started + std::time::Duration::from_millis(*at);
        if let Some(wait) = when.checked_duration_since(std::time::Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut child = d.run.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        *seen.entry(where_killed(d)).or_default() += 1;
    }
    for (d, step) in stepped.iter_mut().zip(steps) {
        let mut child = d.run.take().unwrap();
        let status = cchc_tests::wait_exit(&mut child, std::time::Duration::from_secs(120), step);
        assert!(
            !status.success(),
            "{step}: the run should have been cut\n{}",
            d.log()
        );
        *seen
            .entry(format!("at {step}: {}", where_killed(d)))
            .or_default() += 1;
    }
    eprintln!("kill points: {seen:?}");
    assert!(seen.values().sum::<u32>() >= 25);
    let units: Vec<u32> = units
        .iter()
        .chain(&[367, 364, 352, 167, 160])
        .copied()
        .collect();
    let mut desks: Vec<(Desk, u64)> = desks
        .into_iter()
        .chain(stepped.into_iter().map(|d| (d, 0)))
        .collect();
    for (d, _) in desks.iter_mut() {
        // One of the two builds is in place, and the database is whole.
        let v = d.installed_version();
        assert!(
            v == "cchc-agent 0.1.0" || v == "cchc-agent 0.2.0",
            "commune {}: {v:?}\n{}",
            d.unit,
            d.log()
        );
        d.agent.ok(&["check"]);
        d.record();
        d.start();
    }
    // Restarted, every one of them finishes the update and keeps every entry.
    wait_for(
        "every killed desk to be healthy on 0.2.0",
        300,
        || status(&hub),
        |doc| rollout(doc, "0.2.0")["totals"]["healthy"] == units.len(),
    );
    for (d, _) in desks.iter_mut() {
        d.stop();
        assert_eq!(d.installed_version(), "cchc-agent 0.2.0", "{}", d.log());
        d.assert_all_at_hub(&hub);
    }
    hub.stop();
}

#[test]
fn a_build_that_keeps_crashing_at_start_is_replaced_by_the_previous_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut hub, kit) = province(tmp.path());
    let mut d = Desk::new(&hub, tmp.path(), 70);
    d.record();
    publish(&hub, &kit, "cchc-agent-next", "0.2.0", tmp.path());
    hub.ok(&["release", "rollout", "--version", "0.2.0", "--all"]);
    // The new build dies as it starts (debug builds stop at CCHC_TEST_CRASH_AT), every
    // time: the service manager starts it again, as systemd's Restart=always would.
    let crash = [("CCHC_TEST_CRASH_AT", "trial")];
    let mut starts = 0;
    loop {
        d.start_with_env(&crash);
        let mut child = d.run.take().unwrap();
        let rolled_back = wait_for(
            "the agent to crash, or to run the previous build again",
            120,
            || {
                (
                    child.try_wait().unwrap(),
                    rollout(&status(&hub), "0.2.0")["totals"]["rolled_back"] == 1,
                )
            },
            |(exited, back)| exited.is_some() || *back,
        );
        if rolled_back.1 {
            d.run = Some(child);
            break;
        }
        assert!(!rolled_back.0.unwrap().success(), "{}", d.log());
        starts += 1;
        assert!(
            starts <= 4,
            "still crashing after {starts} starts\n{}",
            d.log()
        );
    }
    assert_eq!(
        starts,
        3,
        "three crashed starts, then the rollback\n{}",
        d.log()
    );
    let r = rollout(&status(&hub), "0.2.0").clone();
    let detail = r["stages"][0]["devices"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("without passing its health check"), "{r}");
    d.record();
    d.stop();
    assert_eq!(d.installed_version(), "cchc-agent 0.1.0", "{}", d.log());
    d.assert_all_at_hub(&hub);
    hub.stop();
}

#[test]
fn a_hub_out_of_reach_during_the_health_check_delays_the_verdict_and_never_rolls_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut hub, kit) = province(tmp.path());
    let mut d = Desk::new(&hub, tmp.path(), 70);
    d.record();
    publish(&hub, &kit, "cchc-agent-next", "0.2.0", tmp.path());
    hub.ok(&[
        "release",
        "rollout",
        "--version",
        "0.2.0",
        "--all",
        "--soak",
        "1s",
    ]);
    // Cut just before the new build starts (the swap done, its trial ahead)…
    d.start_with_env(&[("CCHC_TEST_CRASH_AT", "restart")]);
    let mut child = d.run.take().unwrap();
    cchc_tests::wait_exit(&mut child, std::time::Duration::from_secs(120), "swap");
    assert_eq!(d.installed_version(), "cchc-agent 0.2.0", "{}", d.log());
    // …and the hub is down when it does: its first syncs fail.
    hub.stop();
    d.start();
    wait_for(
        "the new build to try the hub and fail",
        60,
        || d.log().matches("cannot reach the hub").count(),
        |n| *n >= 2,
    );
    let st = d.update_status();
    assert_eq!(st["phase"], "trial", "no verdict without the hub: {st}");
    assert_eq!(d.installed_version(), "cchc-agent 0.2.0");
    // Entries go on meanwhile; the hub comes back and the build passes.
    d.record();
    hub.start();
    wait_for(
        "the build to be judged healthy",
        120,
        || status(&hub),
        |doc| rollout(doc, "0.2.0")["totals"]["healthy"] == 1,
    );
    let doc = status(&hub);
    let t = &rollout(&doc, "0.2.0")["totals"];
    assert_eq!(
        (t["failed"].clone(), t["rolled_back"].clone()),
        (0.into(), 0.into())
    );
    d.stop();
    d.assert_all_at_hub(&hub);
    hub.stop();
}
