//! Exports of dashboard tables. In: a [`Table`] and the reader's language. Out: CSV
//! and XLSX (typed cells: numbers are numbers, dates are dates shown dd/mm/yyyy,
//! header row bold and frozen).
//!
//! CSV follows the convention of the reader's Excel, chosen by the page's language:
//! Vietnamese (the default) is what Excel expects under Vietnamese regional settings —
//! `;` between fields and a decimal comma (`77,5`) — so a double-click opens it in
//! columns with numbers as numbers; English is `,` and a decimal point. Both are UTF-8
//! with a BOM (so Excel reads Vietnamese text right), dates dd/mm/yyyy, identifiers
//! (codes, years) never grouped.
//!
//! Text from communes leaves the hub here (task titles, evidence, comments, names) and
//! is opened in Excel on province PCs. A CSV cell that starts with `=`, `+`, `-`, `@`,
//! a tab or a carriage return would be read as a formula (CSV injection), so such text
//! cells get a leading `'` as OWASP's CSV-injection guidance describes; number cells
//! are never touched (a negative trend stays a number). XLSX cells are typed: text is
//! written as a string cell, which Excel never evaluates.

use crate::error::{HubError, Result};
use crate::pages::{Cell, Table};
use cchc_common::kpi::round1;
use cchc_common::{Date, Lang};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

/// The byte-order mark that starts every CSV export.
pub const BOM: &str = "\u{feff}";

/// A cell as CSV text.
fn csv_text(c: &Cell, lang: Lang) -> String {
    match c {
        Cell::Text(s) | Cell::Link(s, _) => s.clone(),
        Cell::Tag { vi, en, .. } => lang.pick(vi, en).to_string(),
        Cell::Int(n) | Cell::Id(n) => n.to_string(),
        Cell::Score(s) => s.map(|s| decimal(s.to_string(), lang)).unwrap_or_default(),
        Cell::Pct(p) | Cell::Points(p) => p
            .map(|v| decimal(round1(v).to_string(), lang))
            .unwrap_or_default(),
        Cell::Date(d) => d
            .map(|ms| Date::from_unix_ms_vn(ms).to_vn_string())
            .unwrap_or_default(),
        Cell::Period(..) => crate::html::cell_text(c, lang),
    }
}

/// A number's decimal separator in the reader's convention.
fn decimal(n: String, lang: Lang) -> String {
    match lang {
        Lang::Vi => n.replace('.', ","),
        Lang::En => n,
    }
}

/// The field separator of the reader's convention (see the module's notes).
pub fn separator(lang: Lang) -> u8 {
    match lang {
        Lang::Vi => b';',
        Lang::En => b',',
    }
}

/// Whether Excel would read text starting like this as a formula.
fn formula_like(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A cell as CSV text, with text that Excel would evaluate neutralised.
fn csv_cell(c: &Cell, lang: Lang) -> String {
    let text = csv_text(c, lang);
    match c {
        Cell::Text(_) | Cell::Link(..) | Cell::Tag { .. } if formula_like(&text) => {
            format!("'{text}")
        }
        Cell::Text(_)
        | Cell::Link(..)
        | Cell::Tag { .. }
        | Cell::Int(_)
        | Cell::Id(_)
        | Cell::Score(_)
        | Cell::Pct(_)
        | Cell::Points(_)
        | Cell::Date(_)
        | Cell::Period(..) => text,
    }
}

/// The table as CSV: a header of column labels, then one line per row.
pub fn csv(table: &Table, lang: Lang) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(separator(lang))
        .from_writer(BOM.as_bytes().to_vec());
    let fail = |e: csv::Error| HubError::Internal(format!("CSV export: {e}"));
    w.write_record(table.columns.iter().map(|c| lang.pick(c.vi, c.en)))
        .map_err(fail)?;
    for row in &table.rows {
        w.write_record(row.iter().map(|c| csv_cell(c, lang)))
            .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| HubError::Internal(format!("CSV export: {e}")))
}

