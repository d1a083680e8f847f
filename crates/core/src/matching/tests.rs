use super::*;
use proptest::prelude::*;

const WINDOW: Millis = 120_000;

fn num(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s, None).unwrap()
}

const ALICE: &str = "+442079460001";
const BOB: &str = "+442079460002";
const CAROL: &str = "+442079460003";

struct Reporter {
    m: Matcher,
    next: u32,
    now: Millis,
}

impl Reporter {
    fn new() -> Self {
        Reporter {
            m: Matcher::new(),
            next: 0,
            now: 1_000,
        }
    }

    fn leg(&mut self, who: &str, own: &str, other: Option<&str>, dir: Direction) -> Leg {
        self.next += 1;
        Leg {
            id: LegId(format!("leg{}", self.next)),
            principal: PrincipalId(who.into()),
            own: num(own),
            other: other.map(num),
            direction: dir,
            call_ref: None,
            extension: None,
            conference_id: None,
            reported_at: self.now,
            expires_at: self.now + WINDOW,
        }
    }

    fn out(&mut self, who: &str, own: &str, to: &str) -> (LegId, Offer) {
        let l = self.leg(who, own, Some(to), Direction::Outgoing);
        (l.id.clone(), self.m.offer(&l))
    }

    fn inc(&mut self, who: &str, own: &str, from: Option<&str>) -> (LegId, Offer) {
        let l = self.leg(who, own, from, Direction::Incoming);
        (l.id.clone(), self.m.offer(&l))
    }
}

fn pending() -> Offer {
    Offer {
        outcome: Outcome::Pending,
        also_ended: vec![],
    }
}

fn paired(with: &LegId) -> Offer {
    Offer {
        outcome: Outcome::Paired(with.clone()),
        also_ended: vec![],
    }
}

#[test]
fn crosswise_legs_pair_in_either_order() {
    let mut r = Reporter::new();
    let (a, o) = r.out("dev_a", ALICE, BOB);
    assert_eq!(o, pending());
    let (_, o) = r.inc("dev_b", BOB, Some(ALICE));
    assert_eq!(o, paired(&a));
    assert_eq!(r.m.pending_legs(), 0);

    let (b, o) = r.inc("dev_b", BOB, Some(ALICE));
    assert_eq!(o, pending());
    let (_, o) = r.out("dev_a", ALICE, BOB);
    assert_eq!(o, paired(&b));
}

#[test]
fn same_direction_or_other_numbers_do_not_pair() {
    let mut r = Reporter::new();
    r.out("dev_a", ALICE, BOB);
    // Bob calling Alice is another call.
    assert_eq!(r.inc("dev_a2", ALICE, Some(BOB)).1, pending());
    // Carol's call to Bob is not Alice's.
    assert_eq!(r.inc("dev_b", BOB, Some(CAROL)).1, pending());
    assert_eq!(r.m.pending_legs(), 3);
}

#[test]
fn one_principal_never_pairs_with_itself() {
    let mut r = Reporter::new();
    r.out("dev_x", ALICE, BOB);
    assert_eq!(r.inc("dev_x", BOB, Some(ALICE)).1, pending());
}

#[test]
fn concurrent_calls_between_one_pair_are_fifo() {
    let mut r = Reporter::new();
    let (a1, _) = r.out("dev_a", ALICE, BOB);
    let (a2, _) = r.out("dev_a", ALICE, BOB);
    assert_eq!(r.inc("dev_b", BOB, Some(ALICE)).1, paired(&a1));
    assert_eq!(r.inc("dev_b", BOB, Some(ALICE)).1, paired(&a2));
}

#[test]
fn equal_call_reference_beats_fifo() {
    let mut r = Reporter::new();
    let (_a1, _) = r.out("dev_a", ALICE, BOB);
    let mut l = r.leg("dev_a", ALICE, Some(BOB), Direction::Outgoing);
    l.call_ref = Some("abc@pbx".into());
    let a2 = l.id.clone();
    r.m.offer(&l);
    let mut inc = r.leg("dev_b", BOB, Some(ALICE), Direction::Incoming);
    inc.call_ref = Some("abc@pbx".into());
    assert_eq!(r.m.offer(&inc), paired(&a2));
}

