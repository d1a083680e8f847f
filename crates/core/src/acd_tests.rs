use super::*;
use proptest::prelude::*;

fn q(group: &str) -> QueueId {
    QueueId {
        merchant: "mer_a".into(),
        group: group.into(),
    }
}

fn groups(g: &[&str]) -> Vec<String> {
    g.iter().map(|s| s.to_string()).collect()
}

fn ring(call: &str, agent: &str) -> Event {
    Event::Ring {
        call: call.into(),
        agent: agent.into(),
    }
}

#[test]
fn calls_ring_the_longest_idle_agent_of_their_group_in_order() {
    let mut acd = Acd::new();
    acd.presence(
        "ag_1",
        "mer_a",
        &groups(&["sales"]),
        Presence::Available,
        100,
    );
    acd.presence(
        "ag_2",
        "mer_a",
        &groups(&["sales", "billing"]),
        Presence::Available,
        50,
    );
    acd.presence(
        "ag_3",
        "mer_b",
        &groups(&["sales"]),
        Presence::Available,
        10,
    );
    for c in ["c1", "c2", "c3"] {
        acd.enqueue(c, q("sales"));
    }
    // ag_2 has been idle longest; ag_3 is another merchant's.
    assert_eq!(acd.tick(200), vec![ring("c1", "ag_2"), ring("c2", "ag_1")]);
    let s = acd.standing("c3").unwrap();
    assert_eq!((s.state, s.position), (CallState::Waiting, Some(1)));
    // Two agents signed in, each on a call: half a handle time to wait.
    assert_eq!(s.expected_wait_ms, Some(DEFAULT_HANDLE_MS / 2));
    acd.accept("ag_2", "c1", 300).unwrap();
    assert_eq!(acd.accept("ag_1", "c1", 300), Err(AcdError::NotYours));
    acd.accept("ag_1", "c2", 300).unwrap();
    // c1 ends after 30 s: ag_2 is free and c3 rings it.
    assert_eq!(acd.end("c1", 30_300).as_deref(), Some("ag_2"));
    assert_eq!(acd.tick(30_400), vec![ring("c3", "ag_2")]);
}

#[test]
fn a_declined_or_unanswered_call_goes_back_to_the_front_and_the_agent_away() {
    let mut acd = Acd::new();
    acd.presence("ag_1", "mer_a", &groups(&["sales"]), Presence::Available, 0);
    acd.enqueue("c1", q("sales"));
    acd.enqueue("c2", q("sales"));
    assert_eq!(acd.tick(1), vec![ring("c1", "ag_1")]);
    let events = acd.decline("ag_1", "c1").unwrap();
    assert_eq!(
        events,
        vec![Event::Requeued {
            call: "c1".into(),
            why: Requeue::Declined
        }]
    );
    assert_eq!(
        acd.standing("c1").unwrap().position,
        Some(1),
        "at the front"
    );
    assert_eq!(acd.standing("c2").unwrap().position, Some(2));
    assert_eq!(acd.tick(2), vec![], "the agent is away now");
    acd.presence("ag_1", "mer_a", &groups(&["sales"]), Presence::Available, 3);
    assert_eq!(acd.tick(3), vec![ring("c1", "ag_1")]);
    // Not answered within RING_MS: back to the front, the agent away.
    let events = acd.tick(3 + RING_MS);
    assert_eq!(
        events,
        vec![Event::Requeued {
            call: "c1".into(),
            why: Requeue::NoAnswer
        }]
    );
    assert_eq!(acd.standing("c1").unwrap().position, Some(1));
}

#[test]
fn an_agent_that_drops_mid_call_loses_no_call() {
    let mut acd = Acd::new();
    acd.presence("ag_1", "mer_a", &groups(&["sales"]), Presence::Available, 0);
    acd.presence("ag_2", "mer_a", &groups(&["sales"]), Presence::Available, 5);
    acd.enqueue("c1", q("sales"));
    acd.enqueue("c2", q("sales"));
    acd.enqueue("c3", q("sales"));
    acd.tick(10);
    acd.accept("ag_1", "c1", 11).unwrap();
    acd.accept("ag_2", "c2", 11).unwrap();
    // ag_2 keeps polling; ag_1 is not heard from again.
    acd.seen("ag_2", PRESENCE_MS).unwrap();
    let events = acd.tick(PRESENCE_MS + 20);
    assert_eq!(
        events,
        vec![
            Event::AgentDropped {
                agent: "ag_1".into()
            },
            Event::Requeued {
                call: "c1".into(),
                why: Requeue::AgentDropped
            },
        ]
    );
    assert!(!acd.is_signed_in("ag_1"));
    assert_eq!(acd.standing("c1").unwrap().position, Some(1), "c1 first");
    assert_eq!(acd.standing("c3").unwrap().position, Some(2));
    assert_eq!(acd.seen("ag_1", 0), Err(AcdError::SignedOut));
}