/// The table as an XLSX workbook of one sheet.
pub fn xlsx(table: &Table, lang: Lang) -> Result<Vec<u8>> {
    let fail = |e: rust_xlsxwriter::XlsxError| HubError::Internal(format!("XLSX export: {e}"));
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    // Sheet names are at most 31 characters and exclude []:*?/\ .
    let name: String = table.id.chars().take(31).collect();
    sheet.set_name(&name).map_err(fail)?;
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let one_decimal = Format::new().set_num_format("0.0");
    for (j, c) in table.columns.iter().enumerate() {
        sheet
            .write_string_with_format(0, j as u16, lang.pick(c.vi, c.en), &bold)
            .map_err(fail)?;
    }
    for (i, row) in table.rows.iter().enumerate() {
        let r = i as u32 + 1;
        for (j, cell) in row.iter().enumerate() {
            let j = j as u16;
            match cell {
                Cell::Int(n) | Cell::Id(n) => {
                    sheet.write_number(r, j, *n as f64).map_err(fail)?;
                }
                Cell::Score(Some(s)) => {
                    sheet
                        .write_number_with_format(r, j, s.as_f64(), &one_decimal)
                        .map_err(fail)?;
                }
                Cell::Pct(Some(v)) | Cell::Points(Some(v)) => {
                    sheet
                        .write_number_with_format(r, j, round1(*v), &one_decimal)
                        .map_err(fail)?;
                }
                Cell::Date(Some(ms)) => {
                    let d = Date::from_unix_ms_vn(*ms);
                    let dt = ExcelDateTime::from_ymd(d.year() as u16, d.month(), d.day())
                        .map_err(fail)?;
                    sheet
                        .write_datetime_with_format(r, j, &dt, &date)
                        .map_err(fail)?;
                }
                Cell::Score(None) | Cell::Pct(None) | Cell::Points(None) | Cell::Date(None) => {}
                other => {
                    let text = csv_text(other, lang);
                    if !text.is_empty() {
                        sheet.write_string(r, j, &text).map_err(fail)?;
                    }
                }
            }
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(fail)?;
    sheet.autofit();
    book.save_to_buffer().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::Column;

    fn table(rows: Vec<Vec<Cell>>) -> Table {
        Table {
            id: "t",
            vi: "Bảng".into(),
            en: "Table".into(),
            columns: vec![
                Column {
                    key: "a",
                    vi: "A",
                    en: "A",
                },
                Column {
                    key: "b",
                    vi: "B",
                    en: "B",
                },
            ],
            rows,
        }
    }

    #[test]
    fn text_that_excel_would_evaluate_is_neutralised_and_numbers_stay_numbers() {
        let mut rows: Vec<Vec<Cell>> = ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]
            .iter()
            .map(|t| vec![Cell::Text(t.to_string()), Cell::Points(Some(-2.5))])
            .collect();
        rows.push(vec![Cell::Text("Xã Kỳ Xuân".into()), Cell::Int(-3)]);
        let bytes = csv(&table(rows.clone()), Lang::Vi).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut r = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(text.trim_start_matches(BOM).as_bytes());
        let got: Vec<(String, String)> = r
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_string(), r[1].to_string())
            })
            .collect();
        for (cell, number) in &got[..6] {
            assert!(cell.starts_with('\''), "{cell:?}");
            assert_eq!(number, "-2,5");
        }
        assert_eq!(got[0].0, "'=1+2");
        assert_eq!(got[6], ("Xã Kỳ Xuân".to_string(), "-3".to_string()));
        // In English: commas between fields, a decimal point.
        let en = String::from_utf8(csv(&table(rows), Lang::En).unwrap()).unwrap();
        assert!(en.contains("'=1+2,-2.5\n"), "{en}");
        assert!(text.contains("'=1+2;-2,5\n"), "{text}");
    }
}
