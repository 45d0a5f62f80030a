//! `cchc-agent run`: the resident sync loop. In: the data directory. Out: syncs when
//! the link is up — soon after each new entry and at a steady interval otherwise —
//! backs off exponentially with jitter while the hub cannot be reached, and stops
//! cleanly on SIGINT or SIGTERM (an interrupted exchange is simply repeated later).

use crate::error::{AgentError, Result};
use crate::store::Store;
use crate::sync::{self, Client};
use crate::ui::Outcome;
use crate::update::{self, Next};
use cchc_common::{Date, Lang, Localize};
use std::path::Path;
use std::time::Duration;

/// Timing of the loop.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Sync this often when nothing happens.
    pub interval: Duration,
    /// Sync this long after a new entry is seen (entries often come in bursts).
    pub settle: Duration,
    /// First retry delay after a failure.
    pub retry_min: Duration,
    /// Largest retry delay.
    pub retry_max: Duration,
}

fn jitter(d: Duration) -> Duration {
    // Full jitter in [d/2, d]: spreads 3,000 stations retrying after a hub outage.
    let mut b = [0u8; 4];
    let r = getrandom::getrandom(&mut b)
        .map(|_| u32::from_le_bytes(b))
        .unwrap_or(u32::MAX / 2);
    d / 2 + d.mul_f64(r as f64 / u32::MAX as f64 / 2.0)
}

/// Where the loop's lines go: standard output, or a file (the Windows service has no
/// console).
static LOG_FILE: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> = std::sync::OnceLock::new();

/// A log file beyond this size is kept as `NAME.1` (one generation) when logging starts.
#[cfg_attr(not(windows), allow(dead_code))]
const LOG_KEEP_BYTES: u64 = 1 << 20;

/// Sends the loop's lines to `path` (appended; an old file over 1 MB becomes `path.1`).
#[cfg_attr(not(windows), allow(dead_code))]
pub fn log_to_file(path: &Path) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > LOG_KEEP_BYTES) {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        std::fs::rename(path, &old).map_err(|e| AgentError::io(path, e))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| AgentError::io(path, e))?;
    let _ = LOG_FILE.set(std::sync::Mutex::new(f));
    Ok(())
}

