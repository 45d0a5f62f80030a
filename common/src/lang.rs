//! User-facing language selection. In: a language tag from a flag or `CCHC_LANG`.
//! Out: [`Lang`], which every message renderer takes. Vietnamese is the default
//! because the people who read these messages are commune officers.

use std::fmt;

/// The language messages are rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese (default).
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// Parses `vi` / `en` (case-insensitive, region suffix ignored, e.g. `en_US.UTF-8`).
    /// Returns `None` for anything else.
    pub fn parse(tag: &str) -> Option<Lang> {
        let t = tag.trim().to_ascii_lowercase();
        let base = t.split(['_', '-', '.']).next().unwrap_or("");
        match base {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language asked for on the command line, else by the `CCHC_LANG` value the
    /// caller read from the environment, else Vietnamese.
    pub fn resolve(cli: Option<&str>, env: Option<&str>) -> Lang {
        cli.and_then(Lang::parse)
            .or_else(|| env.and_then(Lang::parse))
            .unwrap_or_default()
    }

    /// The language tag: `vi` or `en`.
    pub fn code(self) -> &'static str {
        self.pick("vi", "en")
    }

    /// A number as readers of the language write it, with `decimals` decimals:
    /// `1.234,5` in Vietnamese, `1,234.5` in English. Never `-0`.
    pub fn number(self, v: f64, decimals: usize) -> String {
        let (group, point) = match self {
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

    /// Picks the Vietnamese or English text.
    pub fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        })
    }
}

/// Something that can explain itself to a person in either language.
pub trait Localize {
    /// The message in `lang`; names the bad value, the field and the rule.
    fn localize(&self, lang: Lang) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags() {
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("en_US.UTF-8"), Some(Lang::En));
        assert_eq!(Lang::parse("vi-VN"), Some(Lang::Vi));
        assert_eq!(Lang::parse("fr"), None);
    }
}
