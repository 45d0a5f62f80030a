//! The commune's installer run by hand, as an officer with no IT staff runs it: on a
//! virtual X display (Xvfb), its window driven by the keyboard (xdotool). The
//! enrollment page takes the commune, the hub's address and the code (the CA file
//! beside the installer is taken), says what is wrong and neither installs nor enrolls
//! anything until it is right, and is not asked again when the program is reinstalled.

use super::{installer, prefix_with, PROVINCE};
use cchc_tests::{communes_of, describe, wait_for, Hub};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A virtual X display of the test's own, ended with it.
struct Display {
    server: Child,
    name: String,
}

impl Display {
    fn start() -> Display {
        // -displayfd: the server picks a free display and prints its number.
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts (Debian package xvfb; tests/run installs it)");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(!line.trim().is_empty(), "Xvfb printed no display");
        Display {
            server,
            name: format!(":{}", line.trim()),
        }
    }

    /// Runs xdotool on this display; its standard output.
    fn xdotool(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.name)
            .stdin(Stdio::null())
            .output()
            .expect("xdotool starts (Debian package xdotool; tests/run installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The titles of the installer's windows (its own and any message box).
    fn titles(&self) -> Vec<String> {
        self.xdotool(&["search", "--name", "cchc-agent", "getwindowname", "%@"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Types into whatever has the keyboard.
    fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "20", text]);
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["key", "--delay", "50"];
        args.extend_from_slice(keys);
        self.xdotool(&args);
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Starts a Windows program with a window (what it prints is not read).
fn start_windows(env: &[String], program: &Path) -> Child {
    super::spawn_windows(env, program, &[]).0
}

/// Waits for the installer's window to be its only one (no message box on top) and to
/// have `part` in its title.
fn wait_window(x: &Display, what: &str, part: &str) {
    wait_for(
        what,
        90,
        || x.titles(),
        |t| t.len() == 1 && t[0].contains(part),
    );
}

/// install.log: UTF-16 with its byte order mark, as Notepad reads it.
fn install_log(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("install.log beside the program");
    assert_eq!(
        &bytes[..2],
        &[0xff, 0xfe],
        "install.log starts with its mark"
    );
    let units: Vec<u16> = bytes[2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).expect("install.log is UTF-16")
}

/// Presses Enter on the finish page until the installer has ended (the install
/// itself runs with its buttons disabled, where Enter does nothing).
fn finish(x: &Display, setup: &mut Child) -> std::process::ExitStatus {
    let status = wait_for(
        "the installer to end on its finish page",
        90,
        || {
            x.keys(&["Return"]);
            setup.try_wait().unwrap()
        },
        |s| s.is_some(),
    );
    status.unwrap()
}

#[test]
fn by_hand_the_installer_asks_for_the_enrollment_says_what_is_wrong_and_never_asks_again() {
    let tmp = tempfile::tempdir().unwrap();
    let x = Display::start();
    let mut env = prefix_with(&tmp.path().join("wine"), &[format!("DISPLAY={}", x.name)]);
    let mut hub = Hub::init(tmp.path().join("hub"), PROVINCE);
    hub.start();
    let unit = communes_of(PROVINCE)[6];

    // What the province hands the commune: the installer and the CA file, side by side.
    let usb = tmp.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let setup: PathBuf = usb.join("cchc-agent-setup.exe");
    std::fs::copy(installer(), &setup).unwrap();
    std::fs::copy(hub.ca(), usb.join("ca.pem")).unwrap();
    let exe = env.c(r"Program Files\cchc-agent\cchc-agent.exe");
    let data = env.c(r"ProgramData\cchc-agent\agent.db");
    let log = env.c(r"Program Files\cchc-agent\install.log");
    env.open_desktop();

    let mut run = start_windows(&env, &setup);
    wait_window(&x, "the installer's window", "Setup");
    // The folder page: the default folder. The pointer over the window gives it the
    // keyboard (no window manager here).
    x.xdotool(&["mousemove", "512", "384"]);
    x.keys(&["Return"]);
    wait_window(&x, "the enrollment page", "Enroll with the provincial hub");

    // The commune, the hub's address, (the CA file is filled in), and a code the hub
    // never issued.
    x.type_text(&unit.to_string());
    x.keys(&["Tab"]);
    x.type_text(&hub.url());
    x.keys(&["Tab", "Tab", "Tab"]);
    x.type_text("ACDE-FGHJ-KMNP");
    x.keys(&["Return"]);
    // Said in a message box over the page; nothing installed, nothing enrolled.
    wait_for("the message box", 90, || x.titles().len(), |n| *n == 2);
    assert!(
        !exe.exists(),
        "the program was installed before the PC was enrolled"
    );
    let devices = hub.json(&["device", "list", "--json"]);
    assert_eq!(devices, serde_json::json!([]), "{devices}");

    // Closed: the page again, the code corrected in place, and now it goes through.
    x.keys(&["Return"]);
    wait_window(&x, "the page again", "Enroll with the provincial hub");
    x.keys(&["End", "shift+Home"]);
    x.type_text(&hub.code(unit));
    x.keys(&["Return"]);
    let status = finish(&x, &mut run);
    assert!(status.success(), "setup ended with {status:?}");

    // The PC is set up as the silent install sets it up: program, data enrolled with
    // the hub for this commune, service running, and install.log readable with its
    // Vietnamese (the agent's UTF-8 output read as such, not in the ANSI code page).
    assert!(exe.is_file() && data.is_file());
    let devices = hub.json(&["device", "list", "--json"]);
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["unit"], unit, "{devices:?}");
    let installed = Path::new(super::INSTALLED);
    let out = super::run_windows(&env, installed, &["service", "status", "--json"]);
    assert!(out.status.success(), "{}", describe("service status", &out));
    let service: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(service["state"], "running", "{service}");
    let text = install_log(&log);
    let name = cchc_common::UnitCatalog::builtin()
        .commune(cchc_common::UnitCode(unit))
        .unwrap()
        .name
        .clone();
    assert!(text.contains(&format!("init --unit \"{unit}\"")), "{text}");
    assert!(
        text.contains(&name) && text.contains("Đã đăng ký máy với máy chủ tỉnh"),
        "install.log: {text}"
    );
    assert!(text.contains("service start"), "{text}");

    // Reinstalled by hand (an upgrade): the folder page, then straight to the install —
    // the PC is not asked to enroll again, and keeps its key and data.
    let key = std::fs::read(env.c(r"ProgramData\cchc-agent\device.key")).unwrap();
    let mut run = start_windows(&env, &setup);
    wait_window(&x, "the installer's window", "Setup");
    x.xdotool(&["mousemove", "512", "384"]);
    x.keys(&["Return"]);
    // Had the enrollment page come, nothing would be installed until it was answered.
    wait_for(
        "the reinstall to register the service again",
        90,
        || install_log(&log).matches("service install").count(),
        |n| *n == 2,
    );
    assert!(
        !x.titles().iter().any(|t| t.contains("Enroll")),
        "{:?}",
        x.titles()
    );
    let status = finish(&x, &mut run);
    assert!(status.success(), "reinstall ended with {status:?}");
    assert_eq!(
        std::fs::read(env.c(r"ProgramData\cchc-agent\device.key")).unwrap(),
        key,
        "the reinstall changed the PC's key"
    );

    // The officer records; the reinstalled service syncs it to the hub by itself.
    super::record_and_see_the_service_sync(&env, &hub, unit, 3);
}
