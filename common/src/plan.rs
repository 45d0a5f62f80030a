//! The rollout plan as people give it: communes and their phase, on the command line
//! (`--phase N --unit CODE…`) or as a CSV file (`unit,phase[,name]` per line, an
//! optional header, a BOM and blank lines allowed). In: text. Out: (commune, phase)
//! pairs in the order given, each commune once; or a [`PlanError`] naming the file,
//! the line and the rule, in English and Vietnamese. Nothing is assigned on an error.

use crate::error::DomainError;
use crate::lang::{Lang, Localize};
use crate::units::UnitCode;
use std::collections::BTreeMap;

/// Why a plan cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A rule of the plan broken: what and where, in both languages.
    #[error("{en}")]
    Plan {
        /// English.
        en: String,
        /// Vietnamese.
        vi: String,
    },
    /// A commune code on the command line that is not one.
    #[error(transparent)]
    Invalid(DomainError),
}

impl Localize for PlanError {
    fn localize(&self, lang: Lang) -> String {
        match self {
            PlanError::Plan { en, vi } => lang.pick(vi, en).to_string(),
            PlanError::Invalid(e) => e.localize(lang),
        }
    }
}

fn bad(en: String, vi: String) -> PlanError {
    PlanError::Plan { en, vi }
}

/// A phase number (1 or more) where `at`/`at_vi` say where it was read.
fn phase_no(s: &str, at: &str, at_vi: &str) -> Result<u32, PlanError> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| {
            bad(
                format!("{at}phase '{s}' is not a phase number (1, 2, 3…)"),
                format!("{at_vi}giai đoạn '{s}' không phải số giai đoạn (1, 2, 3…)"),
            )
        })
}

/// The plan so far: each commune once (again with the same phase is fine).
#[derive(Default)]
struct Plan {
    order: Vec<(UnitCode, u32)>,
    seen: BTreeMap<UnitCode, u32>,
}

impl Plan {
    fn add(&mut self, unit: UnitCode, phase: u32, at: &str, at_vi: &str) -> Result<(), PlanError> {
        match self.seen.get(&unit) {
            Some(p) if *p != phase => Err(bad(
                format!("{at}commune {unit} is given twice, for phases {p} and {phase}"),
                format!("{at_vi}đơn vị {unit} xuất hiện hai lần, ở giai đoạn {p} và {phase}"),
            )),
            Some(_) => Ok(()),
            None => {
                self.seen.insert(unit, phase);
                self.order.push((unit, phase));
                Ok(())
            }
        }
    }
}

/// The list separator of a CSV file as people save it: Excel writes `;` where the
/// regional settings use a decimal comma (Vietnamese Windows among them), `,`
/// elsewhere, and honours a first line `sep=X`. Returns the separator and the text
/// after a `sep=` line.
pub fn separator(text: &str) -> (u8, &str) {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if let Some(sep) = first.trim().strip_prefix("sep=") {
        if let [b] = sep.as_bytes() {
            let rest = text.split_once('\n').map(|(_, r)| r).unwrap_or("");
            return (*b, rest);
        }
    }
    let count = |c: char| first.matches(c).count();
    let sep = if count(';') > count(',') {
        b';'
    } else if count('\t') > count(',') {
        b'\t'
    } else {
        b','
    };
    (sep, text)
}

/// A plan CSV file's text (`source` names it in messages), separated by `,`, `;` or
/// tabs (see [`separator`]).
pub fn parse_csv(text: &str, source: &str) -> Result<Vec<(UnitCode, u32)>, PlanError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (sep, text) = separator(text);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut plan = Plan::default();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 1;
        let at = format!("{source} line {line}: ");
        let at_vi = format!("{source} dòng {line}: ");
        let rec = rec.map_err(|e| bad(format!("{at}{e}"), format!("{at_vi}{e}")))?;
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let first = rec.get(0).unwrap_or_default();
        if line == 1 && first.parse::<u32>().is_err() {
            continue; // a header line
        }
        let unit = UnitCode::parse(first).map_err(|e| {
            bad(
                format!("{at}{e}"),
                format!("{at_vi}{}", e.localize(Lang::Vi)),
            )
        })?;
        let Some(p) = rec.get(1).filter(|p| !p.is_empty()) else {
            return Err(bad(
                format!("{at}the phase is missing (columns: unit,phase)"),
                format!("{at_vi}thiếu giai đoạn (các cột: mã đơn vị, giai đoạn)"),
            ));
        };
        let p = phase_no(p, &at, &at_vi)?;
        plan.add(unit, p, &at, &at_vi)?;
    }
    if plan.order.is_empty() {
        return Err(bad(
            format!("{source} holds no commune"),
            format!("{source} không có đơn vị nào"),
        ));
    }
    Ok(plan.order)
}