#[test]
fn extensions_must_agree_when_both_are_given() {
    let mut r = Reporter::new();
    let mut l = r.leg("dev_a", ALICE, Some(BOB), Direction::Outgoing);
    l.extension = Some("201".into());
    r.m.offer(&l);
    let mut other = r.leg("dev_b", BOB, Some(ALICE), Direction::Incoming);
    other.extension = Some("202".into());
    assert_eq!(r.m.offer(&other).outcome, Outcome::Pending);
    let mut right = r.leg("dev_c", BOB, Some(ALICE), Direction::Incoming);
    right.extension = Some("201".into());
    assert_eq!(r.m.offer(&right), paired(&l.id));
}

#[test]
fn withheld_caller_pairs_only_with_a_single_candidate() {
    let mut r = Reporter::new();
    let (a, _) = r.out("dev_a", ALICE, BOB);
    assert_eq!(r.inc("dev_b", BOB, None).1, paired(&a));

    // Two callers ringing Bob at once: the withheld leg is ambiguous, and says so at once.
    let mut r = Reporter::new();
    r.out("dev_a", ALICE, BOB);
    r.out("dev_c", CAROL, BOB);
    let (_, o) = r.inc("dev_b", BOB, None);
    assert_eq!(o.outcome, Outcome::NoMatch(NoMatchReason::Ambiguous));
    assert_eq!(
        r.m.pending_legs(),
        2,
        "the callers' legs still wait for Bob's exact leg"
    );
}

#[test]
fn withheld_leg_waiting_first_pairs_with_the_one_caller_that_comes() {
    let mut r = Reporter::new();
    let (w, o) = r.inc("dev_b", BOB, None);
    assert_eq!(o, pending());
    assert_eq!(r.out("dev_a", ALICE, BOB).1, paired(&w));
}

#[test]
fn a_stale_outgoing_leg_cannot_claim_a_later_withheld_call() {
    let mut r = Reporter::new();
    let (_stale, _) = r.out("dev_x", CAROL, BOB);
    r.now += WITHHELD_SKEW + 1;
    let (w, o) = r.inc("dev_b", BOB, None);
    assert_eq!(o, pending(), "too far apart to be one call");
    // The real caller, reporting about when Bob's phone rings, pairs; the stale leg is no rival.
    assert_eq!(r.out("dev_a", ALICE, BOB).1, paired(&w));
}

#[test]
fn pending_legs_are_counted_per_principal() {
    let mut r = Reporter::new();
    let (a1, _) = r.out("dev_a", ALICE, BOB);
    r.out("dev_a", ALICE, CAROL);
    r.inc("dev_d", "+442079460004", None);
    assert_eq!(r.m.pending_of(&PrincipalId("dev_a".into())), 2);
    assert_eq!(r.m.pending_of(&PrincipalId("dev_d".into())), 1);
    assert!(r.m.withdraw(&a1));
    assert_eq!(r.m.pending_of(&PrincipalId("dev_a".into())), 1);
    r.inc("dev_b", BOB, Some(CAROL)); // pending: nobody called Bob from Carol
    r.out("dev_c2", CAROL, BOB); // pairs with Bob's leg
    assert_eq!(r.m.pending_of(&PrincipalId("dev_b".into())), 0);
}

#[test]
fn two_withheld_legs_are_both_ended_as_ambiguous() {
    let mut r = Reporter::new();
    let (w1, _) = r.inc("dev_b", BOB, None);
    let (w2, _) = r.inc("dev_b2", BOB, None);
    let (a, o) = r.out("dev_a", ALICE, BOB);
    assert_eq!(o.outcome, Outcome::Pending);
    assert_eq!(
        o.also_ended,
        vec![
            (w1, NoMatchReason::Ambiguous),
            (w2, NoMatchReason::Ambiguous)
        ]
    );
    assert!(r.m.is_pending(&a));
}

#[test]
fn withheld_leg_with_a_rival_caller_pending_is_ambiguous() {
    let mut r = Reporter::new();
    let (w, _) = r.inc("dev_b", BOB, None);
    r.out("dev_c", CAROL, BOB); // pairs with w: the only candidate
    assert!(!r.m.is_pending(&w));
    let (w2, _) = r.inc("dev_b", BOB, None);
    let (_a, o) = r.out("dev_a", ALICE, BOB);
    // Only one withheld leg and no rival outgoing leg: pairs.
    assert_eq!(o, paired(&w2));
}

