//! The error table: one of every variant with its status, machine code and exit code,
//! and a Vietnamese message that is not the English one. The `match`es below are
//! exhaustive, so a new variant does not compile until it is listed here; the `seen`
//! arrays then fail the test until the variant also has a row.

use super::*;
use cchc_common::ActorId;

fn dom() -> DomainError {
    DomainError::BadScore { input: "x".into() }
}

fn hub_rows() -> Vec<(HubError, u16, &'static str, i32)> {
    use HubError as H;
    vec![
        (
            H::Wire(WireError::TooLarge { size: 9, limit: 1 }),
            413,
            "too_large",
            exit::INVALID,
        ),
        (
            H::Wire(WireError::Compression("x".into())),
            400,
            "bad_body",
            exit::INVALID,
        ),
        (
            H::Wire(WireError::Json("x".into())),
            400,
            "bad_body",
            exit::INVALID,
        ),
        (
            H::Wire(WireError::Protocol {
                got: 9,
                supported: 1,
            }),
            400,
            "protocol_version",
            exit::INVALID,
        ),
        (
            H::ProtocolHeader {
                header: "x-cchc-protocol",
                found: "two".into(),
            },
            400,
            "protocol_version",
            exit::INVALID,
        ),
        (
            H::BodyStalled { idle_s: 3 },
            408,
            "body_timeout",
            exit::INVALID,
        ),
        (H::Busy, 503, "busy", exit::FAILURE),
        (
            H::Release(Box::new(ReleaseRefusal::NoRoot)),
            409,
            "no_release_root",
            exit::STATE,
        ),
        (
            H::BodyCut {
                detail: "reset".into(),
            },
            400,
            "bad_body",
            exit::INVALID,
        ),
        (
            H::BadJson {
                body: Body::SignIn,
                detail: "line 1".into(),
            },
            400,
            "bad_body",
            exit::INVALID,
        ),
        (
            H::BatchTooLarge { count: 9, max: 1 },
            413,
            "too_large",
            exit::INVALID,
        ),
        (
            H::UnknownUnit {
                unit: 9,
                province: 1,
            },
            403,
            "unknown_unit",
            exit::INVALID,
        ),
        (
            H::ForeignDevice {
                device: "d".into(),
                bound: 1,
                unit: 2,
            },
            403,
            "foreign_device",
            exit::INVALID,
        ),
        (
            H::refused(DomainError::SeqGap {
                op: "o".into(),
                actor: "a".into(),
                expected: 1,
            }),
            409,
            "seq_gap",
            exit::INVALID,
        ),
        (
            H::refused(DomainError::OpConflict { op: "o".into() }),
            422,
            "op_conflict",
            exit::INVALID,
        ),
        (H::refused(dom()), 422, "refused_op", exit::INVALID),
        (
            H::NotAssigned {
                unit: 4,
                assigned: Some(2),
                phase: 1,
            },
            409,
            "not_assigned",
            exit::INVALID,
        ),
        (
            H::NotAssigned {
                unit: 4,
                assigned: None,
                phase: 1,
            },
            409,
            "not_assigned",
            exit::INVALID,
        ),
        (
            H::BadPlan {
                en: "line 2".into(),
                vi: "dòng 2".into(),
            },
            422,
            "bad_plan",
            exit::INVALID,
        ),
        (
            H::BadForm {
                problems: vec![("TC-01".into(), dom())],
            },
            422,
            "invalid",
            exit::INVALID,
        ),
        (
            H::BadDefinitions {
                source: "f.json".into(),
                detail: "no phases".into(),
            },
            422,
            "bad_definitions",
            exit::INVALID,
        ),
        (
            H::DefinitionsNotNewer {
                version: 1,
                newest: 2,
            },
            409,
            "definitions_not_newer",
            exit::INVALID,
        ),
        (
            H::NotInitialised { dir: "/d".into() },
            500,
            "not_initialised",
            exit::STATE,
        ),
        (
            H::AlreadyInitialised {
                dir: "/d".into(),
                province: 1,
            },
            500,
            "already_initialised",
            exit::STATE,
        ),
        (
            H::BadDatabase {
                path: "/d".into(),
                detail: "x".into(),
            },
            500,
            "bad_database",
            exit::DATABASE,
        ),
        (H::Invalid(dom()), 422, "invalid", exit::INVALID),
        (
            H::input("period", "2026", Rule::Month),
            400,
            "bad_input",
            exit::INVALID,
        ),
        (
            H::Sql(rusqlite::Error::InvalidQuery.into()),
            500,
            "internal",
            exit::DATABASE,
        ),
        (
            H::io("/f", std::io::Error::other("x")),
            500,
            "internal",
            exit::FAILURE,
        ),
        (
            H::Denied(Denied::NoSession),
            401,
            "no_session",
            exit::DENIED,
        ),
        (
            H::NotFound(Missing::User("u".into())),
            404,
            "not_found",
            exit::INVALID,
        ),
        (
            H::UserExists { user: "u".into() },
            409,
            "user_exists",
            exit::DENIED,
        ),
        (H::Internal("x".into()), 500, "internal", exit::FAILURE),
        (H::Tls("x".into()), 500, "internal", exit::FAILURE),
        (
            H::Upstream {
                url: "https://n".into(),
                detail: "x".into(),
            },
            502,
            "upstream_unreachable",
            exit::UNREACHABLE,
        ),
        (H::NoUpstream, 409, "no_upstream", exit::STATE),
    ]
}

