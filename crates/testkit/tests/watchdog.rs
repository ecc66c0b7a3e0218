//! The test binaries' watchdog (`tributary_testkit::deadline`) says why it ends a process: its message reaches the
//! run's output although the test that started it runs with its output captured, as every test does in CI.

use std::process::Command;
use std::time::Duration;

/// Run only by the test below (this binary again, this test alone, a deadline of one second).
#[test]
#[ignore = "run by the_watchdog_says_why_it_ends_a_process"]
fn a_test_that_never_ends() {
    tributary_testkit::deadline::start_watchdog(|| None);
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// On the commit before this test the message went to the captured output of the test that started the watchdog,
/// and the process ended with exit code 101 and not a word.
#[test]
fn the_watchdog_says_why_it_ends_a_process() {
    let ended = Command::new(std::env::current_exe().unwrap())
        .args(["a_test_that_never_ends", "--exact", "--ignored"])
        .env("TRIBUTARY_TEST_DEADLINE_SECS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert_eq!(ended.status.code(), Some(101), "{stderr}");
    assert!(
        stderr.contains("still running after its deadline of 1 s"),
        "the watchdog's message is not on stderr: {stderr}"
    );
}
