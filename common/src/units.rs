//! Administrative units. In: the official unit list as CSV text (the columns of
//! `vn-units-2025.csv`; a built-in copy ships with the crate). Out: a validated
//! [`UnitCatalog`] to look communes up by code. No fixed depth is assumed: a commune
//! belongs to a province directly, as it has since July 2025.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The official 2025 list: 34 provinces, 3,321 communes.
pub const BUILTIN_UNITS_CSV: &str = include_str!("../data/vn-units-2025.csv");

const HEADER: [&str; 6] = [
    "province_code",
    "province_name",
    "province_type",
    "commune_code",
    "commune_name",
    "commune_type",
];

/// A commune-level unit code (mã đơn vị hành chính cấp xã).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnitCode(pub u32);

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl UnitCode {
    /// Parses a code as typed (`70`, `00070`). Leading zeros are accepted.
    pub fn parse(input: &str) -> Result<UnitCode, DomainError> {
        let s = input.trim();
        if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::UnknownUnit {
                code: input.to_string(),
            });
        }
        s.parse()
            .map(UnitCode)
            .map_err(|_| DomainError::UnknownUnit {
                code: input.to_string(),
            })
    }
}

/// The kind of commune-level unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommuneKind {
    /// xã (rural commune).
    Xa,
    /// phường (ward).
    Phuong,
    /// đặc khu (special zone).
    DacKhu,
}

impl CommuneKind {
    fn parse(s: &str) -> Option<CommuneKind> {
        match s.trim() {
            "xã" => Some(CommuneKind::Xa),
            "phường" => Some(CommuneKind::Phuong),
            "đặc khu" => Some(CommuneKind::DacKhu),
            _ => None,
        }
    }

    /// Vietnamese name of the kind.
    pub fn vi(&self) -> &'static str {
        match self {
            CommuneKind::Xa => "xã",
            CommuneKind::Phuong => "phường",
            CommuneKind::DacKhu => "đặc khu",
        }
    }
}

/// One commune-level unit with its province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Commune code.
    pub code: UnitCode,
    /// Commune name, e.g. "Phường Hoàn Kiếm".
    pub name: String,
    /// Kind of commune.
    pub kind: CommuneKind,
    /// Province code.
    pub province_code: u32,
    /// Province name, e.g. "Thành phố Hà Nội".
    pub province_name: String,
}

/// All known units, by commune code.
#[derive(Debug, Clone, Default)]
pub struct UnitCatalog {
    communes: BTreeMap<UnitCode, Unit>,
}

impl UnitCatalog {
    /// The built-in official list.
    ///
    /// # Panics
    /// Never in a released build: the embedded file is checked by a unit test.
    pub fn builtin() -> UnitCatalog {
        UnitCatalog::parse_csv(BUILTIN_UNITS_CSV).expect("built-in unit list is valid")
    }

    /// Parses a unit list. Every problem names its line; a file with any bad line is refused whole.
    pub fn parse_csv(text: &str) -> Result<UnitCatalog, DomainError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let err = |line: u64, message: String| DomainError::UnitCsv { line, message };
        let headers = rdr.headers().map_err(|e| err(1, e.to_string()))?.clone();
        let got: Vec<&str> = headers.iter().map(str::trim).collect();
        if got != HEADER {
            return Err(err(
                1,
                format!(
                    "header must be {} (found {})",
                    HEADER.join(","),
                    got.join(",")
                ),
            ));
        }
        let mut communes = BTreeMap::new();
        for rec in rdr.records() {
            let rec =
                rec.map_err(|e| err(e.position().map(|p| p.line()).unwrap_or(0), e.to_string()))?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            let num = |i: usize, name: &str| -> Result<u32, DomainError> {
                rec[i]
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| err(line, format!("{name} '{}' is not a number", &rec[i])))
            };
            let province_code = num(0, "province_code")?;
            let code = UnitCode(num(3, "commune_code")?);
            let kind = CommuneKind::parse(&rec[5]).ok_or_else(|| {
                err(
                    line,
                    format!("commune_type '{}' must be xã, phường or đặc khu", &rec[5]),
                )
            })?;
            let name = rec[4].trim().to_string();
            let province_name = rec[1].trim().to_string();
            if name.is_empty() || province_name.is_empty() {
                return Err(err(line, "names must not be empty".to_string()));
            }
            let unit = Unit {
                code,
                name,
                kind,
                province_code,
                province_name,
            };
            if communes.insert(code, unit).is_some() {
                return Err(err(line, format!("commune_code {code} appears twice")));
            }
        }
        if communes.is_empty() {
            return Err(err(1, "the list holds no commune".to_string()));
        }
        Ok(UnitCatalog { communes })
    }

    /// Looks a commune up, with a clear error for unknown codes.
    pub fn commune(&self, code: UnitCode) -> Result<&Unit, DomainError> {
        self.communes.get(&code).ok_or(DomainError::UnknownUnit {
            code: code.to_string(),
        })
    }

    /// All communes, by code.
    pub fn communes(&self) -> impl Iterator<Item = &Unit> {
        self.communes.values()
    }

    /// Communes of one province.
    pub fn communes_of(&self, province_code: u32) -> impl Iterator<Item = &Unit> {
        self.communes
            .values()
            .filter(move |u| u.province_code == province_code)
    }

    /// Number of communes.
    pub fn len(&self) -> usize {
        self.communes.len()
    }

    /// True when no commune is known.
    pub fn is_empty(&self) -> bool {
        self.communes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_list_matches_the_official_counts() {
        let c = UnitCatalog::builtin();
        assert_eq!(c.len(), 3321);
        let provinces: std::collections::BTreeSet<u32> =
            c.communes().map(|u| u.province_code).collect();
        assert_eq!(provinces.len(), 34);
        assert_eq!(
            c.communes().filter(|u| u.kind == CommuneKind::Xa).count(),
            2621
        );
        assert_eq!(
            c.communes()
                .filter(|u| u.kind == CommuneKind::Phuong)
                .count(),
            687
        );
        assert_eq!(
            c.communes()
                .filter(|u| u.kind == CommuneKind::DacKhu)
                .count(),
            13
        );
        assert_eq!(c.commune(UnitCode(70)).unwrap().name, "Phường Hoàn Kiếm");
    }

    #[test]
    fn bad_lines_are_named() {
        let h = HEADER.join(",");
        let e = UnitCatalog::parse_csv(&format!("{h}\n1,A,t,70,X,phường\n1,A,t,x7,Y,xã\n"))
            .unwrap_err();
        assert_eq!(
            e,
            DomainError::UnitCsv {
                line: 3,
                message: "commune_code 'x7' is not a number".into()
            }
        );
        let e = UnitCatalog::parse_csv(&format!("{h}\n1,A,t,70,X,phường\n1,A,t,70,Y,xã\n"))
            .unwrap_err();
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("twice"),
            "{e}"
        );
        assert!(UnitCatalog::parse_csv("a,b\n1,2\n")
            .unwrap_err()
            .to_string()
            .contains("header"));
        let e = UnitCatalog::parse_csv(&format!("{h}\n1,A,t,70,X,huyện\n")).unwrap_err();
        assert!(e.to_string().contains("huyện"), "{e}");
    }
}
