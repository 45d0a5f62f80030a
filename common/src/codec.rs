//! The compact binary form of a batch of ops: what protocol 2 carries on the wire and
//! what the hub's op log stores, one row per received batch. In: ops in any order.
//! Out: [`OpColumns`], column-wise (postcard varints), and back to the very same ops;
//! or, from bytes, an error naming the column and op that are wrong.
//!
//! Why columns: a commune's ops repeat themselves. Within a batch the device, commune,
//! definitions version, period and procedure take a few distinct values (kept once, in
//! dictionaries, and referred to by index); sequence numbers go up by one and clocks
//! by minutes (kept as differences from the op before); and a count's running total
//! is its cell's previous total plus the amount (kept as the difference from the
//! total the batch last showed for that cell and desk, almost always 0). What remains
//! compresses to a few bytes per op. Bodies other than counts (pledges, tasks,
//! scores: a few per year) travel as their JSON, exact and rare.
//!
//! [`encode_ops`] / [`decode_ops`] add a version byte and deflate, for a stored batch;
//! protocol 2 embeds [`OpColumns`] in its message and compresses the whole message.

use crate::op::{ActorId, CountDelta, Dir, Op, OpBody};
use crate::units::UnitCode;
use crate::{Metric, Period};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{Read, Write};

/// Version byte of [`encode_ops`]'s output.
pub const CODEC_VERSION: u8 = 1;

/// Largest batch once inflated (guards against compression bombs): 16 MiB.
pub const MAX_INFLATED_BYTES: usize = 16 << 20;

/// A batch of ops, column by column (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpColumns {
    actors: Vec<u64>,
    units: Vec<u32>,
    strings: Vec<String>,
    v: Vec<u32>,
    actor: Vec<u32>,
    /// Difference from the previous op of the same device (the first: from 0).
    seq: Vec<i64>,
    /// Difference from the previous op's.
    hlc_ms: Vec<i64>,
    hlc_c: Vec<u32>,
    unit: Vec<u32>,
    /// Difference from the previous op's.
    defs: Vec<i64>,
    /// 0: a count (its columns below); 1: another body (in `other`).
    kind: Vec<u8>,
    period: Vec<u32>,
    procedure: Vec<u32>,
    /// String index + 1; 0 when nobody was named.
    by: Vec<u32>,
    deltas: Vec<u8>,
    /// Metric code × 2 + direction (0 inc, 1 dec).
    metric_dir: Vec<u8>,
    amount: Vec<u64>,
    /// Running total − amount − the total last seen in the batch for the same desk,
    /// cell and direction (0 if none).
    total: Vec<i64>,
    other: Vec<String>,
}

/// Bytes that are not a batch of ops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Not the version this build reads.
    #[error("op batch format {got} is not supported; this build reads format {CODEC_VERSION}")]
    Version {
        /// Version byte found.
        got: u8,
    },
    /// Not valid deflate data, or larger than allowed once inflated.
    #[error("op batch is not valid compressed data: {0}")]
    Compression(String),
    /// The columns cannot be read.
    #[error("op batch cannot be read: {0}")]
    Columns(String),
    /// The columns disagree with each other at one place.
    #[error("op batch, op {index}: {detail}")]
    Bad {
        /// Position of the op in the batch (from 0).
        index: usize,
        /// What is wrong.
        detail: String,
    },
}

/// Interns values, numbering them in order of first appearance.
struct Dict<K> {
    index: FxHashMap<K, u32>,
}

impl<K: std::hash::Hash + Eq + Clone> Dict<K> {
    fn new() -> Dict<K> {
        Dict {
            index: FxHashMap::default(),
        }
    }

    fn put(&mut self, k: &K, list: &mut Vec<K>) -> u32 {
        if let Some(i) = self.index.get(k) {
            return *i;
        }
        let i = list.len() as u32;
        list.push(k.clone());
        self.index.insert(k.clone(), i);
        i
    }
}

