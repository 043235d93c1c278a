//! The timeline chart of a simulation as SVG (or an HTML page around it): the new version's share
//! of traffic, ready replicas and error ratios per version over simulated time, with step
//! boundaries, faults, analysis verdicts and the outcome marked and labelled, and a legend.

use std::fmt::Write as _;

use crate::log::{EventKind, Outcome, SimReport, human_duration};

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

/// Colour of a measurement phase, and the letter drawn in its marker.
fn verdict_style(phase: &str) -> (&'static str, &'static str) {
    match phase {
        "Successful" => ("#2b8a3e", "✓"),
        "Failed" => ("#c92a2a", "✗"),
        "Inconclusive" => ("#e67700", "?"),
        _ => ("#868e96", "!"),
    }
}

/// Colour of an outcome.
fn outcome_color(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Promoted => "#2b8a3e",
        Outcome::Paused => "#e67700",
        _ => "#c92a2a",
    }
}

/// When and how the outcome is marked on the time axis: the abort where it happened, anything else
/// where the simulation ended.
fn outcome_mark(report: &SimReport) -> (f64, &'static str) {
    let aborted_at = report.events.iter().find_map(|e| match &e.kind {
        EventKind::RolloutEvent { reason, .. } if reason == "RolloutAborted" => Some(e.t),
        _ => None,
    });
    match (report.outcome, aborted_at) {
        (Outcome::Aborted, Some(t)) => (t, "aborted"),
        (outcome, _) => (report.duration_secs, outcome.as_str()),
    }
}

/// The chart as a standalone SVG document: traffic to the new version, ready replicas and error
/// ratios per version over simulated time; step boundaries, faults and the outcome as vertical
/// markers; analysis verdicts and step numbers on rows above the time axis; a legend.
pub fn svg(report: &SimReport) -> String {
    let t_max = report
        .duration_secs
        .max(report.timeline.last().map_or(0.0, |p| p.t))
        .max(60.0);
    let height = TOP + 3.0 * PANEL_H + 2.0 * GAP + 160.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif">"##
    );
    let color = outcome_color(report.outcome);
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="26" font-size="18" font-weight="bold">{} — scenario {} (seed {})</text>"##,
        esc(&report.rollout),
        esc(&report.scenario),
        report.seed
    );
    // About 100 characters of 14px bold text fit across the chart.
    let headline = format!(
        "{} after {}: ",
        report.outcome.as_str().to_uppercase(),
        human_duration(report.duration_secs)
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="48" font-size="14" fill="{color}" font-weight="bold">{}{}<title>{}</title></text>"##,
        esc(&headline),
        esc(&truncate(
            &report.reason,
            100usize.saturating_sub(headline.chars().count())
        )),
        esc(&report.reason)
    );
    let panel = |i: u8, max_y: f64| Panel {
        top: TOP + 20.0 + f64::from(i) * (PANEL_H + GAP),
        max_y,
        t_max,
    };
    let (canary, stable) = (&report.canary_hash, &report.stable_hash);
    // 1. The new version's share of traffic: the canary weight while it is the canary, and 100%
    //    once it is promoted (the router's weight going back to 0 then is not a rollback).
    let traffic = panel(0, 1.0);
    traffic.frame(&mut out, "Traffic to the new version", "%");
    let share = |hash: &str| -> Vec<(f64, f64)> {
        report
            .timeline
            .iter()
            .map(|p| (p.t, p.versions.get(hash).map_or(0.0, |v| v.traffic)))
            .collect()
    };
    traffic.line(&mut out, &share(canary), CANARY, true);
    // 2. Ready replicas.
    let max_rep = report
        .timeline
        .iter()
        .flat_map(|p| p.versions.values().map(|v| v.replicas.max(v.ready)))
        .max()
        .unwrap_or(1)
        .max(1);
    let reps = panel(1, f64::from(max_rep) + 1.0);
    reps.frame(&mut out, "Ready replicas", "");
    for (hash, col) in [(canary, CANARY), (stable, STABLE)] {
        let pts: Vec<(f64, f64)> = report
            .timeline
            .iter()
            .map(|p| (p.t, p.versions.get(hash).map_or(0.0, |v| f64::from(v.ready))))
            .collect();
        reps.line(&mut out, &pts, col, true);
    }
    // 3. Error ratios per tick.
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
    let errs = panel(2, max_ratio);
    let tick = match report.timeline.as_slice() {
        [a, b, ..] => format!(" ({})", human_duration(b.t - a.t)),
        _ => String::new(),
    };
    errs.frame(&mut out, &format!("Error ratio per tick{tick}"), "%");
    errs.line(&mut out, &rs, STABLE, false);
    errs.line(&mut out, &rc, CANARY, false);
    let rows = Rows {
        top: traffic.top,
        bottom: errs.top + PANEL_H,
    };
    rows.markers(&mut out, report, &errs);
    rows.time_axis(&mut out, &errs, t_max);
    rows.legend(&mut out);
    out.push_str("</svg>");
    out
}

