//! Headless Chromium driven over WebDriver (chromedriver on loopback), for the hub's
//! dashboard pages. Chromium is started with the flags the brief asks for; screenshots
//! go to `target/artefacts/browser/`.

use fantoccini::{Client, ClientBuilder, Locator};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where chromedriver and Chromium are (Debian's `chromium-driver` and `chromium`).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process and one browser session on it.
pub struct Browser {
    driver: Child,
    /// The WebDriver session.
    pub client: Client,
    shots: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium that
    /// accepts the hub's certificate (issued by the hub's own CA, which this throwaway
    /// profile does not hold).
    pub async fn start(test: &str) -> Browser {
        for exe in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(exe).exists(),
                "{exe} is missing: browser tests need Debian's chromium and chromium-driver \
                 (tests/run installs them)"
            );
        }
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // chromedriver says "… started successfully on port N." once it listens.
        let stdout = driver.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(|l| l.ok())
            {
                let _ = tx.send(line);
            }
        });
        let port = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("chromedriver announces its port within 30 s");
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                break digits.parse::<u16>().expect("a port number");
            }
        };
        let caps: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "browserName": "chrome",
                "acceptInsecureCerts": true,
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--window-size=1366,900",
                        "--lang=vi-VN",
                    ],
                },
            }))
            .expect("capabilities");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        let shots = crate::workspace()
            .join("target")
            .join("artefacts")
            .join("browser")
            .join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        Browser {
            driver,
            client,
            shots,
        }
    }

    /// Saves a screenshot of the window as `<name>.png` among the test's artefacts.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("screenshot saved");
    }

    /// Opens a URL and waits until `css` is on the page.
    pub async fn open(&self, url: &str, css: &str) {
        self.client.goto(url).await.expect("page opens");
        self.wait_for(css).await;
    }

    /// Waits (at most 30 s) for an element.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let url = self.client.current_url().await.ok();
                let src = self.client.source().await.unwrap_or_default();
                panic!("{css} never appeared on {url:?}: {e}\n{src}");
            }
        }
    }

    /// Clicks an element.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks what sends a form or follows a link, and waits (at most 30 s) until the
    /// page it leaves is gone: what is looked for next is then found on the new page,
    /// never on the old one (a "saved" mark both carry, a row about to be replaced).
    pub async fn submit(&self, css: &str) {
        let old = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("a page is open");
        self.click(css).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        // The old page's element answers until that page is replaced.
        while old.attr("lang").await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "clicking {css} did not leave the page within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Text of an element.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    /// Every row of a dashboard table as the reader sees it: per cell the shown text
    /// and the raw `data-v` value the column sorts by.
    pub async fn table(&self, id: &str) -> Vec<Vec<(String, String)>> {
        let v = self
            .client
            .execute(
                "var t=document.getElementById(arguments[0]);if(!t)return null;\
                 return Array.from(t.tBodies[0].rows).map(function(r){\
                 return Array.from(r.cells).map(function(c){return [c.innerText.trim(),c.dataset.v||''];});});",
                vec![serde_json::json!(format!("t-{id}"))],
            )
            .await
            .expect("script runs");
        serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("table t-{id}: {v}"))
    }

    /// The column headers of a dashboard table as shown.
    pub async fn headers(&self, id: &str) -> Vec<String> {
        let v = self
            .client
            .execute(
                "return Array.from(document.querySelectorAll('#t-'+arguments[0]+' thead th')).map(function(h){return h.textContent.trim();});",
                vec![serde_json::json!(id)],
            )
            .await
            .expect("script runs");
        serde_json::from_value(v).expect("headers")
    }

    /// The ids of the dashboard tables on the page.
    pub async fn table_ids(&self) -> Vec<String> {
        let v = self
            .client
            .execute(
                "return Array.from(document.querySelectorAll('table.data')).map(function(t){return t.id.replace(/^t-/,'');});",
                vec![],
            )
            .await
            .expect("script runs");
        serde_json::from_value(v).expect("ids")
    }

    /// Signs in through the form (the browser is sent there by any page).
    pub async fn sign_in(&self, base: &str, user: &str, password: &str) {
        self.open(&format!("{base}/"), "input[name=user]").await;
        let form = self
            .client
            .form(Locator::Css("form[action='/login']"))
            .await
            .expect("sign-in form");
        form.set_by_name("user", user).await.expect("user typed");
        form.set_by_name("password", password)
            .await
            .expect("password typed");
        form.submit().await.expect("form submitted");
        self.wait_for("header .who").await;
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A number as the dashboard shows it in Vietnamese (`1.234,5`, `+2,5`), or `None`
/// for the em dash of a missing value.
pub fn vn_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t == "—" || t.is_empty() {
        return None;
    }
    let t = t.trim_start_matches('+').replace('.', "").replace(',', ".");
    Some(
        t.parse::<f64>()
            .unwrap_or_else(|_| panic!("not a Vietnamese-formatted number: {text}")),
    )
}

/// A current-thread runtime for one browser test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
