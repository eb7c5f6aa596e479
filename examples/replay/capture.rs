//! Reading a capture: pcap or pcapng (the `pcap-file` crate), its frames turned into Ethernet
//! frames with their timestamps.
//!
//! Link types read: Ethernet (1), raw IP (101, 228 IPv4, 229 IPv6) and Linux cooked captures
//! (113 SLL, 276 SLL2, what `tcpdump -i any` writes). Frames of the last two kinds get an
//! Ethernet header made up from what they carry (the EtherType; zero MAC addresses where the
//! capture has none). Any other link type is an error ([`CaptureError::LinkType`]).

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Chain, Cursor, Read};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::PcapError;

/// Why a capture cannot be read (further).
#[derive(Debug)]
pub enum CaptureError {
    /// The file cannot be opened or read.
    Io(std::io::Error),
    /// Not a pcap or pcapng file, or its header is damaged.
    Format(String),
    /// A link type this tool does not read.
    LinkType(u32),
    /// The file ends inside a record: `frames` frames were read before.
    Truncated {
        /// Frames read before the end.
        frames: u64,
    },
    /// A record cannot be parsed: `frames` frames were read before.
    Corrupt {
        /// Frames read before the record.
        frames: u64,
        /// The parser's reason.
        why: String,
    },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io(e) => write!(f, "cannot read the capture: {e}"),
            CaptureError::Format(why) => write!(f, "not a pcap or pcapng capture: {why}"),
            CaptureError::LinkType(t) => write!(
                f,
                "link type {t} is not supported (Ethernet 1, raw IP 101/228/229, \
                 Linux cooked 113/276 are)"
            ),
            CaptureError::Truncated { frames } => {
                write!(f, "the capture is truncated after {frames} frames")
            }
            CaptureError::Corrupt { frames, why } => {
                write!(f, "the capture is damaged after {frames} frames: {why}")
            }
        }
    }
}

impl std::error::Error for CaptureError {}

/// How a link type's frames become Ethernet frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Ethernet already.
    Ethernet,
    /// IPv4 or IPv6 by the version nibble.
    RawIp,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
    /// Linux cooked v1: 16-byte header, protocol at 14.
    Sll,
    /// Linux cooked v2: 20-byte header, protocol at 0.
    Sll2,
}

impl Link {
    /// The link of a pcap/pcapng link type number.
    pub fn from_code(code: u32) -> Option<Link> {
        Some(match code {
            1 => Link::Ethernet,
            101 => Link::RawIp,
            228 => Link::Ipv4,
            229 => Link::Ipv6,
            113 => Link::Sll,
            276 => Link::Sll2,
            _ => return None,
        })
    }

    /// Writes `data` as an Ethernet frame into `out` (cleared first); `false` when the frame is
    /// too short for its link header.
    pub fn to_ethernet(self, data: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        let (ethertype, src, payload): (u16, [u8; 6], &[u8]) = match self {
            Link::Ethernet => {
                out.extend_from_slice(data);
                return true;
            }
            Link::RawIp | Link::Ipv4 | Link::Ipv6 => {
                let v6 = match self {
                    Link::Ipv4 => false,
                    Link::Ipv6 => true,
                    _ => data.first().is_some_and(|b| b >> 4 == 6),
                };
                (if v6 { 0x86dd } else { 0x0800 }, [0; 6], data)
            }
            Link::Sll => {
                if data.len() < 16 {
                    return false;
                }
                let mut src = [0; 6];
                if u16::from_be_bytes([data[4], data[5]]) == 6 {
                    src.copy_from_slice(&data[6..12]);
                }
                (u16::from_be_bytes([data[14], data[15]]), src, &data[16..])
            }
            Link::Sll2 => {
                if data.len() < 20 {
                    return false;
                }
                let mut src = [0; 6];
                if data[11] == 6 {
                    src.copy_from_slice(&data[12..18]);
                }
                (u16::from_be_bytes([data[0], data[1]]), src, &data[20..])
            }
        };
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&src);
        out.extend_from_slice(&ethertype.to_be_bytes());
        out.extend_from_slice(payload);
        true
    }
}

