//! Pairing the legs of a call (S0-F3, S1-F1, S1-F23) and attaching them to calls that a network
//! element reported (S1-F3–F5).
//!
//! Rules, each tested below:
//! * the pairing key is the normalised `(caller, callee)` pair — S0's `<CALLER><CALLED>` string —
//!   and two legs pair when their numbers agree crosswise (claim 16) and their directions are
//!   opposite; legs of one principal never pair with each other;
//! * extensions must agree when both sides give one; an equal call reference is preferred;
//! * concurrent calls between the same pair pair first-in-first-out;
//! * a withheld caller pairs only when exactly one pending leg fits, reported within
//!   [`WITHHELD_SKEW`] of it, and nothing else competes for it — never by guess; otherwise the
//!   withheld legs end as [`NoMatchReason::Ambiguous`];
//! * a call reported by a network element is authoritative: device legs with its numbers attach
//!   to it rather than pairing with each other, and a pair that formed just before the network
//!   report is bound to that call instead of getting a second session;
//! * pending legs expire at their `expires_at` (the match window).
//!
//! The matcher holds only what is pending; the service persists legs and rebuilds a matcher from
//! the store after a restart by offering the pending legs again in report order.

use crate::leg::{Direction, Leg, LegId};
use crate::number::PhoneNumber;
use crate::principal::PrincipalId;
use crate::secret::SessionKey;
use crate::Millis;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;

/// How far apart (ms) the two reports of a withheld-caller call may be. Phones report when the
/// call starts ringing on either side, seconds apart.
pub const WITHHELD_SKEW: Millis = 30_000;

/// A call reported by a network element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub String);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a leg ended without a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMatchReason {
    /// The match window passed and no other party reported the call.
    Expired,
    /// A withheld caller could have been more than one call: callidse does not guess.
    Ambiguous,
    /// The reporter ended the leg before it matched (e.g. hung up while ringing).
    Withdrawn,
    /// The same device reported a newer outgoing leg to the same number: this one was abandoned
    /// (a caller does not place two calls to one number at once).
    Superseded,
}

impl NoMatchReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NoMatchReason::Expired => "expired",
            NoMatchReason::Ambiguous => "ambiguous",
            NoMatchReason::Withdrawn => "withdrawn",
            NoMatchReason::Superseded => "superseded",
        }
    }
}

/// What happened to an offered leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No counterpart yet: wait until the match window ends.
    Pending,
    /// Paired with this pending leg: create a session for the two.
    Paired(LegId),
    /// Belongs to this network-reported call: join its session.
    Attached(CallId),
    NoMatch(NoMatchReason),
}

/// The outcome of an offer, plus other pending legs the offer ended (ambiguity is contagious).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub outcome: Outcome,
    pub also_ended: Vec<(LegId, NoMatchReason)>,
}

/// What a newly reported network call means for what is already known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAdded {
    /// Two device legs paired for this call moments ago: bind the call to their session.
    BindTo(SessionKey),
    /// A new session is needed; these pending legs attach to it.
    New { attached: Vec<LegId> },
}

/// Something whose time ran out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expired {
    Leg(LegId),
    Call(CallId),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PairKey {
    caller: PhoneNumber,
    callee: PhoneNumber,
}

#[derive(Debug, Clone)]
struct PendingLeg {
    principal: PrincipalId,
    direction: Direction,
    caller: Option<PhoneNumber>,
    callee: PhoneNumber,
    extension: Option<String>,
    call_ref: Option<String>,
    reported_at: Millis,
    expires_at: Millis,
}

impl PendingLeg {
    fn fits(&self, other: &PendingLeg) -> bool {
        self.principal != other.principal
            && self.direction != other.direction
            && match (&self.extension, &other.extension) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    fn same_ref(&self, other: &PendingLeg) -> bool {
        matches!((&self.call_ref, &other.call_ref), (Some(a), Some(b)) if a == b)
    }
}

#[derive(Debug, Clone)]
struct PendingCall {
    key: PairKey,
    expires_at: Millis,
}

/// The in-memory index of pending legs and live network calls.
#[derive(Debug, Default)]
pub struct Matcher {
    legs: HashMap<LegId, PendingLeg>,
    /// Pending outgoing legs by (caller, callee), oldest first.
    outgoing: HashMap<PairKey, VecDeque<LegId>>,
    /// Pending incoming legs whose caller is known.
    incoming: HashMap<PairKey, VecDeque<LegId>>,
    /// Pending outgoing legs by callee: the candidates of a withheld caller.
    outgoing_to: HashMap<PhoneNumber, VecDeque<LegId>>,
    /// Pending incoming legs with a withheld caller, by callee.
    withheld: HashMap<PhoneNumber, VecDeque<LegId>>,
    calls: HashMap<CallId, PendingCall>,
    calls_by_pair: HashMap<PairKey, VecDeque<CallId>>,
    calls_to: HashMap<PhoneNumber, VecDeque<CallId>>,
    /// Device pairs made recently and not yet bound to a network call.
    recent_pairs: HashMap<PairKey, VecDeque<(SessionKey, Millis)>>,
    deadlines: BTreeSet<(Millis, Expired)>,
    /// Pending legs per principal (for the per-principal cap the service enforces).
    per_principal: HashMap<PrincipalId, usize>,
}

impl Matcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pending legs right now.
    pub fn pending_legs(&self) -> usize {
        self.legs.len()
    }

