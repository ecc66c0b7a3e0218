//! A client load over HTTP that keeps a ledger of what the API acknowledged.
//!
//! Each account is opened, then receives deposits and withdrawals, one at a time. Commands carry an idempotency key
//! (a few, on purpose, do not): a keyed command whose outcome is uncertain (a 5xx, a 409, a dropped connection, a
//! stack that is restarting) is sent again with the same key until the answer is definite, as a careful client
//! does; a keyless one is sent once and, if uncertain, recorded as unknown. The ledger is what the client believes,
//! to be compared with what the system stored and published.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Where the HTTP API is now (a crashed stack comes back on another port), and how far the load has got.
#[derive(Debug, Clone)]
pub struct Target {
    base_url: Arc<RwLock<String>>,
    definite: Arc<AtomicUsize>,
}

impl Target {
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: Arc::new(RwLock::new(base_url.to_owned())),
            definite: Arc::default(),
        }
    }

    pub fn set(&self, base_url: &str) {
        *self.base_url.write().expect("target lock") = base_url.to_owned();
    }

    pub fn get(&self) -> String {
        self.base_url.read().expect("target lock").clone()
    }

    /// Commands (openings included) whose outcome the client knows so far.
    pub fn definite(&self) -> usize {
        self.definite.load(Ordering::SeqCst)
    }

    /// Wait until at least `n` commands of `load` have a definite outcome, or until `load` has ended: a load that
    /// fails (a panic on an answer it did not expect) ends the wait, so the caller's `load.await` reports why
    /// instead of waiting for ever. (A CI run's fault-injection binary once hung here until its watchdog ended it.)
    pub async fn wait_for_definite(&self, n: usize, load: &tokio::task::JoinHandle<Ledger>) {
        while self.definite() < n && !load.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The shape of a load.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    pub accounts: usize,
    /// Money movements per account after its opening.
    pub commands: usize,
    /// Every n-th movement is sent without an idempotency key (0: none).
    pub keyless_every: usize,
    /// How long a keyed command may stay uncertain before the load gives up (and the test fails).
    pub give_up_after: Duration,
}

impl Default for LoadPlan {
    fn default() -> Self {
        Self {
            accounts: 10,
            commands: 20,
            keyless_every: 5,
            give_up_after: Duration::from_secs(120),
        }
    }
}

/// A kind of money movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Deposit,
    Withdrawal,
}

impl Movement {
    pub fn path(self) -> &'static str {
        match self {
            Self::Deposit => "deposits",
            Self::Withdrawal => "withdrawals",
        }
    }

    /// The event a committed movement of this kind appends.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Deposit => "MoneyDeposited",
            Self::Withdrawal => "MoneyWithdrawn",
        }
    }
}

/// A command the API acknowledged (2xx), at the version it answered.
#[derive(Debug, Clone)]
pub struct Ack {
    pub key: Option<String>,
    pub movement: Movement,
    pub amount: u64,
    pub version: u64,
}

/// What the client knows about one account.
#[derive(Debug, Clone, Default)]
pub struct AccountRecord {
    pub acked: Vec<Ack>,
    /// Commands refused by a business rule (422): nothing may have been appended for them.
    pub rejected: usize,
    /// Keyless commands whose outcome stayed unknown (they may or may not have been applied, once).
    pub unknown_keyless: usize,
    /// Requests sent again after an uncertain answer.
    pub resent: usize,
}

/// Every account the load opened, by account id.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub accounts: BTreeMap<String, AccountRecord>,
}

impl Ledger {
    pub fn acked(&self) -> usize {
        self.accounts.values().map(|a| a.acked.len()).sum()
    }
    pub fn rejected(&self) -> usize {
        self.accounts.values().map(|a| a.rejected).sum()
    }
    pub fn unknown_keyless(&self) -> usize {
        self.accounts.values().map(|a| a.unknown_keyless).sum()
    }
    pub fn resent(&self) -> usize {
        self.accounts.values().map(|a| a.resent).sum()
    }
}

