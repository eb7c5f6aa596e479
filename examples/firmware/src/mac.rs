//! The firmware's MAC: a smoltcp [`Device`] over a scripted frame source, standing in for a
//! real MAC's receive and transmit rings. [`ScriptedMac::load`] puts the next frame in the
//! receive slot (what the MAC's DMA would do); every transmitted frame prints a digest line,
//! `tx <n> len=<bytes> fnv=<hex>` (32-bit FNV-1a of the bytes). Shared with the host test.

use core::fmt::Write;

use smoltcp::phy::{Device, DeviceCapabilities, Medium};

/// Largest Ethernet frame the MAC takes or sends (1500-byte MTU, no FCS).
pub const FRAME_MAX: usize = 1514;

/// 32-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The transmit side of [`ScriptedMac`]: one frame buffer; each frame sent prints its digest.
pub struct Emitter<'o, W: Write> {
    buf: [u8; FRAME_MAX],
    out: &'o mut W,
    /// Frames sent.
    pub frames: u32,
}

impl<W: Write> Emitter<'_, W> {
    fn emit(&mut self, len: usize) {
        let f = &self.buf[..len];
        let _ = writeln!(
            self.out,
            "tx {:04} len={} fnv={:08x}",
            self.frames,
            len,
            fnv1a(f)
        );
        self.frames += 1;
    }
}

/// A smoltcp device over a scripted frame source: [`ScriptedMac::load`] puts the next frame in
/// its receive slot (what a MAC's DMA would do); transmitted frames go to the [`Emitter`].
pub struct ScriptedMac<'o, W: Write> {
    rx: [u8; FRAME_MAX],
    rx_len: usize,
    rx_full: bool,
    /// The transmit side.
    pub tx: Emitter<'o, W>,
}

impl<'o, W: Write> ScriptedMac<'o, W> {
    /// A device printing digests to `out`.
    pub fn new(out: &'o mut W) -> Self {
        ScriptedMac {
            rx: [0; FRAME_MAX],
            rx_len: 0,
            rx_full: false,
            tx: Emitter {
                buf: [0; FRAME_MAX],
                out,
                frames: 0,
            },
        }
    }

    /// Writes the next received frame with `build` (which returns its length).
    pub fn load(&mut self, build: impl FnOnce(&mut [u8]) -> usize) {
        self.rx_len = build(&mut self.rx).min(FRAME_MAX);
        self.rx_full = true;
    }

    /// The EtherType of the frame in the receive slot.
    pub fn rx_ethertype(&self) -> u16 {
        if self.rx_len < 14 {
            return 0;
        }
        u16::from_be_bytes([self.rx[12], self.rx[13]])
    }
}

/// A received frame.
pub struct RxToken<'a>(&'a [u8]);

/// A transmit slot.
pub struct TxToken<'a, 'o, W: Write>(&'a mut Emitter<'o, W>);

impl smoltcp::phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl<W: Write> smoltcp::phy::TxToken for TxToken<'_, '_, W> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(FRAME_MAX);
        let r = f(&mut self.0.buf[..len]);
        self.0.emit(len);
        r
    }
}

impl<'o, W: Write> Device for ScriptedMac<'o, W> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, 'o, W>
    where
        Self: 'a;

    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if !self.rx_full {
            return None;
        }
        self.rx_full = false;
        Some((RxToken(&self.rx[..self.rx_len]), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MAX;
        caps
    }
}