    pub fn is_pending(&self, id: &LegId) -> bool {
        self.legs.contains_key(id)
    }

    /// How many legs of `principal` are pending.
    pub fn pending_of(&self, principal: &PrincipalId) -> usize {
        self.per_principal.get(principal).copied().unwrap_or(0)
    }

    fn count(&mut self, principal: &PrincipalId, up: bool) {
        if up {
            *self.per_principal.entry(principal.clone()).or_default() += 1;
        } else if let Some(n) = self.per_principal.get_mut(principal) {
            *n -= 1;
            if *n == 0 {
                self.per_principal.remove(principal);
            }
        }
    }

    /// Offers a validated leg (see [`Leg::validate`]); it must not have been offered before.
    pub fn offer(&mut self, leg: &Leg) -> Offer {
        debug_assert!(leg.validate().is_ok() && !self.legs.contains_key(&leg.id));
        let p = PendingLeg {
            principal: leg.principal.clone(),
            direction: leg.direction,
            caller: leg.caller().cloned(),
            callee: leg.callee().clone(),
            extension: leg.extension.clone(),
            call_ref: leg.call_ref.clone(),
            reported_at: leg.reported_at,
            expires_at: leg.expires_at,
        };
        let mut also_ended = Vec::new();
        let outcome = self.place(&leg.id, p, &mut also_ended);
        Offer {
            outcome,
            also_ended,
        }
    }

    fn place(
        &mut self,
        id: &LegId,
        p: PendingLeg,
        also_ended: &mut Vec<(LegId, NoMatchReason)>,
    ) -> Outcome {
        // A network element's call wins over device pairing.
        match &p.caller {
            Some(caller) => {
                let key = PairKey {
                    caller: caller.clone(),
                    callee: p.callee.clone(),
                };
                if let Some(call) = self.calls_by_pair.get(&key).and_then(|q| q.front()) {
                    return Outcome::Attached(call.clone());
                }
            }
            None => match self.calls_to.get(&p.callee).map(|q| q.len()).unwrap_or(0) {
                0 => {}
                1 => return Outcome::Attached(self.calls_to[&p.callee][0].clone()),
                _ => return Outcome::NoMatch(NoMatchReason::Ambiguous),
            },
        }

        match (p.direction, p.caller.clone()) {
            (Direction::Outgoing, Some(caller)) => {
                let key = PairKey {
                    caller,
                    callee: p.callee.clone(),
                };
                if let Some(found) = self.best_in(&self.incoming, &key, &p) {
                    self.remove(&found);
                    return Outcome::Paired(found);
                }
                let withheld = self.fitting(self.withheld.get(&p.callee), &p);
                // Other pending callers that could equally be the withheld leg's caller.
                let rivals = match withheld.as_slice() {
                    [w] => self
                        .fitting(self.outgoing_to.get(&p.callee), &self.legs[w])
                        .len(),
                    _ => 0,
                };
                match (withheld.len(), rivals) {
                    (0, _) => {}
                    (1, 0) => {
                        self.remove(&withheld[0]);
                        return Outcome::Paired(withheld[0].clone());
                    }
                    _ => {
                        for w in withheld {
                            self.remove(&w);
                            also_ended.push((w, NoMatchReason::Ambiguous));
                        }
                    }
                }
                self.insert(id, key, p);
                Outcome::Pending
            }
            (Direction::Incoming, Some(caller)) => {
                let key = PairKey {
                    caller,
                    callee: p.callee.clone(),
                };
                if let Some(found) = self.best_in(&self.outgoing, &key, &p) {
                    self.remove(&found);
                    return Outcome::Paired(found);
                }
                self.insert(id, key, p);
                Outcome::Pending
            }
            (Direction::Incoming, None) => {
                let candidates = self.fitting(self.outgoing_to.get(&p.callee), &p);
                let rivals: Vec<LegId> = self
                    .withheld
                    .get(&p.callee)
                    .into_iter()
                    .flatten()
                    .filter(|id| self.legs[*id].principal != p.principal)
                    .cloned()
                    .collect();
                match (candidates.len(), rivals.len()) {
                    (0, _) => {
                        self.insert_withheld(id, p);
                        Outcome::Pending
                    }
                    (1, 0) => {
                        self.remove(&candidates[0]);
                        Outcome::Paired(candidates[0].clone())
                    }
                    _ => {
                        for r in rivals {
                            self.remove(&r);
                            also_ended.push((r, NoMatchReason::Ambiguous));
                        }
                        Outcome::NoMatch(NoMatchReason::Ambiguous)
                    }
                }
            }
            (Direction::Outgoing, None) => {
                unreachable!("Leg::validate rejects outgoing legs without a callee")
            }
        }
    }

