//! The hub database's schema: its migrations, applied in order (`user_version` is the
//! number applied). The CRDT object tables are `cchc-sql`'s (`OBJECT_TABLES`; the
//! store's test checks they match); the rest is the hub's own: units, the op log and
//! version vectors, devices and enrollment, users, sessions and the append-only audit,
//! the plan and province actors, and the dashboard's rollups.

pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE units (code INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL) STRICT;
CREATE TABLE ops (
    actor INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    unit INTEGER NOT NULL,
    defs INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (actor, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE version_vector (
    actor INTEGER PRIMARY KEY,
    unit INTEGER NOT NULL REFERENCES units (code),
    max_seq INTEGER NOT NULL
) STRICT;
CREATE INDEX version_vector_unit ON version_vector (unit);
CREATE TABLE count_cells (
    unit INTEGER NOT NULL,
    period TEXT NOT NULL,
    procedure TEXT NOT NULL,
    metric TEXT NOT NULL,
    actor INTEGER NOT NULL,
    inc INTEGER NOT NULL CHECK (inc >= 0),
    dec INTEGER NOT NULL CHECK (dec >= 0),
    PRIMARY KEY (unit, period, procedure, metric, actor)
) STRICT, WITHOUT ROWID;
CREATE TABLE pledges (
    unit INTEGER NOT NULL, year INTEGER NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (unit, year, key)
) STRICT;
CREATE TABLE assessments (
    unit INTEGER NOT NULL,
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score >= 0),
    evidence TEXT NOT NULL,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    PRIMARY KEY (unit, phase, criterion)
) STRICT;
CREATE TABLE definitions (version INTEGER PRIMARY KEY, body TEXT NOT NULL, published_at INTEGER NOT NULL) STRICT;
CREATE TABLE devices (
    actor INTEGER PRIMARY KEY,
    unit INTEGER NOT NULL REFERENCES units (code),
    agent_version TEXT NOT NULL,
    first_sync INTEGER NOT NULL,
    last_sync INTEGER NOT NULL,
    clock_offset_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX devices_unit ON devices (unit);
"#,
    // 2: enrollment, device keys, users, sessions, the audit log. Devices that synced
    // before enrollment existed keep their rows (and data) but no key: they must enroll.
    r#"
CREATE TABLE enrollments (
    id INTEGER PRIMARY KEY,
    code_hash BLOB NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    unit INTEGER NOT NULL REFERENCES units (code),
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    device INTEGER
) STRICT;
CREATE TABLE devices_v2 (
    actor INTEGER PRIMARY KEY,
    unit INTEGER NOT NULL REFERENCES units (code),
    public_key BLOB CHECK (public_key IS NULL OR length(public_key) = 32),
    enrollment INTEGER REFERENCES enrollments (id),
    enrolled_at INTEGER,
    revoked_at INTEGER,
    revoked_by TEXT,
    last_nonce INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER,
    agent_version TEXT NOT NULL DEFAULT '',
    first_sync INTEGER,
    last_sync INTEGER,
    clock_offset_ms INTEGER
) STRICT;
INSERT INTO devices_v2 (actor, unit, agent_version, first_sync, last_sync, clock_offset_ms, last_seen)
    SELECT actor, unit, agent_version, first_sync, last_sync, clock_offset_ms, last_sync FROM devices;
DROP TABLE devices;
ALTER TABLE devices_v2 RENAME TO devices;
CREATE INDEX devices_unit ON devices (unit);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ip TEXT,
    detail TEXT NOT NULL
) STRICT;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    // 3: the rollout plan, the province's verifications (made under one province actor
    // per commune) and the dashboard's rollups (see sqlite/rollup.rs).
    r#"
CREATE TABLE phase_plan (
    unit INTEGER PRIMARY KEY REFERENCES units (code),
    phase INTEGER NOT NULL CHECK (phase >= 1),
    assigned_at INTEGER NOT NULL,
    assigned_by TEXT NOT NULL
) STRICT;
CREATE TABLE province_actors (
    unit INTEGER PRIMARY KEY REFERENCES units (code),
    actor INTEGER NOT NULL UNIQUE,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL
) STRICT;
CREATE TABLE verifications (
    unit INTEGER NOT NULL,
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score >= 0),
    comment TEXT NOT NULL,
    by TEXT NOT NULL,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    PRIMARY KEY (unit, phase, criterion)
) STRICT;
CREATE TABLE score_seen (
    unit INTEGER NOT NULL,
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('self', 'verified')),
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (unit, phase, criterion, kind)
) STRICT, WITHOUT ROWID;
CREATE TABLE standing (
    unit INTEGER PRIMARY KEY REFERENCES units (code),
    phase INTEGER NOT NULL,
    criteria INTEGER NOT NULL,
    self_scored INTEGER NOT NULL,
    self_total INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    verified_total INTEGER NOT NULL,
    score INTEGER NOT NULL,
    max_total INTEGER NOT NULL,
    permille INTEGER NOT NULL,
    provisional INTEGER NOT NULL,
    stage TEXT NOT NULL CHECK (stage IN ('assigned', 'self_assessed', 'failed', 'passed')),
    grade TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    self_assessed_at INTEGER,
    verified_at INTEGER
) STRICT;
CREATE INDEX standing_phase ON standing (phase, permille);
CREATE TABLE effective_scores (
    unit INTEGER NOT NULL,
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    score INTEGER NOT NULL,
    at_max INTEGER NOT NULL,
    PRIMARY KEY (unit, criterion)
) STRICT, WITHOUT ROWID;
CREATE TABLE phase_totals (
    phase INTEGER PRIMARY KEY,
    assigned INTEGER NOT NULL,
    reported INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    passed INTEGER NOT NULL
) STRICT;
CREATE TABLE criterion_totals (
    phase INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    communes INTEGER NOT NULL,
    total INTEGER NOT NULL,
    at_max INTEGER NOT NULL,
    PRIMARY KEY (phase, criterion)
) STRICT;
CREATE TABLE reports (
    unit INTEGER NOT NULL,
    period TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    ops INTEGER NOT NULL,
    PRIMARY KEY (unit, period)
) STRICT, WITHOUT ROWID;
CREATE INDEX reports_period ON reports (period);
CREATE TABLE period_totals (period TEXT PRIMARY KEY, communes INTEGER NOT NULL) STRICT;
CREATE TABLE kpi_unit (
    unit INTEGER NOT NULL,
    period TEXT NOT NULL,
    metric TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (unit, period, metric)
) STRICT, WITHOUT ROWID;
CREATE INDEX kpi_unit_period ON kpi_unit (period);
CREATE TABLE kpi_province (
    period TEXT NOT NULL,
    metric TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (period, metric)
) STRICT, WITHOUT ROWID;
CREATE TABLE kpi_procedure (
    period TEXT NOT NULL,
    procedure TEXT NOT NULL,
    metric TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (period, procedure, metric)
) STRICT, WITHOUT ROWID;
CREATE TABLE pledge_units (
    unit INTEGER NOT NULL,
    year INTEGER NOT NULL,
    pledges INTEGER NOT NULL,
    tasks INTEGER NOT NULL,
    done INTEGER NOT NULL,
    PRIMARY KEY (unit, year)
) STRICT, WITHOUT ROWID;
CREATE TABLE pledge_totals (
    year INTEGER PRIMARY KEY,
    units INTEGER NOT NULL,
    pledges INTEGER NOT NULL,
    tasks INTEGER NOT NULL,
    done INTEGER NOT NULL
) STRICT;
"#,
    // 4: the update channel (issue 13): signed definitions keep their signed metadata
    // (older, unsigned rows are never sent to agents), trusted release roots, published
    // releases (files under releases/, by SHA-256) and binary deltas between them,
    // staged rollouts and each device's milestones.
    r#"
