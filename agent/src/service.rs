//! `cchc-agent service …`: the agent as a Windows service. In: the machine-wide data
//! directory (`%ProgramData%\cchc-agent`, initialised first) and `run`'s options. Out:
//! a service "cchc-agent" that Windows starts at boot (LocalSystem), which runs the
//! same loop and officers' page as `run`, logs to `service.log` in the data directory,
//! stops on the service manager's request, and is restarted by it after a failure —
//! and after an update swapped the executable (the service ends with
//! [`RESTART_EXIT`] so that the manager starts the new build).
//!
//! On Linux the .deb's systemd unit plays this part (deploy/systemd/).
// Elsewhere only `NotWindows` is made; the rest is the Windows part's.
#![cfg_attr(not(windows), allow(dead_code))]

use crate::error::Result;
use crate::ServiceCmd;
use cchc_common::{Lang, Localize};
use std::path::Path;

/// The service's name (`sc query cchc-agent`).
pub const NAME: &str = "cchc-agent";

/// The service's exit code after an update: not a crash, but the manager must start
/// the service again (its failure actions do so for any non-zero exit).
pub const RESTART_EXIT: u32 = 75;

/// What managing the service can fail at.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Not a Windows machine.
    #[cfg_attr(windows, allow(dead_code))]
    #[error("a Windows service exists only on Windows; on Linux, the package's systemd unit runs the agent (`systemctl status cchc-agent`)")]
    NotWindows,
    /// The service manager refused: not an administrator.
    #[error("{action}: refused by Windows; run this as administrator (right-click the command prompt, \"Run as administrator\")")]
    Denied {
        /// What was being done.
        action: &'static str,
    },
    /// No such service.
    #[error("the service is not installed: run `cchc-agent service install` first")]
    NotInstalled,
    /// Anything else the service manager said.
    #[error("{action}: {detail}")]
    Manager {
        /// What was being done.
        action: &'static str,
        /// What Windows said.
        detail: String,
    },
}

impl ServiceError {
    /// Exit code: a missing service or the wrong OS is a matter of set-up.
    pub fn exit_code(&self) -> i32 {
        match self {
            ServiceError::NotWindows | ServiceError::NotInstalled => crate::error::exit::STATE,
            ServiceError::Denied { .. } | ServiceError::Manager { .. } => {
                crate::error::exit::FAILURE
            }
        }
    }
}

impl Localize for ServiceError {
    fn localize(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            ServiceError::NotWindows => "dịch vụ Windows chỉ có trên Windows; trên Linux, phần mềm chạy bằng dịch vụ systemd của gói cài đặt (`systemctl status cchc-agent`)".into(),
            ServiceError::Denied { action } => format!(
                "{}: Windows từ chối; hãy chạy lệnh với quyền quản trị (nhấp chuột phải vào cửa sổ lệnh, chọn \"Run as administrator\")",
                action_vi(action)
            ),
            ServiceError::NotInstalled => {
                "dịch vụ chưa được cài: hãy chạy `cchc-agent service install` trước".into()
            }
            ServiceError::Manager { action, detail } => {
                format!("{}: {detail}", action_vi(action))
            }
        }
    }
}

fn action_vi(action: &str) -> &str {
    match action {
        "install the service" => "cài dịch vụ",
        "remove the service" => "gỡ dịch vụ",
        "start the service" => "bật dịch vụ",
        "stop the service" => "tắt dịch vụ",
        "read the service" => "xem dịch vụ",
        "run as a service" => "chạy như dịch vụ",
        other => other,
    }
}

/// Runs a `service` subcommand on `dir` (the machine-wide directory unless given).
pub fn command(cmd: ServiceCmd, dir: &Path, lang: Lang) -> Result<()> {
    #[cfg(windows)]
    {
        windows::command(cmd, dir, lang)
    }
    #[cfg(not(windows))]
    {
        let _ = (dir, lang);
        match cmd {
            // Says "not installed" in the shape scripts read, rather than failing.
            ServiceCmd::Status(crate::JsonFlag { json: true }) => {
                println!(
                    "{}",
                    serde_json::json!({ "installed": false, "state": null })
                );
                Ok(())
            }
            _ => Err(ServiceError::NotWindows.into()),
        }
    }
}

