//! [`process_burst_with`](super::process_burst_with): frames taken in groups of [`BURST_MAX`],
//! in three passes over each group.
//!
//! 1. Read every frame ([`fast::v4_l4`]); for each one that may take the one pass of
//!    established flows, hash its connection key and ask for its bucket's line
//!    ([`EstablishedPass::prepare`]), so that the lines of the group arrive together.
//! 2. Read those buckets' own slots, and ask for the next slot of the chains that do not end
//!    there ([`EstablishedPass::refine`]).
//! 3. Handle the frames in order: a frame the director takes in one pass
//!    ([`EstablishedPass::handle`], which trusts what step 1 checked until a frame of the
//!    general path reaches the director) is rewritten at once; the others are parsed
//!    and gathered into runs of consecutive frames that the director classifies together
//!    ([`Director::handle_packet_burst`], which overlaps their lines the same way) before the
//!    next frame that touches the director, then rewritten in order. So the director sees the
//!    frames in order, as one call per frame would, and ICMP answers are packed in frame order.
//!
//! [`EstablishedPass::prepare`]: lvs_core::director::EstablishedPass::prepare
//! [`EstablishedPass::refine`]: lvs_core::director::EstablishedPass::refine
//! [`EstablishedPass::handle`]: lvs_core::director::EstablishedPass::handle

use super::{
    apply, finish, fits, parse_into, Action, BurstFrame, DropCause, ProcessConfig, BURST_MAX,
};
use crate::error::ForwardError;
use crate::fast::{self, V4L4};
use crate::parse::Parsed;
use crate::rewrite::Rewriter;
use lvs_core::director::{Director, LookupHint, PacketMeta, Verdict};
use lvs_core::{Endpoint, FlowKey, Instant, Protocol, Scheduler, TcpFlags};

/// Frames waiting for the director: their indices in the group and their packets (the
/// array filled in when the group has its first such frame).
struct Run {
    idx: [usize; BURST_MAX],
    metas: Option<[PacketMeta; BURST_MAX]>,
    len: usize,
}

/// Where ICMP answers go: the caller's `out` and how much of it is used.
struct Out<'o> {
    buf: &'o mut [u8],
    used: usize,
}

impl Out<'_> {
    /// What is left of the buffer.
    fn rest(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.used..).unwrap_or_default()
    }

    /// Counts the answer an action wrote, if any.
    fn took(&mut self, a: &Action) {
        if let Action::Respond { len, .. } = *a {
            self.used += len;
        }
    }
}

/// The frame of `f`, or `None` when its bounds are outside its buffer.
#[inline(always)]
fn frame_of<'f>(f: &'f BurstFrame<'_>) -> Option<&'f [u8]> {
    f.start
        .checked_add(f.len)
        .and_then(|e| f.buf.get(f.start..e))
}