/// The vertical extent of the panels, and the rows under them: step numbers, verdicts, the time
/// axis and the legend.
struct Rows {
    top: f64,
    bottom: f64,
}

impl Rows {
    fn steps_y(&self) -> f64 {
        self.bottom + 16.0
    }
    fn verdicts_y(&self) -> f64 {
        self.bottom + 36.0
    }
    fn axis_y(&self) -> f64 {
        self.bottom + 60.0
    }

    /// A marker across the panels, labelled right of the line (left of it near the right edge).
    fn vertical(&self, out: &mut String, x: f64, color: &str, dash: &str, label: &str, title: &str) {
        let label_width = 5.5 * label.chars().count() as f64;
        let (label_x, anchor) = if x + 3.0 + label_width > W - 2.0 {
            (x - 3.0, "end")
        } else {
            (x + 3.0, "start")
        };
        let _ = write!(
            out,
            r##"<g><title>{}</title><line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="{color}" stroke-dasharray="{dash}"/><text x="{label_x:.1}" y="{}" font-size="10" text-anchor="{anchor}" fill="{color}">{}</text></g>"##,
            esc(title),
            self.top,
            self.bottom,
            self.top + 12.0,
            esc(label)
        );
    }

    /// Step boundaries (numbered from 1, like the log), faults, verdicts and the outcome.
    fn markers(&self, out: &mut String, report: &SimReport, p: &Panel) {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#495057">step</text><text x="{}" y="{}" font-size="10" text-anchor="end" fill="#495057">verdicts</text>"##,
            LEFT - 6.0,
            self.steps_y() + 4.0,
            LEFT - 6.0,
            self.verdicts_y() + 4.0
        );
        for e in &report.events {
            let x = p.x(e.t);
            match &e.kind {
                EventKind::Step { index, count, step } => {
                    let (label, title) = if index < count {
                        (
                            (index + 1).to_string(),
                            format!("step {}/{count}: {step}", index + 1),
                        )
                    } else {
                        ("✓".to_string(), format!("all {count} steps completed"))
                    };
                    let _ = write!(
                        out,
                        r##"<g><title>{}</title><line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#adb5bd" stroke-dasharray="1,3"/><text x="{x:.1}" y="{}" font-size="10" text-anchor="middle" fill="#495057">{label}</text></g>"##,
                        esc(&title),
                        self.top,
                        self.steps_y() - 8.0,
                        self.steps_y() + 4.0
                    );
                }
                EventKind::Fault { description } => {
                    self.vertical(
                        out,
                        x,
                        "#c92a2a",
                        "4,3",
                        description,
                        &format!("fault: {description}"),
                    );
                }
                EventKind::Measurement {
                    metric,
                    phase,
                    message,
                    ..
                } => {
                    let (c, letter) = verdict_style(phase);
                    let _ = write!(
                        out,
                        r##"<g><title>{}: {} {}</title><circle cx="{x:.1}" cy="{}" r="6" fill="{c}"/><text x="{x:.1}" y="{}" font-size="9" text-anchor="middle" fill="#fff">{letter}</text></g>"##,
                        esc(metric),
                        esc(phase),
                        esc(message),
                        self.verdicts_y(),
                        self.verdicts_y() + 3.0
                    );
                }
                _ => {}
            }
        }
        let (t, label) = outcome_mark(report);
        self.vertical(
            out,
            p.x(t),
            outcome_color(report.outcome),
            "6,2",
            label,
            &report.reason,
        );
    }

    fn time_axis(&self, out: &mut String, p: &Panel, t_max: f64) {
        let step = nice_step(t_max);
        let mut t = 0.0;
        while t <= t_max + 0.1 {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle" fill="#495057">{}</text>"##,
                p.x(t),
                self.axis_y(),
                human_duration(t)
            );
            t += step;
        }
        let _ = write!(
            out,
            r##"<text x="{LEFT}" y="{}" font-size="11" fill="#495057">simulated time since the update</text>"##,
            self.axis_y() + 16.0
        );
    }

    fn legend(&self, out: &mut String) {
        let y = self.axis_y() + 40.0;
        let line = |color: &'static str, dash: &'static str| Swatch::Line(color, dash);
        let mut items = vec![
            (line(CANARY, "none"), "new version (canary)"),
            (line(STABLE, "none"), "stable version"),
            (line("#adb5bd", "1,3"), "step boundary"),
            (line("#c92a2a", "4,3"), "fault"),
            (line("#495057", "6,2"), "outcome"),
        ];
        items.extend(
            [
                ("Successful", "successful"),
                ("Failed", "failed"),
                ("Inconclusive", "inconclusive"),
                ("Error", "error"),
            ]
            .map(|(phase, label)| (Swatch::Verdict(phase), label)),
        );
        let mut x = LEFT;
        for (swatch, label) in items {
            match swatch {
                Swatch::Line(color, dash) => {
                    let _ = write!(
                        out,
                        r##"<line x1="{x:.1}" x2="{:.1}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>"##,
                        x + 18.0
                    );
                }
                Swatch::Verdict(phase) => {
                    let (c, letter) = verdict_style(phase);
                    let _ = write!(
                        out,
                        r##"<circle cx="{:.1}" cy="{y}" r="6" fill="{c}"/><text x="{:.1}" y="{}" font-size="9" text-anchor="middle" fill="#fff">{letter}</text>"##,
                        x + 9.0,
                        x + 9.0,
                        y + 3.0
                    );
                }
            }
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{}" font-size="11" fill="#212529">{label}</text>"##,
                x + 22.0,
                y + 4.0
            );
            x += 30.0 + 6.5 * label.chars().count() as f64;
        }
    }
}

