//! Tests of the audit: rates, buckets, `--since`, classes (tables) and count invariants (proptest).

use super::*;
use proptest::prelude::*;

const DAY: i64 = 86_400;
/// 2026-11-30, a Monday, 00:00 UTC.
const MONDAY: i64 = 1_795_996_800;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

fn entry(env: &str, hash: &str, t: i64, outcome: OutcomeKind, review: Option<Review>) -> AuditEntry {
    AuditEntry {
        environment: env.into(),
        pod_template_hash: hash.into(),
        run: Some(format!("{env}-{hash}-{t}")),
        templates: vec!["health".into()],
        judges: vec!["ratio".into()],
        at: at(t),
        outcome,
        why: Vec::new(),
        review,
        note: String::new(),
    }
}

fn window(bucket: Bucket) -> Window {
    Window::ending_at(at(MONDAY + 7 * DAY), 7 * DAY, bucket)
}

#[test]
fn monday_constant_is_a_monday() {
    assert_eq!(at(MONDAY).to_string(), "2026-11-30T00:00:00Z");
    assert_eq!(
        jiff::civil::date(2026, 11, 30).weekday(),
        jiff::civil::Weekday::Monday
    );
}

#[test]
fn parse_since_table() {
    let ok = [
        ("30m", 1_800),
        ("24h", DAY),
        ("7d", 7 * DAY),
        ("2w", 14 * DAY),
        (" 366d ", 366 * DAY),
    ];
    for (text, want) in ok {
        assert_eq!(parse_since("--since", text).unwrap(), want, "{text}");
    }
    let bad = [
        ("", "expected a number"),
        ("d", "expected a number"),
        ("7", "missing unit"),
        ("7x", "unknown unit"),
        ("7dd", "unknown unit"),
        ("-7d", "expected a number"),
        ("0h", "longer than zero"),
        ("367d", "at most 366d"),
        ("99999999999999999999d", "too large"),
    ];
    for (text, want) in bad {
        let e = parse_since("--since", text).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("--since: Invalid value"), "{text}: {shown}");
        assert!(shown.contains(want), "{text}: {shown}");
    }
}

#[test]
fn bucket_starts_table() {
    let day = window(Bucket::Day);
    let week = window(Bucket::Week);
    let cases = [
        // (instant, day bucket, week bucket)
        (MONDAY, MONDAY, MONDAY),
        (MONDAY + 5 * DAY + 3_600, MONDAY + 5 * DAY, MONDAY),
        (MONDAY - 1, MONDAY - DAY, MONDAY - 7 * DAY),
        (MONDAY + 7 * DAY - 1, MONDAY + 6 * DAY, MONDAY),
    ];
    for (t, d, w) in cases {
        assert_eq!(day.bucket_start(at(t)), at(d), "day of {t}");
        assert_eq!(week.bucket_start(at(t)), at(w), "week of {t}");
    }
}

#[test]
fn rates_table() {
    use OutcomeKind::*;
    let fa = Some(Review::FalseAlarm);
    let reg = Some(Review::Regression);
    // (outcomes with reviews, runs, failures, false alarms, unreviewed, misses, FA rate, miss rate)
    type Case = (
        Vec<(OutcomeKind, Option<Review>)>,
        u64,
        u64,
        u64,
        u64,
        u64,
        Option<f64>,
        Option<f64>,
    );
    let cases: Vec<Case> = vec![
        (vec![], 0, 0, 0, 0, 0, None, None),
        (
            vec![(Promoted, None), (Promoted, None)],
            2,
            0,
            0,
            0,
            0,
            None,
            Some(0.0),
        ),
        (vec![(AnalysisFailed, None)], 1, 1, 0, 1, 0, None, None),
        (
            vec![
                (AnalysisFailed, fa),
                (AnalysisFailed, reg),
                (AnalysisFailed, None),
            ],
            3,
            3,
            1,
            1,
            0,
            Some(0.5),
            None,
        ),
        (
            vec![
                (AnalysisFailed, fa),
                (Promoted, reg),
                (Promoted, None),
                (Promoted, None),
                (Promoted, None),
            ],
            5,
            1,
            1,
            0,
            1,
            Some(1.0),
            Some(0.25),
        ),
        (
            vec![(Inconclusive, fa), (AnalysisError, reg), (InProgress, None)],
            2,
            2,
            1,
            0,
            0,
            Some(0.5),
            None,
        ),
        (vec![(Promoted, fa)], 1, 0, 0, 0, 0, None, Some(0.0)),
    ];
    for (i, (outcomes, runs, failures, fas, unreviewed, misses, fa_rate, miss_rate)) in
        cases.into_iter().enumerate()
    {
        let entries: Vec<AuditEntry> = outcomes
            .iter()
            .enumerate()
            .map(|(k, (o, r))| entry("ns/app", &format!("h{k}"), MONDAY + DAY, *o, *r))
            .collect();
        let report = audit(&entries, &window(Bucket::Day), &ClassificationPolicy::default());
        let t = &report.total;
        assert_eq!(
            (
                t.runs,
                t.failures,
                t.false_alarms,
                t.unreviewed,
                t.misses,
                t.false_alarm_rate,
                t.miss_rate
            ),
            (runs, failures, fas, unreviewed, misses, fa_rate, miss_rate),
            "case {i}"
        );
        assert_eq!(report.not_promoted.len() as u64, failures, "case {i}");
    }
}