#[test]
fn going_away_while_rung_gives_the_call_back_and_abandoned_calls_leave() {
    let mut acd = Acd::new();
    acd.presence("ag_1", "mer_a", &groups(&["sales"]), Presence::Available, 0);
    acd.enqueue("c1", q("sales"));
    acd.enqueue("c2", q("sales"));
    acd.tick(1);
    let events = acd.presence("ag_1", "mer_a", &groups(&["sales"]), Presence::Away, 2);
    assert_eq!(
        events,
        vec![Event::Requeued {
            call: "c1".into(),
            why: Requeue::AgentAway
        }]
    );
    assert_eq!(acd.end("c2", 3), None, "abandoned while waiting");
    assert_eq!(acd.standing("c2"), None);
    assert_eq!(acd.len(), 1);
    // No agent signed in for billing: no estimate.
    acd.enqueue("c9", q("billing"));
    assert_eq!(acd.standing("c9").unwrap().expected_wait_ms, None);
}

#[test]
fn the_expected_wait_follows_the_measured_handle_time() {
    let mut acd = Acd::new();
    acd.presence("ag_1", "mer_a", &groups(&["sales"]), Presence::Available, 0);
    for i in 0..4 {
        let call = format!("h{i}");
        acd.enqueue(&call, q("sales"));
        acd.seen("ag_1", i * 100_000).unwrap();
        acd.tick(i * 100_000);
        acd.accept("ag_1", &call, i * 100_000).unwrap();
        acd.end(&call, i * 100_000 + 40_000);
    }
    for c in ["w1", "w2", "w3"] {
        acd.enqueue(c, q("sales"));
    }
    acd.seen("ag_1", 1_000_000).unwrap();
    acd.tick(1_000_000);
    // w1 rings; w3 waits behind w2 with one agent: one full handle and a half.
    let s = acd.standing("w3").unwrap();
    assert_eq!(s.position, Some(2));
    let handle = s.expected_wait_ms.unwrap() * 2 / 3;
    assert!(
        (40_000..DEFAULT_HANDLE_MS).contains(&handle),
        "the handle time moved towards 40 s: {handle}"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue(u8),
    Presence(u8, bool),
    Accept(u8),
    Decline(u8),
    End(u8),
    SignOut(u8),
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12).prop_map(Op::Enqueue),
        (0u8..3, any::<bool>()).prop_map(|(a, b)| Op::Presence(a, b)),
        (0u8..3).prop_map(Op::Accept),
        (0u8..3).prop_map(Op::Decline),
        (0u8..12).prop_map(Op::End),
        (0u8..3).prop_map(Op::SignOut),
        (0u16..30_000).prop_map(Op::Tick),
    ]
}

proptest! {
    /// Whatever agents do, every call not ended is in exactly one place — waiting once in its
    /// queue, or ringing/talking one signed-in agent who has that call — and no agent has two.
    #[test]
    fn no_call_is_lost_or_doubled(ops in proptest::collection::vec(op(), 1..80)) {
        let mut acd = Acd::new();
        let mut now = 0;
        let mut live = std::collections::BTreeSet::new();
        for op in ops {
            match op {
                Op::Enqueue(c) => {
                    acd.enqueue(&format!("c{c}"), q(if c % 2 == 0 { "sales" } else { "billing" }));
                    live.insert(format!("c{c}"));
                }
                Op::Presence(a, avail) => {
                    let p = if avail { Presence::Available } else { Presence::Away };
                    acd.presence(&format!("a{a}"), "mer_a", &groups(&["sales", "billing"][..(a as usize % 2 + 1)]), p, now);
                }
                Op::Accept(a) => {
                    if let Some((call, CallState::Ringing { .. })) = acd.call_of(&format!("a{a}")) {
                        acd.accept(&format!("a{a}"), &call, now).unwrap();
                    }
                }
                Op::Decline(a) => {
                    if let Some((call, CallState::Ringing { .. })) = acd.call_of(&format!("a{a}")) {
                        acd.decline(&format!("a{a}"), &call).unwrap();
                    }
                }
                Op::End(c) => {
                    acd.end(&format!("c{c}"), now);
                    live.remove(&format!("c{c}"));
                }
                Op::SignOut(a) => {
                    acd.sign_out(&format!("a{a}"));
                }
                Op::Tick(d) => {
                    now += d as Millis;
                    acd.tick(now);
                }
            }
            prop_assert_eq!(acd.len(), live.len());
            for call in &live {
                let c = &acd.calls[call];
                let in_queue = acd.queues.get(&c.queue).map_or(0, |q| q.iter().filter(|x| *x == call).count());
                match &c.state {
                    CallState::Waiting => prop_assert_eq!(in_queue, 1, "{} waits once", call),
                    CallState::Ringing { agent, .. } | CallState::Talking { agent, .. } => {
                        prop_assert_eq!(in_queue, 0);
                        let a = acd.agents.get(agent);
                        prop_assert!(a.is_some(), "{} is with a signed-in agent", call);
                        prop_assert_eq!(a.unwrap().call.as_deref(), Some(call.as_str()));
                    }
                }
            }
            for (id, a) in &acd.agents {
                if let Some(call) = &a.call {
                    prop_assert!(acd.calls.contains_key(call), "{} holds a live call", id);
                }
            }
        }
    }
}