fn hub_index(e: &HubError) -> usize {
    match e {
        HubError::Wire(_) => 0,
        HubError::ProtocolHeader { .. } => 1,
        HubError::BodyStalled { .. } => 2,
        HubError::BodyCut { .. } => 3,
        HubError::BadJson { .. } => 4,
        HubError::BatchTooLarge { .. } => 5,
        HubError::UnknownUnit { .. } => 6,
        HubError::ForeignDevice { .. } => 7,
        HubError::Refused { .. } => 8,
        HubError::NotAssigned { .. } => 9,
        HubError::BadPlan { .. } => 10,
        HubError::BadForm { .. } => 11,
        HubError::BadDefinitions { .. } => 12,
        HubError::DefinitionsNotNewer { .. } => 13,
        HubError::NotInitialised { .. } => 14,
        HubError::AlreadyInitialised { .. } => 15,
        HubError::BadDatabase { .. } => 16,
        HubError::Invalid(_) => 17,
        HubError::Input(_) => 18,
        HubError::Sql(_) => 19,
        HubError::Io { .. } => 20,
        HubError::Denied(_) => 21,
        HubError::NotFound(_) => 22,
        HubError::UserExists { .. } => 23,
        HubError::Internal(_) => 24,
        HubError::Tls(_) => 25,
        HubError::Busy => 26,
        HubError::Release(_) => 27,
        HubError::Upstream { .. } => 28,
        HubError::NoUpstream => 29,
    }
}

