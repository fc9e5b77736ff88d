use super::*;

#[test]
fn in_order_events_leave_no_gaps() {
    let mut c = Cursor::new(0, &[], 0);
    for s in 1..=5 {
        assert!(c.observe(s, 0));
    }
    assert_eq!((c.high(), c.floor(), c.pending()), (5, 5, vec![]));
    assert!(!c.observe(3, 0), "a duplicate is not delivered twice");
}

#[test]
fn a_late_commit_is_delivered_once() {
    let mut c = Cursor::new(10, &[], 0);
    assert!(c.observe(13, 0));
    assert_eq!(c.pending(), vec![11, 12]);
    assert_eq!(c.floor(), 10, "the log is read again from below the oldest gap");
    assert!(c.observe(12, 5));
    assert!(!c.observe(12, 6));
    assert!(!c.observe(13, 6));
    assert_eq!(c.pending(), vec![11]);
    assert_eq!(c.expire(GAP_TTL_MS - 1), 0);
    assert_eq!(c.expire(GAP_TTL_MS), 1, "a rolled-back number is given up after the TTL");
    assert_eq!(c.floor(), 13);
    assert!(!c.observe(11, GAP_TTL_MS + 1), "given up: not delivered after all");
}

#[test]
fn pending_numbers_carry_over_a_reconnect() {
    let c = Cursor::new(20, &[18, 25, -1, 0], 100);
    assert_eq!(c.pending(), vec![18], "numbers above the high mark or below 1 are ignored");
    let mut c = c;
    assert!(c.observe(18, 200));
    assert_eq!(c.floor(), 20);
}

#[test]
fn a_huge_jump_keeps_the_gap_set_bounded() {
    let mut c = Cursor::new(0, &[], 0);
    assert!(c.observe(MAX_GAPS as i64 * 3, 0));
    assert_eq!(c.pending().len(), MAX_GAPS);
    assert_eq!(c.floor(), MAX_GAPS as i64 * 2 - 1);
}