/// One frame of the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Capture timestamp (since the Unix epoch).
    pub ts: Duration,
    /// Length on the wire.
    pub orig_len: u32,
    /// Bytes captured (fewer than `orig_len` when the snap length cut the frame).
    pub caplen: u32,
    /// The link type's frame could not be turned into Ethernet (too short for its header).
    pub bad_link_header: bool,
}

/// A pcapng interface: its link and timestamp unit.
#[derive(Debug, Clone, Copy)]
struct NgIface {
    link: Option<Link>,
    code: u32,
    /// `if_tsresol`: high bit clear, 10^-n seconds; set, 2^-n.
    tsresol: u8,
}

/// The reader behind a capture: the four bytes read to tell the format, then the rest.
type Source<R> = Chain<Cursor<[u8; 4]>, R>;

enum Inner<R: Read> {
    Pcap(PcapReader<Source<R>>, Link),
    Ng(PcapNgReader<Source<R>>, Vec<NgIface>),
}

/// A capture being read.
pub struct Capture<R: Read> {
    inner: Inner<R>,
    frames: u64,
    done: bool,
    /// The link type (of the first interface for pcapng).
    pub link_code: u32,
    /// pcapng or pcap.
    pub pcapng: bool,
}

impl<R: Read> fmt::Debug for Capture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("frames", &self.frames)
            .field("pcapng", &self.pcapng)
            .finish()
    }
}

fn read_error(e: PcapError, frames: u64) -> CaptureError {
    match e {
        PcapError::IncompleteBuffer => CaptureError::Truncated { frames },
        PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            CaptureError::Truncated { frames }
        }
        PcapError::IoError(io) => CaptureError::Io(io),
        other => CaptureError::Corrupt {
            frames,
            why: other.to_string(),
        },
    }
}

/// Converts a raw pcapng timestamp (`pcap-file` hands it over as nanoseconds, whatever the
/// interface's unit) to a duration.
fn ng_time(raw: Duration, tsresol: u8) -> Duration {
    let units = raw.as_nanos();
    let nanos = if tsresol & 0x80 == 0 {
        let exp = u32::from(tsresol);
        if exp <= 9 {
            units.saturating_mul(10u128.pow(9 - exp))
        } else {
            units / 10u128.saturating_pow(exp - 9)
        }
    } else {
        let shift = u32::from(tsresol & 0x7f).min(127);
        units.saturating_mul(1_000_000_000) >> shift
    };
    let secs = (nanos / 1_000_000_000).min(u128::from(u64::MAX)) as u64;
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

impl Capture<BufReader<File>> {
    /// Opens a pcap or pcapng file.
    ///
    /// # Errors
    /// As [`Capture::from_reader`], and [`CaptureError::Io`] when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let f = File::open(path).map_err(CaptureError::Io)?;
        Capture::from_reader(BufReader::new(f))
    }
}

