//! The dashboard as server-rendered HTML: one self-contained page per [`Page`], with
//! charts as inline SVG and a few lines of inline script for sorting and filtering
//! tables. No CDN, no external file: it works on a province intranet with no internet.
//! In: a page, the reader's language and who they are. Out: HTML text.
//!
//! Numbers follow the reader's language: `1.234,5` and dd/mm/yyyy in Vietnamese,
//! `1,234.5` in English. Every cell also carries its raw value (`data-v`) for sorting.

use crate::pages::{Cell, Chart, Page, Table};
use cchc_common::kpi::round1;
use cchc_common::{Date, Lang, Score};
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with the language's separators and `decimals` decimals.
pub fn number(v: f64, decimals: usize, lang: Lang) -> String {
    let (group, point) = match lang {
        Lang::Vi => ('.', ','),
        Lang::En => (',', '.'),
    };
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut out = String::new();
    if v < 0.0 && s.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        out.push('-');
    }
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(ch);
    }
    if !frac.is_empty() {
        out.push(point);
        out.push_str(frac);
    }
    out
}

fn score_text(s: Score, lang: Lang) -> String {
    number(s.as_f64(), if s.0.is_multiple_of(10) { 0 } else { 1 }, lang)
}

/// A cell as people read it.
pub fn cell_text(c: &Cell, lang: Lang) -> String {
    match c {
        Cell::Text(s) | Cell::Link(s, _) => s.clone(),
        Cell::Tag { vi, en, .. } => lang.pick(vi, en).to_string(),
        Cell::Int(n) => number(*n as f64, 0, lang),
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

/// The raw value a column sorts by.
fn sort_value(c: &Cell) -> String {
    match c {
        Cell::Int(n) => n.to_string(),
        Cell::Score(s) => s.map(|s| s.0.to_string()).unwrap_or_default(),
        Cell::Pct(p) | Cell::Points(p) => p.map(|v| round1(v).to_string()).unwrap_or_default(),
        Cell::Date(d) => d.map(|d| d.to_string()).unwrap_or_default(),
        Cell::Tag { key, .. } => key.clone(),
        Cell::Text(s) | Cell::Link(s, _) => s.clone(),
    }
}

fn is_numeric(c: &Cell) -> bool {
    matches!(
        c,
        Cell::Int(_) | Cell::Score(_) | Cell::Pct(_) | Cell::Points(_) | Cell::Date(_)
    )
}

const PALETTE: [&str; 4] = ["#1f5fa8", "#e08a1e", "#2f9e5a", "#b8322f"];

/// A chart as inline SVG.
pub fn chart_svg(c: &Chart, lang: Lang) -> String {
    let (w, h, left, bottom, top) = (640.0, 240.0, 44.0, 28.0, 12.0);
    let plot_w = w - left - 8.0;
    let plot_h = h - bottom - top;
    let max = if c.percent {
        100.0
    } else {
        c.series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(0.0f64, |a, b| a.max(*b))
            .max(1.0)
    };
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let n = c.categories.len().max(1) as f64;
    let band = plot_w / n;
    let mut s = format!(
        r##"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"##,
        esc(lang.pick(&c.vi, &c.en))
    );
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            w - 8.0,
            left - 4.0,
            yy + 3.0,
            number(v, if max < 4.0 { 1 } else { 0 }, lang)
        );
    }
    for (i, (vi, en)) in c.categories.iter().enumerate() {
        let x = left + band * (i as f64 + 0.5);
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
            h - bottom + 14.0,
            esc(lang.pick(vi, en))
        );
    }
    let k = c.series.len().max(1) as f64;
    for (si, series) in c.series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        let name = esc(lang.pick(series.vi, series.en));
        if c.lines {
            let mut path = String::new();
            for (i, v) in series.values.iter().enumerate() {
                let x = left + band * (i as f64 + 0.5);
                match v {
                    Some(v) => {
                        let cmd = if path.is_empty() || path.ends_with(' ') {
                            "M"
                        } else {
                            "L"
                        };
                        let _ = write!(path, "{cmd}{x:.1},{:.1}", y(*v));
                        let _ = write!(
                            s,
                            r##"<circle cx="{x:.1}" cy="{:.1}" r="2.5" fill="{color}"><title>{name}: {}</title></circle>"##,
                            y(*v),
                            number(round1(*v), 1, lang)
                        );
                    }
                    None => path.push(' '),
                }
            }
            let path = path.replace(" L", " M");
            let _ = write!(
                s,
                r##"<path d="{}" fill="none" stroke="{color}" stroke-width="2"/>"##,
                path.trim()
            );
        } else {
            let bw = band * 0.8 / k;
            for (i, v) in series.values.iter().enumerate() {
                let Some(v) = v else { continue };
                let x = left + band * i as f64 + band * 0.1 + bw * si as f64;
                let _ = write!(
                    s,
                    r##"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{color}"><title>{name}: {}</title></rect>"##,
                    y(*v),
                    top + plot_h - y(*v),
                    number(round1(*v), if c.percent { 1 } else { 0 }, lang)
                );
            }
        }
    }
    s.push_str("</svg><div class=\"legend\">");
    for (si, series) in c.series.iter().enumerate() {
        let _ = write!(
            s,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            PALETTE[si % PALETTE.len()],
            esc(lang.pick(series.vi, series.en))
        );
    }
    s.push_str("</div>");
    s
}