ALTER TABLE definitions ADD COLUMN meta TEXT;
CREATE TABLE release_roots (
    version INTEGER PRIMARY KEY,
    doc TEXT NOT NULL,
    trusted_at INTEGER NOT NULL
) STRICT;
CREATE TABLE releases (
    version TEXT NOT NULL,
    platform TEXT NOT NULL,
    meta TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (version, platform)
) STRICT;
CREATE INDEX releases_sha256 ON releases (sha256);
CREATE TABLE rollouts (
    version TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('running', 'halted')),
    reason TEXT,
    halt_at_percent INTEGER NOT NULL,
    min_reports INTEGER NOT NULL,
    soak_s INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE rollout_stages (
    version TEXT NOT NULL REFERENCES rollouts (version),
    stage INTEGER NOT NULL,
    scope TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    PRIMARY KEY (version, stage)
) STRICT;
CREATE TABLE device_updates (
    device INTEGER NOT NULL,
    version TEXT NOT NULL,
    unit INTEGER NOT NULL,
    stage INTEGER NOT NULL,
    offered_at INTEGER NOT NULL,
    downloaded_at INTEGER,
    installed_at INTEGER,
    healthy_at INTEGER,
    failed_at INTEGER,
    rolled_back_at INTEGER,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (device, version)
) STRICT;
CREATE INDEX device_updates_version ON device_updates (version, stage);
CREATE TABLE release_deltas (
    to_sha256 TEXT NOT NULL,
    from_sha256 TEXT NOT NULL,
    file TEXT NOT NULL,
    length INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (to_sha256, from_sha256)
) STRICT;
"#,
    // 5: hub users get the name communes see on a verification (issue 19).
    r#"
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
"#,
    // 6: the op log compact (issue 15): one row per device and run of consecutive
    // numbers, the ops in the codec's binary form (sqlite/oplog.rs). The old one-row-
    // per-op table is moved into it and dropped by `oplog::convert_legacy`.
    r#"
