//! Dedup / idempotency table timelines: one scenario per row of the
//! transition table in `fusebox::dedup`, and one per convention. Tables are
//! small (8 or 16 slots, a few hundred bytes), so they also run on a
//! 16 KiB-RAM Cortex-M0.

use fusebox::dedup::{Config, Eviction, Stale};
use fusebox::hash::Seed;
use fusebox::time::Duration;

#[cfg(feature = "sync")]
use crate::drivers::Shared;
use crate::drivers::{Answer as Begin, DedupFamily, DedupOps, Local};
use crate::timeline::{at as t, scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// Every dedup scenario, through the `&mut` table.
pub const SCENARIOS: &[Scenario] = &[
    s(
        "dedup::new_then_in_flight_then_done",
        new_then_in_flight_then_done::<Local>,
    ),
    s(
        "dedup::done_expires_at_its_tick_counted_from_complete",
        done_expires_at_its_tick_counted_from_complete::<Local>,
    ),
    s(
        "dedup::in_flight_expires_at_its_tick_and_late_complete_is_stale",
        in_flight_expires_at_its_tick_and_late_complete_is_stale::<Local>,
    ),
    s(
        "dedup::abandon_frees_the_key_for_one_retry",
        abandon_frees_the_key_for_one_retry::<Local>,
    ),
    s(
        "dedup::ticket_of_a_replaced_entry_changes_nothing",
        ticket_of_a_replaced_entry_changes_nothing::<Local>,
    ),
    s(
        "dedup::abandon_of_an_expired_ticket_is_false_whatever_the_slot_holds",
        abandon_of_an_expired_ticket_is_false_whatever_the_slot_holds::<Local>,
    ),
    s(
        "dedup::in_flight_is_never_evicted_window_full",
        in_flight_is_never_evicted_window_full::<Local>,
    ),
    s(
        "dedup::evict_done_evicts_the_oldest_done_entry",
        evict_done_evicts_the_oldest_done_entry::<Local>,
    ),
    s(
        "dedup::keep_done_never_evicts_an_unexpired_done_entry",
        keep_done_never_evicts_an_unexpired_done_entry::<Local>,
    ),
    s(
        "dedup::expired_entries_go_before_any_eviction",
        expired_entries_go_before_any_eviction::<Local>,
    ),
    s(
        "dedup::duplicate_frames_are_dropped",
        duplicate_frames_are_dropped::<Local>,
    ),
    s(
        "dedup::idempotency_key_returns_the_stored_result",
        idempotency_key_returns_the_stored_result::<Local>,
    ),
    s(
        "dedup::get_peeks_without_starting",
        get_peeks_without_starting::<Local>,
    ),
    s(
        "dedup::clear_and_reseed_make_tickets_stale",
        clear_and_reseed_make_tickets_stale::<Local>,
    ),
    s(
        "dedup::time_backwards_counts_as_no_time",
        time_backwards_counts_as_no_time::<Local>,
    ),
    s(
        "dedup::instants_near_u64_max_saturate",
        instants_near_u64_max_saturate::<Local>,
    ),
    s(
        "dedup::bad_configs_name_their_field",
        bad_configs_name_their_field::<Local>,
    ),
];

/// Every dedup scenario again, through the shared table (one shard): the
/// same timelines, the same expected decisions.
#[cfg(feature = "sync")]
pub const SHARED_SCENARIOS: &[Scenario] = &[
    s(
        "dedup_shared::abandon_of_an_expired_ticket_is_false_whatever_the_slot_holds",
        abandon_of_an_expired_ticket_is_false_whatever_the_slot_holds::<Shared>,
    ),
    s(
        "dedup_shared::new_then_in_flight_then_done",
        new_then_in_flight_then_done::<Shared>,
    ),
    s(
        "dedup_shared::done_expires_at_its_tick_counted_from_complete",
        done_expires_at_its_tick_counted_from_complete::<Shared>,
    ),
    s(
        "dedup_shared::in_flight_expires_at_its_tick_and_late_complete_is_stale",
        in_flight_expires_at_its_tick_and_late_complete_is_stale::<Shared>,
    ),
    s(
        "dedup_shared::abandon_frees_the_key_for_one_retry",
        abandon_frees_the_key_for_one_retry::<Shared>,
    ),
    s(
        "dedup_shared::ticket_of_a_replaced_entry_changes_nothing",
        ticket_of_a_replaced_entry_changes_nothing::<Shared>,
    ),
    s(
        "dedup_shared::in_flight_is_never_evicted_window_full",
        in_flight_is_never_evicted_window_full::<Shared>,
    ),
    s(
        "dedup_shared::evict_done_evicts_the_oldest_done_entry",
        evict_done_evicts_the_oldest_done_entry::<Shared>,
    ),
    s(
        "dedup_shared::keep_done_never_evicts_an_unexpired_done_entry",
        keep_done_never_evicts_an_unexpired_done_entry::<Shared>,
    ),
    s(
        "dedup_shared::expired_entries_go_before_any_eviction",
        expired_entries_go_before_any_eviction::<Shared>,
    ),
    s(
        "dedup_shared::duplicate_frames_are_dropped",
        duplicate_frames_are_dropped::<Shared>,
    ),
    s(
        "dedup_shared::idempotency_key_returns_the_stored_result",
        idempotency_key_returns_the_stored_result::<Shared>,
    ),
    s(
        "dedup_shared::get_peeks_without_starting",
        get_peeks_without_starting::<Shared>,
    ),
    s(
        "dedup_shared::clear_and_reseed_make_tickets_stale",
        clear_and_reseed_make_tickets_stale::<Shared>,
    ),
    s(
        "dedup_shared::time_backwards_counts_as_no_time",
        time_backwards_counts_as_no_time::<Shared>,
    ),
    s(
        "dedup_shared::instants_near_u64_max_saturate",
        instants_near_u64_max_saturate::<Shared>,
    ),
    s(
        "dedup_shared::bad_configs_name_their_field",
        bad_configs_name_their_field::<Shared>,
    ),
];

/// Without `sync` there is no shared table.
#[cfg(not(feature = "sync"))]
pub const SHARED_SCENARIOS: &[Scenario] = &[];

const SEED: Seed = Seed::new(0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321);

/// In flight for at most 10 ticks, done for 100.
fn config(eviction: Eviction) -> Config {
    Config::new()
        .in_flight_ttl(d(10))
        .done_ttl(d(100))
        .eviction(eviction)
}

/// An 8-slot table: its probe window is the whole table, so "the window
/// is full" means "the table is full", whatever the seed.
fn table8<F: DedupFamily>(
    eviction: Eviction,
) -> Result<F::Table<u32, u32, 8>, fusebox::ConfigError> {
    DedupOps::build(config(eviction), SEED)
}

fn is_new<V, T>(b: &Begin<V, T>) -> bool {
    b.is_new()
}

/// InFlight | begin | InFlight; InFlight | complete | Done(v); Done | begin | Done(&v)
pub fn new_then_in_flight_then_done<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(ticket) = table.begin(7, t(0)) else {
        check!(false);
        return Ok(());
    };
    check_eq!(table.begin(7, t(1)), Begin::InFlight);
    check_eq!(table.begin(7, t(9)), Begin::InFlight);
    check!(table.complete(ticket, 70, t(9)).is_ok());
    check_eq!(table.begin(7, t(9)), Begin::Done(70));
    check_eq!(table.begin(7, t(108)), Begin::Done(70));
    // Another key is independent.
    check!(is_new(&table.begin(8, t(10))));
    let m = table.metrics();
    check_eq!((m.new, m.in_flight, m.done, m.completed), (2, 2, 2, 1));
    check_eq!(table.occupied(t(10)), 2);
    Ok(())
}

