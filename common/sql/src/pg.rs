//! PostgreSQL under the same interface as SQLite (feature `postgres`; the agent never
//! builds it). In: a `postgres://` URL naming the database and, with `?schema=NAME`,
//! the schema the data lives in. Out: [`PgConn`], a connection that implements
//! [`Db`], so one text of queries runs here as on SQLite.
//!
//! - Parameters are written `?1` in the shared SQL; they become `$1` here, once per
//!   statement text (prepared statements are cached per connection).
//! - Writers take a transaction-scoped advisory lock on the schema before they write
//!   ([`Db::begin_write`]), so writes to one schema are serialized as SQLite's
//!   IMMEDIATE transactions are: read-modify-write code keeps SQLite's meaning under
//!   PostgreSQL's READ COMMITTED. Other schemas of the same database do not wait.
//! - Columns are read by their type (integers of any width, booleans as 0/1, text,
//!   bytes); any other type is refused by name, so an aggregate PostgreSQL widens
//!   (`sum` is `numeric`) must be cast back (`CAST(sum(x) AS BIGINT)`).
//! - No TLS to the database: connect over a Unix socket or a trusted network.

use crate::{Arg, Db, Dialect, Flow, Row, SqlError, Val};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use std::cell::RefCell;
use std::collections::HashMap;

/// Where data lives on PostgreSQL: a database and a schema of it.
#[derive(Clone)]
pub struct Target {
    config: postgres::Config,
    /// The schema (a plain lower-case name).
    pub schema: String,
    /// The URL as given, schema included: what the data directory keeps.
    pub url: String,
    /// The URL without its password, for messages.
    pub label: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

/// Whether a schema name is one we write into SQL as it is.
fn plain_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

impl Target {
    /// Parses `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME&…]`
    /// (a Unix socket directory as HOST, percent-encoded: `%2Frun%2Fpostgresql`, or as
    /// `?host=/run/postgresql`). Without `schema`, `default_schema` is used.
    pub fn parse(url: &str, default_schema: &str) -> Result<Target, String> {
        let url = url.trim();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("a PostgreSQL store is a URL starting with postgres://".into());
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = default_schema.to_string();
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", v)) => schema = v.to_string(),
                _ => rest.push(pair),
            }
        }
        if !plain_name(&schema) {
            return Err(format!(
                "schema '{schema}': use lower-case letters, digits and _ (at most 63), starting with a letter"
            ));
        }
        let conn_url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let config: postgres::Config = conn_url
            .parse()
            .map_err(|e| format!("cannot read the PostgreSQL URL: {e}"))?;
        let full = format!(
            "{base}?{}",
            rest.iter()
                .copied()
                .chain(std::iter::once(format!("schema={schema}").as_str()))
                .collect::<Vec<_>>()
                .join("&")
        );
        let label = match (base.find("://"), base.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let user = &base[s + 3..at];
                let user = user.split_once(':').map(|(u, _)| u).unwrap_or(user);
                format!(
                    "{}{user}@{} (schema {schema})",
                    &base[..s + 3],
                    &base[at + 1..]
                )
            }
            _ => format!("{base} (schema {schema})"),
        };
        Ok(Target {
            config,
            schema,
            url: full,
            label,
        })
    }

    /// The lock every writer of this schema takes (a hash of its name).
    fn lock_key(&self) -> i64 {
        // FNV-1a: stable across builds and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.schema.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h as i64
    }
}

/// PostgreSQL's error with what it said: its SQLSTATE and message, or the cause of a
/// connection failure (`postgres::Error` alone prints only "db error").
fn backend(e: postgres::Error) -> SqlError {
    let text = match e.as_db_error() {
        Some(db) => format!(
            "PostgreSQL {}: {}{}",
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        None => match std::error::Error::source(&e) {
            Some(cause) => format!("PostgreSQL: {e}: {cause}"),
            None => format!("PostgreSQL: {e}"),
        },
    };
    SqlError::Backend(text.into())
}

/// One connection, its search path set to the hub's schema.
pub struct PgConn {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
    lock: i64,
}

impl PgConn {
    /// Connects (the schema need not exist yet: `create` makes it).
    pub fn connect(t: &Target) -> Result<PgConn, SqlError> {
        let mut client = t.config.connect(NoTls).map_err(backend)?;
        client
            .batch_execute(&format!("SET search_path TO {}", t.schema))
            .map_err(backend)?;
        Ok(PgConn {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            lock: t.lock_key(),
        })
    }

    /// Whether the server closed the connection (it is then not reused).
    pub fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }

    fn statement(&self, sql: &str) -> Result<Statement, SqlError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let st = self
            .client
            .borrow_mut()
            .prepare(&dollars(sql))
            .map_err(backend)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

/// `?1` parameters as PostgreSQL writes them (`$1`), outside quoted text.
fn dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' && chars.peek().is_some_and(|d| d.is_ascii_digit()) => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

/// One parameter, converted to the type PostgreSQL expects at its place.
#[derive(Debug)]
struct Param<'a>(&'a Arg<'a>);

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(i) => {
                if *ty == Type::INT8 {
                    i.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*i != 0).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*i as f64).to_sql(ty, out)
                } else {
                    Err(format!("an integer cannot be stored as {ty}").into())
                }
            }
            Arg::Real(x) => x.to_sql(ty, out),
            Arg::Text(t) => t.as_ref().to_sql(ty, out),
            Arg::Blob(b) => b.as_ref().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

