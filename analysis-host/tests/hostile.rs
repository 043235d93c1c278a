//! Hostile judges from `plugins/dist/hostile-*.wasm` and broken files: each gives the right typed
//! error with a clear message, and the same host keeps evaluating the reference judge afterwards.

mod common;

use std::time::Duration;

use analysis_host::{HostConfig, HostError, JudgeHost, LoadOptions};
use common::{dist, healthy, load, small_host};
use rollout_core::analysis::judge::{JudgeInput, VerdictPhase};

/// The host still works: the reference judge gives its normal verdict.
fn assert_healthy(host: &JudgeHost) {
    let judge = load(host, "rust-error-ratio");
    let v = judge.evaluate(&healthy()).unwrap().outcome.unwrap();
    assert_eq!(v.phase, VerdictPhase::Successful);
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let host = small_host();
    let judge = load(&host, "hostile-infinite-loop");
    let err = judge.evaluate(&healthy()).unwrap_err();
    assert!(
        matches!(err, HostError::FuelExhausted { budget: 20_000_000 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "judge ran out of its budget of 20000000 instructions"
    );
    assert_healthy(&host);
}

#[test]
fn infinite_loop_hits_the_deadline_when_fuel_is_unlimited() {
    let host = JudgeHost::new(HostConfig {
        fuel: u64::MAX / 2,
        deadline: Duration::from_millis(50),
        max_concurrent: 2,
        ..HostConfig::default()
    })
    .unwrap();
    let judge = load(&host, "hostile-infinite-loop");
    let err = judge.evaluate(&healthy()).unwrap_err();
    assert!(matches!(err, HostError::Deadline { millis: 50 }), "{err:?}");
    assert_eq!(err.to_string(), "judge exceeded the wall-clock deadline of 50 ms");
    assert_healthy(&host);
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    let host = JudgeHost::new(HostConfig {
        max_memory_bytes: 16 << 20,
        max_concurrent: 2,
        ..HostConfig::default()
    })
    .unwrap();
    let judge = load(&host, "hostile-memory-bomb");
    let err = judge.evaluate(&healthy()).unwrap_err();
    match &err {
        HostError::MemoryLimit { limit, requested } => {
            assert_eq!(*limit, 16 << 20);
            assert!(*requested > 16 << 20, "{requested}");
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("judge exceeded its memory limit of 16777216 bytes"),
        "{err}"
    );
    assert_healthy(&host);
}

#[test]
fn stack_overflow_is_caught() {
    let host = small_host();
    let judge = load(&host, "hostile-stack-overflow");
    let err = judge.evaluate(&healthy()).unwrap_err();
    assert!(matches!(err, HostError::StackOverflow), "{err:?}");
    assert_eq!(err.to_string(), "judge overflowed its call stack");
    assert_healthy(&host);
}

/// The Rust judges keep a 64 KiB stack first in linear memory (`plugins/build-rust`): running out
/// of it moves the stack pointer below address 0, so the judge traps instead of writing over its
/// own data, and the host stays healthy.
#[test]
fn stack_in_linear_memory_running_out_is_a_trap() {
    let host = small_host();
    let judge = load(&host, "hostile-stack-overflow");
    let input = JudgeInput {
        metric: "shadow-stack".into(),
        ..healthy()
    };
    let err = judge.evaluate(&input).unwrap_err();
    match &err {
        HostError::Trap(message) => assert!(message.contains("out of bounds memory access"), "{message}"),
        other => panic!("expected an out-of-bounds trap, got {other:?}"),
    }
    assert_healthy(&host);
}

#[test]
fn panic_is_a_trap() {
    let host = small_host();
    let judge = load(&host, "hostile-panic");
    let err = judge.evaluate(&healthy()).unwrap_err();
    assert!(
        matches!(&err, HostError::Trap(m) if m.contains("unreachable")),
        "{err:?}"
    );
    assert_healthy(&host);
}

#[test]
fn huge_output_is_refused() {
    let host = JudgeHost::new(HostConfig {
        max_concurrent: 2,
        ..HostConfig::default()
    })
    .unwrap();
    let judge = load(&host, "hostile-huge-output");
    let err = judge.evaluate(&healthy()).unwrap_err();
    match err {
        HostError::OutputTooLarge { size, limit } => {
            assert_eq!(limit, 1 << 20);
            assert!(size > 4 << 20, "{size}");
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    assert_healthy(&host);
}

#[test]
fn wasi_import_is_refused_without_opt_in() {
    let host = small_host();
    let err = host
        .load_file(&dist("hostile-wasi-import"), &LoadOptions::default())
        .unwrap_err();
    assert!(matches!(err, HostError::WasiNotAllowed { .. }), "{err:?}");
    // Says what the user can do: rebuild the judge pure, or (embedding the host) opt in.
    assert_eq!(
        err.to_string(),
        "judge imports WASI (wasi:random/random@0.2.3), but a judge must be pure (import nothing but \
         rollout:judge/types): rebuild it without WASI (plugins/README.md shows how for Rust, C, Python and \
         JavaScript); a program embedding analysis-host with its `wasi` feature can instead grant a \
         capability-less WASI with LoadOptions::allow_wasi"
    );
    assert_healthy(&host);
}

#[cfg(feature = "wasi")]
#[test]
fn wasi_opt_in_gets_a_deterministic_context() {
    let host = small_host();
    let opts = LoadOptions {
        sha256: None,
        allow_wasi: true,
    };
    let judge = host.load_file(&dist("hostile-wasi-import"), &opts).unwrap();
    let a = judge.evaluate(&healthy()).unwrap().outcome.unwrap();
    let b = judge.evaluate(&healthy()).unwrap().outcome.unwrap();
    assert_eq!(a.code, "random");
    assert!(a.reason.starts_with("random "), "{}", a.reason);
    // Fixed seed: every fresh store sees the same "random" number.
    assert_eq!(a.reason, b.reason);
}

#[cfg(not(feature = "wasi"))]
#[test]
fn wasi_opt_in_needs_the_wasi_feature() {
    let host = small_host();
    let opts = LoadOptions {
        sha256: None,
        allow_wasi: true,
    };
    let err = host.load_file(&dist("hostile-wasi-import"), &opts).unwrap_err();
    assert!(matches!(err, HostError::WasiUnavailable { .. }), "{err:?}");
}

#[test]
fn wrong_interface_version_is_refused() {
    let host = small_host();
    let err = host
        .load_file(&dist("hostile-wrong-version"), &LoadOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "judge exports rollout:judge/evaluator@0.2.0, but this host supports rollout:judge/evaluator@0.1.0"
    );
    assert_healthy(&host);
}

#[test]
fn digest_mismatch_is_refused() {
    let host = small_host();
    let pin = "0".repeat(64);
    let err = host
        .load_file(
            &dist("rust-error-ratio"),
            &LoadOptions {
                sha256: Some(pin.clone()),
                allow_wasi: false,
            },
        )
        .unwrap_err();
    match &err {
        HostError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, &pin);
            assert_eq!(actual.len(), 64);
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("judge digest mismatch: expected sha256 {pin}, got "))
    );
    assert_healthy(&host);
}

#[test]
fn truncated_file_is_malformed() {
    let host = small_host();
    let bytes = std::fs::read(dist("rust-error-ratio")).unwrap();
    for len in [bytes.len() / 2, bytes.len() - 1, 9] {
        let err = host
            .load_bytes(&bytes[..len], &LoadOptions::default())
            .unwrap_err();
        assert!(matches!(err, HostError::Malformed(_)), "len {len}: {err:?}");
        assert!(err.to_string().starts_with("invalid judge component: "), "{err}");
    }
    assert_healthy(&host);
}

#[test]
fn core_modules_and_garbage_are_not_components() {
    let host = small_host();
    let core = host
        .load_bytes(b"\0asm\x01\0\0\0", &LoadOptions::default())
        .unwrap_err();
    assert!(core.to_string().contains("core wasm module"), "{core}");
    let garbage = host
        .load_bytes(b"#!/bin/sh\necho hi\n", &LoadOptions::default())
        .unwrap_err();
    assert!(matches!(garbage, HostError::NotAComponent(_)), "{garbage:?}");
    let missing = host
        .load_file(&dist("no-such-judge"), &LoadOptions::default())
        .unwrap_err();
    assert!(
        missing.to_string().starts_with("cannot read judge file "),
        "{missing}"
    );
}

#[test]
fn oversized_input_is_refused_before_running() {
    let host = JudgeHost::new(HostConfig {
        max_input_bytes: 1000,
        max_concurrent: 2,
        ..HostConfig::default()
    })
    .unwrap();
    let judge = load(&host, "rust-error-ratio");
    let many: Vec<(f64, f64)> = (0..100).map(|_| (1.0, 10.0)).collect();
    let input = common::input(
        vec![common::ratios("canary", &many), common::ratios("stable", &many)],
        &[],
    );
    let err = judge.evaluate(&input).unwrap_err();
    assert!(
        matches!(err, HostError::InputTooLarge { limit: 1000, .. }),
        "{err:?}"
    );
}

#[test]
fn no_state_leaks_between_evaluations() {
    let host = small_host();
    let judge = load(&host, "hostile-global-state");
    for _ in 0..50 {
        let v = judge.evaluate(&healthy()).unwrap().outcome.unwrap();
        // A fresh instance every time: the global counter and the leftover allocation start over.
        assert_eq!(v.reason, "calls 1 blocks 1");
    }
}

#[test]
fn ten_thousand_misbehaving_evaluations_do_not_grow_rss() {
    let host = small_host();
    let judge = load(&host, "hostile-panic");
    let input = healthy();
    for _ in 0..500 {
        assert!(judge.evaluate(&input).is_err());
    }
    let before = common::rss_bytes();
    for _ in 0..10_000 {
        assert!(matches!(judge.evaluate(&input), Err(HostError::Trap(_))));
    }
    let after = common::rss_bytes();
    let growth = after.saturating_sub(before);
    assert!(
        growth < 8 << 20,
        "RSS grew by {growth} bytes over 10k evaluations ({before} -> {after})"
    );
    assert_healthy(&host);
}
