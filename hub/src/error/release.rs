//! Refusals of the update channel: no root set, a document or bundle that is not
//! trusted, a version that does not go up, a rollout that is halted. In: a failed
//! check of `crate::release`. Out: a status, a stable code, an exit code and both
//! languages' texts.

use super::exit;
use super::input::{quoted, t, Text};
use cchc_common::release::ReleaseError;
use cchc_common::update::BundleError;

/// A refusal of the update channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseRefusal {
    /// No release root is trusted yet.
    NoRoot,
    /// A document that is not trusted (signatures, threshold, expiry, rotation).
    Untrusted {
        /// Which document (a file, `root version 2`).
        what: String,
        /// The rule it breaks.
        source: ReleaseError,
    },
    /// A bundle file that cannot be read.
    BadBundle {
        /// The file.
        path: String,
        /// What is wrong.
        source: BundleError,
    },
    /// A key file that cannot be read.
    BadKey {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A release whose version does not go up.
    NotNewer {
        /// Its version.
        version: String,
        /// Its platform.
        platform: String,
        /// The newest published for the platform.
        newest: String,
    },
    /// A version with no published release.
    Unpublished {
        /// The version.
        version: String,
    },
    /// A halted rollout, which must be resumed before it is widened.
    Halted {
        /// The version.
        version: String,
        /// Why it halted.
        reason: String,
    },
}

impl ReleaseRefusal {
    pub(super) fn status(&self) -> u16 {
        match self {
            ReleaseRefusal::NoRoot
            | ReleaseRefusal::NotNewer { .. }
            | ReleaseRefusal::Halted { .. } => 409,
            ReleaseRefusal::Untrusted { .. }
            | ReleaseRefusal::BadBundle { .. }
            | ReleaseRefusal::BadKey { .. } => 422,
            ReleaseRefusal::Unpublished { .. } => 404,
        }
    }

    pub(super) fn code(&self) -> &'static str {
        match self {
            ReleaseRefusal::NoRoot => "no_release_root",
            ReleaseRefusal::Untrusted { .. } => "untrusted_release",
            ReleaseRefusal::BadBundle { .. } => "bad_bundle",
            ReleaseRefusal::BadKey { .. } => "bad_key",
            ReleaseRefusal::NotNewer { .. } => "release_not_newer",
            ReleaseRefusal::Unpublished { .. } => "release_not_found",
            ReleaseRefusal::Halted { .. } => "rollout_halted",
        }
    }

    pub(super) fn exit_code(&self) -> i32 {
        match self {
            ReleaseRefusal::NoRoot | ReleaseRefusal::Halted { .. } => exit::STATE,
            ReleaseRefusal::Untrusted { .. }
            | ReleaseRefusal::BadBundle { .. }
            | ReleaseRefusal::BadKey { .. }
            | ReleaseRefusal::NotNewer { .. }
            | ReleaseRefusal::Unpublished { .. } => exit::INVALID,
        }
    }

    pub(super) fn text(&self) -> Text {
        match self {
            ReleaseRefusal::NoRoot => t(
                "this hub trusts no release root yet: run `cchc-hub release trust ROOT.json` with the root the province signed offline",
                "máy chủ tỉnh chưa tin cậy gốc phát hành nào: hãy chạy `cchc-hub release trust ROOT.json` với gốc tỉnh đã ký ngoại tuyến",
            ),
            ReleaseRefusal::Untrusted { what, source } => t(
                format!("{} is not trusted: {source}", quoted(what)),
                format!("{} không được tin cậy: {}", quoted(what), source.vi()),
            ),
            ReleaseRefusal::BadBundle { path, source } => t(
                format!("{}: {source}", quoted(path)),
                format!("{}: không phải gói phát hành dùng được ({source})", quoted(path)),
            ),
            ReleaseRefusal::BadKey { path, detail } => t(
                format!("{}: not a release key: {detail}", quoted(path)),
                format!("{}: không phải khóa phát hành: {detail}", quoted(path)),
            ),
            ReleaseRefusal::NotNewer { version, platform, newest } => t(
                format!("release {version} for {platform} is not newer than the published {newest}: versions only go up"),
                format!("bản phát hành {version} cho {platform} không mới hơn bản đã đăng {newest}: số phiên bản chỉ được tăng"),
            ),
            ReleaseRefusal::Unpublished { version } => t(
                format!("no release {} is published: run `cchc-hub release publish BUNDLE` first", quoted(version)),
                format!("chưa đăng bản phát hành {}: hãy chạy `cchc-hub release publish BUNDLE` trước", quoted(version)),
            ),
            ReleaseRefusal::Halted { version, reason } => t(
                format!("the rollout of {version} is halted ({reason}): `cchc-hub release resume --version {version}` before widening it"),
                format!("đợt triển khai {version} đang dừng ({reason}): hãy `cchc-hub release resume --version {version}` trước khi mở rộng"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<(ReleaseRefusal, u16, &'static str, i32)> {
        use ReleaseRefusal as R;
        vec![
            (R::NoRoot, 409, "no_release_root", exit::STATE),
            (
                R::Untrusted {
                    what: "b.bundle".into(),
                    source: ReleaseError::BelowThreshold {
                        role: "release",
                        valid: 0,
                        threshold: 1,
                    },
                },
                422,
                "untrusted_release",
                exit::INVALID,
            ),
            (
                R::BadBundle {
                    path: "x".into(),
                    source: BundleError::Magic,
                },
                422,
                "bad_bundle",
                exit::INVALID,
            ),
            (
                R::BadKey {
                    path: "k".into(),
                    detail: "d".into(),
                },
                422,
                "bad_key",
                exit::INVALID,
            ),
            (
                R::NotNewer {
                    version: "0.1.0".into(),
                    platform: "linux-x86_64".into(),
                    newest: "0.2.0".into(),
                },
                409,
                "release_not_newer",
                exit::INVALID,
            ),
            (
                R::Unpublished {
                    version: "9.9.9".into(),
                },
                404,
                "release_not_found",
                exit::INVALID,
            ),
            (
                R::Halted {
                    version: "0.2.0".into(),
                    reason: "r".into(),
                },
                409,
                "rollout_halted",
                exit::STATE,
            ),
        ]
    }

    fn index(r: &ReleaseRefusal) -> usize {
        match r {
            ReleaseRefusal::NoRoot => 0,
            ReleaseRefusal::Untrusted { .. } => 1,
            ReleaseRefusal::BadBundle { .. } => 2,
            ReleaseRefusal::BadKey { .. } => 3,
            ReleaseRefusal::NotNewer { .. } => 4,
            ReleaseRefusal::Unpublished { .. } => 5,
            ReleaseRefusal::Halted { .. } => 6,
        }
    }

    #[test]
    fn every_release_refusal_has_its_status_code_exit_and_both_languages() {
        let mut seen = [false; 7];
        for (r, status, code, exit) in rows() {
            seen[index(&r)] = true;
            assert_eq!((r.status(), r.code(), r.exit_code()), (status, code, exit));
            let text = r.text();
            assert!(!text.en.is_empty() && text.en != text.vi, "{r:?}");
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
    }
}