#[test]
fn groups_buckets_window_and_classes() {
    use OutcomeKind::*;
    let mut e = vec![
        entry(
            "ns/a",
            "h1",
            MONDAY + 3_600,
            AnalysisFailed,
            Some(Review::FalseAlarm),
        ),
        entry("ns/a", "h2", MONDAY + DAY, Promoted, None),
        entry("ns/b", "h1", MONDAY + DAY + 10, ProviderUnreachable, None),
        entry("ns/b", "h1", MONDAY - 10, AnalysisFailed, None), // before the window
    ];
    e[1].templates = vec!["health".into(), "latency".into()];
    e[1].judges = vec![];
    let mut deadline = entry("ns/c", "h9", MONDAY + 2 * DAY, ProgressDeadline, None);
    deadline.run = None;
    deadline.templates = vec![];
    deadline.why = vec![Why::progress_deadline(None, "timed out".into())];
    e.push(deadline);
    let r = audit(&e, &window(Bucket::Day), &ClassificationPolicy::default());
    let classes: Vec<_> = r
        .not_promoted
        .iter()
        .map(|n| (n.entry.environment.as_str(), n.class.map(FailureClass::as_str)))
        .collect();
    assert_eq!(
        classes,
        [
            ("ns/a", Some("suspect")),
            ("ns/b", Some("transient")),
            ("ns/c", Some("suspect"))
        ]
    );
    assert_eq!(r.total.runs, 4);
    let names: Vec<_> = r
        .templates
        .iter()
        .map(|g| (g.name.as_str(), g.total.runs, g.buckets.len()))
        .collect();
    assert_eq!(names, [("health", 3, 2), ("latency", 1, 1)]);
    let judges: Vec<_> = r.judges.iter().map(|g| (g.name.as_str(), g.total.runs)).collect();
    assert_eq!(judges, [("ratio", 2)]);
    let health = &r.templates[0];
    assert_eq!(health.buckets[0].start, at(MONDAY));
    assert_eq!(health.buckets[0].rates.false_alarm_rate, Some(1.0));
    assert_eq!(health.buckets[1].rates.unreviewed, 1);
    let weekly = audit(&e, &window(Bucket::Week), &ClassificationPolicy::default());
    assert_eq!(weekly.templates[0].buckets.len(), 1);
}

#[test]
fn an_environment_failing_other_updates_is_an_environment_issue() {
    let e: Vec<_> = (0..3)
        .map(|k| {
            entry(
                "ns/flaky",
                &format!("h{k}"),
                MONDAY + k * 3_600,
                OutcomeKind::AnalysisFailed,
                None,
            )
        })
        .collect();
    let r = audit(&e, &window(Bucket::Day), &ClassificationPolicy::default());
    assert!(
        r.not_promoted
            .iter()
            .all(|n| n.class.map(FailureClass::as_str) == Some("environment-issue"))
    );
}

fn arb_entry() -> impl Strategy<Value = AuditEntry> {
    let outcome = prop::sample::select(OutcomeKind::ALL.to_vec());
    let review = prop::option::of(prop_oneof![Just(Review::FalseAlarm), Just(Review::Regression)]);
    (
        0..4u8,
        0..3u8,
        -2 * DAY..9 * DAY,
        outcome,
        review,
        0..3usize,
        any::<bool>(),
    )
        .prop_map(|(env, hash, t, outcome, review, templates, judged)| {
            let mut e = entry(
                &format!("ns/e{env}"),
                &format!("h{hash}"),
                MONDAY + t,
                outcome,
                review,
            );
            e.templates = ["a", "b", "c"][..templates]
                .iter()
                .map(|s| s.to_string())
                .collect();
            if !judged {
                e.judges.clear();
            }
            e
        })
}

fn check(r: &Rates) {
    assert_eq!(r.runs, r.passed + r.failures);
    assert_eq!(r.failures, r.false_alarms + r.confirmed + r.unreviewed);
    assert!(r.misses + r.mismarked <= r.passed);
    for rate in [r.false_alarm_rate, r.miss_rate].into_iter().flatten() {
        assert!((0.0..=1.0).contains(&rate));
    }
}

proptest! {
    #[test]
    fn counts_add_up(entries in prop::collection::vec(arb_entry(), 0..60), weekly in any::<bool>()) {
        let w = window(if weekly { Bucket::Week } else { Bucket::Day });
        let r = audit(&entries, &w, &ClassificationPolicy::default());
        check(&r.total);
        let inside = entries.iter().filter(|e| w.contains(e.at)).count() as u64;
        prop_assert_eq!(r.total.runs + r.total.in_progress, inside);
        prop_assert_eq!(r.not_promoted.len() as u64, r.total.failures);
        prop_assert!(r.not_promoted.iter().all(|n| w.contains(n.entry.at)));
        for g in r.templates.iter().chain(&r.judges) {
            check(&g.total);
            let mut sum = Rates::default();
            for b in &g.buckets {
                check(&b.rates);
                prop_assert!(b.start <= w.end && w.bucket_start(b.start) == b.start);
                sum.runs += b.rates.runs;
                sum.failures += b.rates.failures;
                sum.false_alarms += b.rates.false_alarms;
                sum.misses += b.rates.misses;
                sum.in_progress += b.rates.in_progress;
            }
            prop_assert_eq!(
                (sum.runs, sum.failures, sum.false_alarms, sum.misses, sum.in_progress),
                (g.total.runs, g.total.failures, g.total.false_alarms, g.total.misses, g.total.in_progress)
            );
        }
        // Every decided run counts in at least one template group.
        let template_runs: u64 = r.templates.iter().map(|g| g.total.runs).sum();
        prop_assert!(template_runs >= r.total.runs);
    }
}