/// A legend entry's sample: a line (colour, dash pattern) or a verdict marker (phase).
enum Swatch {
    Line(&'static str, &'static str),
    Verdict(&'static str),
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
         </head><body>{}<p>Cost of safety: {}</p><h3>Event log</h3><table>{rows}</table></body></html>",
        esc(&report.scenario),
        svg(report),
        esc(&report.cost.text())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{LogEvent, TimelinePoint, VersionPoint};
    use std::collections::BTreeMap;

    fn point(t: f64, canary_traffic: f64, canary_errors: u64) -> TimelinePoint {
        let version = |traffic: f64, errors: u64| VersionPoint {
            replicas: 5,
            ready: 5,
            traffic,
            requests: 100,
            errors,
        };
        let mut versions = BTreeMap::new();
        versions.insert("c".to_string(), version(canary_traffic, canary_errors));
        versions.insert("s".to_string(), version(1.0 - canary_traffic, 1));
        TimelinePoint {
            t,
            weight: 0,
            step: Some(1),
            versions,
        }
    }

    fn event(t: f64, kind: EventKind) -> LogEvent {
        LogEvent { t, kind }
    }

    fn report(outcome: Outcome, events: Vec<LogEvent>, timeline: Vec<TimelinePoint>) -> SimReport {
        SimReport {
            rollout: "demo".into(),
            scenario: "spike <&>".into(),
            seed: 1,
            outcome,
            reason: "why".into(),
            duration_secs: 30.0,
            stable_hash: "s".into(),
            canary_hash: "c".into(),
            events,
            timeline,
            pod_seconds: Default::default(),
            cost: Default::default(),
        }
    }

    #[test]
    fn chart_labels_steps_faults_verdicts_and_the_abort_and_has_a_legend() {
        let r = report(
            Outcome::Aborted,
            vec![
                event(
                    0.0,
                    EventKind::Step {
                        index: 0,
                        count: 8,
                        step: "setWeight: 20".into(),
                    },
                ),
                event(
                    15.0,
                    EventKind::Fault {
                        description: "canary error rate is now 20.0%".into(),
                    },
                ),
                event(
                    20.0,
                    EventKind::Measurement {
                        run: "r".into(),
                        metric: "m".into(),
                        phase: "Failed".into(),
                        value: "0".into(),
                        message: "regression".into(),
                        code: Some("regression".into()),
                    },
                ),
                event(
                    24.0,
                    EventKind::RolloutEvent {
                        reason: "RolloutAborted".into(),
                        message: "Rollout aborted update to revision 2".into(),
                    },
                ),
            ],
            vec![point(10.0, 0.2, 2), point(20.0, 0.2, 20), point(30.0, 0.0, 0)],
        );
        let s = svg(&r);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("ABORTED after 30s: why"));
        assert!(s.contains("spike &lt;&amp;&gt;"));
        // x(t) = 70 + 860 * t / 60 (the axis spans at least a minute).
        assert!(s.contains(r##"<g><title>step 1/8: setWeight: 20</title><line x1="70.0" x2="70.0""##));
        assert!(s.contains(r##"fill="#495057">1</text></g>"##));
        assert!(s.contains(
            r##"<g><title>fault: canary error rate is now 20.0%</title><line x1="285.0" x2="285.0""##
        ));
        assert!(s.contains(r##"<g><title>m: Failed regression</title><circle cx="356.7""##));
        assert!(s.contains(r##"fill="#fff">✗</text></g>"##));
        // The abort is marked where it happened, not where the simulation ended.
        assert!(s.contains(r##"<g><title>why</title><line x1="414.0" x2="414.0""##));
        assert!(s.contains(r##"fill="#c92a2a">aborted</text></g>"##));
        for label in [
            "new version (canary)",
            "stable version",
            "step boundary",
            "fault",
            "outcome",
            "successful",
            "failed",
            "inconclusive",
            "error",
        ] {
            assert!(
                s.contains(&format!(r##"fill="#212529">{label}</text>"##)),
                "{label}"
            );
        }
        assert!(s.contains("Error ratio per tick (10s)"));
        let h = html(&r);
        assert!(h.contains("<table><tr><td>[       0s] step 1/8: setWeight: 20</td></tr>"));
    }

    #[test]
    fn a_promotion_keeps_the_new_version_at_full_traffic_and_is_labelled_promoted() {
        // At promotion the router's canary weight goes back to 0 while the new version, now stable,
        // keeps every request: the chart shows its share, which stays at 100%.
        let r = report(
            Outcome::Promoted,
            Vec::new(),
            vec![point(10.0, 0.2, 1), point(20.0, 1.0, 1), point(30.0, 1.0, 1)],
        );
        let s = svg(&r);
        // y(share) = 90 + 150 * (1 - share).
        assert!(
            s.contains(r##"<path d="M213.3,210.0 H356.7 V90.0 H500.0 V90.0" fill="none" stroke="#d9480f""##),
            "{s}"
        );
        assert!(
            s.contains(r##"<line x1="500.0" x2="500.0" y1="90" y2="620" stroke="#2b8a3e""##),
            "{s}"
        );
        assert!(s.contains(r##"text-anchor="start" fill="#2b8a3e">promoted</text></g>"##));
        // At the right edge the label goes left of the line, inside the chart.
        let late = SimReport {
            duration_secs: 120.0,
            ..r
        };
        assert!(
            svg(&late).contains(
                r##"<text x="927.0" y="102" font-size="10" text-anchor="end" fill="#2b8a3e">promoted</text>"##
            ),
            "{}",
            svg(&late)
        );
    }
}