/// A plan from the command line (`--phase` with `--unit`s) or a CSV file's text and
/// name, never both.
pub fn parse(
    units: &[String],
    phase: Option<&str>,
    csv: Option<(&str, &str)>,
) -> Result<Vec<(UnitCode, u32)>, PlanError> {
    if csv.is_some() && (phase.is_some() || !units.is_empty()) {
        return Err(bad(
            "give either --csv or --phase with --unit, not both".into(),
            "chỉ dùng --csv hoặc --phase cùng --unit, không dùng cả hai".into(),
        ));
    }
    match (csv, phase) {
        (Some((text, source)), _) => parse_csv(text, source),
        (None, Some(p)) => {
            let p = phase_no(p, "", "")?;
            if units.is_empty() {
                return Err(bad(
                    "name at least one commune with --unit".into(),
                    "hãy nêu ít nhất một đơn vị bằng --unit".into(),
                ));
            }
            let mut plan = Plan::default();
            for u in units {
                let unit = UnitCode::parse(u).map_err(PlanError::Invalid)?;
                plan.add(unit, p, "", "")?;
            }
            Ok(plan.order)
        }
        (None, None) => Err(bad(
            "give --phase N with --unit CODE…, or --csv FILE".into(),
            "hãy dùng --phase N với --unit MÃ…, hoặc --csv TỆP".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_plan_comes_from_the_command_line_or_a_csv() {
        assert_eq!(
            parse(&units(&["70", "73"]), Some("1"), None).unwrap(),
            vec![(UnitCode(70), 1), (UnitCode(73), 1)]
        );
        let csv = "\u{feff}ma_don_vi,giai_doan,ten\n70,1,Phường Hoàn Kiếm\n\n73 , 2 ,Phường Cửa Nam\n70,1\n";
        assert_eq!(
            parse(&[], None, Some((csv, "plan.csv"))).unwrap(),
            vec![(UnitCode(70), 1), (UnitCode(73), 2)]
        );
    }

    #[test]
    fn a_plan_saved_by_excel_with_semicolons_or_tabs_reads_the_same() {
        let want = vec![(UnitCode(18787), 2), (UnitCode(70), 1)];
        for csv in [
            "\u{feff}unit;phase;name\r\n18787;2;Xã Kỳ Văn\r\n70;1;Phường Hoàn Kiếm, Hà Nội\r\n",
            "sep=;\n18787;2;Xã Kỳ Văn\n70;1\n",
            "unit\tphase\n18787\t2\n70\t1\n",
            "unit,phase,name\n18787,2,\"Xã Kỳ Văn; Hà Tĩnh\"\n70,1\n",
        ] {
            assert_eq!(
                parse(&[], None, Some((csv, "plan.csv"))).unwrap(),
                want,
                "{csv:?}"
            );
        }
        // A wrong line is still named, whatever the separator.
        let e = parse(&[], None, Some(("18787;2\n70;x\n", "p.csv"))).unwrap_err();
        assert!(e.to_string().contains("p.csv line 2: phase 'x'"), "{e}");
    }

    #[test]
    fn a_bad_plan_names_the_file_and_line() {
        let err = |r: Result<Vec<(UnitCode, u32)>, PlanError>| match r.unwrap_err() {
            PlanError::Plan { en, vi } => format!("{en} | {vi}"),
            other => panic!("unexpected {other:?}"),
        };
        let e = err(parse(&[], None, Some(("70,1\n73,x\n", "plan.csv"))));
        assert!(e.contains("plan.csv line 2: phase 'x'"), "{e}");
        assert!(e.contains("plan.csv dòng 2"), "{e}");
        let e = err(parse(&[], None, Some(("70,1\n70,2\n", "p.csv"))));
        assert!(
            e.contains("line 2: commune 70 is given twice, for phases 1 and 2"),
            "{e}"
        );
        let e = err(parse(&[], None, Some(("70\n", "p.csv"))));
        assert!(e.contains("line 1: the phase is missing"), "{e}");
        let e = err(parse(&[], None, Some(("unit,phase\n", "p.csv"))));
        assert!(e.contains("holds no commune"), "{e}");
        let e = err(parse(&units(&["70"]), Some("0"), None));
        assert!(e.contains("phase '0'"), "{e}");
        let e = err(parse(&units(&["70"]), None, Some(("70,1", "p.csv"))));
        assert!(e.contains("not both"), "{e}");
        assert!(err(parse(&[], Some("1"), None)).contains("--unit"));
        assert!(matches!(
            parse(&units(&["7x"]), Some("1"), None),
            Err(PlanError::Invalid(_))
        ));
    }
}
