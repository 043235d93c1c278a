//! Small value types shared by the rollout and analysis machines.

mod duration;
mod int_or_string;
mod meta;

pub use duration::{DurationError, parse_duration};
pub use int_or_string::IntOrString;
pub use meta::ObjectMeta;

/// A point in time. The core never reads a clock: every `now` is passed in by the caller.
pub type Timestamp = jiff::Timestamp;