/// Done(v) | now >= tc + done_ttl | absent (the tick itself counts)
pub fn done_expires_at_its_tick_counted_from_complete<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(ticket) = table.begin(1, t(0)) else {
        check!(false);
        return Ok(());
    };
    // Completed at 5: done until 105, not 100.
    check!(table.complete(ticket, 11, t(5)).is_ok());
    check_eq!(table.begin(1, t(104)), Begin::Done(11));
    check!(is_new(&table.begin(1, t(105))));
    check_eq!(table.begin(1, t(105)), Begin::InFlight);
    Ok(())
}

/// InFlight | now >= t0 + in_flight_ttl | absent; the late complete is Stale
pub fn in_flight_expires_at_its_tick_and_late_complete_is_stale<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(crashed) = table.begin(3, t(20)) else {
        check!(false);
        return Ok(());
    };
    check_eq!(table.begin(3, t(29)), Begin::InFlight);
    check_eq!(table.occupied(t(29)), 1);
    check_eq!(table.occupied(t(30)), 0);
    // The worker "crashed"; at 30 the key is free: the retry runs it, once.
    let b = table.begin(3, t(30));
    check!(is_new(&b));
    drop(b);
    check_eq!(table.begin(3, t(31)), Begin::InFlight);
    // The first worker completes late: not stored, value handed back.
    check_eq!(table.complete(crashed, 33, t(31)), Err(Stale { value: 33 }));
    check_eq!(table.begin(3, t(31)), Begin::InFlight);
    check_eq!(table.metrics().stale, 1);

    // An expired ticket whose slot was not reused is stale too.
    let Begin::New(slow) = table.begin(4, t(50)) else {
        check!(false);
        return Ok(());
    };
    check_eq!(table.complete(slow, 44, t(60)), Err(Stale { value: 44 }));
    check!(is_new(&table.begin(4, t(60))));
    Ok(())
}

