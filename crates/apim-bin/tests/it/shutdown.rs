//! Shutdown in order: the listeners drain, the roles' background tasks stop, the pools close, and only then does
//! the node log `stopped`, so nothing (a task reading a closed pool) is logged after it.

use std::time::{Duration, Instant};

#[tokio::test]
async fn all_in_one_logs_stopped_last() {
    let (_dir, mut node, _https, _http) = crate::ready_all_in_one("apim-stop").await;
    let (status, _) = node.terminate();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", node.stderr());
    // The log is read by another thread: wait (bounded) until it has the line.
    let is_stopped = |l: &str| l.contains(" INFO ") && l.ends_with(" stopped");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !node.stderr().lines().any(is_stopped) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = node.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some(at) = lines.iter().rposition(|l| is_stopped(l)) else { panic!("no `stopped` line:\n{log}") };
    assert_eq!(at, lines.len() - 1, "`stopped` is not the last line:\n{log}");
    // Nothing is left to read a closed pool: a quiet node stops without a warning.
    let from = lines.iter().position(|l| l.contains("shutting down")).unwrap_or(at);
    assert!(!lines[from..].iter().any(|l| l.contains(" WARN ") || l.contains(" ERROR ")), "warnings while stopping:\n{log}");
}