CREATE TABLE op_batches (
    actor INTEGER NOT NULL,
    first_seq INTEGER NOT NULL CHECK (first_seq >= 1),
    last_seq INTEGER NOT NULL CHECK (last_seq >= first_seq),
    unit INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    ops BLOB NOT NULL,
    PRIMARY KEY (actor, first_seq)
) STRICT;
-- Which sync protocol each device last spoke: version 1 is accepted for one release.
ALTER TABLE devices ADD COLUMN protocol INTEGER;
"#,
    // 7: the national tier (issue 16). On a national hub: one-time codes scoped to a
    // province, and the provincial hubs enrolled with them (peers). On a provincial
    // hub: its link to the national hub, and what the national hub holds of each
    // commune (a version vector per commune, upstream).
    r#"
CREATE TABLE peer_codes (
    code_hash BLOB PRIMARY KEY CHECK (length(code_hash) = 32),
    province INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    peer INTEGER
) STRICT;
CREATE TABLE peers (
    actor INTEGER PRIMARY KEY,
    province INTEGER NOT NULL,
    public_key BLOB NOT NULL CHECK (length(public_key) = 32),
    enrolled_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_nonce INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER,
    version TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE TABLE upstream (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    url TEXT NOT NULL,
    peer INTEGER NOT NULL,
    national TEXT NOT NULL,
    linked_at INTEGER NOT NULL,
    last_nonce INTEGER NOT NULL DEFAULT 0,
    last_sync INTEGER,
    last_error TEXT
) STRICT;
CREATE TABLE upstream_acked (
    unit INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    max_seq INTEGER NOT NULL,
    PRIMARY KEY (unit, actor)
) STRICT, WITHOUT ROWID;
"#,
];

/// The schema version whose migration moves the op log into `op_batches`.
pub(super) const OP_BATCHES_FROM: i64 = 6;

/// The schema version whose migration creates the rollups: a hub migrated across it
/// has them rebuilt once from its op log.
pub(super) const ROLLUPS_FROM: i64 = 3;
