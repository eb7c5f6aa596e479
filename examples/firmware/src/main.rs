//! The lvs director as Cortex-M4F firmware: runs the scripted scenario (`scenario.rs`, shared
//! with the host test) on static storage, prints through semihosting, then times established
//! packets and reports the stack's high-water mark. Run it in QEMU:
//!
//! ```text
//! cargo build --release --manifest-path examples/firmware/Cargo.toml --target thumbv7em-none-eabihf
//! qemu-system-arm -machine mps2-an386 -nographic -semihosting-config enable=on,target=native \
//!     -icount shift=0 -kernel examples/firmware/target/thumbv7em-none-eabihf/release/lvs-firmware
//! ```
//!
//! Lines starting `fw:` are the firmware's own measurements; every other line is the
//! scenario's and must equal the host's byte for byte.
#![no_std]
#![no_main]

mod mac;
mod scenario;

use core::fmt::{self, Write};
use core::mem::MaybeUninit;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use lvs_core::conn::ConnSlot;
use lvs_core::director::DirectorFixed;
use panic_semihosting as _;

use scenario::{Firmware, SmallMemory, CONNS};

/// Word the free stack is painted with.
const PAINT: u32 = 0x5afe_c0de;
/// Established packets timed.
const TIMED: u32 = 1000;

/// Semihosting output, one host call per line.
struct Out {
    host: hio::HostStream,
    line: heapless::String<160>,
}

impl Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for ch in s.chars() {
            if self.line.push(ch).is_err() || ch == '\n' {
                let _ = self.host.write_all(self.line.as_bytes());
                self.line.clear();
                if ch != '\n' {
                    let _ = self.line.push(ch);
                }
            }
        }
        Ok(())
    }
}

unsafe extern "C" {
    /// End of .bss/.uninit: the lowest address the stack may grow to (cortex-m-rt).
    static mut __sheap: u32;
    /// Top of the stack (cortex-m-rt).
    static _stack_start: u32;
}

#[entry]
fn main() -> ! {
    static mut SMALL: SmallMemory = SmallMemory::new();
    static mut TABLE: [MaybeUninit<ConnSlot>; CONNS] = [const { MaybeUninit::uninit() }; CONNS];
    // all zero bytes: in .bss, reset in place by Director::new (no 47 KiB value on the stack)
    static mut FIXED: DirectorFixed = DirectorFixed::new();

    paint_stack();

    for s in TABLE.iter_mut() {
        s.write(ConnSlot::EMPTY);
    }
    // SAFETY: every element was just initialised; MaybeUninit<T> has T's layout.
    let table: &'static mut [ConnSlot; CONNS] =
        unsafe { &mut *(TABLE as *mut [MaybeUninit<ConnSlot>; CONNS] as *mut [ConnSlot; CONNS]) };

    let mut out = Out {
        host: hio::hstdout().unwrap_or_else(|_| exit(false)),
        line: heapless::String::new(),
    };
    // used where it was built: a director is tens of KiB, and a move would copy it
    let mut built = scenario::director(table, SMALL, FIXED);
    let Ok(dir) = &mut built else {
        let _ = writeln!(out, "fw: setup failed");
        exit(false)
    };
    let mut fw = Firmware::new(dir);
    // the stack peak of setup, then of the packet path from here on
    let setup_stack = stack_used();
    paint_stack();
    fw.run_script(&mut out);
    fw.print_stats(&mut out);

    // cycles per established packet: the DWT cycle counter if it counts, else SysTick on the
    // processor clock (under `-icount shift=0`, QEMU's clock advances 1 ns per instruction)
    let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| exit(false));
    cp.DCB.enable_trace();
    cp.DWT.enable_cycle_counter();
    let a = cortex_m::peripheral::DWT::cycle_count();
    cortex_m::asm::delay(1000);
    let dwt_works = cortex_m::peripheral::DWT::cycle_count() != a;
    let _ = writeln!(
        out,
        "fw: dwt-cyccnt={}",
        if dwt_works { "yes" } else { "no" }
    );
    if dwt_works {
        let (total, sent) = fw.established(TIMED, |f| {
            let t0 = cortex_m::peripheral::DWT::cycle_count();
            f();
            cortex_m::peripheral::DWT::cycle_count().wrapping_sub(t0)
        });
        let _ = writeln!(
            out,
            "fw: established packets={} forwarded={} dwt-cycles-per-packet={}",
            TIMED,
            sent,
            total / u64::from(TIMED)
        );
    } else {
        let mut syst = cp.SYST;
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00ff_ffff);
        syst.clear_current();
        syst.enable_counter();
        let (total, sent) = fw.established(TIMED, |f| {
            let t0 = cortex_m::peripheral::SYST::get_current();
            f();
            t0.wrapping_sub(cortex_m::peripheral::SYST::get_current()) & 0x00ff_ffff
        });
        let hz = 25_000_000u64; // the board's processor clock, SysTick's source
        let _ = writeln!(
            out,
            "fw: established packets={} forwarded={} systick-ticks={} ns-per-packet={} (at {} Hz)",
            TIMED,
            sent,
            total,
            total * 1_000_000_000 / hz / u64::from(TIMED),
            hz
        );
    }

    let run_stack = stack_used();
    let _ = writeln!(
        out,
        "fw: stack-used={} setup={} run={}",
        setup_stack.max(run_stack),
        setup_stack,
        run_stack
    );
    let _ = writeln!(out, "fw: done");
    exit(true)
}

/// Paints the free stack (from the end of .bss to a little below the caller's frame).
#[inline(never)]
fn paint_stack() {
    let here = 0u32;
    let mut p = &raw mut __sheap as usize;
    while p + 256 < &here as *const u32 as usize {
        // SAFETY: between the end of .bss and well below the live frame: unused stack.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The stack's high-water mark since the last [`paint_stack`]: from the top down to the lowest
/// word no longer painted.
fn stack_used() -> usize {
    let top = &raw const _stack_start as usize;
    let mut low = &raw mut __sheap as usize;
    // SAFETY: reads between the end of .bss and the top of the stack (RAM).
    while low < top && unsafe { core::ptr::read_volatile(low as *const u32) } == PAINT {
        low += 4;
    }
    top - low
}

fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::bkpt();
    }
}

#[exception]
unsafe fn HardFault(_ef: &ExceptionFrame) -> ! {
    if let Ok(mut h) = hio::hstdout() {
        let _ = h.write_all(b"fw: hard fault\n");
    }
    exit(false)
}