impl<R: Read> Capture<R> {
    /// A pcap or pcapng capture read from `r` (told apart by its first four bytes).
    ///
    /// # Errors
    /// [`CaptureError::Io`], [`CaptureError::Format`], or [`CaptureError::LinkType`] for a pcap
    /// capture of a link type not read.
    pub fn from_reader(mut r: R) -> Result<Self, CaptureError> {
        let mut magic = [0u8; 4];
        let mut n = 0;
        while n < 4 {
            match r.read(&mut magic[n..]) {
                Ok(0) => return Err(CaptureError::Format(format!("{n} bytes long"))),
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CaptureError::Io(e)),
            }
        }
        let r = Cursor::new(magic).chain(r);
        let fmt_err = |e: PcapError| CaptureError::Format(e.to_string());
        if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            let ng = PcapNgReader::new(r).map_err(fmt_err)?;
            return Ok(Capture {
                inner: Inner::Ng(ng, Vec::new()),
                frames: 0,
                done: false,
                link_code: 1,
                pcapng: true,
            });
        }
        let pcap = PcapReader::new(r).map_err(fmt_err)?;
        let code = u32::from(pcap.header().datalink);
        let link = Link::from_code(code).ok_or(CaptureError::LinkType(code))?;
        Ok(Capture {
            inner: Inner::Pcap(pcap, link),
            frames: 0,
            done: false,
            link_code: code,
            pcapng: false,
        })
    }

    /// Reads the next frame into `out` as an Ethernet frame; `None` at the end.
    ///
    /// # Errors
    /// A truncated or damaged record, or a pcapng interface of a link type not read; the
    /// capture ends there (later calls return `None`).
    pub fn next_frame(&mut self, out: &mut Vec<u8>) -> Option<Result<FrameInfo, CaptureError>> {
        if self.done {
            return None;
        }
        let r = self.read(out);
        match &r {
            Some(Ok(_)) => self.frames += 1,
            _ => self.done = true,
        }
        r
    }

    fn read(&mut self, out: &mut Vec<u8>) -> Option<Result<FrameInfo, CaptureError>> {
        let frames = self.frames;
        match &mut self.inner {
            Inner::Pcap(r, link) => {
                let p = match r.next_packet()? {
                    Ok(p) => p,
                    Err(e) => return Some(Err(read_error(e, frames))),
                };
                let ok = link.to_ethernet(&p.data, out);
                Some(Ok(FrameInfo {
                    ts: p.timestamp,
                    orig_len: p.orig_len,
                    caplen: p.data.len() as u32,
                    bad_link_header: !ok,
                }))
            }
            Inner::Ng(r, ifaces) => loop {
                let block = match r.next_block()? {
                    Ok(b) => b,
                    Err(e) => return Some(Err(read_error(e, frames))),
                };
                let (iface, ts, orig_len, data) = match block {
                    Block::SectionHeader(_) => {
                        ifaces.clear();
                        continue;
                    }
                    Block::InterfaceDescription(idb) => {
                        let code = u32::from(idb.linktype);
                        let tsresol = idb
                            .options
                            .iter()
                            .find_map(|o| match o {
                                InterfaceDescriptionOption::IfTsResol(v) => Some(*v),
                                _ => None,
                            })
                            .unwrap_or(6);
                        if ifaces.is_empty() {
                            self.link_code = code;
                        }
                        ifaces.push(NgIface {
                            link: Link::from_code(code),
                            code,
                            tsresol,
                        });
                        continue;
                    }
                    Block::EnhancedPacket(p) => {
                        (p.interface_id, p.timestamp, p.original_len, p.data)
                    }
                    Block::SimplePacket(p) => (0, Duration::ZERO, p.original_len, p.data),
                    _ => continue,
                };
                let Some(i) = ifaces.get(iface as usize).copied() else {
                    return Some(Err(CaptureError::Corrupt {
                        frames,
                        why: format!("a packet of interface {iface}, which is not described"),
                    }));
                };
                let Some(link) = i.link else {
                    return Some(Err(CaptureError::LinkType(i.code)));
                };
                let ok = link.to_ethernet(&data, out);
                return Some(Ok(FrameInfo {
                    ts: ng_time(ts, i.tsresol),
                    orig_len,
                    caplen: data.len() as u32,
                    bad_link_header: !ok,
                }));
            },
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn pcapng_time_units() {
        // default microseconds: 1.5 s is 1_500_000 units
        assert_eq!(
            ng_time(Duration::from_nanos(1_500_000), 6),
            Duration::from_millis(1500)
        );
        assert_eq!(ng_time(Duration::from_nanos(7), 9), Duration::from_nanos(7));
        // 2^-10 s units: 1024 of them are a second
        assert_eq!(
            ng_time(Duration::from_nanos(1024), 0x8a),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn cooked_and_raw_frames_become_ethernet() {
        let ip = [0x45u8, 0, 0, 20];
        let mut out = Vec::new();
        assert!(Link::RawIp.to_ethernet(&ip, &mut out));
        assert_eq!(&out[12..14], &[0x08, 0x00]);
        assert_eq!(&out[14..], &ip);
        let mut sll = vec![0u8; 16];
        sll[4..6].copy_from_slice(&6u16.to_be_bytes());
        sll[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        sll[14..16].copy_from_slice(&0x86ddu16.to_be_bytes());
        assert!(Link::Sll.to_ethernet(&sll, &mut out));
        assert_eq!(&out[6..14], &[2, 0, 0, 0, 0, 9, 0x86, 0xdd]);
        assert!(!Link::Sll2.to_ethernet(&[0; 10], &mut out));
        assert_eq!(Link::from_code(147), None);
    }
}
