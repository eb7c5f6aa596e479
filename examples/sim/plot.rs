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
            .flat_map(|f| {
                f.iter()
                    .zip(&r.times)
                    .filter(|(_, &t)| t <= tmax)
                    .map(|(v, _)| *v)
            })
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
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
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
    let all = res.peaks();
    let peaks: Vec<&ThroughputRow> = res
        .rows
        .iter()
        .filter(|r| r.streams == THESIS_STREAMS)
        .collect();
    let points = thesis_points();
    let mut sets: Vec<&str> = Vec::new();
    let mut scheds: Vec<&str> = Vec::new();
    for r in &peaks {
        if !sets.contains(&r.set.as_str()) {
            sets.push(&r.set);
        }
        if !scheds.contains(&r.sched) {
            scheds.push(r.sched);
        }
    }
    let root = SVGBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        "LVS-NAT output packets/s against real servers: simulated at the thesis's load (lines), \
         the most over the offered-load sweep (grey) and the thesis's measurements (hollow markers)",
        ("sans-serif", 16),
    )?;
    // one legend for all panels, in a strip below them, so it never covers a curve or a point
    let (body, strip) = body.split_vertically(body.dim_in_pixel().1.saturating_sub(64));
    let panels = body.split_evenly((1, sets.len().max(1)));
    let mut legend: Vec<(Mark, String)> = vec![
        (
            Mark::Line(BLACK.mix(0.6).to_rgba(), (3, 5), 1),
            "100 Mbit/s link, full segments".into(),
        ),
        (
            Mark::Line(RGBColor(150, 150, 150).to_rgba(), (12, 0), 1),
            format!(
                "simulated {}, most over the offered-load sweep",
                scheds.first().copied().unwrap_or("")
            ),
        ),
    ];
    for (si, sched) in scheds.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()].to_rgba();
        let dash = [(12u32, 0u32), (8, 4), (3, 3)][si % 3];
        legend.push((
            Mark::Line(color, dash, 2),
            format!("simulated {sched}, {THESIS_STREAMS} download per client"),
        ));
        if points.iter().any(|p| p.sched == *sched && p.out_pps > 0.0) {
            legend.push((Mark::Point(color, si % 3), format!("thesis {sched}")));
        }
    }
    draw_legend(&strip, &legend)?;
    let xmin = peaks.iter().map(|r| r.servers).min().unwrap_or(1) as f64 - 0.5;
    let xmax = peaks.iter().map(|r| r.servers).max().unwrap_or(1) as f64 + 0.5;
    let wire = (MSS + HDR) as f64;
    let link_pps = res.link_bps / wire;
    let ymax = peaks
        .iter()
        .map(|r| r.out_pps)
        .chain(all.iter().map(|r| r.out_pps))
        .chain(points.iter().map(|p| p.out_pps))
        .fold(link_pps, f64::max)
        * 1.12;
    for (set, area) in sets.iter().zip(panels.iter()) {
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{set} files"), ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(xmin..xmax, 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc("real servers")
            .y_desc("output packets/s")
            .x_labels((xmax - xmin).round() as usize + 1)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(WHITE)
            .draw()?;
        chart.draw_series(DashedLineSeries::new(
            vec![(xmin, link_pps), (xmax, link_pps)],
            3,
            5,
            BLACK.mix(0.6).stroke_width(1),
        ))?;
        let grey: Vec<(f64, f64)> = all
            .iter()
            .filter(|r| r.set == *set && Some(&r.sched) == scheds.first())
            .map(|r| (r.servers as f64, r.out_pps))
            .collect();
        chart.draw_series(LineSeries::new(
            grey,
            RGBColor(150, 150, 150).stroke_width(1),
        ))?;
        let k = scheds.len().max(1) as f64;
        for (si, sched) in scheds.iter().enumerate() {
            let color = PALETTE[si % PALETTE.len()];
            // a small sideways offset per scheduler so equal curves stay visible side by side
            let dx = (si as f64 - (k - 1.0) / 2.0) * 0.08;
            let sim: Vec<(f64, f64)> = peaks
                .iter()
                .filter(|r| r.sched == *sched && r.set == *set)
                .map(|r| (r.servers as f64 + dx, r.out_pps))
                .collect();
            let dash = [(12u32, 0u32), (8, 4), (3, 3)][si % 3];
            if dash.1 == 0 {
                chart.draw_series(LineSeries::new(sim.clone(), color.stroke_width(2)))?;
            } else {
                chart.draw_series(DashedLineSeries::new(
                    sim.clone(),
                    dash.0,
                    dash.1,
                    color.stroke_width(2),
                ))?;
            }
            chart.draw_series(
                sim.iter()
                    .map(|&(x, y)| Circle::new((x, y), 2, color.filled())),
            )?;
            let th: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.sched == *sched && p.set == *set && p.out_pps > 0.0)
                .map(|p| (p.servers as f64 + dx, p.out_pps))
                .collect();
            let style = color.stroke_width(2);
            for &p in &th {
                match si % 3 {
                    0 => chart.draw_series(std::iter::once(Circle::new(p, 7, style)))?,
                    1 => chart.draw_series(std::iter::once(TriangleMarker::new(p, 8, style)))?,
                    _ => chart.draw_series(std::iter::once(Cross::new(p, 6, style)))?,
                };
            }
        }
    }
    root.present()?;
    Ok(())
}

/// A legend entry's sample: a line (colour, dash and gap in pixels, width) or a hollow marker
/// (colour, 0 circle, 1 triangle, 2 cross).
enum Mark {
    Line(RGBAColor, (u32, u32), u32),
    Point(RGBAColor, usize),
}

/// Draws the entries in rows of four across `area`.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(Mark, String)],
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    let per_row = 4usize;
    let col_w = (w as i32 - 40) / per_row as i32;
    for (i, (mark, text)) in entries.iter().enumerate() {
        let x = 30 + (i % per_row) as i32 * col_w;
        let y = 14 + (i / per_row) as i32 * 20;
        match *mark {
            Mark::Line(color, (dash, gap), width) => {
                let style = color.stroke_width(width);
                let mut x0 = x;
                while x0 < x + 28 {
                    let x1 = if gap == 0 {
                        x + 28
                    } else {
                        (x0 + dash as i32).min(x + 28)
                    };
                    area.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))?;
                    x0 = x1 + gap as i32;
                }
            }
            Mark::Point(color, shape) => {
                let style = color.stroke_width(2);
                let c = (x + 14, y);
                match shape {
                    0 => area.draw(&Circle::new(c, 6, style))?,
                    1 => area.draw(&TriangleMarker::new(c, 7, style))?,
                    _ => area.draw(&Cross::new(c, 5, style))?,
                }
            }
        }
        area.draw(&Text::new(
            text.clone(),
            (x + 36, y - 6),
            ("sans-serif", 12),
        ))?;
    }
    Ok(())
}