#[test]
fn a_call_restored_as_talking_is_its_agents_until_the_agent_stays_away() {
    let q = QueueId {
        merchant: "m".into(),
        group: "sales".into(),
    };
    let groups = vec!["sales".to_owned()];
    let mut acd = Acd::new();
    acd.restore_talking("c1", q.clone(), "ann", &groups, 500, 1_000);
    assert_eq!(
        acd.call_of("ann"),
        Some((
            "c1".into(),
            CallState::Talking {
                agent: "ann".into(),
                since: 500
            }
        ))
    );
    // Restoring again, or another call for the same agent, changes nothing.
    acd.restore_talking("c2", q.clone(), "ann", &groups, 600, 1_000);
    assert_eq!(acd.call_of("ann").map(|(c, _)| c), Some("c1".into()));
    assert!(acd.standing("c2").is_none());
    // Ann comes back in time and ends the call: the handle time counts from `since`.
    acd.seen("ann", 1_000 + PRESENCE_MS - 1).unwrap();
    assert!(acd.tick(1_000 + PRESENCE_MS).is_empty());
    assert_eq!(acd.end("c1", 2_500), Some("ann".into()));
    assert_eq!(acd.handle.get(&q), Some(&2_000));
    // Bob never comes back: dropped, and his call waits at the front again.
    acd.sign_out("ann");
    acd.enqueue("w1", q.clone());
    acd.restore_talking("c3", q.clone(), "bob", &groups, 500, 10_000);
    let events = acd.tick(10_000 + PRESENCE_MS);
    assert!(events.contains(&Event::AgentDropped {
        agent: "bob".into()
    }));
    assert!(events.contains(&Event::Requeued {
        call: "c3".into(),
        why: Requeue::AgentDropped
    }));
    assert_eq!(acd.standing("c3").and_then(|s| s.position), Some(1));
    assert_eq!(acd.standing("w1").and_then(|s| s.position), Some(2));
}

#[test]
fn the_board_shows_one_merchants_queues_and_agents_only() {
    let mut acd = Acd::new();
    let other = QueueId {
        merchant: "mer_b".into(),
        group: "sales".into(),
    };
    acd.enqueue("c1", q("sales"));
    acd.enqueue("c2", q("sales"));
    acd.enqueue("c3", q("billing"));
    acd.enqueue("x1", other.clone());
    acd.presence("ann", "mer_a", &groups(&["sales"]), Presence::Available, 0);
    acd.presence("zed", "mer_b", &groups(&["sales"]), Presence::Away, 0);
    acd.tick(10);
    acd.accept("ann", "c1", 20).unwrap();
    let board = acd.board("mer_a");
    assert_eq!(
        board.queues,
        vec![
            ("billing".into(), vec!["c3".into()]),
            ("sales".into(), vec!["c2".into()])
        ]
    );
    assert_eq!(board.agents.len(), 1, "not the other merchant's agent");
    assert_eq!(board.agents[0].agent, "ann");
    assert_eq!(
        board.agents[0].call,
        Some((
            "c1".into(),
            CallState::Talking {
                agent: "ann".into(),
                since: 20
            }
        ))
    );
    assert!(board.handle_ms.is_empty());
    acd.end("c1", 1_020);
    let board = acd.board("mer_a");
    assert_eq!(board.handle_ms, vec![("sales".into(), 1_000)]);
    assert_eq!(board.agents[0].call, None);
    assert_eq!(
        acd.board("mer_b").queues,
        vec![("sales".into(), vec!["x1".into()])]
    );
}

#[test]
fn an_agent_links_a_call_that_never_queued_once_and_only_when_free() {
    let mut acd = Acd::new();
    assert_eq!(acd.link("ann", "p1", "mer_a", 0), Err(AcdError::SignedOut));
    acd.presence("ann", "mer_a", &groups(&["sales"]), Presence::Available, 0);
    acd.link("ann", "p1", "mer_a", 10).unwrap();
    assert_eq!(
        acd.call_of("ann"),
        Some((
            "p1".into(),
            CallState::Talking {
                agent: "ann".into(),
                since: 10
            }
        ))
    );
    acd.presence("bob", "mer_a", &groups(&["sales"]), Presence::Available, 0);
    assert_eq!(
        acd.link("bob", "p1", "mer_a", 20),
        Err(AcdError::NotYours),
        "Ann's already"
    );
    assert_eq!(acd.link("ann", "p2", "mer_a", 20), Err(AcdError::Busy));
    // Busy on it, Ann is not rung for queued calls; ending it frees her.
    acd.enqueue("c1", q("sales"));
    let events = acd.tick(30);
    assert_eq!(events, vec![ring("c1", "bob")]);
    assert_eq!(acd.end("p1", 1_010), Some("ann".into()));
    assert!(
        acd.board("mer_a").queues.is_empty(),
        "a linked call is in no queue"
    );
}
