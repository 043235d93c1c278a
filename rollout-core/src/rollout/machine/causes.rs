//! The causes ([`Why`]) the machine records: aborts, holds and degraded conditions, merged into
//! `status.why` when the tick ends (see [`crate::rollout::why`]).

use super::Ctx;
use crate::rollout::why::{self, Why};

impl Ctx<'_> {
    /// Requests an abort this tick (the first request wins) for the cause `why`.
    pub fn abort(&mut self, why: Why) {
        if self.add_abort.is_none() {
            let mut why = why.into_abort();
            why.revision = Some(self.revision());
            self.add_abort = Some(why.detail.clone());
            self.record_why(why.clone(), false);
            self.abort_why = Some(why);
        }
    }

    /// The cause of the abort in effect: this tick's request, else the persisted abort cause
    /// (its detail is not repeated once the request's tick is over, as upstream's message), else
    /// a user abort.
    pub fn current_abort_why(&self) -> Why {
        let mut why = match &self.abort_why {
            Some(w) => w.clone(),
            None => self
                .prev
                .why
                .iter()
                .find(|w| w.is_abort())
                .map(|w| Why {
                    detail: String::new(),
                    ..w.clone()
                })
                .unwrap_or_else(Why::user_abort),
        };
        why.revision = Some(self.revision());
        why
    }

    /// Records a cause found this tick; `replace` when its condition was written this tick.
    pub fn record_why(&mut self, why: Why, replace: bool) {
        self.found_whys.push(why::Found { why, replace });
    }
}