/// A desk's count cell and direction within one batch, by dictionary indexes (device,
/// period, procedure; metric code × 2 + direction): no string is hashed twice.
type CellKey = (u32, u32, u32, u8);

impl OpColumns {
    /// The columns of `ops`, in their order.
    pub fn from_ops(ops: &[Op]) -> OpColumns {
        let mut c = OpColumns::default();
        let mut actors = Dict::new();
        let mut units = Dict::new();
        let mut strings = Dict::new();
        let mut periods: FxHashMap<Period, u32> = FxHashMap::default();
        let mut last_seq: Vec<u64> = Vec::new();
        let mut totals: FxHashMap<CellKey, u64> = FxHashMap::default();
        let (mut prev_ms, mut prev_defs) = (0u64, 0u64);
        for op in ops {
            c.v.push(op.v);
            let ai = actors.put(&op.actor.0, &mut c.actors);
            c.actor.push(ai);
            if ai as usize == last_seq.len() {
                last_seq.push(0);
            }
            let prev = std::mem::replace(&mut last_seq[ai as usize], op.seq);
            c.seq.push(op.seq.wrapping_sub(prev) as i64);
            c.hlc_ms.push(op.hlc_ms.wrapping_sub(prev_ms) as i64);
            prev_ms = op.hlc_ms;
            c.hlc_c.push(op.hlc_c);
            c.unit.push(units.put(&op.unit.0, &mut c.units));
            c.defs.push((op.defs as u64).wrapping_sub(prev_defs) as i64);
            prev_defs = op.defs as u64;
            match &op.body {
                OpBody::Count {
                    period,
                    procedure,
                    deltas,
                    by,
                } => {
                    c.kind.push(0);
                    let pix = match periods.get(period) {
                        Some(i) => *i,
                        None => {
                            let i = strings.put(&period.to_string(), &mut c.strings);
                            periods.insert(*period, i);
                            i
                        }
                    };
                    let prix = strings.put(procedure, &mut c.strings);
                    c.period.push(pix);
                    c.procedure.push(prix);
                    c.by.push(if by.is_empty() {
                        0
                    } else {
                        strings.put(by, &mut c.strings) + 1
                    });
                    c.deltas.push(deltas.len() as u8);
                    for d in deltas {
                        let md = d.metric.code() * 2 + (d.dir == Dir::Dec) as u8;
                        c.metric_dir.push(md);
                        c.amount.push(d.amount);
                        let seen = totals.insert((ai, pix, prix, md), d.total).unwrap_or(0);
                        c.total
                            .push(d.total.wrapping_sub(d.amount).wrapping_sub(seen) as i64);
                    }
                }
                other => {
                    c.kind.push(1);
                    c.other
                        .push(serde_json::to_string(other).expect("bodies serialize"));
                }
            }
        }
        c
    }

    /// Number of ops held.
    pub fn len(&self) -> usize {
        self.v.len()
    }

