//! Hot code in the domain: number normalisation and the matcher.
//! Run with `cargo bench -p callside-core`; results are recorded in docs/PERFORMANCE.md.

use callside_core::leg::{Direction, Leg, LegId};
use callside_core::matching::{Matcher, Outcome};
use callside_core::{PhoneNumber, PrincipalId};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn numbers(c: &mut Criterion) {
    let us = Some("US".parse().unwrap());
    let gb = Some("GB".parse().unwrap());
    c.bench_function("parse international (+44 20 7946 0958)", |b| {
        b.iter(|| PhoneNumber::parse(black_box("+44 20 7946 0958"), us))
    });
    c.bench_function("parse national (020 7946 0958, GB)", |b| {
        b.iter(|| PhoneNumber::parse(black_box("020 7946 0958"), gb))
    });
}

fn leg(i: u64, caller: &PhoneNumber, callee: &PhoneNumber, direction: Direction) -> Leg {
    let (own, other) = match direction {
        Direction::Outgoing => (caller.clone(), callee.clone()),
        Direction::Incoming => (callee.clone(), caller.clone()),
    };
    Leg {
        id: LegId(format!("leg{i}")),
        principal: PrincipalId(format!("dev{}", i % 2)),
        own,
        other: Some(other),
        direction,
        call_ref: None,
        extension: None,
        conference_id: None,
        reported_at: 0,
        expires_at: 120_000,
    }
}

fn matcher(c: &mut Criterion) {
    // 10,000 pending calls in the index, then pairs arriving and matching.
    let numbers: Vec<PhoneNumber> = (0..10_000)
        .map(|i| format!("+44207946{i:04}"))
        .chain((0..10_000).map(|i| format!("+44161496{i:04}")))
        .map(|s| PhoneNumber::parse(&s, None).unwrap())
        .collect();
    let mut m = Matcher::new();
    for i in 0..10_000u64 {
        let l = leg(
            i * 2,
            &numbers[i as usize],
            &numbers[10_000 + i as usize],
            Direction::Outgoing,
        );
        m.offer(&l);
    }
    let mut n = 1_000_000u64;
    c.bench_function(
        "matcher: offer caller + pair callee (10,000 pending)",
        |b| {
            b.iter(|| {
                n += 2;
                let (a, z) = (
                    &numbers[(n % 9_000) as usize],
                    &numbers[19_999 - (n % 9_000) as usize],
                );
                let out = m.offer(&leg(n, a, z, Direction::Outgoing));
                debug_assert_eq!(out.outcome, Outcome::Pending);
                let paired = m.offer(&leg(n + 1, a, z, Direction::Incoming));
                black_box(paired)
            })
        },
    );
}

criterion_group!(benches, numbers, matcher);
criterion_main!(benches);