/// InFlight | abandon | absent: a retry may run it, once more
pub fn abandon_frees_the_key_for_one_retry<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(first) = table.begin(9, t(0)) else {
        check!(false);
        return Ok(());
    };
    check!(table.abandon(first, t(0)));
    // New at most once more after the abandon.
    let Begin::New(second) = table.begin(9, t(1)) else {
        check!(false);
        return Ok(());
    };
    check_eq!(table.begin(9, t(1)), Begin::InFlight);
    check_eq!(table.begin(9, t(2)), Begin::InFlight);
    check!(table.complete(second, 90, t(3)).is_ok());
    check_eq!(table.begin(9, t(4)), Begin::Done(90));
    check_eq!(table.metrics().new, 2);
    Ok(())
}

/// InFlight | abandon at or after t0 + in_flight_ttl | false (expired), whether or not another key reused the slot
pub fn abandon_of_an_expired_ticket_is_false_whatever_the_slot_holds<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(kept) = table.begin(1, t(0)) else {
        check!(false);
        return Ok(());
    };
    // Expired at 10; nobody else has touched its slot.
    check!(!table.abandon(kept, t(10)));
    check_eq!(table.occupied(t(10)), 0);
    // The same with time stepped back: judged at 10, the latest seen.
    let Begin::New(again) = table.begin(1, t(10)) else {
        check!(false);
        return Ok(());
    };
    check!(table.abandon(again, t(5)));
    check!(is_new(&table.begin(1, t(19))));
    check_eq!(table.metrics().stale, 1);
    Ok(())
}

/// A ticket whose entry was replaced: complete is Stale, abandon is false,
/// and neither touches the new entry.
pub fn ticket_of_a_replaced_entry_changes_nothing<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(old) = table.begin(5, t(0)) else {
        check!(false);
        return Ok(());
    };
    // Expires at 10; the retry at 10 takes the key, in the same slot (a key
    // that comes back reuses its own expired entry's slot).
    let Begin::New(new) = table.begin(5, t(10)) else {
        check!(false);
        return Ok(());
    };
    check!(!table.abandon(old, t(10)));
    check_eq!(table.begin(5, t(11)), Begin::InFlight);
    check!(table.complete(new, 55, t(12)).is_ok());
    check_eq!(table.begin(5, t(13)), Begin::Done(55));
    check_eq!(table.metrics().stale, 1);
    Ok(())
}