    /// Whether no op is held.
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// The ops back, exactly as given to [`OpColumns::from_ops`]; refuses columns that
    /// disagree (lengths, indexes, codes), naming the op. The ops'
    /// shape is not checked here: merging checks every op.
    pub fn into_ops(self) -> Result<Vec<Op>, CodecError> {
        let n = self.v.len();
        let whole = |detail: String| CodecError::Bad { index: 0, detail };
        for (name, len) in [
            ("actor", self.actor.len()),
            ("seq", self.seq.len()),
            ("hlc_ms", self.hlc_ms.len()),
            ("hlc_c", self.hlc_c.len()),
            ("unit", self.unit.len()),
            ("defs", self.defs.len()),
            ("kind", self.kind.len()),
        ] {
            if len != n {
                return Err(whole(format!("column {name} has {len} values for {n} ops")));
            }
        }
        let counts = self.kind.iter().filter(|k| **k == 0).count();
        for (name, len) in [
            ("period", self.period.len()),
            ("procedure", self.procedure.len()),
            ("by", self.by.len()),
            ("deltas", self.deltas.len()),
        ] {
            if len != counts {
                return Err(whole(format!(
                    "column {name} has {len} values for {counts} counts"
                )));
            }
        }
        let changes: usize = self.deltas.iter().map(|d| *d as usize).sum();
        for (name, len) in [
            ("metric_dir", self.metric_dir.len()),
            ("amount", self.amount.len()),
            ("total", self.total.len()),
        ] {
            if len != changes {
                return Err(whole(format!(
                    "column {name} has {len} values for {changes} metric changes"
                )));
            }
        }
        if self.other.len() != n - counts {
            return Err(whole(format!(
                "column other has {} values for {} other bodies",
                self.other.len(),
                n - counts
            )));
        }
        let mut periods: Vec<Option<Period>> = vec![None; self.strings.len()];
        let mut last_seq: Vec<u64> = vec![0; self.actors.len()];
        let mut totals: HashMap<CellKey, u64> = HashMap::new();
        let (mut prev_ms, mut prev_defs) = (0u64, 0u64);
        let (mut ci, mut di, mut oi) = (0usize, 0usize, 0usize);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let bad = |detail: String| CodecError::Bad { index: i, detail };
            let pick = |list: &Vec<String>, ix: u32, what: &str| -> Result<String, CodecError> {
                list.get(ix as usize).cloned().ok_or_else(|| {
                    bad(format!(
                        "{what} index {ix} is outside the {} strings",
                        list.len()
                    ))
                })
            };
            let ai = self.actor[i];
            let actor = *self.actors.get(ai as usize).ok_or_else(|| {
                bad(format!(
                    "device index {} is outside the {} devices",
                    self.actor[i],
                    self.actors.len()
                ))
            })?;
            let unit = *self.units.get(self.unit[i] as usize).ok_or_else(|| {
                bad(format!(
                    "commune index {} is outside the {} communes",
                    self.unit[i],
                    self.units.len()
                ))
            })?;
            let seq = last_seq[ai as usize].wrapping_add(self.seq[i] as u64);
            last_seq[ai as usize] = seq;
            prev_ms = prev_ms.wrapping_add(self.hlc_ms[i] as u64);
            prev_defs = prev_defs.wrapping_add(self.defs[i] as u64);
            let defs = u32::try_from(prev_defs)
                .map_err(|_| bad(format!("definitions version {prev_defs} is too large")))?;
            let body = match self.kind[i] {
                0 => {
                    let pix = self.period[ci];
                    let period = match periods.get(pix as usize).copied().flatten() {
                        Some(p) => p,
                        None => {
                            let text = pick(&self.strings, pix, "period")?;
                            let p: Period = text
                                .parse()
                                .map_err(|e| bad(format!("period '{text}': {e}")))?;
                            periods[pix as usize] = Some(p);
                            p
                        }
                    };
                    let prix = self.procedure[ci];
                    let procedure = pick(&self.strings, prix, "procedure")?;
                    let by = match self.by[ci] {
                        0 => String::new(),
                        ix => pick(&self.strings, ix - 1, "name")?,
                    };
                    let mut deltas = Vec::with_capacity(self.deltas[ci] as usize);
                    for _ in 0..self.deltas[ci] {
                        let md = self.metric_dir[di];
                        let metric = Metric::from_code(md / 2)
                            .ok_or_else(|| bad(format!("metric code {} is unknown", md / 2)))?;
                        let dir = if md & 1 == 0 { Dir::Inc } else { Dir::Dec };
                        let amount = self.amount[di];
                        let seen = totals.entry((ai, pix, prix, md)).or_insert(0);
                        let total = amount
                            .wrapping_add(*seen)
                            .wrapping_add(self.total[di] as u64);
                        *seen = total;
                        deltas.push(CountDelta {
                            metric,
                            dir,
                            amount,
                            total,
                        });
                        di += 1;
                    }
                    ci += 1;
                    OpBody::Count {
                        period,
                        procedure,
                        deltas,
                        by,
                    }
                }
                1 => {
                    let body: OpBody = serde_json::from_str(&self.other[oi])
                        .map_err(|e| bad(format!("body: {e}")))?;
                    oi += 1;
                    body
                }
                k => return Err(bad(format!("kind {k} is unknown"))),
            };
            out.push(Op {
                v: self.v[i],
                actor: ActorId(actor),
                seq,
                hlc_ms: prev_ms,
                hlc_c: self.hlc_c[i],
                unit: UnitCode(unit),
                defs,
                body,
            });
        }
        Ok(out)
    }
}

