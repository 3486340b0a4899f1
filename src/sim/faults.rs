//! Faults the simulator injects on demand: per upstream endpoint (5xx, slow answer, garbage body,
//! business refusal) and per callback (lost, duplicated, reordered), each for the next N calls or
//! with a probability; plus a seeded "chaos" mode that picks faults at random across all kinds.
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use crate::esign::api::Endpoint;

/// What an upstream call suffers instead of (or before) its normal answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "FaultKindWire", into = "FaultKindWire")]
pub enum FaultKind {
    /// Answer this HTTP status (meant for 5xx) with a body that is not the envelope.
    Status(u16),
    /// Wait this long, then answer normally (a client with a shorter timeout sees a timeout).
    Delay(Duration),
    /// Answer HTTP 200 with a body that is not e签宝's envelope.
    Malformed,
    /// Answer HTTP 200 with `{"code": code, "message": message, "data": null}` and do nothing.
    Business { code: i64, message: String },
}

/// `FaultKind` on the control API: `{"kind":"status","status":503}`, `{"kind":"delay","ms":200}`,
/// `{"kind":"malformed"}`, `{"kind":"business","code":30500001,"message":"…"}`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FaultKindWire {
    Status { status: u16 },
    Delay { ms: u64 },
    Malformed,
    Business { code: i64, message: String },
}

impl From<FaultKindWire> for FaultKind {
    fn from(w: FaultKindWire) -> Self {
        match w {
            FaultKindWire::Status { status } => Self::Status(status),
            FaultKindWire::Delay { ms } => Self::Delay(Duration::from_millis(ms)),
            FaultKindWire::Malformed => Self::Malformed,
            FaultKindWire::Business { code, message } => Self::Business { code, message },
        }
    }
}

impl From<FaultKind> for FaultKindWire {
    fn from(k: FaultKind) -> Self {
        match k {
            FaultKind::Status(status) => Self::Status { status },
            FaultKind::Delay(d) => Self::Delay { ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX) },
            FaultKind::Malformed => Self::Malformed,
            FaultKind::Business { code, message } => Self::Business { code, message },
        }
    }
}

/// What happens to a callback instead of one normal delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackFault {
    /// Not sent at all (a lost notification).
    Drop,
    /// Sent twice (e签宝 does this by design with a console webhook plus a notify URL).
    Duplicate,
    /// Held back and delivered after the next callback (or on `release_held_callbacks`).
    Reorder,
}

/// When a fault applies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTrigger {
    /// To each of the next N calls.
    Times(u32),
    /// To each call with this probability (0..=1), drawn from the simulator's seeded RNG.
    Probability(f64),
}

