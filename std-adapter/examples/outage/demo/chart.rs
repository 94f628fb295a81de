//! The SVG chart: p99 latency, upstream load and the breaker's state over
//! time, phases shaded. plotters with its SVG backend only: text is
//! written as SVG `<text>` (laid out by plotters' built-in estimate), so
//! no system font is read.

use plotters::prelude::*;
use tower::BoxError;

use super::report::{p99_series, state_at};
use super::{Run, Script, Settings};

const PLAIN: RGBColor = RGBColor(214, 39, 40);
const FUSEBOX: RGBColor = RGBColor(31, 119, 180);
const TOWER: RGBColor = RGBColor(255, 127, 14);
const SHADES: [RGBColor; 2] = [RGBColor(235, 235, 235), RGBColor(250, 250, 250)];

fn color(run: &Run) -> RGBColor {
    match run.mode {
        super::Mode::Plain => PLAIN,
        super::Mode::Fusebox | super::Mode::FuseboxHedge => FUSEBOX,
        super::Mode::TowerHedge => TOWER,
    }
}

fn spans(script: &Script) -> Vec<(String, f64, f64)> {
    script
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let from = script.start_of(i).as_secs_f64();
            (p.name.clone(), from, from + p.duration.as_secs_f64())
        })
        .collect()
}

/// Writes the comparison to `path`.
pub fn write(path: &str, script: &Script, runs: &[&Run], s: &Settings) -> Result<(), BoxError> {
    let length = script.total().as_secs_f64();
    let phases = spans(script);
    let root = SVGBackend::new(path, (1000, 780)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(340);
    let (mid, bottom) = rest.split_vertically(260);
    let font = ("sans-serif", 14);

    // p99 latency, log scale.
    let top_ms = (s.client_timeout.as_secs_f64() * 2000.0).max(10.0);
    let mut c = ChartBuilder::on(&top)
        .caption(
            "p99 latency per 0.5 s (ms, log scale), due time to answer",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(25)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..length, (0.5f64..top_ms).log_scale())?;
    c.configure_mesh().label_style(font).draw()?;
    c.draw_series(
        phases.iter().enumerate().map(|(i, (_, a, b))| {
            Rectangle::new([(*a, 0.5), (*b, top_ms)], SHADES[i % 2].filled())
        }),
    )?;
    c.draw_series(
        phases
            .iter()
            .map(|(n, a, _)| Text::new(n.clone(), (*a + 0.1, top_ms * 0.6), font)),
    )?;
    for run in runs {
        let pts: Vec<(f64, f64)> = p99_series(&run.samples, length, 0.5)
            .into_iter()
            .filter_map(|(t, p)| p.map(|d| (t + 0.25, (d.as_secs_f64() * 1e3).max(0.5))))
            .collect();
        let col = color(run);
        c.draw_series(LineSeries::new(pts, col.stroke_width(2)))?
            .label(run.mode.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
    }
    c.configure_series_labels()
        .label_font(font)
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;

    // Requests reaching the upstream per second.
    let per_s = |run: &Run| -> Vec<(f64, f64)> {
        let arr = run.upstream.arrivals.lock().expect("not poisoned").clone();
        let n = (length / 0.5).ceil() as usize;
        (0..n)
            .map(|k| {
                let (a, b) = (k as f64 * 0.5, (k + 1) as f64 * 0.5);
                (
                    a + 0.25,
                    arr.iter().filter(|t| **t >= a && **t < b).count() as f64 * 2.0,
                )
            })
            .collect()
    };
    let series: Vec<_> = runs.iter().map(|r| (r, per_s(r))).collect();
    let ymax = series
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.1))
        .fold(f64::from(s.upstream_rate), f64::max)
        * 1.2;
    let mut c = ChartBuilder::on(&mid)
        .caption(
            "requests reaching the upstream (per second)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(25)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..length, 0f64..ymax)?;
    c.configure_mesh().label_style(font).draw()?;
    c.draw_series(
        phases
            .iter()
            .enumerate()
            .map(|(i, (_, a, b))| Rectangle::new([(*a, 0.0), (*b, ymax)], SHADES[i % 2].filled())),
    )?;
    c.draw_series(LineSeries::new(
        vec![
            (0.0, f64::from(s.upstream_rate)),
            (length, f64::from(s.upstream_rate)),
        ],
        BLACK.mix(0.5).stroke_width(1),
    ))?
    .label("fusebox rate limit")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
    for (run, pts) in series {
        let col = color(run);
        c.draw_series(LineSeries::new(pts, col.stroke_width(2)))?
            .label(run.mode.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
    }
    c.configure_series_labels()
        .label_font(font)
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;

    // The fusebox breaker's state.
    let mut c = ChartBuilder::on(&bottom)
        .caption(
            "fusebox breaker: 0 closed, 1 half-open, 2 open",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..length, -0.2f64..2.4)?;
    c.configure_mesh()
        .label_style(font)
        .y_labels(3)
        .x_desc("seconds")
        .draw()?;
    c.draw_series(
        phases
            .iter()
            .enumerate()
            .map(|(i, (_, a, b))| Rectangle::new([(*a, -0.2), (*b, 2.4)], SHADES[i % 2].filled())),
    )?;
    for run in runs.iter().filter(|r| r.mode == super::Mode::Fusebox) {
        let trs = run
            .gateway
            .transitions
            .lock()
            .expect("not poisoned")
            .clone();
        let mut pts = vec![(0.0, super::gateway::state_code(state_at(&trs, 0.0)))];
        for (t, tr) in &trs {
            pts.push((*t, super::gateway::state_code(tr.from)));
            pts.push((*t, super::gateway::state_code(tr.to)));
        }
        pts.push((length, super::gateway::state_code(state_at(&trs, length))));
        c.draw_series(LineSeries::new(pts, FUSEBOX.stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}
