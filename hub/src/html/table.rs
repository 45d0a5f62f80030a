//! A table section: title, filter box, export links, sortable headers and each cell's
//! raw value for sorting. In: a [`Table`]. Out: markup.

use super::{cell_text, number};
use crate::pages::{Cell, Table};
use cchc_common::kpi::round1;
use cchc_common::Lang;
use maud::{html, Markup};

/// The raw value a column sorts by.
fn sort_value(c: &Cell) -> String {
    match c {
        Cell::Int(n) | Cell::Id(n) => n.to_string(),
        Cell::Score(s) => s.map(|s| s.0.to_string()).unwrap_or_default(),
        Cell::Pct(p) | Cell::Points(p) => p.map(|v| round1(v).to_string()).unwrap_or_default(),
        Cell::Date(d) => d.map(|d| d.to_string()).unwrap_or_default(),
        Cell::Tag { key, .. } => key.clone(),
        Cell::Text(s) | Cell::Link(s, _) => s.clone(),
        Cell::Period(p, _) => p.to_string(),
    }
}

fn is_numeric(c: &Cell) -> bool {
    match c {
        Cell::Int(_)
        | Cell::Id(_)
        | Cell::Score(_)
        | Cell::Pct(_)
        | Cell::Points(_)
        | Cell::Date(_) => true,
        Cell::Text(_) | Cell::Link(..) | Cell::Tag { .. } | Cell::Period(..) => false,
    }
}

/// A code such as `TC-01` or `CT-12`: kept on one line (it would wrap at its hyphen).
fn is_code(c: &Cell) -> bool {
    let t = match c {
        Cell::Text(t) | Cell::Link(t, _) => t.as_str(),
        _ => return false,
    };
    t.split_once('-').is_some_and(|(a, b)| {
        (1..=4).contains(&a.len())
            && a.bytes().all(|c| c.is_ascii_uppercase())
            && !b.is_empty()
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// `href` with the reader's language added to its query.
fn with_lang(href: &str, lang: Lang) -> String {
    let sep = if href.contains('?') { '&' } else { '?' };
    format!("{href}{sep}lang={}", lang.code())
}

/// A table with its filter box, export links, sortable headers and raw values;
/// `query` (empty or `?…`) is the page's own parameters, kept by the export links.
pub fn section(t: &Table, export_base: &str, query: &str, lang: Lang) -> Markup {
    let id = format!("t-{}", t.id);
    let export = |ext: &str| with_lang(&format!("{export_base}/{}.{ext}{query}", t.id), lang);
    html! {
        section.table id=(format!("{id}-box")) {
            h2 { (lang.pick(&t.vi, &t.en)) }
            div.tools {
                input.filter type="search" data-table=(id) placeholder=(lang.pick("Lọc…", "Filter…")) aria-label=(lang.pick("Lọc bảng", "Filter the table"));
                " " a.export href=(export("csv")) { "CSV" }
                " " a.export href=(export("xlsx")) { "XLSX" }
                " " span.count { (number(t.rows.len() as f64, 0, lang)) " " (lang.pick("dòng", "rows")) }
            }
            table.data id=(id) {
                thead {
                    tr {
                        @for (j, c) in t.columns.iter().enumerate() {
                            th data-key=(c.key) data-num=(u8::from(t.rows.iter().any(|r| r.get(j).is_some_and(is_numeric)))) tabindex="0" {
                                (lang.pick(c.vi, c.en))
                            }
                        }
                    }
                }
                tbody {
                    @for row in &t.rows {
                        tr {
                            @for c in row {
                                td.n[is_numeric(c)].nw[is_code(c)] data-v=(sort_value(c)) {
                                    @if let Cell::Link(text, href) = c {
                                        a href=(with_lang(href, lang)) { (text) }
                                    } @else if let Cell::Period(_, Some(href)) = c {
                                        a href=(with_lang(href, lang)) { (cell_text(c, lang)) }
                                    } @else {
                                        (cell_text(c, lang))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