/// A stored batch: the version byte, then the columns deflated (at a fast level: the
/// hub writes these inside its one writer's transactions, and the columns are already
/// small).
pub fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let raw = postcard::to_stdvec(&OpColumns::from_ops(ops)).expect("columns serialize");
    let mut out = vec![CODEC_VERSION];
    let mut z = flate2::write::DeflateEncoder::new(&mut out, flate2::Compression::new(2));
    z.write_all(&raw).expect("writing to memory cannot fail");
    z.finish().expect("writing to memory cannot fail");
    out
}

/// The ops of a stored batch (see [`encode_ops`]).
pub fn decode_ops(bytes: &[u8]) -> Result<Vec<Op>, CodecError> {
    let (&version, rest) = bytes
        .split_first()
        .ok_or(CodecError::Compression("empty".into()))?;
    if version != CODEC_VERSION {
        return Err(CodecError::Version { got: version });
    }
    let raw = inflate(rest, MAX_INFLATED_BYTES)?;
    columns(&raw)?.into_ops()
}

/// Inflates raw deflate data, refusing more than `limit` bytes.
pub fn inflate(bytes: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| CodecError::Compression(e.to_string()))?;
    if raw.len() > limit {
        return Err(CodecError::Compression(format!(
            "more than {limit} bytes once inflated"
        )));
    }
    Ok(raw)
}

/// Deflates bytes (the default level: fast, and within a few percent of the best).
pub fn deflate(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut z = flate2::write::DeflateEncoder::new(&mut out, flate2::Compression::default());
    z.write_all(raw).expect("writing to memory cannot fail");
    z.finish().expect("writing to memory cannot fail");
    out
}

