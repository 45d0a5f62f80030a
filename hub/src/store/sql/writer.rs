//! Group commit: one thread merges the batches of many concurrent requests in one
//! transaction. In: [`Job`]s from request threads ([`Writer::merge`] blocks its caller
//! until its batch is durable). Out: each job's own result, sent only after the
//! transaction holding it committed.
//!
//! Each job runs inside a savepoint of the group's transaction: a refused batch rolls
//! back alone (nothing of it stored, not even the contact), the others go on. One
//! `fsync` then makes the whole group durable, where each request used to pay its own.
//! Jobs that arrive while a group is being written form the next group: no request
//! waits for company.

use super::conn::Conn;
use super::oplog::TxLog;
use super::{access, upstream, SqlStore};
use crate::error::{HubError, Result};
use crate::store::{Contact, Merged, Sender};
use cchc_common::merge::{self, OpLog, UnknownDefs};
use cchc_common::{DomainError, Op, UnitCode};
use cchc_sql::{Db, Savepoint, Tx};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

/// Most requests in one group.
const MAX_GROUP: usize = 64;
/// Most ops in one group (a group closes when it reaches this).
const MAX_GROUP_OPS: usize = 20_000;

/// One request's batch.
pub(super) struct Job {
    pub(super) unit: UnitCode,
    pub(super) contact: Contact,
    pub(super) ops: Vec<Op>,
    pub(super) now_ms: i64,
}

type Reply = mpsc::SyncSender<Result<Merged>>;

/// The queue to the writer thread (which ends when this is dropped).
pub(super) struct Writer {
    queue: mpsc::Sender<(Job, Reply)>,
}

fn stopped() -> HubError {
    HubError::Internal("the hub's database writer has stopped".into())
}