/// Random faults across all kinds, reproducible from `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chaos {
    /// Probability that any one upstream call or callback suffers a fault.
    pub probability: f64,
    pub seed: u64,
    /// Upper bound of injected delays.
    #[serde(with = "millis", rename = "maxDelayMs")]
    pub max_delay: Duration,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointFaultRule {
    pub endpoint: Endpoint,
    pub fault: FaultKind,
    pub trigger: FaultTrigger,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallbackFaultRule {
    pub fault: CallbackFault,
    pub trigger: FaultTrigger,
}

/// Every armed fault, in arming order, and the RNG that draws probabilities.
#[derive(Debug)]
pub(crate) struct FaultBook {
    endpoint_rules: Vec<EndpointFaultRule>,
    callback_rules: Vec<CallbackFaultRule>,
    chaos: Option<Chaos>,
    rng: StdRng,
}

impl Default for FaultBook {
    fn default() -> Self {
        Self { endpoint_rules: Vec::new(), callback_rules: Vec::new(), chaos: None, rng: StdRng::from_os_rng() }
    }
}

/// Fires a rule's trigger: `Times` counts down, `Probability` rolls.
fn fire(trigger: &mut FaultTrigger, rng: &mut StdRng) -> bool {
    match trigger {
        FaultTrigger::Times(0) => false,
        FaultTrigger::Times(n) => {
            *n -= 1;
            true
        }
        FaultTrigger::Probability(p) => roll(rng, *p),
    }
}

fn spent(trigger: FaultTrigger) -> bool {
    matches!(trigger, FaultTrigger::Times(0))
}

fn roll(rng: &mut StdRng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

impl FaultBook {
    pub fn add_endpoint_rule(&mut self, rule: EndpointFaultRule) {
        self.endpoint_rules.push(rule);
    }

    pub fn add_callback_rule(&mut self, rule: CallbackFaultRule) {
        self.callback_rules.push(rule);
    }

    /// Sets (and reseeds) or clears chaos mode; reseeding makes a chaos run reproducible.
    pub fn set_chaos(&mut self, chaos: Option<Chaos>) {
        if let Some(c) = chaos {
            self.rng = StdRng::seed_from_u64(c.seed);
        }
        self.chaos = chaos;
    }

    pub fn clear(&mut self) {
        self.endpoint_rules.clear();
        self.callback_rules.clear();
        self.chaos = None;
    }

    pub fn endpoint_rules(&self) -> &[EndpointFaultRule] {
        &self.endpoint_rules
    }

    pub fn callback_rules(&self) -> &[CallbackFaultRule] {
        &self.callback_rules
    }

    pub fn chaos(&self) -> Option<Chaos> {
        self.chaos
    }

    /// The fault the next call to `endpoint` suffers, if any: the first armed rule that fires,
    /// else a chaos draw. Business refusals are never drawn by chaos: they are final answers, and
    /// chaos tests check that transient faults heal.
    pub fn next_endpoint_fault(&mut self, endpoint: Endpoint) -> Option<FaultKind> {
        let rng = &mut self.rng;
        let picked = self
            .endpoint_rules
            .iter_mut()
            .filter(|r| r.endpoint == endpoint)
            .find_map(|rule| fire(&mut rule.trigger, rng).then(|| rule.fault.clone()));
        self.endpoint_rules.retain(|r| !spent(r.trigger));
        if picked.is_some() {
            return picked;
        }
        let chaos = self.chaos?;
        if !roll(&mut self.rng, chaos.probability) {
            return None;
        }
        Some(match self.rng.random_range(0..3u8) {
            0 => FaultKind::Status(503),
            1 => {
                let max = u64::try_from(chaos.max_delay.as_millis()).unwrap_or(u64::MAX);
                FaultKind::Delay(Duration::from_millis(self.rng.random_range(0..=max)))
            }
            _ => FaultKind::Malformed,
        })
    }

    /// The fault the next callback suffers, if any (same rules as endpoints).
    pub fn next_callback_fault(&mut self) -> Option<CallbackFault> {
        let rng = &mut self.rng;
        let picked = self.callback_rules.iter_mut().find_map(|rule| fire(&mut rule.trigger, rng).then_some(rule.fault));
        self.callback_rules.retain(|r| !spent(r.trigger));
        if picked.is_some() {
            return picked;
        }
        let chaos = self.chaos?;
        if !roll(&mut self.rng, chaos.probability) {
            return None;
        }
        Some(match self.rng.random_range(0..3u8) {
            0 => CallbackFault::Drop,
            1 => CallbackFault::Duplicate,
            _ => CallbackFault::Reorder,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_rules_fire_n_times_then_disappear() {
        let mut book = FaultBook::default();
        book.add_endpoint_rule(EndpointFaultRule {
            endpoint: Endpoint::Outline,
            fault: FaultKind::Malformed,
            trigger: FaultTrigger::Times(2),
        });
        assert_eq!(book.next_endpoint_fault(Endpoint::Face), None);
        assert_eq!(book.next_endpoint_fault(Endpoint::Outline), Some(FaultKind::Malformed));
        assert_eq!(book.next_endpoint_fault(Endpoint::Outline), Some(FaultKind::Malformed));
        assert_eq!(book.next_endpoint_fault(Endpoint::Outline), None);
        assert!(book.endpoint_rules().is_empty());
    }

    #[test]
    fn chaos_is_reproducible_from_its_seed() {
        let draw = || {
            let mut book = FaultBook::default();
            book.set_chaos(Some(Chaos { probability: 0.5, seed: 7, max_delay: Duration::from_millis(20) }));
            (0..50)
                .map(|i| {
                    if i % 2 == 0 {
                        format!("{:?}", book.next_endpoint_fault(Endpoint::AuthQuery))
                    } else {
                        format!("{:?}", book.next_callback_fault())
                    }
                })
                .collect::<Vec<_>>()
        };
        let a = draw();
        assert_eq!(a, draw());
        assert!(a.iter().any(|s| s != "None") && a.iter().any(|s| s == "None"));
        assert!(!a.iter().any(|s| s.contains("Business")));
    }

    #[test]
    fn fault_kinds_read_the_control_api_json() {
        let k: FaultKind = serde_json::from_str(r#"{"kind":"delay","ms":250}"#).unwrap();
        assert_eq!(k, FaultKind::Delay(Duration::from_millis(250)));
        let k: FaultKind = serde_json::from_str(r#"{"kind":"business","code":30500001,"message":"x"}"#).unwrap();
        assert_eq!(k, FaultKind::Business { code: 30500001, message: "x".into() });
        assert_eq!(serde_json::to_string(&FaultKind::Status(503)).unwrap(), r#"{"kind":"status","status":503}"#);
    }
}