/// A table with its filter box, export links, sortable headers and raw values.
pub fn table_html(t: &Table, export_base: &str, query: &str, lang: Lang) -> String {
    let id = format!("t-{}", t.id);
    let sep = if query.is_empty() { "?" } else { "&" };
    let mut s = format!(
        r#"<section class="table" id="{id}-box"><h2>{}</h2><div class="tools"><input type="search" class="filter" data-table="{id}" placeholder="{}" aria-label="{}"> <a class="export" href="{export_base}/{tid}.csv{query}{sep}lang={l}">CSV</a> <a class="export" href="{export_base}/{tid}.xlsx{query}{sep}lang={l}">XLSX</a> <span class="count">{} {}</span></div>"#,
        esc(lang.pick(&t.vi, &t.en)),
        lang.pick("Lọc…", "Filter…"),
        lang.pick("Lọc bảng", "Filter the table"),
        number(t.rows.len() as f64, 0, lang),
        lang.pick("dòng", "rows"),
        tid = t.id,
        l = lang.code(),
    );
    let _ = write!(s, r#"<table class="data" id="{id}"><thead><tr>"#);
    for (j, c) in t.columns.iter().enumerate() {
        let numeric = t.rows.iter().any(|r| r.get(j).is_some_and(is_numeric));
        let _ = write!(
            s,
            r#"<th data-key="{}" data-num="{}" tabindex="0">{}</th>"#,
            c.key,
            numeric as u8,
            esc(lang.pick(c.vi, c.en))
        );
    }
    s.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        s.push_str("<tr>");
        for c in row {
            let text = esc(&cell_text(c, lang));
            let class = if is_numeric(c) { " class=\"n\"" } else { "" };
            let body = match c {
                Cell::Link(_, href) => {
                    let sep = if href.contains('?') { '&' } else { '?' };
                    format!(
                        r#"<a href="{}{sep}lang={}">{text}</a>"#,
                        esc(href),
                        lang.code()
                    )
                }
                _ => text,
            };
            let _ = write!(
                s,
                r#"<td{class} data-v="{}">{body}</td>"#,
                esc(&sort_value(c))
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></section>");
    s
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
td.n{text-align:right;white-space:nowrap}.note{color:#555;font-size:.9em}.flash{background:#e7f5ea;border:1px solid #9c9;padding:8px;border-radius:4px}
.error{background:#fbeaea;border:1px solid #d99;padding:8px;border-radius:4px}
form.period{display:inline-block;margin-bottom:8px}input,button{font:inherit}
"#;

const SCRIPT: &str = r#"
document.querySelectorAll('input.filter').forEach(function(box){
  box.addEventListener('input',function(){
    var q=box.value.toLowerCase();var t=document.getElementById(box.dataset.table);var n=0;
    t.querySelectorAll('tbody tr').forEach(function(r){var show=r.textContent.toLowerCase().indexOf(q)>=0;r.hidden=!show;if(show)n++;});
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

/// The page frame: header with navigation, language switch and sign-out.
pub fn layout(
    title: &str,
    body: &str,
    reader: &Reader<'_>,
    here: &str,
    lang: Lang,
    phases: &[u32],
) -> String {
    let mut nav = String::new();
    let mut link = |href: &str, label: &str| {
        let on = if href == here { " class=\"on\"" } else { "" };
        let _ = write!(nav, r#"<a{on} href="{href}">{}</a>"#, esc(label));
    };
    link("/", lang.pick("Tổng quan", "Overview"));
    for p in phases {
        link(
            &format!("/phase/{p}"),
            &format!("{} {p}", lang.pick("Giai đoạn", "Phase")),
        );
    }
    link("/completeness", lang.pick("Báo cáo đầy đủ", "Completeness"));
    link(
        "/figures",
        lang.pick("Số liệu thủ tục", "Procedure figures"),
    );
    let other = match lang {
        Lang::Vi => r#"<a href="?lang=en" hreflang="en">English</a>"#,
        Lang::En => r#"<a href="?lang=vi" hreflang="vi">Tiếng Việt</a>"#,
    };
    format!(
        r#"<!doctype html><html lang="{code}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{t} — CCHC</title><style>{STYLE}</style></head><body><header><strong>CCHC</strong><nav>{nav}</nav><span class="who">{other} · {user} ({role}) <form method="post" action="/logout"><button type="submit">{out}</button></form></span></header><main><h1>{t}</h1>{body}</main><script>{SCRIPT}</script></body></html>"#,
        code = lang.code(),
        t = esc(title),
        user = esc(reader.user),
        role = esc(reader.role),
        out = lang.pick("Đăng xuất", "Sign out"),
    )
}

/// A dashboard page as HTML (without the frame).
pub fn page_body(page: &Page, path: &str, lang: Lang, extra: &str) -> String {
    let mut s = String::new();
    let query = page
        .period
        .filter(|_| !page.name.starts_with("commune-"))
        .map(|p| format!("?period={p}"))
        .unwrap_or_default();
    if let Some(p) = page.period.filter(|_| !page.name.starts_with("commune-")) {
        let _ = write!(
            s,
            r#"<form class="period" method="get" action="{path}"><label>{} <input type="month" name="period" value="{p}"></label> <input type="hidden" name="lang" value="{}"><button type="submit">{}</button></form>"#,
            lang.pick("Kỳ báo cáo (tháng)", "Reporting month"),
            lang.code(),
            lang.pick("Xem", "Show"),
        );
    }
    s.push_str(extra);
    s.push_str(r#"<div class="figures">"#);
    for f in &page.figures {
        let of =
            f.of.map(|o| format!(" / {}", number(o as f64, 0, lang)))
                .unwrap_or_default();
        let _ = write!(
            s,
            r#"<div class="fig" data-key="{}"><b>{}{of}</b><span>{}</span></div>"#,
            f.key,
            esc(&cell_text(&f.value, lang)),
            esc(lang.pick(&f.vi, &f.en))
        );
    }
    s.push_str("</div>");
    if !page.charts.is_empty() {
        s.push_str(r#"<div class="charts">"#);
        for c in &page.charts {
            let _ = write!(
                s,
                r#"<div class="chartbox"><h2>{}</h2>{}</div>"#,
                esc(lang.pick(&c.vi, &c.en)),
                chart_svg(c, lang)
            );
        }
        s.push_str("</div>");
    }
    let export_base = format!("/api/v1/export/{}", page.name);
    let query = if page.name.starts_with("commune-") {
        page.period
            .map(|p| format!("?year={}", p.year()))
            .unwrap_or_default()
    } else {
        query
    };
    for t in &page.tables {
        s.push_str(&table_html(t, &export_base, &query, lang));
    }
    s
}

/// What an analyst typed per criterion (score text, comment), to show again after an error.
pub type Entered = std::collections::BTreeMap<String, (String, String)>;

/// The analysts' verification form (thẩm định) of one commune's assigned phase: per
/// criterion the self-score and evidence, and inputs for the verified score and comment,
/// prefilled with the verified score so far or else the self-score. A blank score leaves
/// that criterion unverified.
pub fn verify_form_html(
    form: &crate::pages::VerifyForm,
    csrf: &str,
    entered: Option<&Entered>,
    error: Option<&str>,
    lang: Lang,
) -> String {
    let mut s = String::new();
    let unit = form.unit;
    if let Some(e) = error {
        let _ = write!(s, r#"<p class="error" role="alert">{}</p>"#, esc(e));
    }
    let Some(phase) = form.phase else {
        let _ = write!(
            s,
            r#"<p class="note">{}</p>"#,
            esc(lang.pick(
                "Xã này chưa được giao giai đoạn nào trong kế hoạch triển khai, nên chưa có gì để thẩm định.",
                "This commune is not in the rollout plan yet, so there is nothing to verify."
            ))
        );
        return s;
    };
    let _ = write!(
        s,
        r#"<p class="note">{} {phase} · {} {}. {}</p><form method="post" action="/verify/{unit}" class="verify"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="phase" value="{phase}"><section class="table"><table class="data" id="verify"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>"#,
        lang.pick("Giai đoạn", "Phase"),
        lang.pick("ngưỡng đạt", "pass threshold"),
        esc(&score_text(form.pass_threshold, lang)),
        esc(lang.pick(
            "Ô điểm để trống thì tiêu chí đó chưa được thẩm định. Điểm có thể có một chữ số thập phân (ví dụ 8,5).",
            "A blank score leaves that criterion unverified. Scores may have one decimal (e.g. 8.5)."
        )),
        esc(csrf),
        lang.pick("Mã", "Code"),
        lang.pick("Tiêu chí", "Criterion"),
        lang.pick("Điểm tối đa", "Max score"),
        lang.pick("Tự chấm", "Self-score"),
        lang.pick("Minh chứng", "Evidence"),
        lang.pick("Điểm thẩm định", "Verified score"),
        lang.pick("Nhận xét", "Comment"),
    );
    for r in &form.rows {
        let (score, comment) = match entered.and_then(|e| e.get(&r.code)) {
            Some((sc, c)) => (sc.clone(), c.clone()),
            None => (
                crate::pages::VerifyForm::prefill(r)
                    .map(|v| score_text(v, lang))
                    .unwrap_or_default(),
                r.comment.clone(),
            ),
        };
        let code = esc(&r.code);
        let _ = write!(
            s,
            r#"<tr><td>{code}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td><input name="s_{code}" value="{}" inputmode="decimal" size="6" aria-label="{} {code}"></td><td><input name="c_{code}" value="{}" size="40" maxlength="500" aria-label="{} {code}"></td></tr>"#,
            esc(&r.name),
            esc(&score_text(r.max, lang)),
            esc(&r
                .self_score
                .map(|v| score_text(v, lang))
                .unwrap_or_default()),
            esc(&r.evidence),
            esc(&score),
            lang.pick("Điểm thẩm định", "Verified score"),
            esc(&comment),
            lang.pick("Nhận xét", "Comment"),
        );
    }
    let _ = write!(
        s,
        r#"</tbody></table></section><button type="submit" id="save">{}</button> <a href="/commune/{unit}">{}</a></form>"#,
        lang.pick("Ghi kết quả thẩm định", "Record the verification"),
        lang.pick("Quay lại trang xã", "Back to the commune"),
    );
    s
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
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