/// absent | begin, window full of in-flight entries | absent, answers Full
/// (even under EvictDone: an in-flight entry is never evicted)
pub fn in_flight_is_never_evicted_window_full<F: DedupFamily>() -> Outcome {
    for eviction in [Eviction::EvictDone, Eviction::KeepDone] {
        let mut table = take!(table8::<F>(eviction));
        for k in 0..8 {
            check!(is_new(&table.begin(k, t(0))));
        }
        check_eq!(table.begin(100, t(9)), Begin::Full);
        check_eq!(table.metrics().full, 1);
        for k in 0..8 {
            check_eq!(table.begin(k, t(9)), Begin::InFlight);
        }
        // Once they expire, room again.
        check!(is_new(&table.begin(100, t(10))));
    }
    Ok(())
}

/// absent | begin, window full, EvictDone | InFlight, the oldest done evicted
pub fn evict_done_evicts_the_oldest_done_entry<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::EvictDone));
    // Keys 7, 6, ..., 0 begun and completed at 0, 1, ..., 7: key 7 is the
    // oldest done entry (done until 100), then key 6 (until 101).
    for (at, k) in (0..8u32).rev().enumerate() {
        let Begin::New(ticket) = table.begin(k, t(at as u64)) else {
            check!(false);
            return Ok(());
        };
        check!(table.complete(ticket, k, t(at as u64)).is_ok());
    }
    check!(is_new(&table.begin(100, t(20))));
    check_eq!(table.metrics().evicted, 1);
    // Key 7 was forgotten (its lifetime ended by eviction); the rest remain.
    for k in 0..7u32 {
        check_eq!(table.begin(k, t(20)), Begin::Done(k));
    }
    check!(is_new(&table.begin(7, t(20))));
    // That evicted key 6, the next oldest.
    check_eq!(table.metrics().evicted, 2);
    check!(is_new(&table.begin(6, t(20))));
    Ok(())
}

/// absent | begin, window full of live done entries, KeepDone | absent, Full
pub fn keep_done_never_evicts_an_unexpired_done_entry<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    for k in 0..8u32 {
        let Begin::New(ticket) = table.begin(k, t(0)) else {
            check!(false);
            return Ok(());
        };
        check!(table.complete(ticket, k, t(u64::from(k))).is_ok());
    }
    check_eq!(table.begin(100, t(99)), Begin::Full);
    for k in 0..8u32 {
        check_eq!(table.begin(k, t(99)), Begin::Done(k));
    }
    check_eq!(table.metrics().evicted, 0);
    // Key 0 completed at 0 expires at 100: its slot is free then.
    check!(is_new(&table.begin(100, t(100))));
    check_eq!(table.begin(0, t(100)), Begin::Full);
    check_eq!(table.begin(1, t(100)), Begin::Done(1));
    Ok(())
}

/// Expired entries go first: no live done entry is evicted while an expired
/// one is in the window.
pub fn expired_entries_go_before_any_eviction<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::EvictDone));
    // Key 0 completed at 0 (done until 100); keys 1..8 at 5 (until 105).
    for k in 0..8u32 {
        let Begin::New(ticket) = table.begin(k, t(0)) else {
            check!(false);
            return Ok(());
        };
        let at = if k == 0 { 0 } else { 5 };
        check!(table.complete(ticket, k, t(at)).is_ok());
    }
    // At 100 key 0 has expired: key 100 takes its slot, nothing is evicted.
    check!(is_new(&table.begin(100, t(100))));
    check_eq!(table.metrics().evicted, 0);
    for k in 1..8u32 {
        check_eq!(table.begin(k, t(100)), Begin::Done(k));
    }
    Ok(())
}

