//! The Rollout: spec/status types, validation, replica math and the rollout machine (issue #3).
