//! What the process needs from the outside world, in its own words: a store and e签宝.
//! Adapters (`crate::store`, `crate::esign`) implement these; the domain never sees SQL or HTTP.
//! `esign`: the e签宝 port; `store`: the store port; `changes`: what other writers committed.
mod changes;
mod esign;
mod store;

pub use changes::*;
pub use esign::*;
pub use store::*;
