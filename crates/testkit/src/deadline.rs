//! A deadline for a whole test binary: once any test of it talks to a service, a watchdog ends the process if it is
//! still running after `TRIBUTARY_TEST_DEADLINE_SECS` (default 25 minutes), saying so — a service that went away
//! (a broker whose storage failed, a server that stopped answering) makes a test fail with a message, never hang a
//! CI run past its limit. Every wait inside the tests is bounded too (`EVENTUALLY`); this is the net under them.

use std::io::Write;
use std::sync::Once;
use std::time::Duration;

static WATCHDOG: Once = Once::new();

/// The default deadline of a test binary.
pub const DEFAULT: Duration = Duration::from_secs(25 * 60);

/// Start the watchdog of this process (once; later calls do nothing). `kafka` names the test broker when one was
/// started (for the message).
pub fn start_watchdog(kafka: fn() -> Option<&'static str>) {
    WATCHDOG.call_once(|| {
        let deadline = std::env::var("TRIBUTARY_TEST_DEADLINE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(DEFAULT, Duration::from_secs);
        std::thread::spawn(move || {
            std::thread::sleep(deadline);
            let binary = std::env::args().next().unwrap_or_default();
            // Straight to the process's stderr: this thread inherits the output capture of the test that started
            // it, and `eprintln!` would put the message in that test's buffer, which an exiting process never
            // prints (a CI run's hung binary ended with exit code 101 and not a word).
            let _ = writeln!(
                std::io::stderr(),
                "\n{binary}: still running after its deadline of {} s (TRIBUTARY_TEST_DEADLINE_SECS): a service it \
                 talks to has probably stopped answering (DynamoDB at {}, Kafka at {}; see the service's log), or \
                 a test waits for what will not come. Ending the process.",
                deadline.as_secs(),
                std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| "the embedded server".into()),
                kafka().unwrap_or("none started"),
            );
            std::process::exit(101);
        });
    });
}