fn denied_rows() -> Vec<(Denied, u16, &'static str)> {
    let dev = || ActorId(0x5eed).to_string();
    vec![
        (
            Denied::NotSigned {
                missing: "x-cchc-device",
            },
            401,
            "not_signed",
        ),
        (
            Denied::BadHeader {
                header: "x-cchc-nonce",
                value: "7é".into(),
                rule: Rule::WholeNumber,
            },
            401,
            "bad_signature",
        ),
        (
            Denied::SignerMismatch {
                signed: dev(),
                named: "other".into(),
            },
            401,
            "bad_signature",
        ),
        (
            Denied::UnknownDevice { device: dev() },
            401,
            "unknown_device",
        ),
        (Denied::BadSignature { device: dev() }, 401, "bad_signature"),
        (Denied::Revoked { device: dev() }, 403, "device_revoked"),
        (
            Denied::WrongCommune {
                device: dev(),
                bound: 4,
                unit: 8,
            },
            403,
            "wrong_commune",
        ),
        (Denied::BadCode, 401, "bad_code"),
        (Denied::CodeUsed, 401, "code_used"),
        (Denied::CodeExpired, 401, "code_expired"),
        (
            Denied::CodeForOtherUnit {
                code_unit: 4,
                unit: 8,
            },
            403,
            "wrong_commune",
        ),
        (Denied::DeviceExists { device: dev() }, 409, "device_exists"),
        (
            Denied::StaleNonce {
                device: dev(),
                nonce: 1,
                last: 2,
            },
            409,
            "stale_nonce",
        ),
        (Denied::NoSession, 401, "no_session"),
        (Denied::SessionExpired, 401, "session_expired"),
        (Denied::LoginFailed, 401, "login_failed"),
        (
            Denied::Role {
                user: "u".into(),
                role: "viewer",
                needs: "admin",
            },
            403,
            "forbidden",
        ),
        (
            Denied::ProvinceOnly { op: "o".into() },
            403,
            "province_only",
        ),
        (
            Denied::OtherProvince {
                peer: dev(),
                province: 1,
                unit: 8000,
            },
            403,
            "other_province",
        ),
        (Denied::StaleForm, 403, "stale_form"),
        (Denied::CrossSite, 403, "cross_site"),
        (
            Denied::RateLimited {
                what: "guesses",
                retry_after_s: 3,
            },
            429,
            "rate_limited",
        ),
    ]
}

fn denied_index(d: &Denied) -> usize {
    match d {
        Denied::NotSigned { .. } => 0,
        Denied::BadHeader { .. } => 1,
        Denied::SignerMismatch { .. } => 2,
        Denied::UnknownDevice { .. } => 3,
        Denied::BadSignature { .. } => 4,
        Denied::Revoked { .. } => 5,
        Denied::WrongCommune { .. } => 6,
        Denied::BadCode => 7,
        Denied::CodeUsed => 8,
        Denied::CodeExpired => 9,
        Denied::CodeForOtherUnit { .. } => 10,
        Denied::DeviceExists { .. } => 11,
        Denied::StaleNonce { .. } => 12,
        Denied::NoSession => 13,
        Denied::SessionExpired => 14,
        Denied::LoginFailed => 15,
        Denied::Role { .. } => 16,
        Denied::ProvinceOnly { .. } => 17,
        Denied::StaleForm => 18,
        Denied::RateLimited { .. } => 19,
        Denied::CrossSite => 20,
        Denied::OtherProvince { .. } => 21,
    }
}

fn all_rules() -> Vec<Rule> {
    vec![
        Rule::Required,
        Rule::Lifetime { max_days: 90 },
        Rule::UserName,
        Rule::Role,
        Rule::PasswordLength { min: 10 },
        Rule::PasswordsDiffer,
        Rule::Month,
        Rule::Year {
            min: 2000,
            max: 2100,
        },
        Rule::Phase,
        Rule::WholeNumber,
        Rule::DeviceId,
        Rule::ExportFormat,
        Rule::Utf8,
        Rule::PublicKey,
        Rule::Version,
        Rule::Platform,
        Rule::Percent,
        Rule::Threshold { keys: 2 },
        Rule::NotYourself,
        Rule::UrlEncoded {
            detail: "duplicate field".into(),
        },
        Rule::PostgresUrl {
            detail: "bad port".into(),
        },
        Rule::SqliteDir,
        Rule::HttpsUrl,
        Rule::NationalOnly,
    ]
}

fn rule_index(r: &Rule) -> usize {
    match r {
        Rule::Required => 0,
        Rule::Lifetime { .. } => 1,
        Rule::UserName => 2,
        Rule::Role => 3,
        Rule::PasswordLength { .. } => 4,
        Rule::PasswordsDiffer => 5,
        Rule::Month => 6,
        Rule::Year { .. } => 7,
        Rule::Phase => 8,
        Rule::WholeNumber => 9,
        Rule::DeviceId => 10,
        Rule::ExportFormat => 11,
        Rule::Utf8 => 12,
        Rule::UrlEncoded { .. } => 13,
        Rule::PublicKey => 14,
        Rule::Version => 15,
        Rule::Platform => 16,
        Rule::Percent => 17,
        Rule::Threshold { .. } => 18,
        Rule::NotYourself => 19,
        Rule::PostgresUrl { .. } => 20,
        Rule::SqliteDir => 21,
        Rule::HttpsUrl => 22,
        Rule::NationalOnly => 23,
    }
}

