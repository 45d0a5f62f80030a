//! The dashboard as server-rendered HTML: one self-contained page per [`Page`], with
//! charts as inline SVG and a few lines of inline script for sorting and filtering
//! tables. No CDN, no external file: it works on a province intranet with no internet.
//! In: a page, the reader's language and who they are. Out: HTML text.
//!
//! Every page is written with `maud`, which escapes every value it interpolates, in
//! text and in attributes: nothing from commune data, a URL or a form reaches the page
//! unescaped. [`frame`] is the page frame; [`chart`], [`table`] and [`forms`] the parts.
//!
//! Numbers follow the reader's language: `1.234,5` and dd/mm/yyyy in Vietnamese,
//! `1,234.5` in English. Every cell also carries its raw value (`data-v`) for sorting.

pub mod chart;
pub mod forms;
pub mod table;

use crate::pages::{Cell, Page};
use cchc_common::kpi::round1;
use cchc_common::{Date, Lang, Score};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// A number with the language's separators and `decimals` decimals.
pub fn number(v: f64, decimals: usize, lang: Lang) -> String {
    lang.number(v, decimals)
}

/// A score with one decimal where it has one.
pub fn score_text(s: Score, lang: Lang) -> String {
    number(s.as_f64(), if s.0.is_multiple_of(10) { 0 } else { 1 }, lang)
}

/// A cell as people read it.
pub fn cell_text(c: &Cell, lang: Lang) -> String {
    match c {
        Cell::Text(s) | Cell::Link(s, _) => s.clone(),
        Cell::Tag { vi, en, .. } => lang.pick(vi, en).to_string(),
        Cell::Int(n) => number(*n as f64, 0, lang),
        Cell::Id(n) => n.to_string(),
        Cell::Period(p, _) => match lang {
            Lang::Vi => p.vi(),
            Lang::En => p.to_string(),
        },
        Cell::Score(s) => s.map(|s| score_text(s, lang)).unwrap_or_else(|| "—".into()),
        Cell::Pct(p) => p
            .map(|v| number(round1(v), 1, lang))
            .unwrap_or_else(|| "—".into()),
        Cell::Points(p) => p
            .map(|v| {
                let t = number(round1(v), 1, lang);
                if round1(v) > 0.0 {
                    format!("+{t}")
                } else {
                    t
                }
            })
            .unwrap_or_else(|| "—".into()),
        Cell::Date(d) => d
            .map(|ms| Date::from_unix_ms_vn(ms).to_vn_string())
            .unwrap_or_else(|| "—".into()),
    }
}

/// Who is reading, for the header.
pub struct Reader<'a> {
    /// User name.
    pub user: &'a str,
    /// Role name.
    pub role: &'a str,
}