#[test]
fn legs_expire_at_the_end_of_the_window() {
    let mut r = Reporter::new();
    let (a, _) = r.out("dev_a", ALICE, BOB);
    assert_eq!(r.m.next_deadline(), Some(1_000 + WINDOW));
    assert!(r.m.expire(1_000 + WINDOW - 1).is_empty());
    assert_eq!(r.m.expire(1_000 + WINDOW), vec![Expired::Leg(a)]);
    assert_eq!(r.m.pending_legs(), 0);
    assert_eq!(r.inc("dev_b", BOB, Some(ALICE)).1, pending());
}

#[test]
fn withdrawn_legs_no_longer_pair() {
    let mut r = Reporter::new();
    let (a, _) = r.out("dev_a", ALICE, BOB);
    assert!(r.m.withdraw(&a));
    assert!(!r.m.withdraw(&a));
    assert_eq!(r.inc("dev_b", BOB, Some(ALICE)).1, pending());
}

#[test]
fn network_calls_are_authoritative() {
    let mut r = Reporter::new();
    let (a, _) = r.out("dev_a", ALICE, BOB);
    let (w, _) = r.inc("dev_pc", CAROL, None);
    let added = r.m.add_call(
        CallId("c1".into()),
        &num(ALICE),
        &num(BOB),
        2_000,
        WINDOW,
        10_000_000,
    );
    assert_eq!(added, CallAdded::New { attached: vec![a] });
    let (_, o) = r.inc("dev_b", BOB, Some(ALICE));
    assert_eq!(o.outcome, Outcome::Attached(CallId("c1".into())));
    // Withheld on the device, known to the network: attaches when there is one call to Bob.
    let (_, o) = r.inc("dev_b2", BOB, None);
    assert_eq!(o.outcome, Outcome::Attached(CallId("c1".into())));
    assert!(r.m.is_pending(&w));
    assert!(r.m.remove_call(&CallId("c1".into())));
    assert_eq!(r.inc("dev_b", BOB, Some(ALICE)).1.outcome, Outcome::Pending);
}

#[test]
fn a_network_call_binds_to_a_pair_that_just_formed() {
    let mut r = Reporter::new();
    let key = SessionKey::generate(0);
    r.m.record_pair(&num(ALICE), &num(BOB), key.clone(), 1_000);
    let added = r.m.add_call(
        CallId("c1".into()),
        &num(ALICE),
        &num(BOB),
        2_000,
        WINDOW,
        10_000,
    );
    assert_eq!(added, CallAdded::BindTo(key));
    // A later leg of the call (say Bob's second device) attaches to the bound call.
    assert_eq!(
        r.inc("dev_b2", BOB, Some(ALICE)).1.outcome,
        Outcome::Attached(CallId("c1".into()))
    );
    assert!(r.m.remove_call(&CallId("c1".into())));
    // Too old to bind: a new session.
    r.m.record_pair(&num(ALICE), &num(BOB), SessionKey::generate(0), 1_000);
    let added = r.m.add_call(
        CallId("c2".into()),
        &num(ALICE),
        &num(BOB),
        1_000 + WINDOW + 1,
        WINDOW,
        10_000,
    );
    assert_eq!(added, CallAdded::New { attached: vec![] });
}

#[test]
fn a_recent_pair_is_found_within_its_window_and_stays() {
    let mut r = Reporter::new();
    let (first, second) = (SessionKey::generate(0), SessionKey::generate(1));
    assert_eq!(r.m.recent_pair(&num(ALICE), &num(BOB), 1_000, WINDOW), None);
    r.m.record_pair(&num(ALICE), &num(BOB), first.clone(), 1_000);
    r.m.record_pair(&num(ALICE), &num(BOB), second.clone(), 2_000);
    assert_eq!(
        r.m.recent_pair(&num(ALICE), &num(BOB), 3_000, WINDOW),
        Some(&second),
        "the newest"
    );
    assert_eq!(r.m.recent_pair(&num(BOB), &num(ALICE), 3_000, WINDOW), None);
    assert_eq!(
        r.m.recent_pair(&num(ALICE), &num(BOB), 2_000 + WINDOW + 1, WINDOW),
        None,
        "too old"
    );
    // Looking does not consume: a network report still binds to the oldest.
    let added = r.m.add_call(
        CallId("c".into()),
        &num(ALICE),
        &num(BOB),
        3_000,
        WINDOW,
        10_000,
    );
    assert_eq!(added, CallAdded::BindTo(first));
}