fn two_languages(what: &str, text: Text) {
    assert!(!text.en.trim().is_empty(), "{what}: empty English message");
    assert!(
        !text.vi.trim().is_empty(),
        "{what}: empty Vietnamese message"
    );
    assert_ne!(
        text.en, text.vi,
        "{what}: the Vietnamese message is the English one"
    );
}

#[test]
fn every_hub_error_has_its_status_code_exit_and_both_languages() {
    let mut seen = [false; 30];
    for (e, status, code, exit_code) in hub_rows() {
        seen[hub_index(&e)] = true;
        let what = format!("{e:?}");
        assert_eq!(e.status(), status, "status of {what}");
        assert_eq!(e.code(), code, "code of {what}");
        assert_eq!(e.exit_code(), exit_code, "exit code of {what}");
        two_languages(&what, e.text());
        assert_eq!(e.to_string(), e.text().en, "Display of {what}");
        assert_eq!(e.localize(Lang::Vi), e.text().vi, "localize of {what}");
        let body = e.body();
        assert_eq!(body.error, code);
        if status >= 500 {
            assert!(!body.message.contains(&e.text().en) || e.text().en.is_empty());
        } else {
            assert_eq!(body.message_vi, e.text().vi, "body of {what}");
        }
    }
    let missing: Vec<usize> = (0..seen.len()).filter(|i| !seen[*i]).collect();
    assert!(
        missing.is_empty(),
        "HubError variants without a row: {missing:?}"
    );
}

#[test]
fn every_refusal_has_its_status_code_and_both_languages() {
    let mut seen = [false; 22];
    for (d, status, code) in denied_rows() {
        seen[denied_index(&d)] = true;
        let what = format!("{d:?}");
        assert_eq!(d.status(), status, "status of {what}");
        assert_eq!(d.code(), code, "code of {what}");
        two_languages(&what, d.text());
        let e = HubError::from(d);
        assert_eq!(
            (e.status(), e.code(), e.exit_code()),
            (status, code, exit::DENIED)
        );
    }
    let missing: Vec<usize> = (0..seen.len()).filter(|i| !seen[*i]).collect();
    assert!(
        missing.is_empty(),
        "Denied variants without a row: {missing:?}"
    );
}

#[test]
fn every_input_rule_and_missing_thing_is_said_in_both_languages() {
    let mut seen = [false; 24];
    for r in all_rules() {
        seen[rule_index(&r)] = true;
        two_languages(&format!("{r:?}"), r.text());
        let e = HubError::input("--expires", "7é", r);
        assert!(e.to_string().starts_with("--expires '7é': "), "{e}");
        assert!(e.localize(Lang::Vi).starts_with("--expires '7é': "));
    }
    assert!(seen.iter().all(|s| *s), "rules without a row: {seen:?}");
    for m in [
        Missing::Path("/x".into()),
        Missing::Page("x".into()),
        Missing::Table {
            page: "p".into(),
            table: "t".into(),
        },
        Missing::Commune(4),
        Missing::Device("d".into()),
        Missing::User("u".into()),
        Missing::Province(99),
    ] {
        two_languages(&format!("{m:?}"), m.text());
    }
    for b in [
        Body::SignIn,
        Body::Enrollment,
        Body::EnrollmentCode,
        Body::Verification,
        Body::PhaseAssignment,
    ] {
        two_languages(&format!("{b:?}"), b.text());
    }
}

#[test]
fn values_in_messages_are_quoted_and_shortened() {
    let e = HubError::input("user", "a\u{1b}[31m\nb", Rule::UserName);
    assert!(e.to_string().contains(r"a\u{1b}[31m\nb"), "{e}");
    let long = "x".repeat(500);
    let e = HubError::input("period", long, Rule::Month);
    assert!(e.to_string().len() < 200, "{e}");
}