    /// The oldest fitting leg in `map[key]`, or an older one with the same call reference.
    fn best_in(
        &self,
        map: &HashMap<PairKey, VecDeque<LegId>>,
        key: &PairKey,
        p: &PendingLeg,
    ) -> Option<LegId> {
        let queue = map.get(key)?;
        let fitting = queue.iter().filter(|id| self.legs[*id].fits(p));
        let mut first = None;
        for id in fitting {
            if self.legs[id].same_ref(p) {
                return Some(id.clone());
            }
            first.get_or_insert(id);
        }
        first.cloned()
    }

    /// Legs in `queue` that could be the other end of `p` when the caller is withheld: besides
    /// fitting, both ends must have reported within [`WITHHELD_SKEW`] of each other, so a leg
    /// left pending for minutes cannot claim a withheld call that starts later.
    fn fitting(&self, queue: Option<&VecDeque<LegId>>, p: &PendingLeg) -> Vec<LegId> {
        queue
            .into_iter()
            .flatten()
            .filter(|id| {
                let other = &self.legs[*id];
                other.fits(p) && (other.reported_at - p.reported_at).abs() <= WITHHELD_SKEW
            })
            .cloned()
            .collect()
    }

    fn insert(&mut self, id: &LegId, key: PairKey, p: PendingLeg) {
        self.deadlines
            .insert((p.expires_at, Expired::Leg(id.clone())));
        match p.direction {
            Direction::Outgoing => {
                self.outgoing_to
                    .entry(p.callee.clone())
                    .or_default()
                    .push_back(id.clone());
                self.outgoing.entry(key).or_default().push_back(id.clone());
            }
            Direction::Incoming => self.incoming.entry(key).or_default().push_back(id.clone()),
        }
        self.count(&p.principal, true);
        self.legs.insert(id.clone(), p);
    }

    fn insert_withheld(&mut self, id: &LegId, p: PendingLeg) {
        self.deadlines
            .insert((p.expires_at, Expired::Leg(id.clone())));
        self.withheld
            .entry(p.callee.clone())
            .or_default()
            .push_back(id.clone());
        self.count(&p.principal, true);
        self.legs.insert(id.clone(), p);
    }

    /// Takes a pending leg out of every index. Returns whether it was pending.
    fn remove(&mut self, id: &LegId) -> bool {
        let Some(p) = self.legs.remove(id) else {
            return false;
        };
        self.count(&p.principal, false);
        self.deadlines
            .remove(&(p.expires_at, Expired::Leg(id.clone())));
        let unqueue = |q: &mut VecDeque<LegId>| q.retain(|x| x != id);
        match (&p.caller, p.direction) {
            (None, _) => drop_from(&mut self.withheld, &p.callee, unqueue),
            (Some(caller), dir) => {
                let key = PairKey {
                    caller: caller.clone(),
                    callee: p.callee.clone(),
                };
                if dir == Direction::Outgoing {
                    drop_from(&mut self.outgoing, &key, unqueue);
                    drop_from(&mut self.outgoing_to, &p.callee, unqueue);
                } else {
                    drop_from(&mut self.incoming, &key, unqueue);
                }
            }
        }
        true
    }

    /// The reporter ended a leg before it matched. Returns whether it was still pending.
    pub fn withdraw(&mut self, id: &LegId) -> bool {
        self.remove(id)
    }

