//! tansu brokers of a test's own, or of a test binary's own. tansu 0.6.0 can lose its storage for good (`lite.rs:503`
//! "more or less than one row", then `UnableToSend` for every call): after a pause, or whenever an idempotent
//! producer's message times out and librdkafka bumps its epoch — which a slow machine can cause without any fault
//! injected. A broker shared by the whole run would then fail every later test; one per test binary
//! (`TRIBUTARY_TEST_KAFKA=tansu`, how `infra/test.sh` runs the full stage) keeps the damage inside one binary, and a
//! scenario that pauses its broker gets one of its own ([`PrivateBroker::start`]).
//!
//! The binary is the one the full test run installed (`TANSU_BIN`); a broker listens on a free loopback port, keeps
//! its data in a fresh directory under `TRIBUTARY_TANSU_DATA` (else the temporary directory), and is killed when its
//! value is dropped — or, for a binary's broker, when the test process ends (the kernel's parent-death signal).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private broker.
pub struct PrivateBroker {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub bootstrap: String,
    dir: PathBuf,
}

impl PrivateBroker {
    /// Start one with the tansu binary `TANSU_BIN` names; `None` when it names none (the embedded run, where the
    /// mock cluster is private to each stack anyway). It dies with the thread that started it, at the latest.
    pub fn start() -> Option<Self> {
        let binary = std::env::var("TANSU_BIN").ok().filter(|b| !b.is_empty())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let base = std::env::var("TRIBUTARY_TANSU_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        let dir = base.join(format!("tansu-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a data directory for the private broker");
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&binary);
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            // The sqlite path is relative to the working directory, and tansu reads a .env there: a fresh directory,
            // and none of its settings inherited from the environment.
            .current_dir(&dir)
            .env_remove("STORAGE_ENGINE")
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("CLUSTER_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only prctl(2) is called, which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the private broker {binary}: {e}"));
        let mut broker = Self {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            dir,
        };
        broker.wait_ready(&binary, &url);
        Some(broker)
    }

    /// A broker for the rest of this process (a test binary's): started on a thread that lives as long as the
    /// process, so that it is killed when the process ends, however it ends. Its bootstrap address.
    pub fn for_this_process() -> Option<String> {
        let (sent, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let broker = Self::start();
            let _ = sent.send(broker.as_ref().map(|b| b.bootstrap.clone()));
            let _keep = broker;
            loop {
                std::thread::park();
            }
        });
        received
            .recv()
            .expect("the broker thread answers (or panics with why)")
    }

    /// The broker's process id (to pause it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until `tansu topic list` answers (30 s at most), as `infra/tansu.sh start` does.
    fn wait_ready(&mut self, binary: &str, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the private broker exited during start-up ({status})");
            }
            let listed = Command::new(binary)
                .args(["topic", "list", "--broker", url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if listed {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private broker on {url} is not ready after 30 s"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        // SIGKILL ends it even while it is paused.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