impl Writer {
    /// Starts the writer thread on the store's write connection.
    pub(super) fn start(conn: Arc<Mutex<Conn>>) -> Writer {
        let (queue, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("hub-writer".into())
            .spawn(move || run(&conn, &jobs))
            .expect("the writer thread starts");
        Writer { queue }
    }

    /// Merges one batch; returns once it is durable (or refused, with nothing stored).
    pub(super) fn merge(&self, job: Job) -> Result<Merged> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue.send((job, reply)).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

fn run(conn: &Mutex<Conn>, jobs: &mpsc::Receiver<(Job, Reply)>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        let mut ops = group[0].0.ops.len();
        while group.len() < MAX_GROUP && ops < MAX_GROUP_OPS {
            match jobs.try_recv() {
                Ok(j) => {
                    ops += j.0.ops.len();
                    group.push(j);
                }
                Err(_) => break,
            }
        }
        let (group, replies): (Vec<Job>, Vec<Reply>) = group.into_iter().unzip();
        let n = group.len();
        let results = {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            // A bug must not stop every later sync: the group's transaction rolls back
            // as the panic unwinds, its requests get a 500, the thread goes on.
            catch_unwind(AssertUnwindSafe(|| write_group(&*conn, group))).unwrap_or_else(|_| {
                (0..n)
                    .map(|_| Err(HubError::Internal("merging a batch failed".into())))
                    .collect()
            })
        };
        for (reply, r) in replies.into_iter().zip(results) {
            // The request may have gone (client cut): its batch is committed all the same.
            let _ = reply.send(r);
        }
    }
}

/// Merges each job in its own savepoint of one transaction, then commits once.
fn write_group(conn: &dyn Db, jobs: Vec<Job>) -> Vec<Result<Merged>> {
    let n = jobs.len();
    let tx = match Tx::write(conn) {
        Ok(tx) => tx,
        Err(e) => {
            let detail = e.to_string();
            return (0..n)
                .map(|_| Err(HubError::Internal(format!("cannot write: {detail}"))))
                .collect();
        }
    };
    let mut results = Vec::with_capacity(n);
    for job in jobs {
        let unit = job.unit;
        // Nothing of a refused batch stays: a savepoint dropped unreleased rolls back.
        let r = match Savepoint::new(&tx) {
            Ok(sp) => {
                merge_one(&sp, job).and_then(|m| sp.release().map(|_| m).map_err(HubError::from))
            }
            Err(e) => Err(e.into()),
        };
        results.push(match r {
            // A gap is answered with what the hub holds, so the agent can re-send.
            Err(HubError::Refused {
                source: source @ DomainError::SeqGap { .. },
                ..
            }) => match SqlStore::unit_vv(&tx, unit) {
                Ok(acked) => Err(HubError::Refused {
                    source,
                    acked: Some(acked),
                }),
                Err(e) => Err(e),
            },
            other => other,
        });
    }
    if let Err(e) = tx.commit() {
        let detail = e.to_string();
        return results
            .into_iter()
            .map(|r| {
                r.and_then(|_| {
                    Err(HubError::Internal(format!(
                        "the batch could not be committed: {detail}"
                    )))
                })
            })
            .collect();
    }
    results
}

/// One batch: credential first (revoked, other commune, replayed nonce), then the
/// device's binding even when it sends no ops, then province-side ops (a device may
/// relay ones it holds, never make new ones), then the batch.
fn merge_one(conn: &dyn Db, job: Job) -> Result<Merged> {
    let mut log = TxLog::new(conn, job.unit, job.now_ms);
    match job.contact.sender {
        Sender::Device => {
            access::record_contact(conn, job.unit, &job.contact, job.now_ms)?;
            log.max_seq(job.contact.device)?;
            log.refuse_new_province_ops(&job.ops)?;
        }
        // A provincial hub forwards its province's verifications as its own; the
        // national hub's answer carries its own. Neither is a device's to bind.
        Sender::Peer => upstream::record_peer_contact(conn, job.unit, &job.contact, job.now_ms)?,
        Sender::Upstream => {}
    }
    let merged = merge::merge(&mut log, job.unit, job.ops, UnknownDefs::Refuse)?;
    log.finish()?;
    Ok(Merged {
        applied: merged.applied.len() as u64,
        duplicates: merged.duplicates as u64,
        acked: SqlStore::unit_vv(conn, job.unit)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::oplog::tests::{contact, dump, histories, store, DESKS};
    use super::*;
    use crate::store::Store;
    use cchc_common::UnitCatalog;
    use cchc_sql::DbExt;

    /// Three requests in one group, the middle one with a gap: the first and last are
    /// stored and acknowledged, the middle one refused with what the hub holds and
    /// nothing of it kept, not even its request number (5): the third request, numbered
    /// 2, would be refused as a replay if it had been.
    #[test]
    fn a_refused_batch_in_a_group_rolls_back_alone() {
        let unit = UnitCatalog::builtin().communes_of(1).next().unwrap().code;
        let picks: Vec<Vec<(u8, u8, u8, u64)>> =
            vec![(0..6).map(|i| (i % 3, i, i, 1 + i as u64)).collect(); 3];
        let h = histories(unit, &picks);
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), unit);
        let job = |nonce: u64, ops: Vec<Op>| Job {
            unit,
            contact: contact(nonce),
            ops,
            now_ms: 1_000,
        };
        let gap = vec![h[1][0].clone(), h[1][2].clone()];
        let jobs = vec![
            job(1, h[0][..3].to_vec()),
            job(5, gap),
            job(2, h[0][3..].to_vec()),
        ];
        let results = write_group(&*s.conn(), jobs);
        let first = results[0].as_ref().unwrap();
        assert_eq!((first.applied, first.acked.get(&DESKS[0])), (3, 3));
        match &results[1] {
            Err(HubError::Refused {
                source: DomainError::SeqGap { expected: 2, .. },
                acked: Some(acked),
            }) => assert_eq!(acked.get(&DESKS[0]), 3, "what the group held so far"),
            other => panic!("{other:?}"),
        }
        let third = results[2].as_ref().unwrap();
        assert_eq!((third.applied, third.acked.get(&DESKS[0])), (3, 6));
        let log = dump(&s);
        assert!(log.contains(&format!("log {}: []", DESKS[1])), "{log}");
        assert!(log.contains(&format!("{:?}", h[0][5])), "{log}");
        let last_nonce: i64 = s
            .conn()
            .query_one(
                "SELECT last_nonce FROM devices WHERE actor = ?1",
                cchc_sql::args![DESKS[0].0 as i64],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(last_nonce, 2);
        // Through the store's own queue, as a request would.
        let m = s
            .merge(unit, &contact(3), h[1][..2].to_vec(), 2_000)
            .unwrap();
        assert_eq!(m.acked.get(&DESKS[1]), 2);
    }
}