/// One answer: the status and body, or `None` when no answer came (connection refused or dropped, timeout).
async fn send(
    http: &reqwest::Client,
    target: &Target,
    caller: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> Option<(u16, serde_json::Value)> {
    let mut request = http
        .post(format!("{}{path}", target.get()))
        .header("content-type", "application/json")
        .header("authorization", tributary_testkit::bearer(caller))
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Some((status, body))
}

/// Whether an answer leaves the outcome open (retry with the same key).
fn uncertain(answer: &Option<(u16, serde_json::Value)>) -> bool {
    match answer {
        None => true,
        Some((status, _)) => *status == 409 || *status >= 500,
    }
}

/// Run `plan` against `target`; `tag` makes owners and keys unique to this run.
pub async fn run(target: &Target, plan: LoadPlan, tag: &str) -> Ledger {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client");
    let tasks: Vec<_> = (0..plan.accounts)
        .map(|a| {
            let (http, target, tag) = (http.clone(), target.clone(), tag.to_owned());
            tokio::spawn(async move { run_account(&http, &target, plan, &tag, a).await })
        })
        .collect();
    let mut ledger = Ledger::default();
    for task in tasks {
        let (id, record) = task.await.expect("a load task panicked");
        ledger.accounts.insert(id, record);
    }
    ledger
}

async fn run_account(
    http: &reqwest::Client,
    target: &Target,
    plan: LoadPlan,
    tag: &str,
    a: usize,
) -> (String, AccountRecord) {
    let deadline = tokio::time::Instant::now() + plan.give_up_after;
    let mut record = AccountRecord::default();
    let pause = |attempt: usize| Duration::from_millis(50 * (1 + attempt.min(10) as u64));

    // Each account has its own owner (a bearer token's `sub`), who sends all its commands.
    let owner = format!("{tag}-owner-{a}");
    let open_key = format!("{tag}-open-{a}");
    let body = r#"{"currency":"EUR"}"#;
    let mut attempt = 0;
    let id = loop {
        let answer = send(http, target, &owner, "/accounts", Some(&open_key), body).await;
        match &answer {
            Some((201, body)) => {
                target.definite.fetch_add(1, Ordering::SeqCst);
                break body["account_id"]
                    .as_str()
                    .expect("an account id")
                    .to_owned();
            }
            _ if uncertain(&answer) => {}
            Some((status, body)) => panic!("opening {open_key}: {status} {body}"),
            None => unreachable!("no answer is uncertain"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{open_key} stayed uncertain"
        );
        attempt += 1;
        record.resent += 1;
        tokio::time::sleep(pause(attempt)).await;
    };

    for i in 0..plan.commands {
        let movement = if i % 4 == 3 {
            Movement::Withdrawal
        } else {
            Movement::Deposit
        };
        let amount = 10 + (i as u64 % 7) * 5;
        let keyless = plan.keyless_every > 0 && i % plan.keyless_every == plan.keyless_every - 1;
        let key = (!keyless).then(|| format!("{tag}-{a}-{i}"));
        let path = format!("/accounts/{id}/{}", movement.path());
        let body = format!(r#"{{"amount":{amount}}}"#);
        let mut attempt = 0;
        loop {
            let answer = send(http, target, &owner, &path, key.as_deref(), &body).await;
            if !uncertain(&answer) || keyless {
                target.definite.fetch_add(1, Ordering::SeqCst);
            }
            match &answer {
                Some((200, body)) => {
                    record.acked.push(Ack {
                        key: key.clone(),
                        movement,
                        amount,
                        version: body["version"].as_u64().expect("a version"),
                    });
                    break;
                }
                Some((422, _)) => {
                    record.rejected += 1;
                    break;
                }
                _ if uncertain(&answer) && keyless => {
                    record.unknown_keyless += 1;
                    break;
                }
                _ if uncertain(&answer) => {}
                Some((status, body)) => panic!("{path} ({key:?}): {status} {body}"),
                None => unreachable!("no answer is uncertain"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} ({key:?}) stayed uncertain: {answer:?}"
            );
            attempt += 1;
            record.resent += 1;
            tokio::time::sleep(pause(attempt)).await;
        }
    }
    (id, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load that fails ends the wait for it (on the commit before, the wait went on for ever: the fault-injection
    /// binary of a CI run hung until its watchdog ended it).
    #[tokio::test]
    async fn a_failed_load_ends_the_wait_for_it() {
        let target = Target::new("http://127.0.0.1:9");
        let load: tokio::task::JoinHandle<Ledger> =
            tokio::spawn(async { panic!("an answer the load did not expect") });
        tokio::time::timeout(Duration::from_secs(60), target.wait_for_definite(1, &load))
            .await
            .expect("the wait ends when the load does");
        assert!(load.await.unwrap_err().is_panic());
    }
}
