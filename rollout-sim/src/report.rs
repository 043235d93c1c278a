//! The timeline chart of a simulation as SVG (or an HTML page around it): canary weight, ready
//! replicas per version and error ratios per version over simulated time, with analysis verdicts,
//! faults and the outcome marked.

use std::fmt::Write as _;

use crate::log::{EventKind, SimReport, human_duration};

const W: f64 = 960.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
const PANEL_H: f64 = 150.0;
const GAP: f64 = 40.0;
const TOP: f64 = 70.0;
const CANARY: &str = "#d9480f";
const STABLE: &str = "#1c7ed6";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Panel {
    top: f64,
    max_y: f64,
    t_max: f64,
}

impl Panel {
    fn x(&self, t: f64) -> f64 {
        LEFT + (W - LEFT - RIGHT) * (t / self.t_max.max(1.0))
    }
    fn y(&self, v: f64) -> f64 {
        self.top + PANEL_H - PANEL_H * (v / self.max_y.max(1e-9)).clamp(0.0, 1.0)
    }
    fn frame(&self, out: &mut String, title: &str, unit: &str) {
        let _ = write!(
            out,
            r##"<rect x="{LEFT}" y="{}" width="{}" height="{PANEL_H}" fill="#f8f9fa" stroke="#ced4da"/>"##,
            self.top,
            W - LEFT - RIGHT
        );
        let _ = write!(
            out,
            r##"<text x="{LEFT}" y="{}" font-size="13" font-weight="bold">{}</text>"##,
            self.top - 8.0,
            esc(title)
        );
        for frac in [0.0, 0.5, 1.0] {
            let v = self.max_y * frac;
            let label = if self.max_y <= 1.0 {
                format!("{:.1}{unit}", v * 100.0)
            } else {
                format!("{v:.0}{unit}")
            };
            let _ = write!(
                out,
                r##"<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#495057">{label}</text>"##,
                LEFT - 6.0,
                self.y(v) + 3.0
            );
        }
    }
    fn line(&self, out: &mut String, points: &[(f64, f64)], color: &str, step: bool) {
        if points.is_empty() {
            return;
        }
        let mut d = String::new();
        for (i, (t, v)) in points.iter().enumerate() {
            let (x, y) = (self.x(*t), self.y(*v));
            if i == 0 {
                let _ = write!(d, "M{x:.1},{y:.1}");
            } else if step {
                let _ = write!(d, " H{x:.1} V{y:.1}");
            } else {
                let _ = write!(d, " L{x:.1},{y:.1}");
            }
        }
        let _ = write!(
            out,
            r##"<path d="{d}" fill="none" stroke="{color}" stroke-width="2"/>"##
        );
    }
}

/// The chart as a standalone SVG document.
pub fn svg(report: &SimReport) -> String {
    let t_max = report
        .duration_secs
        .max(report.timeline.last().map_or(0.0, |p| p.t))
        .max(60.0);
    let height = TOP + 3.0 * PANEL_H + 2.0 * GAP + 100.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif">"##
    );
    let color = match report.outcome {
        crate::Outcome::Promoted => "#2b8a3e",
        crate::Outcome::Paused => "#e67700",
        _ => "#c92a2a",
    };
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="26" font-size="18" font-weight="bold">{} — scenario {} (seed {})</text>"##,
        esc(&report.rollout),
        esc(&report.scenario),
        report.seed
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="48" font-size="14" fill="{color}" font-weight="bold">{} after {}: {}</text>"##,
        report.outcome.as_str().to_uppercase(),
        human_duration(report.duration_secs),
        esc(&truncate(&report.reason, 90))
    );
    let panels: Vec<Panel> = (0..3)
        .map(|i| Panel {
            top: TOP + 20.0 + f64::from(i) * (PANEL_H + GAP),
            max_y: 1.0,
            t_max,
        })
        .collect();
    let (canary, stable) = (&report.canary_hash, &report.stable_hash);
    // 1. weight.
    let weight = Panel {
        max_y: 100.0,
        ..clone_panel(&panels[0])
    };
    weight.frame(&mut out, "Canary traffic weight", "%");
    let pts: Vec<(f64, f64)> = report
        .timeline
        .iter()
        .map(|p| (p.t, f64::from(p.weight)))
        .collect();
    weight.line(&mut out, &pts, CANARY, true);
    // 2. ready replicas.
    let max_rep = report
        .timeline
        .iter()
        .flat_map(|p| p.versions.values().map(|v| v.replicas.max(v.ready)))
        .max()
        .unwrap_or(1)
        .max(1);
    let reps = Panel {
        max_y: f64::from(max_rep) + 1.0,
        ..clone_panel(&panels[1])
    };
    reps.frame(&mut out, "Ready replicas (canary orange, stable blue)", "");
    for (hash, col) in [(canary, CANARY), (stable, STABLE)] {
        let pts: Vec<(f64, f64)> = report
            .timeline
            .iter()
            .map(|p| (p.t, p.versions.get(hash).map_or(0.0, |v| f64::from(v.ready))))
            .collect();
        reps.line(&mut out, &pts, col, true);
    }
    // 3. error ratios per tick.
    let ratio = |hash: &str| -> Vec<(f64, f64)> {
        report
            .timeline
            .iter()
            .filter_map(|p| {
                let v = p.versions.get(hash)?;
                (v.requests > 0).then(|| (p.t, v.errors as f64 / v.requests as f64))
            })
            .collect()
    };
    let (rc, rs) = (ratio(canary), ratio(stable));
    let max_ratio = rc.iter().chain(&rs).map(|p| p.1).fold(0.05f64, f64::max).min(1.0);
    let errs = Panel {
        max_y: max_ratio,
        ..clone_panel(&panels[2])
    };
    errs.frame(&mut out, "Error ratio per 10 s tick, with analysis verdicts", "%");
    errs.line(&mut out, &rs, STABLE, false);
    errs.line(&mut out, &rc, CANARY, false);
    // Markers: faults (all panels), verdicts (bottom panel).
    for e in &report.events {
        match &e.kind {
            EventKind::Fault { description } => {
                let x = errs.x(e.t);
                let _ = write!(
                    out,
                    r##"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#c92a2a" stroke-dasharray="4,3"/><text x="{:.1}" y="{}" font-size="10" fill="#c92a2a">{}</text>"##,
                    panels[0].top,
                    errs.top + PANEL_H,
                    x + 3.0,
                    panels[0].top + 12.0,
                    esc(description)
                );
            }
            EventKind::Measurement {
                metric,
                phase,
                message,
                ..
            } => {
                let c = match phase.as_str() {
                    "Successful" => "#2b8a3e",
                    "Failed" => "#c92a2a",
                    "Inconclusive" => "#e67700",
                    _ => "#868e96",
                };
                let _ = write!(
                    out,
                    r##"<circle cx="{:.1}" cy="{}" r="5" fill="{c}"><title>{}: {} {}</title></circle>"##,
                    errs.x(e.t),
                    errs.top + PANEL_H + 14.0,
                    esc(metric),
                    esc(phase),
                    esc(message)
                );
            }
            _ => {}
        }
    }
    // Time axis.
    let axis_y = errs.top + PANEL_H + 36.0;
    let step = nice_step(t_max);
    let mut t = 0.0;
    while t <= t_max + 0.1 {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{axis_y}" font-size="10" text-anchor="middle" fill="#495057">{}</text>"##,
            errs.x(t),
            human_duration(t)
        );
        t += step;
    }
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="{}" font-size="11" fill="#495057">simulated time since the update · dots: measurements (green successful, red failed, amber inconclusive, grey error)</text></svg>"##,
        axis_y + 20.0
    );
    out
}