#[cfg(windows)]
mod windows {
    use super::{ServiceError, NAME, RESTART_EXIT};
    use crate::commands::{open, timing_of, ui_of};
    use crate::error::{AgentError, Result};
    use crate::update::Next;
    use crate::{JsonFlag, RunArgs, ServiceCmd};
    use cchc_common::{Lang, Localize};
    use std::ffi::{OsStr, OsString};
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant};
    use windows_service::service::{
        Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceControl,
        ServiceControlAccept, ServiceErrorControl, ServiceExitCode, ServiceFailureActions,
        ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    /// How long start and stop wait for the service to get there.
    const WAIT: Duration = Duration::from_secs(30);
    const ERROR_ACCESS_DENIED: i32 = 5;
    const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
    const ERROR_SERVICE_EXISTS: i32 = 1073;
    const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
    const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;

    fn os_code(e: &windows_service::Error) -> Option<i32> {
        match e {
            windows_service::Error::Winapi(io) => io.raw_os_error(),
            _ => None,
        }
    }

    /// What Windows said (the crate's own text for a failed call names no cause).
    fn said(e: &windows_service::Error) -> String {
        match e {
            windows_service::Error::Winapi(io) => io.to_string(),
            other => other.to_string(),
        }
    }

    fn fail(action: &'static str) -> impl Fn(windows_service::Error) -> AgentError {
        move |e| {
            AgentError::Service(match os_code(&e) {
                Some(ERROR_ACCESS_DENIED) => ServiceError::Denied { action },
                Some(ERROR_SERVICE_DOES_NOT_EXIST) => ServiceError::NotInstalled,
                _ => ServiceError::Manager {
                    action,
                    detail: said(&e),
                },
            })
        }
    }

    fn manager(access: ServiceManagerAccess, action: &'static str) -> Result<ServiceManager> {
        ServiceManager::local_computer(None::<&str>, access).map_err(fail(action))
    }

    fn service(access: ServiceAccess, action: &'static str) -> Result<Service> {
        manager(ServiceManagerAccess::CONNECT, action)?
            .open_service(NAME, access)
            .map_err(fail(action))
    }

    /// Polls the service until it is in `want`, up to [`WAIT`].
    fn wait_for(s: &Service, want: ServiceState, action: &'static str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = s.query_status().map_err(fail(action))?.current_state;
            if now == want {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(AgentError::Service(ServiceError::Manager {
                    action,
                    detail: format!("still {now:?} after {} s", WAIT.as_secs()),
                }));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn command(cmd: ServiceCmd, dir: &Path, lang: Lang) -> Result<()> {
        match cmd {
            ServiceCmd::Install(a) => install(dir, &a, lang),
            ServiceCmd::Uninstall => uninstall(lang),
            ServiceCmd::Start => {
                let action = "start the service";
                let s = service(ServiceAccess::START | ServiceAccess::QUERY_STATUS, action)?;
                match s.start::<&OsStr>(&[]) {
                    Ok(()) => {}
                    Err(e) if os_code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => {}
                    Err(e) => return Err(fail(action)(e)),
                }
                wait_for(&s, ServiceState::Running, action)?;
                println!(
                    "{}",
                    lang.pick(
                        "Dịch vụ cchc-agent đang chạy.",
                        "The cchc-agent service is running."
                    )
                );
                Ok(())
            }
            ServiceCmd::Stop => {
                let action = "stop the service";
                let s = service(ServiceAccess::STOP | ServiceAccess::QUERY_STATUS, action)?;
                stop(&s, action)?;
                println!(
                    "{}",
                    lang.pick(
                        "Dịch vụ cchc-agent đã tắt.",
                        "The cchc-agent service is stopped."
                    )
                );
                Ok(())
            }
            ServiceCmd::Status(JsonFlag { json }) => status(json, lang),
            ServiceCmd::Run(a) => run_service(dir, a, lang),
        }
    }

    fn stop(s: &Service, action: &'static str) -> Result<()> {
        match s.stop() {
            Ok(_) => {}
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => return Ok(()),
            Err(e) => return Err(fail(action)(e)),
        }
        wait_for(s, ServiceState::Stopped, action)
    }

    /// The service's command line: this executable, the data directory, `service run`
    /// and `run`'s options as given.
    fn launch_arguments(dir: &Path, a: &RunArgs, lang: Lang) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![
            "--data-dir".into(),
            dir.as_os_str().to_owned(),
            "--lang".into(),
            lang.code().into(),
            "service".into(),
            "run".into(),
            "--interval".into(),
            a.interval.to_string().into(),
            "--settle-ms".into(),
            a.settle_ms.to_string().into(),
            "--retry-min-ms".into(),
            a.retry_min_ms.to_string().into(),
            "--retry-max-ms".into(),
            a.retry_max_ms.to_string().into(),
        ];
        if a.no_ui {
            v.push("--no-ui".into());
        } else {
            v.push("--ui".into());
            v.push(a.ui.clone().into());
        }
        v
    }

    fn install(dir: &Path, a: &RunArgs, lang: Lang) -> Result<()> {
        let action = "install the service";
        // Checked here, not at the first boot: a service that cannot run is not installed.
        ui_of(a)?;
        drop(open(dir)?);
        let exe = std::env::current_exe().map_err(|e| AgentError::io("cchc-agent.exe", e))?;
        let info = ServiceInfo {
            name: NAME.into(),
            display_name: "cchc - Số liệu CCHC Công an xã".into(),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: exe.clone(),
            launch_arguments: launch_arguments(dir, a, lang),
            dependencies: vec![],
            account_name: None,
            account_password: None,
        };
        let m = manager(
            ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
            action,
        )?;
        let access = ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_STATUS;
        // Installing again (a new install path, other options) updates the service.
        let s = match m.create_service(&info, access) {
            Ok(s) => s,
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_EXISTS) => {
                let s = m.open_service(NAME, access).map_err(fail(action))?;
                s.change_config(&info).map_err(fail(action))?;
                s
            }
            Err(e) => return Err(fail(action)(e)),
        };
        // Descriptions and failure actions are comforts: Wine's manager lacks some.
        let _ = s.set_description(
            "Ghi nhận số liệu cải cách hành chính của Công an xã và đồng bộ với máy chủ tỉnh (cchc-agent run).",
        );
        let restart = |secs| ServiceAction {
            action_type: ServiceActionType::Restart,
            delay: Duration::from_secs(secs),
        };
        let failure = s
            .update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
                reboot_msg: None,
                command: None,
                actions: Some(vec![restart(5), restart(30), restart(120)]),
            })
            .and_then(|()| s.set_failure_actions_on_non_crash_failures(true));
        println!(
            "{} {} ({} {})",
            lang.pick(
                "Đã cài dịch vụ cchc-agent:",
                "Installed the cchc-agent service:"
            ),
            exe.display(),
            lang.pick("dữ liệu tại", "data in"),
            dir.display()
        );
        if let Err(e) = failure {
            println!(
                "{} {}",
                lang.pick(
                    "Chú ý: Windows không nhận cách tự chạy lại khi lỗi:",
                    "Note: Windows did not take the restart-on-failure actions:"
                ),
                said(&e)
            );
        }
        println!(
            "{}",
            lang.pick(
                "Bật ngay: cchc-agent service start (Windows tự bật khi khởi động).",
                "Start it now: cchc-agent service start (Windows starts it at boot)."
            )
        );
        Ok(())
    }

    fn uninstall(lang: Lang) -> Result<()> {
        let action = "remove the service";
        let s = service(
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
            action,
        )?;
        stop(&s, action)?;
        s.delete().map_err(fail(action))?;
        println!(
            "{}",
            lang.pick(
                "Đã gỡ dịch vụ cchc-agent; dữ liệu vẫn được giữ.",
                "Removed the cchc-agent service; the data is kept."
            )
        );
        Ok(())
    }

    fn status(json: bool, lang: Lang) -> Result<()> {
        let action = "read the service";
        let found = manager(ServiceManagerAccess::CONNECT, action)?.open_service(
            NAME,
            ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
        );
        let s = match found {
            Ok(s) => s,
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "installed": false, "state": null })
                    );
                } else {
                    println!(
                        "{}",
                        lang.pick(
                            "Dịch vụ cchc-agent chưa được cài.",
                            "The cchc-agent service is not installed."
                        )
                    );
                }
                return Ok(());
            }
            Err(e) => return Err(fail(action)(e)),
        };
        let state = s.query_status().map_err(fail(action))?.current_state;
        let config = s.query_config().map_err(fail(action))?;
        let state_name = match state {
            ServiceState::Running => "running",
            ServiceState::Stopped => "stopped",
            ServiceState::StartPending => "starting",
            ServiceState::StopPending => "stopping",
            _ => "other",
        };
        let command = config.executable_path.to_string_lossy().into_owned();
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "installed": true,
                    "state": state_name,
                    "command": command,
                    "start": format!("{:?}", config.start_type),
                })
            );
        } else {
            let vi = match state {
                ServiceState::Running => "đang chạy",
                ServiceState::Stopped => "đã tắt",
                ServiceState::StartPending => "đang bật",
                ServiceState::StopPending => "đang tắt",
                _ => "khác",
            };
            println!(
                "{} {}\n{} {command}",
                lang.pick("Dịch vụ cchc-agent:", "The cchc-agent service:"),
                lang.pick(vi, state_name),
                lang.pick("Lệnh:", "Command:"),
            );
        }
        Ok(())
    }

    /// What the service's entry point needs: the dispatcher hands it only the service
    /// manager's own arguments.
    static SERVICE: OnceLock<(PathBuf, RunArgs, Lang)> = OnceLock::new();

    windows_service::define_windows_service!(ffi_service_main, service_main);

    /// `service run`: hands this thread to the service manager, which calls
    /// `service_main` on another; returns when the service has stopped.
    fn run_service(dir: &Path, a: RunArgs, lang: Lang) -> Result<()> {
        let _ = SERVICE.set((dir.to_path_buf(), a, lang));
        windows_service::service_dispatcher::start(NAME, ffi_service_main)
            .map_err(fail("run as a service"))
    }

    fn service_main(_arguments: Vec<OsString>) {
        let Some((dir, args, lang)) = SERVICE.get().cloned() else {
            return;
        };
        let stop = Arc::new(tokio::sync::Notify::new());
        let asked = stop.clone();
        let handler = move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                asked.notify_one();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let Ok(status) = service_control_handler::register(NAME, handler) else {
            return;
        };
        let report = |state, exit_code| {
            let _ = status.set_service_status(ServiceStatus {
                service_type: ServiceType::OWN_PROCESS,
                current_state: state,
                controls_accepted: if state == ServiceState::Running {
                    ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
                } else {
                    ServiceControlAccept::empty()
                },
                exit_code,
                checkpoint: 0,
                wait_hint: Duration::default(),
                process_id: None,
            });
        };
        report(ServiceState::Running, ServiceExitCode::Win32(0));
        let _ = crate::run::log_to_file(&dir.join("service.log"));
        let outcome = (|| {
            let ui = ui_of(&args)?;
            let store = open(&dir)?;
            crate::run::run(&dir, store, timing_of(&args), ui, lang, Some(stop))
        })();
        let exit = match outcome {
            Ok(Next::Restart) => ServiceExitCode::ServiceSpecific(RESTART_EXIT),
            Ok(_) => ServiceExitCode::Win32(0),
            Err(e) => {
                crate::run::log(&e.localize(lang));
                ServiceExitCode::ServiceSpecific(e.exit_code() as u32)
            }
        };
        report(ServiceState::Stopped, exit);
    }
}

#[cfg(test)]
mod tests {
    use super::ServiceError;
    use crate::error::exit;
    use cchc_common::{Lang, Localize};

    #[test]
    fn every_service_error_reads_in_both_languages_and_has_its_exit_code() {
        let cases = [
            (ServiceError::NotWindows, exit::STATE, "systemd"),
            (
                ServiceError::Denied {
                    action: "install the service",
                },
                exit::FAILURE,
                "cài dịch vụ",
            ),
            (ServiceError::NotInstalled, exit::STATE, "service install"),
            (
                ServiceError::Manager {
                    action: "start the service",
                    detail: "Access is busy (os error 1)".into(),
                },
                exit::FAILURE,
                "bật dịch vụ: Access is busy",
            ),
        ];
        for (e, code, vi_says) in cases {
            let (vi, en) = (e.localize(Lang::Vi), e.localize(Lang::En));
            assert_eq!(e.exit_code(), code, "{en}");
            assert_eq!(en, e.to_string());
            assert_ne!(vi, en, "{en}: no Vietnamese");
            assert!(vi.contains(vi_says), "{vi}");
        }
    }
}