/// The gateway use: drop duplicate downlink frames by their u32 id.
pub fn duplicate_frames_are_dropped<F: DedupFamily>() -> Outcome {
    let config = Config::new()
        .in_flight_ttl(d(5))
        .done_ttl(d(1_000))
        .eviction(Eviction::EvictDone);
    let mut seen: F::Table<u32, (), 16> = take!(DedupOps::build(config, SEED));
    let frames: [(u64, u32); 10] = [
        (0, 0x10),
        (1, 0x11),
        (2, 0x10), // retransmission
        (3, 0x12),
        (4, 0x11), // retransmission
        (5, 0x13),
        (6, 0x10), // retransmission
        (7, 0x14),
        (8, 0x14),     // retransmission
        (1_003, 0x10), // 0x10 done at 0, forgotten at 1000: new again
    ];
    let mut handled = 0u32;
    let mut dropped = 0u32;
    for (at, id) in frames {
        match seen.begin(id, t(at)) {
            Begin::New(ticket) => {
                handled += 1;
                check!(seen.complete(ticket, (), t(at)).is_ok());
            }
            Begin::Done(()) | Begin::InFlight => dropped += 1,
            Begin::Full => check!(false),
        }
    }
    check_eq!((handled, dropped), (6, 4));
    Ok(())
}

/// The server use: an idempotency key answers with its stored response; a
/// failed attempt is abandoned and its retry runs.
pub fn idempotency_key_returns_the_stored_result<F: DedupFamily>() -> Outcome {
    let config = Config::new()
        .in_flight_ttl(d(30))
        .done_ttl(d(86_400))
        .eviction(Eviction::KeepDone);
    let mut keys: F::Table<u64, (u16, u32), 8> = take!(DedupOps::build(config, SEED));
    let key = 0xfeed_beef_u64;
    // Attempt 1: the payment provider times out: abandon, so a retry may run.
    let Begin::New(attempt) = keys.begin(key, t(0)) else {
        check!(false);
        return Ok(());
    };
    check!(keys.abandon(attempt, t(30 - 1)));
    // Attempt 2 charges and stores (status, payment id).
    let Begin::New(attempt) = keys.begin(key, t(40)) else {
        check!(false);
        return Ok(());
    };
    // A concurrent duplicate while it runs: 409, not a second charge.
    check_eq!(keys.begin(key, t(41)), Begin::InFlight);
    check!(keys.complete(attempt, (201, 4242), t(45)).is_ok());
    // Every later retry gets the stored response.
    check_eq!(keys.begin(key, t(50)), Begin::Done((201, 4242)));
    check_eq!(keys.begin(key, t(86_444)), Begin::Done((201, 4242)));
    check_eq!(keys.metrics().new, 2);
    Ok(())
}

/// get answers the stored result without starting anything
pub fn get_peeks_without_starting<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    check_eq!(table.get(&1, t(0)), None);
    check!(is_new(&table.begin(2, t(0))));
    // In flight: no result yet.
    check_eq!(table.get(&2, t(1)), None);
    check_eq!(table.get(&1, t(1)), None);
    check!(is_new(&table.begin(1, t(1))));
    check_eq!(table.metrics().new, 2);
    let Begin::New(ticket) = table.begin(3, t(1)) else {
        check!(false);
        return Ok(());
    };
    check!(table.complete(ticket, 30, t(2)).is_ok());
    check_eq!(table.get(&3, t(101)), Some(30));
    check_eq!(table.get(&3, t(102)), None);
    Ok(())
}