fn clone_panel(p: &Panel) -> Panel {
    Panel {
        top: p.top,
        max_y: p.max_y,
        t_max: p.t_max,
    }
}

fn nice_step(t_max: f64) -> f64 {
    [30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]
        .into_iter()
        .find(|s| t_max / s <= 10.0)
        .unwrap_or(7200.0)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The chart and the event log as one HTML page.
pub fn html(report: &SimReport) -> String {
    let mut rows = String::new();
    for e in &report.events {
        let _ = write!(rows, "<tr><td>{}</td></tr>", esc(&e.line()));
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>rollout simulate: {}</title>\
         <style>body{{font-family:sans-serif;margin:24px}}td{{font-family:monospace;font-size:12px;white-space:pre}}</style>\
         </head><body>{}<h3>Event log</h3><table>{rows}</table></body></html>",
        esc(&report.scenario),
        svg(report)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{LogEvent, Outcome, TimelinePoint, VersionPoint};
    use std::collections::BTreeMap;

    #[test]
    fn chart_has_the_series_markers_and_outcome() {
        let mut versions = BTreeMap::new();
        versions.insert(
            "c".to_string(),
            VersionPoint {
                replicas: 1,
                ready: 1,
                traffic: 0.2,
                requests: 100,
                errors: 20,
            },
        );
        versions.insert(
            "s".to_string(),
            VersionPoint {
                replicas: 5,
                ready: 5,
                traffic: 0.8,
                requests: 400,
                errors: 4,
            },
        );
        let report = SimReport {
            rollout: "demo".into(),
            scenario: "spike <&>".into(),
            seed: 1,
            outcome: Outcome::Aborted,
            reason: "analysis failed".into(),
            duration_secs: 120.0,
            stable_hash: "s".into(),
            canary_hash: "c".into(),
            events: vec![
                LogEvent {
                    t: 30.0,
                    kind: EventKind::Fault {
                        description: "canary error rate is now 20.0%".into(),
                    },
                },
                LogEvent {
                    t: 60.0,
                    kind: EventKind::Measurement {
                        run: "r".into(),
                        metric: "m".into(),
                        phase: "Failed".into(),
                        value: "0".into(),
                        message: "regression".into(),
                        code: Some("regression".into()),
                    },
                },
            ],
            timeline: vec![TimelinePoint {
                t: 10.0,
                weight: 20,
                step: Some(1),
                versions,
            }],
        };
        let s = svg(&report);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("ABORTED after 2m00s: analysis failed"));
        assert!(s.contains("spike &lt;&amp;&gt;"));
        assert!(s.contains("canary error rate is now 20.0%"));
        assert!(s.contains(r##"fill="#c92a2a"><title>m: Failed regression</title>"##));
        let h = html(&report);
        assert!(h.contains("<table><tr><td>[      30s] FAULT: canary error rate is now 20.0%</td></tr>"));
    }
}