pub(crate) fn log(msg: &str) {
    use std::io::Write;
    let line = format!("{} {msg}\n", Date::display_vn(crate::clock::now_ms()));
    match LOG_FILE.get() {
        Some(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

/// How a resident loop is told to stop: a signal (console), or its service's stop
/// request as well.
pub type StopRequest = Option<std::sync::Arc<tokio::sync::Notify>>;

async fn shutdown_signal(service: StopRequest) {
    let asked = async {
        match service {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(asked);
    // Without a console (a service) Ctrl+C may not be watchable: then only `asked` stops.
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
                _ = &mut asked => {}
            },
            Err(_) => tokio::select! {
                _ = ctrl_c => {}
                _ = &mut asked => {}
            },
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            _ = ctrl_c => {}
            _ = &mut asked => {}
        }
    }
}

/// Runs until a signal (or `stop`) arrives, or until an update (or its rollback)
/// swapped the executable: then says [`Next::Restart`], the database closed; the
/// caller restarts into the installed build ([`restart_if_asked`], or the service
/// manager).
pub fn run(
    dir: &Path,
    store: Store,
    timing: Timing,
    ui: Option<std::net::SocketAddr>,
    lang: Lang,
    stop: StopRequest,
) -> Result<Next> {
    // The page's database work runs on the blocking pool: two threads are plenty for
    // one officer's browser, and each thread more costs memory on an old PC.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .map_err(|e| AgentError::io("tokio runtime", e))?;
    let link = crate::ui::SyncLink::default();
    let next = rt.block_on(async {
        if let Some(addr) = ui {
            serve_ui(dir, addr, link.clone(), lang).await;
        }
        run_loop(dir, store, timing, &link, lang, stop).await
    })?;
    drop(rt);
    if next == Next::Restart {
        log(lang.pick(
            "Khởi động lại bằng phiên bản đã cài.",
            "Restarting into the installed build.",
        ));
        update::crash_point("restart");
    }
    Ok(next)
}

/// After [`run`] in a console: starts the installed build in place of this process
/// when the loop asked for it.
pub fn restart_if_asked(next: Next) -> Result<()> {
    if next == Next::Restart {
        update::swap::restart()?;
    }
    Ok(())
}

/// Starts the officers' page beside the loop; a port already taken is said and the
/// loop goes on without it (syncing matters more). It stops with the runtime.
async fn serve_ui(dir: &Path, addr: std::net::SocketAddr, link: crate::ui::SyncLink, lang: Lang) {
    match crate::ui::bind(addr).await {
        Ok(listener) => {
            let bound = listener.local_addr().unwrap_or(addr);
            log(&format!(
                "{} http://{bound}/",
                lang.pick("Trang cho cán bộ:", "Officers' page:")
            ));
            let dir = dir.to_path_buf();
            tokio::spawn(async move {
                let _ = crate::ui::serve(listener, dir, link, std::future::pending()).await;
            });
        }
        Err(e) => log(&format!(
            "{} {addr}: {e}",
            lang.pick(
                "Không mở được trang cho cán bộ tại",
                "The officers' page cannot be served at"
            )
        )),
    }
}

async fn run_loop(
    dir: &Path,
    mut store: Store,
    timing: Timing,
    link: &crate::ui::SyncLink,
    lang: Lang,
    stop: StopRequest,
) -> Result<Next> {
    if update::on_start(dir, &mut store, crate::clock::now_ms())? == Next::Restart {
        log(lang.pick(
            "Bản mới không đạt kiểm tra: quay lại bản trước.",
            "The new build failed its checks: returning to the previous build.",
        ));
        return Ok(Next::Restart);
    }
    let client = Client::new(dir, &store)?;
    log(&format!(
        "{} {} ({} {}s)",
        lang.pick("Bắt đầu đồng bộ tự động với", "Syncing automatically with"),
        client.url(),
        lang.pick("định kỳ", "every"),
        timing.interval.as_secs()
    ));
    let stop = shutdown_signal(stop);
    tokio::pin!(stop);
    let mut retry = timing.retry_min;
    loop {
        let seen = store.data_version()?;
        link.started(crate::clock::now_ms());
        let outcome = tokio::select! {
            _ = &mut stop => break,
            r = sync::sync(&mut store, &client, crate::clock::now_ms) => r,
        };
        link.finished(match &outcome {
            Ok(s) => Outcome::synced(s, crate::clock::now_ms()),
            Err(e) => Outcome::failed(e, crate::clock::now_ms()),
        });
        let wait = match outcome {
            Ok(mut s) => {
                retry = timing.retry_min;
                if s.sent > 0
                    || s.received > 0
                    || !s.definitions.is_empty()
                    || !s.warnings.is_empty()
                {
                    log(&crate::present::sync_summary(&s, lang));
                }
                let offer = s.offer.take();
                let next = tokio::select! {
                    _ = &mut stop => {
                        // A download cut here resumes on the next start.
                        update::on_clean_stop(dir)?;
                        break;
                    }
                    n = update::after_sync(dir, &mut store, &client, offer, update::Mode::Install, crate::clock::now_ms()) => n,
                };
                match next {
                    Ok(Next::Restart) => return Ok(Next::Restart),
                    Ok(Next::Carry) => {}
                    Err(e) => log(&e.localize(lang)),
                }
                None
            }
            Err(AgentError::Hub(e)) if !e.is_transient() => {
                let why = e.to_string();
                log(&AgentError::Hub(e).localize(lang));
                if update::after_refused_sync(dir, &why, crate::clock::now_ms())? == Next::Restart {
                    return Ok(Next::Restart);
                }
                Some(jitter(timing.retry_max))
            }
            Err(AgentError::Hub(e)) => {
                let delay = jitter(if e.is_transient() {
                    retry
                } else {
                    timing.retry_max
                });
                log(&format!(
                    "{} {} {}s",
                    AgentError::Hub(e).localize(lang),
                    lang.pick("— thử lại sau", "— retrying in"),
                    delay.as_secs_f32().round()
                ));
                retry = (retry * 2).min(timing.retry_max);
                Some(delay)
            }
            Err(e) => {
                // A refused download or a local database problem: report it and
                // retry slowly; the officer's data stays safe either way.
                log(&e.localize(lang));
                Some(jitter(timing.retry_max))
            }
        };
        // Wait for the interval (or the retry delay), waking early — after a short
        // settle — when a new entry is committed on this PC.
        let deadline = tokio::time::Instant::now() + wait.unwrap_or(timing.interval);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = &mut stop => {
                    update::on_clean_stop(dir)?;
                    log(lang.pick("Dừng đồng bộ tự động.", "Stopped."));
                    return Ok(Next::Carry);
                }
                _ = tokio::time::sleep_until(deadline) => break,
                // "Đồng bộ ngay" on the officers' page: now, whatever the back-off.
                _ = link.asked() => break,
                _ = tick.tick() => {
                    if wait.is_none() && store.data_version()? != seen {
                        tokio::select! {
                            _ = &mut stop => {
                                update::on_clean_stop(dir)?;
                                log(lang.pick("Dừng đồng bộ tự động.", "Stopped."));
                                return Ok(Next::Carry);
                            }
                            _ = tokio::time::sleep(timing.settle) => {}
                        }
                        break;
                    }
                }
            }
        }
    }
    update::on_clean_stop(dir)?;
    log(lang.pick("Dừng đồng bộ tự động.", "Stopped."));
    Ok(Next::Carry)
}