    /// Remembers that two device legs of `(caller, callee)` formed `session` at `at`, so that a
    /// network report of the same call arriving within `window` binds to it.
    pub fn record_pair(
        &mut self,
        caller: &PhoneNumber,
        callee: &PhoneNumber,
        session: SessionKey,
        at: Millis,
    ) {
        let key = PairKey {
            caller: caller.clone(),
            callee: callee.clone(),
        };
        self.recent_pairs
            .entry(key)
            .or_default()
            .push_back((session, at));
    }

    /// The newest session two legs of `(caller, callee)` formed within `window` before `now`
    /// (without consuming it: a network report may still bind to it).
    pub fn recent_pair(
        &self,
        caller: &PhoneNumber,
        callee: &PhoneNumber,
        now: Millis,
        window: Millis,
    ) -> Option<&SessionKey> {
        let key = PairKey {
            caller: caller.clone(),
            callee: callee.clone(),
        };
        self.recent_pairs
            .get(&key)?
            .iter()
            .rev()
            .find(|(_, at)| now - at <= window)
            .map(|(session, _)| session)
    }

    /// A network element reported a call. `window` bounds how old a device pair may be to bind.
    pub fn add_call(
        &mut self,
        id: CallId,
        caller: &PhoneNumber,
        callee: &PhoneNumber,
        now: Millis,
        window: Millis,
        expires_at: Millis,
    ) -> CallAdded {
        let key = PairKey {
            caller: caller.clone(),
            callee: callee.clone(),
        };
        let mut bind = None;
        if let Some(q) = self.recent_pairs.get_mut(&key) {
            q.retain(|(_, at)| now - at <= window);
            bind = q.pop_front().map(|(session, _)| session);
            if q.is_empty() {
                self.recent_pairs.remove(&key);
            }
        }
        if let Some(session) = bind {
            // Later legs of this call (another device of a party) attach to it too.
            self.index_call(id, key, expires_at);
            return CallAdded::BindTo(session);
        }
        let mut attached: Vec<LegId> = Vec::new();
        for map in [&self.outgoing, &self.incoming] {
            attached.extend(map.get(&key).into_iter().flatten().cloned());
        }
        if !self.calls_to.contains_key(callee) {
            attached.extend(self.withheld.get(callee).into_iter().flatten().cloned());
        }
        for leg in &attached {
            self.remove(leg);
        }
        self.index_call(id, key, expires_at);
        CallAdded::New { attached }
    }

    fn index_call(&mut self, id: CallId, key: PairKey, expires_at: Millis) {
        self.calls_by_pair
            .entry(key.clone())
            .or_default()
            .push_back(id.clone());
        self.calls_to
            .entry(key.callee.clone())
            .or_default()
            .push_back(id.clone());
        self.deadlines
            .insert((expires_at, Expired::Call(id.clone())));
        self.calls.insert(id, PendingCall { key, expires_at });
    }

    /// The network reported the end of a call: legs no longer attach to it.
    pub fn remove_call(&mut self, id: &CallId) -> bool {
        let Some(call) = self.calls.remove(id) else {
            return false;
        };
        self.deadlines
            .remove(&(call.expires_at, Expired::Call(id.clone())));
        let unqueue = |q: &mut VecDeque<CallId>| q.retain(|x| x != id);
        drop_from(&mut self.calls_by_pair, &call.key, unqueue);
        drop_from(&mut self.calls_to, &call.key.callee, unqueue);
        true
    }

    /// Removes and returns everything whose deadline is at or before `now`.
    pub fn expire(&mut self, now: Millis) -> Vec<Expired> {
        let mut out = Vec::new();
        while let Some((at, item)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            match &item {
                Expired::Leg(id) => {
                    self.remove(id);
                }
                Expired::Call(id) => {
                    self.remove_call(id);
                }
            }
            self.deadlines.remove(&(at, item.clone()));
            out.push(item);
        }
        out
    }

    /// Forgets device pairs older than `window` that no network report claimed.
    pub fn forget_pairs_before(&mut self, cutoff: Millis) {
        self.recent_pairs.retain(|_, q| {
            q.retain(|(_, at)| *at >= cutoff);
            !q.is_empty()
        });
    }

    /// The earliest deadline, for the timer that calls [`Matcher::expire`].
    pub fn next_deadline(&self) -> Option<Millis> {
        self.deadlines.first().map(|(at, _)| *at)
    }
}

fn drop_from<K: std::hash::Hash + Eq + Clone, V>(
    map: &mut HashMap<K, VecDeque<V>>,
    key: &K,
    f: impl FnOnce(&mut VecDeque<V>),
) {
    if let Some(q) = map.get_mut(key) {
        f(q);
        if q.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