fn columns(raw: &[u8]) -> Result<OpColumns, CodecError> {
    let (c, rest): (OpColumns, _) =
        postcard::take_from_bytes(raw).map_err(|e| CodecError::Columns(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Columns(format!(
            "{} bytes after the columns",
            rest.len()
        )));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::TaskStatus;
    use proptest::prelude::*;

    fn count(
        actor: u64,
        seq: u64,
        ms: u64,
        period: &str,
        proc_: &str,
        d: &[(Metric, Dir, u64, u64)],
    ) -> Op {
        Op {
            v: 1,
            actor: ActorId(actor),
            seq,
            hlc_ms: ms,
            hlc_c: 0,
            unit: UnitCode(70),
            defs: 1,
            body: OpBody::Count {
                period: period.parse().unwrap(),
                procedure: proc_.into(),
                deltas: d
                    .iter()
                    .map(|&(metric, dir, amount, total)| CountDelta {
                        metric,
                        dir,
                        amount,
                        total,
                    })
                    .collect(),
                by: String::new(),
            },
        }
    }

    fn sample() -> Vec<Op> {
        let mut ops = vec![
            count(
                7,
                1,
                1_790_000_000_000,
                "2026-11",
                "CT-01",
                &[(Metric::Received, Dir::Inc, 3, 3)],
            ),
            count(
                7,
                2,
                1_790_000_060_000,
                "2026-11",
                "CT-01",
                &[
                    (Metric::Received, Dir::Inc, 2, 5),
                    (Metric::Received, Dir::Dec, 1, 1),
                ],
            ),
            count(
                9,
                40,
                1_780_000_000_000,
                "2026-Q4",
                "DX-01",
                &[(Metric::Unsatisfied, Dir::Inc, 1, 17)],
            ),
        ];
        if let OpBody::Count { by, .. } = &mut ops[1].body {
            *by = "Lan".into();
        }
        ops.push(Op {
            body: OpBody::TaskStatus {
                year: 2026,
                pledge: "nguyen-van-a".into(),
                task: "0007-3".into(),
                status: TaskStatus::Done,
            },
            ..count(7, 3, 5, "2026", "x", &[])
        });
        ops
    }

    #[test]
    fn a_batch_comes_back_exactly() {
        let ops = sample();
        let bytes = encode_ops(&ops);
        assert_eq!(decode_ops(&bytes).unwrap(), ops);
        assert_eq!(decode_ops(&encode_ops(&[])).unwrap(), Vec::<Op>::new());
    }

    #[test]
    fn bad_bytes_are_named_and_never_panic() {
        let bytes = encode_ops(&sample());
        let mut other = bytes.clone();
        other[0] = 9;
        assert_eq!(decode_ops(&other), Err(CodecError::Version { got: 9 }));
        assert!(matches!(decode_ops(&[]), Err(CodecError::Compression(_))));
        assert!(matches!(
            decode_ops(&[1, 0xff, 0xff]),
            Err(CodecError::Compression(_))
        ));
        // Columns that disagree: one seq too few, an index out of range, a bad metric.
        let mut c = OpColumns::from_ops(&sample());
        c.seq.pop();
        assert!(c
            .into_ops()
            .unwrap_err()
            .to_string()
            .contains("column seq has 3 values for 4 ops"));
        let mut c = OpColumns::from_ops(&sample());
        c.procedure[1] = 99;
        assert_eq!(
            c.into_ops().unwrap_err().to_string(),
            "op batch, op 1: procedure index 99 is outside the 5 strings"
        );
        let mut c = OpColumns::from_ops(&sample());
        c.metric_dir[0] = 40;
        assert!(c
            .into_ops()
            .unwrap_err()
            .to_string()
            .contains("op 0: metric code 20 is unknown"));
        // Every truncation of a valid batch is refused or decodes to something, never panics.
        for cut in 0..bytes.len() {
            let _ = decode_ops(&bytes[..cut]);
        }
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        (
            0u64..4,
            1u64..1_000_000,
            any::<u64>(),
            0u32..3,
            prop::sample::select(vec!["2026-01", "2026-Q1", "2025", "2026-12"]),
            prop::sample::select(vec!["CT-01", "DX-01", "A"]),
            prop::collection::vec(
                (0usize..8, any::<bool>(), 1u64..100_000, any::<u64>()),
                1..4,
            ),
            prop::sample::select(vec!["", "Lan", "Bình"]),
            1u32..5,
        )
            .prop_map(|(a, seq, ms, c, period, proc_, ds, by, defs)| Op {
                v: 1,
                actor: ActorId(a.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                seq,
                hlc_ms: ms,
                hlc_c: c,
                unit: UnitCode(70 + a as u32 % 2),
                defs,
                body: OpBody::Count {
                    period: period.parse().unwrap(),
                    procedure: proc_.into(),
                    deltas: ds
                        .into_iter()
                        .map(|(m, dec, amount, total)| CountDelta {
                            metric: Metric::ALL[m],
                            dir: if dec { Dir::Dec } else { Dir::Inc },
                            amount,
                            total,
                        })
                        .collect(),
                    by: by.into(),
                },
            })
    }

    proptest! {
        /// Any ops at all, in any order (even ones merging would refuse), come back
        /// exactly: the encoding never changes what it carries.
        #[test]
        fn any_ops_round_trip(ops in prop::collection::vec(arb_op(), 0..40)) {
            prop_assert_eq!(decode_ops(&encode_ops(&ops)).unwrap(), ops);
        }
    }
}