struct PgRow<'a>(&'a postgres::Row);

impl PgRow<'_> {
    fn get<'r, T: postgres::types::FromSql<'r>>(&'r self, i: usize) -> Result<T, SqlError> {
        self.0.try_get(i).map_err(|e| SqlError::Column {
            index: i,
            detail: e.to_string(),
        })
    }
}

impl Row for PgRow<'_> {
    fn val(&self, i: usize) -> Result<Val<'_>, SqlError> {
        let Some(column) = self.0.columns().get(i) else {
            return Err(SqlError::Column {
                index: i,
                detail: "no such column".into(),
            });
        };
        let ty = column.type_();
        let v = if *ty == Type::INT8 {
            self.get::<Option<i64>>(i)?.map(Val::Int)
        } else if *ty == Type::INT4 {
            self.get::<Option<i32>>(i)?.map(|n| Val::Int(n.into()))
        } else if *ty == Type::INT2 {
            self.get::<Option<i16>>(i)?.map(|n| Val::Int(n.into()))
        } else if *ty == Type::BOOL {
            self.get::<Option<bool>>(i)?.map(|b| Val::Int(b.into()))
        } else if *ty == Type::FLOAT8 {
            self.get::<Option<f64>>(i)?.map(Val::Real)
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
            self.get::<Option<&str>>(i)?.map(Val::Text)
        } else if *ty == Type::BYTEA {
            self.get::<Option<&[u8]>>(i)?.map(Val::Blob)
        } else {
            return Err(SqlError::Column {
                index: i,
                detail: format!("column type {ty} is not read by the hub (cast it)"),
            });
        };
        Ok(v.unwrap_or(Val::Null))
    }

    fn columns(&self) -> usize {
        self.0.len()
    }
}

impl Db for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize, SqlError> {
        let st = self.statement(sql)?;
        let params: Vec<Param<'_>> = args.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let n = self
            .client
            .borrow_mut()
            .execute(&st, &refs)
            .map_err(backend)?;
        Ok(n as usize)
    }

    fn each(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&dyn Row) -> Flow,
    ) -> Result<(), SqlError> {
        let st = self.statement(sql)?;
        let params: Vec<Param<'_>> = args.iter().map(Param).collect();
        let mut client = self.client.borrow_mut();
        let mut rows = client
            .query_raw(&st, params.iter().map(|p| p as &dyn ToSql))
            .map_err(backend)?;
        while let Some(row) = rows.next().map_err(backend)? {
            if !f(&PgRow(&row))? {
                break;
            }
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<(), SqlError> {
        self.client.borrow_mut().batch_execute(sql).map_err(backend)
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        self.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({})",
            self.lock
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_dollars_outside_quotes_only() {
        assert_eq!(
            dollars("SELECT '?1', \"a?2\" FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', \"a?2\" FROM t WHERE a = $1 AND b = $12"
        );
    }

    #[test]
    fn a_url_gives_its_schema_and_hides_its_password() {
        let t = Target::parse(
            "postgres://cchc:secret@db.local:5433/cchc?schema=p01&sslmode=disable",
            "x",
        )
        .unwrap();
        assert_eq!(t.schema, "p01");
        assert_eq!(t.label, "postgres://cchc@db.local:5433/cchc (schema p01)");
        assert!(!format!("{t:?}").contains("secret"));
        let t = Target::parse("postgres://u@%2Ftmp%2Fpg/db", "cchc_p01").unwrap();
        assert_eq!(t.url, "postgres://u@%2Ftmp%2Fpg/db?schema=cchc_p01");
        for bad in [
            "sqlite:x",
            "postgres://u@h/db?schema=P1",
            "postgres://u@h/db?schema=a;b",
        ] {
            assert!(Target::parse(bad, "x").is_err(), "{bad}");
        }
    }
}
