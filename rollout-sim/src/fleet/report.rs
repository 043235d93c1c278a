//! The fleet report as a standalone HTML page: the decision, an SVG chart of each wave's outcomes
//! (stacked bars) and the release-issue test's statistic against its threshold after each wave,
//! the wave table and example failures with their causes.

use std::fmt::Write as _;

use super::{FleetReport, class_label, wave_decision};

const W: f64 = 960.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 30.0;
const ROW: f64 = 26.0;
const TOP: f64 = 40.0;
const STAT_H: f64 = 160.0;

/// Segment colours: promoted, counted against the release, environment issue, transient, undecided.
const SEGMENTS: [(&str, &str); 5] = [
    ("promoted", "#2b8a3e"),
    ("counted against the release", "#c92a2a"),
    ("environment issue", "#1c7ed6"),
    ("transient", "#868e96"),
    ("undecided (inconclusive)", "#e67700"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn frac(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The chart: one stacked bar per wave (shares of its environments by class), then the test
/// statistic Λ after each wave with the halting threshold.
pub fn svg(r: &FleetReport) -> String {
    let waves = r.waves.len().max(1) as f64;
    let bars_h = TOP + waves * ROW + 40.0;
    let height = bars_h + STAT_H + 80.0;
    let plot_w = W - LEFT - RIGHT;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif">"##
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="24" font-size="14" font-weight="bold">Outcomes per wave (share of the wave's environments)</text>"##
    );
    for (i, w) in r.waves.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        let c = &w.counts;
        let parts = [
            c.promoted,
            c.counted,
            c.environment_issues,
            c.transient,
            c.undecided(),
        ];
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" font-size="12" text-anchor="end">{} ({})</text>"##,
            LEFT - 8.0,
            y + 15.0,
            esc(&w.name),
            w.environments
        );
        let mut x = LEFT;
        for (n, (label, color)) in parts.iter().zip(SEGMENTS) {
            let width = plot_w * frac(*n, c.environments);
            if width > 0.0 {
                let _ = write!(
                    out,
                    r##"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{}" fill="{color}"><title>{label}: {n}</title></rect>"##,
                    ROW - 6.0
                );
            }
            x += width;
        }
    }
    // Legend.
    let ly = TOP + waves * ROW + 12.0;
    let mut lx = LEFT;
    for (label, color) in SEGMENTS {
        let _ = write!(
            out,
            r##"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{color}"/><text x="{}" y="{}" font-size="11">{label}</text>"##,
            lx + 16.0,
            ly + 10.0
        );
        lx += 16.0 + 7.0 * label.len() as f64 + 14.0;
    }
    // The statistic after each wave.
    let top = bars_h + 30.0;
    let e = &r.evidence;
    let stats: Vec<f64> = r.waves.iter().map(|w| w.evidence.statistic).collect();
    let hi = stats.iter().copied().fold(e.threshold, f64::max) * 1.15;
    let lo = stats.iter().copied().fold(0.0, f64::min);
    let span = (hi - lo).max(1e-9);
    let y_of = |v: f64| top + STAT_H - STAT_H * (v - lo) / span;
    let x_of = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / waves;
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{} log-likelihood ratio Λ after each wave (halt at {:.2} = ln(1/{}))</text>"##,
        top - 10.0,
        esc(&e.test),
        e.threshold,
        e.false_alarm_rate
    );
    let _ = write!(
        out,
        r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{STAT_H}" fill="#f8f9fa" stroke="#ced4da"/>"##
    );
    let ty = y_of(e.threshold);
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#c92a2a" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#c92a2a">threshold</text>"##,
        W - RIGHT,
        W - RIGHT - 4.0,
        ty - 4.0
    );
    let zy = y_of(0.0);
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" x2="{}" y1="{zy:.1}" y2="{zy:.1}" stroke="#adb5bd"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">0</text>"##,
        W - RIGHT,
        LEFT - 6.0,
        zy + 3.0
    );
    let mut d = String::new();
    for (i, s) in stats.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            x_of(i),
            y_of(*s)
        );
    }
    let _ = write!(
        out,
        r##"<path d="{}" fill="none" stroke="#212529" stroke-width="2"/>"##,
        d.trim_end()
    );
    for (i, (s, w)) in stats.iter().zip(&r.waves).enumerate() {
        let color = if w.evidence.rejected { "#c92a2a" } else { "#212529" };
        let _ = write!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"><title>{}: Λ = {s:.2}, {} failures of {} trials</title></circle><text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"##,
            x_of(i),
            y_of(*s),
            esc(&w.name),
            w.evidence.failures,
            w.evidence.n,
            x_of(i),
            top + STAT_H + 14.0,
            esc(&w.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// The report as a standalone HTML page.
pub fn html(r: &FleetReport) -> String {
    let color = if r.halted() { "#c92a2a" } else { "#2b8a3e" };
    let title = format!(
        "Fleet release {} — {}",
        r.release,
        if r.name.is_empty() { "simulation" } else { &r.name }
    );
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:sans-serif;margin:24px;color:#212529}}table{{border-collapse:collapse;margin:12px 0}}td,th{{border:1px solid #dee2e6;padding:3px 8px;font-size:13px;text-align:right}}td:first-child,th:first-child{{text-align:left}}.msg{{text-align:left}}</style></head><body>",
        esc(&title)
    );
    let _ = write!(out, "<h1>{}</h1>", esc(&title));
    let _ = write!(
        out,
        "<p style=\"color:{color};font-weight:bold;font-size:16px\">{}</p>",
        esc(&r.decision.message())
    );
    let e = &r.evidence;
    let _ = write!(
        out,
        "<p>{} environments (seed {}), {} with a regression; exposed: <b>{}</b> ({} with the regression). Test: {} with \
         baseline {:.2}%, alternative {:.2}%, false-alarm rate {}%; at the end {} failures counted of {} trials \
         ({:.2}%), Λ = {:.2} against {:.2}.</p>",
        r.environments,
        r.seed,
        r.affected,
        r.exposed,
        r.exposed_affected,
        esc(&e.test),
        100.0 * e.baseline,
        100.0 * e.alternative,
        100.0 * e.false_alarm_rate,
        e.failures,
        e.n,
        100.0 * e.failure_rate(),
        e.statistic,
        e.threshold
    );
    out.push_str(&svg(r));
    out.push_str(
        "<h2>Waves</h2><table><tr><th>wave</th><th>environments</th><th>cumulative</th><th>promoted</th>\
         <th>counted</th><th>release issues</th><th>environment issues</th><th>transient</th><th>undecided</th>\
         <th>failures / trials (all waves)</th><th>Λ</th><th>decision</th></tr>",
    );
    for w in &r.waves {
        let c = &w.counts;
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{:.2}</td><td class=\"msg\">{}</td></tr>",
            esc(&w.name),
            w.environments,
            w.cumulative,
            c.promoted,
            c.counted,
            w.release_issues,
            c.environment_issues,
            c.transient,
            c.undecided(),
            w.evidence.failures,
            w.evidence.n,
            w.evidence.statistic,
            esc(&wave_decision(&w.decision))
        );
    }
    out.push_str("</table><h2>Outcomes</h2><table><tr><th>outcome</th><th>environments</th></tr>");
    for (kind, n) in &r.counts.by_kind {
        let _ = write!(out, "<tr><td>{}</td><td>{n}</td></tr>", kind.as_str());
    }
    out.push_str("</table><h2>Example failures</h2><table><tr><th>environment</th><th>wave</th><th>class</th><th>cause</th></tr>");
    for x in &r.examples {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"msg\">{}</td></tr>",
            esc(&x.environment),
            esc(&x.wave),
            esc(&class_label(x.class)),
            esc(&x.message)
        );
    }
    out.push_str("</table></body></html>\n");
    out
}
