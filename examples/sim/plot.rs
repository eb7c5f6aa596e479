//! The SVG plots (plotters, SVG backend).

use super::*;
use plotters::prelude::*;
use std::path::Path;

/// What a plot returns.
pub type PlotResult = Result<(), Box<dyn std::error::Error>>;

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

pub fn plot_memory(res: &MemoryResult, path: &Path) -> PlotResult {
    let panels = res.runs.len().max(1);
    let root = SVGBackend::new(path, (1000, 190 * panels as u32 + 40)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        "Free memory per real server over time (memory-balance)",
        ("sans-serif", 20),
    )?;
    let areas = body.split_evenly((panels, 1));
    // the loaded period only; the y range comes from the qualified runs, so a collapsed run
    // (free memory at the swap floor) cannot stretch the axis of the others
    let tmax = res
        .runs
        .iter()
        .flat_map(|r| r.times.last().copied())
        .fold(1.0, f64::max)
        .min(res.window_s.max(1.0));
    let shown = |r: &&MemoryRun| r.qualified() || res.runs.iter().all(|x| !x.qualified());
    let inside = |r: &MemoryRun| {
        r.free
            .iter()
            .flat_map(|f| f.iter().zip(&r.times).filter(|(_, &t)| t <= tmax).map(|(v, _)| *v))
            .collect::<Vec<f64>>()
    };
    let vals: Vec<f64> = res.runs.iter().filter(shown).flat_map(inside).collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (ymin, ymax) = if lo.is_finite() && hi > lo {
        let pad = (hi - lo) * 0.05;
        ((lo - pad).max(0.0), hi + pad)
    } else {
        (0.0, 1.0)
    };
    for (run, area) in res.runs.iter().zip(areas.iter()) {
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{}: mean |diff| {:.0} KB, signed {:.0} KB{}",
                    run.label,
                    run.mean_abs_diff_kb,
                    run.signed_diff_kb,
                    if run.qualified() {
                        String::new()
                    } else {
                        format!(
                            "; UNQUALIFIED: served {:.1} % (clipped to the axis)",
                            100.0 * run.served_frac()
                        )
                    }
                ),
                ("sans-serif", 15),
            )
            .margin(6)
            .x_label_area_size(28)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..tmax, ymin..ymax)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("free MB")
            .light_line_style(WHITE)
            .draw()?;
        for (s, free) in run.free.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    run.times
                        .iter()
                        .copied()
                        .zip(free.iter().map(|v| v.clamp(ymin, ymax)))
                        .take_while(|&(t, _)| t <= tmax),
                    color.stroke_width(1),
                ))?
                .label(format!("server {}", s + 1))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

pub fn plot_throughput(res: &ThroughputResult, path: &Path) -> PlotResult {
    let root = SVGBackend::new(path, (1100, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        "LVS-NAT throughput against real servers (throughput-scaling)",
        ("sans-serif", 20),
    )?;
    let (left, right) = body.split_horizontally(550);
    let xmax = res.rows.iter().map(|r| r.servers).max().unwrap_or(1) as f64 + 0.5;
    let xmin = res.rows.iter().map(|r| r.servers).min().unwrap_or(1) as f64 - 0.5;
    let ymax = res
        .rows
        .iter()
        .map(|r| r.out_bps / 1e6)
        .fold(res.link_bps / 1e6, f64::max)
        * 1.15;
    let mut series: Vec<(String, String)> = Vec::new();
    for r in &res.rows {
        let key = (r.sched.to_string(), r.set.clone());
        if !series.contains(&key) {
            series.push(key);
        }
    }
    let sets: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for (_, s) in &series {
            if !v.contains(s) {
                v.push(s.clone());
            }
        }
        v
    };
    let scheds: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for (s, _) in &series {
            if !v.contains(s) {
                v.push(s.clone());
            }
        }
        v
    };
    // left: output bytes per second against servers, link capacity dashed
    let mut chart = ChartBuilder::on(&left)
        .caption("output MB/s (IP bytes)", ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(xmin..xmax, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("real servers")
        .y_desc("MB/s")
        .light_line_style(WHITE)
        .draw()?;
    let cap = res.link_bps / 1e6;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(xmin, cap), (xmax, cap)],
            6,
            4,
            BLACK.stroke_width(1),
        ))?
        .label(format!("director link {cap:.1} MB/s"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
    for (sched, set) in &series {
        let color = PALETTE[sets.iter().position(|s| s == set).unwrap_or(0) % PALETTE.len()];
        let width = 1 + scheds.iter().position(|s| s == sched).unwrap_or(0) as u32 / 2;
        let pts: Vec<(f64, f64)> = res
            .rows
            .iter()
            .filter(|r| r.sched == sched && &r.set == set)
            .map(|r| (r.servers as f64, r.out_bps / 1e6))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))?
            .label(format!("{set} {sched}"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
            });
        chart.draw_series(
            pts.iter()
                .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 10))
        .draw()?;
    // right: connections per second against output packets per second
    let pmax = res.rows.iter().map(|r| r.out_pps).fold(1.0, f64::max) * 1.1;
    let cmax = res.rows.iter().map(|r| r.cps).fold(0.1, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&right)
        .caption("connections/s against output packets/s", ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..pmax, 0f64..cmax)?;
    chart
        .configure_mesh()
        .x_desc("output packets/s")
        .y_desc("connections/s")
        .light_line_style(WHITE)
        .draw()?;
    for set in &sets {
        let color = PALETTE[sets.iter().position(|s| s == set).unwrap_or(0) % PALETTE.len()];
        chart
            .draw_series(
                res.rows
                    .iter()
                    .filter(|r| &r.set == set)
                    .map(|r| Circle::new((r.out_pps, r.cps), 4, color.filled())),
            )?
            .label(set.clone())
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
