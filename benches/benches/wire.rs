//! Reading an Ethernet + IPv4 + TCP frame and verifying both checksums: lvs-forward's `wire`
//! views against smoltcp 0.14's (`EthernetFrame`, `Ipv4Packet`, `TcpPacket`), and the two
//! crates' `Repr::parse`, on a 74-byte SYN and a 1514-byte data segment built by etherparse.
//! The figures decide which views lvs-forward keeps (docs/dependencies.md).

use criterion::{criterion_group, criterion_main, Criterion};
use etherparse::PacketBuilder;
use lvs_core::IpAddr;
use lvs_forward::wire::{self as lw, EtherType};
use lvs_forward::ChecksumCaps;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire as sw;
use std::hint::black_box;

/// A frame from 198.18.0.1:40000 to 198.18.0.2:80 with `payload` bytes of data.
fn frame(payload: usize, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .tcp(40000, 80, 12345, 65535);
    let b = if syn { b.syn() } else { b.ack(1) };
    let data: Vec<u8> = (0..payload).map(|i| (i * 31 + 7) as u8).collect();
    let mut out = Vec::with_capacity(b.size(payload));
    b.write(&mut out, &data).unwrap();
    out
}

/// lvs-forward's views: lengths checked, both checksums verified, ports and sequence read.
#[inline(never)]
fn lvs_views(buf: &[u8]) -> Option<(u16, u16, u32)> {
    let f = lw::EthernetFrame::new_checked(buf).ok()?;
    if f.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = lw::Ipv4Packet::new_checked(f.payload()).ok()?;
    if !ip.verify_checksum() {
        return None;
    }
    let tcp = lw::TcpPacket::new_checked(ip.payload()).ok()?;
    let (s, d) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
    if !tcp.verify_checksum(&s, &d) {
        return None;
    }
    Some((tcp.src_port(), tcp.dst_port(), tcp.seq_number()))
}

/// smoltcp's views, the same work.
#[inline(never)]
fn smoltcp_views(buf: &[u8]) -> Option<(u16, u16, u32)> {
    let f = sw::EthernetFrame::new_checked(buf).ok()?;
    if f.ethertype() != sw::EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = sw::Ipv4Packet::new_checked(f.payload()).ok()?;
    if !ip.verify_checksum() {
        return None;
    }
    let tcp = sw::TcpPacket::new_checked(ip.payload()).ok()?;
    let (s, d) = (
        sw::IpAddress::Ipv4(ip.src_addr()),
        sw::IpAddress::Ipv4(ip.dst_addr()),
    );
    if !tcp.verify_checksum(&s, &d) {
        return None;
    }
    Some((tcp.src_port(), tcp.dst_port(), tcp.seq_number().0 as u32))
}

/// lvs-forward's `Repr::parse` for IPv4 and TCP (checksums in software).
#[inline(never)]
fn lvs_repr(buf: &[u8]) -> Option<(u16, u32)> {
    let caps = ChecksumCaps::software();
    let f = lw::EthernetFrame::new_checked(buf).ok()?;
    let ip = lw::Ipv4Packet::new_checked(f.payload()).ok()?;
    let ipr = lw::Ipv4Repr::parse(&ip, &caps).ok()?;
    let tcp = lw::TcpPacket::new_checked(ip.payload()).ok()?;
    let (s, d) = (IpAddr::V4(ipr.src_addr), IpAddr::V4(ipr.dst_addr));
    let t = lw::TcpRepr::parse(&tcp, &s, &d, &caps).ok()?;
    Some((t.dst_port, t.seq_number))
}

/// smoltcp's `Repr::parse` for IPv4 and TCP (checksums in software).
#[inline(never)]
fn smoltcp_repr(buf: &[u8]) -> Option<(u16, u32)> {
    let caps = ChecksumCapabilities::default();
    let f = sw::EthernetFrame::new_checked(buf).ok()?;
    let ip = sw::Ipv4Packet::new_checked(f.payload()).ok()?;
    let ipr = sw::Ipv4Repr::parse(&ip, &caps).ok()?;
    let tcp = sw::TcpPacket::new_checked(ip.payload()).ok()?;
    let (s, d) = (
        sw::IpAddress::Ipv4(ipr.src_addr),
        sw::IpAddress::Ipv4(ipr.dst_addr),
    );
    let t = sw::TcpRepr::parse(&tcp, &s, &d, &caps).ok()?;
    Some((t.dst_port, t.seq_number.0 as u32))
}

fn bench(c: &mut Criterion) {
    for (name, buf) in [
        ("syn_74B", frame(0, true)),
        ("data_1514B", frame(1460, false)),
    ] {
        assert_eq!(lvs_views(&buf), smoltcp_views(&buf));
        assert!(lvs_views(&buf).is_some());
        assert_eq!(lvs_repr(&buf), smoltcp_repr(&buf));
        assert!(lvs_repr(&buf).is_some());
        let mut g = c.benchmark_group(format!("wire/views_{name}"));
        g.bench_function("lvs", |b| b.iter(|| lvs_views(black_box(&buf))));
        g.bench_function("smoltcp_0_14", |b| {
            b.iter(|| smoltcp_views(black_box(&buf)))
        });
        g.finish();
        let mut g = c.benchmark_group(format!("wire/repr_{name}"));
        g.bench_function("lvs", |b| b.iter(|| lvs_repr(black_box(&buf))));
        g.bench_function("smoltcp_0_14", |b| b.iter(|| smoltcp_repr(black_box(&buf))));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