pub(super) fn run<S: Scheduler, R: Rewriter + ?Sized>(
    dir: &mut Director<'_, S>,
    rw: &mut R,
    now: Instant,
    frames: &mut [BurstFrame<'_>],
    cfg: &ProcessConfig,
    actions: &mut [Action],
    out: &mut [u8],
) -> usize {
    let n = frames.len().min(actions.len());
    let mut out = Out { buf: out, used: 0 };
    let noop = rw.pre_classify_is_noop();
    // every other call to the director goes through `pass.director()`
    let mut pass = dir.established_pass();
    let blank = PacketMeta::new(
        FlowKey::new(
            Protocol::Tcp,
            Endpoint::v4([0; 4], 0),
            Endpoint::v4([0; 4], 0),
        ),
        TcpFlags::NONE,
        0,
    );
    for (fs, acts) in frames[..n]
        .chunks_mut(BURST_MAX)
        .zip(actions[..n].chunks_mut(BURST_MAX))
    {
        // 1. read every frame, hash and prefetch those that may take the one pass
        let mut keys: [Option<V4L4>; BURST_MAX] = [None; BURST_MAX];
        let mut hints: [Option<LookupHint>; BURST_MAX] = [None; BURST_MAX];
        for ((f, key), hint) in fs.iter().zip(keys.iter_mut()).zip(hints.iter_mut()) {
            let Some(frame) = frame_of(f) else { continue };
            // read into its slot, not copied there
            *key = fast::v4_l4(frame);
            let Some(k) = key else {
                continue;
            };
            if noop && fits(k, frame.len(), cfg) {
                *hint = pass.prepare(&k.flow, k.tcp_flags);
            }
        }
        // 2. read their buckets' own slots
        for (h, k) in hints.iter_mut().zip(keys.iter()) {
            if let (Some(h), Some(k)) = (h, k) {
                pass.refine(&k.flow, h);
            }
        }
        // 3. in order
        let mut parsed: [Option<Parsed>; BURST_MAX] = [None; BURST_MAX];
        let mut run = Run {
            idx: [0; BURST_MAX],
            metas: None,
            len: 0,
        };
        for i in 0..fs.len() {
            if let (Some(h), Some(k)) = (hints[i], &keys[i]) {
                if run.len > 0 {
                    let dir = pass.director();
                    flush(dir, rw, now, fs, acts, &parsed, &mut run, cfg, &mut out);
                }
                let f = &mut fs[i];
                let end = f.start + f.len;
                if let Some(fw) = pass.handle(now, &k.flow, k.tcp_flags, k.total as u32, h) {
                    let a = finish(rw, &fw, k, f.buf, f.start, end, cfg, out.rest());
                    out.took(&a);
                    acts[i] = a;
                    continue;
                }
            }
            let f = &mut fs[i];
            let Some(frame) = f
                .start
                .checked_add(f.len)
                .and_then(|e| f.buf.get_mut(f.start..e))
            else {
                acts[i] = Action::Drop(DropCause::Forward(ForwardError::BufferTooSmall {
                    required: f.start.saturating_add(f.len),
                }));
                continue;
            };
            let mut p = match &keys[i] {
                Some(k) => fast::parsed(k, frame),
                None => {
                    let mut p = fast::BLANK;
                    if let Err(e) = parse_into(frame, &mut p) {
                        acts[i] = Action::Drop(DropCause::Parse(e));
                        continue;
                    }
                    p
                }
            };
            if let Err(e) = rw.pre_classify(frame, &mut p, cfg) {
                acts[i] = Action::Drop(DropCause::Forward(e.into()));
                continue;
            }
            match p.icmp.and_then(|i| i.quote) {
                Some(q) => {
                    // in order: the packets before it first
                    let dir = pass.director();
                    if run.len > 0 {
                        flush(dir, rw, now, fs, acts, &parsed, &mut run, cfg, &mut out);
                    }
                    let v = dir.handle_icmp_error(now, &q.quoted, p.ip_len as u32);
                    let f = &mut fs[i];
                    let a = apply(rw, &v, &p, f.buf, f.start, f.start + f.len, cfg, out.rest());
                    out.took(&a);
                    acts[i] = a;
                }
                None => {
                    let mut meta = PacketMeta::new(p.flow, p.tcp_flags, p.ip_len as u32);
                    meta.fwmark = f.fwmark;
                    run.metas.get_or_insert([blank; BURST_MAX])[run.len] = meta;
                    run.idx[run.len] = i;
                    run.len += 1;
                    parsed[i] = Some(p);
                }
            }
        }
        if run.len > 0 {
            let dir = pass.director();
            flush(dir, rw, now, fs, acts, &parsed, &mut run, cfg, &mut out);
        }
    }
    n
}

/// The director's verdicts on the frames of `run`, together, then their rewrites in order.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn flush<S: Scheduler, R: Rewriter + ?Sized>(
    dir: &mut Director<'_, S>,
    rw: &mut R,
    now: Instant,
    fs: &mut [BurstFrame<'_>],
    acts: &mut [Action],
    parsed: &[Option<Parsed>],
    run: &mut Run,
    cfg: &ProcessConfig,
    out: &mut Out<'_>,
) {
    let mut verdicts = [Verdict::Deliver; BURST_MAX];
    let m = run.len;
    run.len = 0;
    let Some(metas) = &run.metas else { return };
    dir.handle_packet_burst(now, &metas[..m], &mut verdicts[..m]);
    for (&i, v) in run.idx[..m].iter().zip(verdicts.iter()) {
        let (Some(f), Some(Some(p))) = (fs.get_mut(i), parsed.get(i)) else {
            continue;
        };
        let a = apply(rw, v, p, f.buf, f.start, f.start + f.len, cfg, out.rest());
        out.took(&a);
        if let Some(s) = acts.get_mut(i) {
            *s = a;
        }
    }
}