/// clear and reseed forget every entry and make outstanding tickets stale
pub fn clear_and_reseed_make_tickets_stale<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(ticket) = table.begin(1, t(0)) else {
        check!(false);
        return Ok(());
    };
    table.clear();
    check_eq!(table.occupied(t(0)), 0);
    // The same key lands in the same slot again, but in a new generation.
    let Begin::New(fresh) = table.begin(1, t(0)) else {
        check!(false);
        return Ok(());
    };
    check_eq!(table.complete(ticket, 1, t(1)), Err(Stale { value: 1 }));
    table.reseed(Seed::new(9, 9));
    check_eq!(table.complete(fresh, 2, t(1)), Err(Stale { value: 2 }));
    check!(is_new(&table.begin(1, t(1))));
    Ok(())
}

/// Time that goes backwards counts as no time: an expired entry stays
/// expired, a live one is not shortened.
pub fn time_backwards_counts_as_no_time<F: DedupFamily>() -> Outcome {
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(ticket) = table.begin(1, t(1_000)) else {
        check!(false);
        return Ok(());
    };
    check!(table.complete(ticket, 10, t(1_000)).is_ok());
    // Done until 1100. At 1100 it expires and a new attempt begins...
    let Begin::New(retry) = table.begin(1, t(1_100)) else {
        check!(false);
        return Ok(());
    };
    // ...and a clock that jumps back to 1050 does not bring the old result
    // back, nor expire the new attempt (in flight until 1110).
    check_eq!(table.begin(1, t(1_050)), Begin::InFlight);
    check!(table.complete(retry, 20, t(1_050)).is_ok());
    // Done TTL counted from 1100, the latest time seen: until 1200.
    check_eq!(table.begin(1, t(0)), Begin::Done(20));
    check_eq!(table.begin(1, t(1_199)), Begin::Done(20));
    check!(is_new(&table.begin(1, t(1_200))));
    Ok(())
}

/// Instants and TTLs near u64::MAX saturate instead of overflowing.
pub fn instants_near_u64_max_saturate<F: DedupFamily>() -> Outcome {
    let max = u64::MAX;
    let mut table = take!(table8::<F>(Eviction::KeepDone));
    let Begin::New(ticket) = table.begin(1, t(max - 5)) else {
        check!(false);
        return Ok(());
    };
    // In flight until MAX - 5 + 10, saturated to MAX.
    check_eq!(table.begin(1, t(max - 1)), Begin::InFlight);
    check!(table.complete(ticket, 1, t(max - 1)).is_ok());
    check_eq!(table.begin(1, t(max - 1)), Begin::Done(1));
    // At Instant::MAX everything has expired.
    check!(is_new(&table.begin(1, t(max))));

    // TTLs of Duration::MAX: live until Instant::MAX.
    let huge = Config::new()
        .in_flight_ttl(Duration::MAX)
        .done_ttl(Duration::MAX);
    let mut table: F::Table<u32, (), 8> = take!(DedupOps::build(huge, SEED));
    let Begin::New(ticket) = table.begin(1, t(3)) else {
        check!(false);
        return Ok(());
    };
    check!(table.complete(ticket, (), t(max - 1)).is_ok());
    check_eq!(table.begin(1, t(max - 1)), Begin::Done(()));
    Ok(())
}

/// TTL 0 is a ConfigError naming its field.
pub fn bad_configs_name_their_field<F: DedupFamily>() -> Outcome {
    let e = take!(
        <F::Table<u32, (), 8> as DedupOps<u32, ()>>::build(Config::new().in_flight_ttl(d(0)), SEED)
            .err()
    );
    check_eq!(e.field(), "in_flight_ttl");
    let e = take!(
        <F::Table<u32, (), 8> as DedupOps<u32, ()>>::build(Config::new().done_ttl(d(0)), SEED)
            .err()
    );
    check_eq!(e.field(), "done_ttl");
    check!(Config::new().validate().is_ok());
    check_eq!(Config::default(), Config::new());
    check_eq!(Config::new().eviction_policy(), Eviction::KeepDone);
    Ok(())
}