const STYLE: &str = r#"
body{font-family:system-ui,"Segoe UI",Roboto,Arial,sans-serif;margin:0;color:#1d232b;background:#f5f6f8}
header{background:#7a1416;color:#fff;padding:8px 16px;display:flex;flex-wrap:wrap;gap:12px;align-items:center}
header a{color:#fff;text-decoration:none;margin-right:10px}header a.on{text-decoration:underline}
header .who{margin-left:auto;font-size:.9em}header form{display:inline}
header button{background:none;border:1px solid #fff;color:#fff;border-radius:3px;cursor:pointer}
main{padding:12px 16px;max-width:1400px}h1{font-size:1.35em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:.4em 0}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:12px}
.fig{background:#fff;border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:150px}
.fig b{display:block;font-size:1.5em}.fig span{font-size:.85em;color:#555}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chartbox{background:#fff;border:1px solid #dde;border-radius:6px;padding:8px;flex:1 1 420px;max-width:660px}
svg.chart{width:100%;height:auto}.legend span{margin-right:12px;font-size:.85em}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
section.table{background:#fff;border:1px solid #dde;border-radius:6px;padding:8px;margin:12px 0;overflow-x:auto}
.tools{margin:4px 0 8px}.tools .count{color:#666;font-size:.85em;margin-left:8px}
table.data{border-collapse:collapse;font-size:.9em;width:100%}table.data th,table.data td{border-bottom:1px solid #e4e6ea;padding:4px 6px;text-align:left;vertical-align:top}
table.data th{cursor:pointer;background:#eef0f4;position:sticky;top:0}table.data th[aria-sort=ascending]::after{content:" ▲"}table.data th[aria-sort=descending]::after{content:" ▼"}
td.n{text-align:right;white-space:nowrap}.nw{white-space:nowrap}.note{color:#555;font-size:.9em}.flash{background:#e7f5ea;border:1px solid #9c9;padding:8px;border-radius:4px}
.error{background:#fbeaea;border:1px solid #d99;padding:8px;border-radius:4px}
form.period{display:inline-block;margin-bottom:8px}input,button{font:inherit}
form.inline{display:inline}fieldset{border:1px solid #ccd;margin:8px 0;padding:8px}textarea{font:inherit}
@media print{header,nav,.noprint,form{display:none}table.sheet td{padding:10px 6px;font-size:1.1em}}
"#;

const SCRIPT: &str = r#"
function fold(s){return s.normalize('NFD').replace(/[\u0300-\u036f]/g,'').replace(/[đĐ]/g,'d').toLowerCase().trim();}
document.querySelectorAll('input.filter').forEach(function(box){
  box.addEventListener('input',function(){
    var q=fold(box.value);var t=document.getElementById(box.dataset.table);var n=0;
    t.querySelectorAll('tbody tr').forEach(function(r){var show=fold(r.textContent).indexOf(q)>=0;r.hidden=!show;if(show)n++;});
    var c=box.parentNode.querySelector('.count');if(c)c.firstChild.nodeValue=String(n);
  });
});
document.querySelectorAll('table.data th').forEach(function(th){
  function sort(){
    var t=th.closest('table');var i=Array.prototype.indexOf.call(th.parentNode.children,th);
    var asc=th.getAttribute('aria-sort')!=='ascending';var num=th.dataset.num==='1';
    th.parentNode.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',asc?'ascending':'descending');
    var rows=Array.prototype.slice.call(t.tBodies[0].rows);
    rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;
      if(num){var p=x===''?-Infinity:parseFloat(x),q=y===''?-Infinity:parseFloat(y);return asc?p-q:q-p;}
      return asc?x.localeCompare(y,'vi'):y.localeCompare(x,'vi');});
    rows.forEach(function(r){t.tBodies[0].appendChild(r);});
  }
  th.addEventListener('click',sort);th.addEventListener('keydown',function(e){if(e.key==='Enter')sort();});
});
"#;

/// What the navigation shows: a page per phase of the definitions in force, and, on
/// a hub of several provinces (the national hub), the provinces side by side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nav {
    /// Phase numbers.
    pub phases: Vec<u32>,
    /// Whether the hub serves several provinces.
    pub provinces: bool,
}

/// The page frame: header with navigation, language switch and sign-out.
pub fn frame(
    title: &str,
    body: Markup,
    reader: &Reader<'_>,
    here: &str,
    lang: Lang,
    menu: &Nav,
) -> Markup {
    let mut nav = vec![(
        "/".to_string(),
        lang.pick("Tổng quan", "Overview").to_string(),
    )];
    if menu.provinces {
        nav.push((
            "/provinces".into(),
            lang.pick("Các tỉnh", "Provinces").into(),
        ));
    }
    for p in &menu.phases {
        nav.push((
            format!("/phase/{p}"),
            format!("{} {p}", lang.pick("Giai đoạn", "Phase")),
        ));
    }
    nav.push((
        "/completeness".into(),
        lang.pick("Tình hình báo cáo", "Who reported").into(),
    ));
    nav.push((
        "/quality".into(),
        lang.pick("Chất lượng số liệu", "Data quality").into(),
    ));
    nav.push((
        "/figures".into(),
        lang.pick("Số liệu thủ tục", "Procedure figures").into(),
    ));
    nav.push((
        "/releases".into(),
        lang.pick("Cập nhật phần mềm", "Updates").into(),
    ));
    if reader.role == "admin" {
        nav.push(("/admin".into(), lang.pick("Quản trị", "Admin").into()));
    }
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (title) " — CCHC" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "CCHC" }
                    nav {
                        @for (href, label) in &nav {
                            a.on[href == here] href=(href) { (label) }
                        }
                    }
                    span.who {
                        @match lang {
                            Lang::Vi => a href="?lang=en" hreflang="en" { "English" },
                            Lang::En => a href="?lang=vi" hreflang="vi" { "Tiếng Việt" },
                        }
                        " · " (reader.user) " (" (reader.role) ") "
                        form method="post" action="/logout" {
                            button type="submit" { (lang.pick("Đăng xuất", "Sign out")) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

/// A refusal or failure shown in the frame.
pub fn error_body(message: &str) -> Markup {
    html! { p.error role="alert" { (message) } }
}

/// A dashboard page as HTML (without the frame); `extra` goes above the figures.
pub fn page_body(page: &Page, path: &str, lang: Lang, extra: Markup) -> Markup {
    let commune = page.name.starts_with("commune-");
    let month = page.period.filter(|_| !commune);
    let query = if commune {
        page.period
            .map(|p| format!("?year={}", p.year()))
            .unwrap_or_default()
    } else {
        month.map(|p| format!("?period={p}")).unwrap_or_default()
    };
    let export_base = format!("/api/v1/export/{}", page.name);
    html! {
        @if let Some(p) = month {
            form.period method="get" action=(path) {
                label {
                    (lang.pick("Kỳ báo cáo (tháng)", "Reporting month")) " "
                    input type="month" name="period" value=(p.to_string());
                }
                " "
                input type="hidden" name="lang" value=(lang.code());
                button type="submit" { (lang.pick("Xem", "Show")) }
            }
        }
        (extra)
        div.figures {
            @for f in &page.figures {
                div.fig data-key=(f.key) {
                    b {
                        (cell_text(&f.value, lang))
                        @if let Some(of) = f.of { " / " (number(of as f64, 0, lang)) }
                    }
                    span { (lang.pick(&f.vi, &f.en)) }
                }
            }
        }
        @if !page.charts.is_empty() {
            div.charts {
                @for c in &page.charts {
                    div.chartbox {
                        h2 { (lang.pick(&c.vi, &c.en)) }
                        (chart::svg(c, lang))
                    }
                }
            }
        }
        @for t in &page.tables {
            (table::section(t, &export_base, &query, lang))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_language() {
        assert_eq!(number(1234.5, 1, Lang::Vi), "1.234,5");
        assert_eq!(number(1234.5, 1, Lang::En), "1,234.5");
        assert_eq!(number(1234567.0, 0, Lang::Vi), "1.234.567");
        assert_eq!(number(-12.26, 1, Lang::Vi), "-12,3");
        assert_eq!(number(-0.04, 1, Lang::Vi), "0,0");
        assert_eq!(number(999.0, 0, Lang::Vi), "999");
        assert_eq!(score_text(Score(845), Lang::Vi), "84,5");
        assert_eq!(score_text(Score(840), Lang::Vi), "84");
        assert_eq!(
            cell_text(&Cell::Date(Some(1_795_447_791_536)), Lang::Vi),
            "23/11/2026"
        );
        assert_eq!(cell_text(&Cell::Points(Some(2.5)), Lang::Vi), "+2,5");
    }

    #[test]
    fn text_and_attributes_are_escaped() {
        let reader = Reader {
            user: "<b>u</b>",
            role: "viewer",
        };
        let page = frame(
            r#""><script>alert(1)</script>"#,
            error_body("</textarea><img src=x onerror=alert(1)>"),
            &reader,
            r#"/x" onmouseover="alert(1)"#,
            Lang::Vi,
            &Nav {
                phases: vec![1],
                provinces: true,
            },
        )
        .into_string();
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<b>u"), "{page}");
        assert!(page.contains("&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;"));
    }
}