#[test]
fn network_calls_expire_too() {
    let mut r = Reporter::new();
    r.m.add_call(
        CallId("c1".into()),
        &num(ALICE),
        &num(BOB),
        0,
        WINDOW,
        5_000,
    );
    assert_eq!(r.m.expire(5_000), vec![Expired::Call(CallId("c1".into()))]);
    assert_eq!(r.inc("dev_b", BOB, Some(ALICE)).1.outcome, Outcome::Pending);
}

/// An operation in a random script of reports.
#[derive(Debug, Clone)]
enum Op {
    Out { dev: u8, from: u8, to: u8 },
    In { dev: u8, own: u8, from: Option<u8> },
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 0u8..4, 0u8..4).prop_map(|(dev, from, to)| Op::Out { dev, from, to }),
        (0u8..4, 0u8..4, proptest::option::weighted(0.8, 0u8..4))
            .prop_map(|(dev, own, from)| Op::In { dev, own, from }),
        (0u16..60_000).prop_map(Op::Tick),
    ]
}

proptest! {
    /// Whatever the reports, every pairing is crosswise, between different principals and
    /// opposite directions, each leg ends up in at most one pair, and nothing stays pending past
    /// its window.
    #[test]
    fn pairings_are_always_sound(ops in proptest::collection::vec(op(), 1..60)) {
        let numbers = [ALICE, BOB, CAROL, "+442079460004"];
        let mut r = Reporter::new();
        let mut legs: HashMap<LegId, Leg> = HashMap::new();
        let mut used: std::collections::HashSet<LegId> = Default::default();
        for op in ops {
            let (leg, offer) = match op {
                Op::Tick(ms) => {
                    r.now += Millis::from(ms);
                    for e in r.m.expire(r.now) {
                        let Expired::Leg(id) = e else { unreachable!() };
                        prop_assert!(legs[&id].expires_at <= r.now);
                        prop_assert!(used.insert(id));
                    }
                    continue;
                }
                Op::Out { dev, from, to } => {
                    if from == to { continue; }
                    let l = r.leg(&format!("d{dev}"), numbers[from as usize], Some(numbers[to as usize]), Direction::Outgoing);
                    let o = r.m.offer(&l);
                    (l, o)
                }
                Op::In { dev, own, from } => {
                    if from == Some(own) { continue; }
                    let l = r.leg(&format!("d{dev}"), numbers[own as usize], from.map(|f| numbers[f as usize]), Direction::Incoming);
                    let o = r.m.offer(&l);
                    (l, o)
                }
            };
            legs.insert(leg.id.clone(), leg.clone());
            for (id, _) in &offer.also_ended {
                prop_assert!(used.insert(id.clone()), "ended twice: {id}");
                prop_assert!(!r.m.is_pending(id));
            }
            match offer.outcome {
                Outcome::Paired(other) => {
                    let o = &legs[&other];
                    prop_assert!(used.insert(other.clone()), "paired twice: {other}");
                    prop_assert!(used.insert(leg.id.clone()));
                    prop_assert_ne!(&o.principal, &leg.principal);
                    prop_assert_ne!(o.direction, leg.direction);
                    prop_assert_eq!(o.callee(), leg.callee());
                    if let (Some(a), Some(b)) = (o.caller(), leg.caller()) {
                        prop_assert_eq!(a, b);
                    }
                    prop_assert!(!r.m.is_pending(&other));
                }
                Outcome::Pending => prop_assert!(r.m.is_pending(&leg.id)),
                Outcome::NoMatch(_) => {
                    prop_assert!(used.insert(leg.id.clone()));
                    prop_assert!(!r.m.is_pending(&leg.id));
                }
                Outcome::Attached(_) => prop_assert!(false, "no network calls in this script"),
            }
        }
        // Pending count is consistent with what was handed out.
        let pending = legs.keys().filter(|id| r.m.is_pending(id)).count();
        prop_assert_eq!(pending, r.m.pending_legs());
        let counted: usize = (0..4).map(|d| r.m.pending_of(&PrincipalId(format!("d{d}")))).sum();
        prop_assert_eq!(counted, pending);
        prop_assert_eq!(pending + used.len(), legs.len());
    }
}
