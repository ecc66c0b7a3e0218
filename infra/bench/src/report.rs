//! The results of a run: JSON (every cell, the machine, the targets) and the Markdown section of BENCHMARKS.md
//! that shows each target with its figure.

use bench_core::Cell;
use serde::Serialize;
use std::fmt::Write;

/// Where and how a run ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub build: String,
    pub services: String,
}

impl Machine {
    pub fn describe(services: &str) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(|| "unknown".to_owned(), |m| m.trim().to_owned());
        let memory_kib: f64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or_default();
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            build: if cfg!(debug_assertions) {
                "debug (figures not comparable with optimised runs)".into()
            } else {
                "optimised".into()
            },
            services: services.to_owned(),
        }
    }
}

/// A target of issue 11, with the figure that decides it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub target: String,
    pub figure: String,
    /// `None` when the run did not measure it (a smoke run, or no peer).
    pub met: Option<bool>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub date: String,
    pub command: String,
    pub machine: Machine,
    pub snapshot_every: u64,
    pub cells: Vec<Cell>,
    pub targets: Vec<Target>,
}

fn find<'a>(
    cells: &'a [Cell],
    system: &str,
    scenario: &str,
    concurrency: usize,
) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|c| c.system == system && c.scenario == scenario && c.concurrency == concurrency)
}

fn stream_cells<'a>(cells: &'a [Cell], system: &'a str) -> impl Iterator<Item = (u64, &'a Cell)> {
    cells
        .iter()
        .filter(move |c| c.system == system)
        .filter_map(|c| {
            let length = c
                .scenario
                .strip_prefix("stream of ")?
                .strip_suffix(" events")?
                .parse()
                .ok()?;
            Some((length, c))
        })
}

fn extra(cell: &Cell, name: &str) -> f64 {
    cell.extra.get(name).copied().unwrap_or(f64::NAN)
}

const PEERS: [&str; 2] = ["cqrs-es", "cqrs-es + snapshots"];

/// Judge every target on `cells`.
pub fn targets(cells: &[Cell], snapshot_every: u64) -> Vec<Target> {
    let mut out = Vec::new();
    let lengths: Vec<(u64, &Cell)> = stream_cells(cells, "command path").collect();
    match (lengths.first(), lengths.last()) {
        (Some((short, s)), Some((long, l))) if long > short => out.push(Target {
            target: format!("command p50 at {long} events <= 1.2x the p50 at {short}"),
            figure: format!(
                "{:.2} ms vs {:.2} ms: {:.2}x",
                l.p50_ms,
                s.p50_ms,
                l.p50_ms / s.p50_ms
            ),
            met: Some(l.p50_ms <= 1.2 * s.p50_ms),
        }),
        _ => {}
    }
    if !lengths.is_empty() {
        let most = lengths
            .iter()
            .map(|(_, c)| extra(c, "most items read by one query"))
            .fold(0.0, f64::max);
        out.push(Target {
            target: format!(
                "items read per command <= K+1 = {} at every length",
                snapshot_every + 1
            ),
            figure: format!(
                "at most {most} in one query ({})",
                lengths
                    .iter()
                    .map(|(n, c)| format!("{n}: {:.1}", extra(c, "items read per command")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            met: Some(most <= (snapshot_every + 1) as f64),
        });
    }
    let throughput: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.system == "command path" && c.scenario.ends_with(" accounts"))
        .collect();
    if let Some(single) = throughput.iter().find(|c| c.concurrency == 1) {
        let (q, p, t) = (
            extra(single, "Query per command"),
            extra(single, "PutItem per command"),
            extra(single, "TransactWriteItems per command"),
        );
        out.push(Target {
            target: "single-event command: 1 consistent read, 1 conditional write".into(),
            figure: format!("{q:.3} Query, {p:.3} PutItem, {t:.3} TransactWriteItems per command"),
            met: Some(q == 1.0 && p == 1.0 && t == 0.0),
        });
    }
    // A caller's Idempotency-Key: its receipt in the same transaction as the events.
    for keyed in cells
        .iter()
        .filter(|c| c.system == "command path, keyed" && c.scenario.ends_with(" accounts"))
    {
        let (q, p, t) = (
            extra(keyed, "Query per command"),
            extra(keyed, "PutItem per command"),
            extra(keyed, "TransactWriteItems per command"),
        );
        if keyed.concurrency == 1 {
            out.push(Target {
                target: "keyed single-event command: 1 consistent read, 1 transaction of event + receipt".into(),
                figure: format!(
                    "{q:.3} Query, {p:.3} PutItem, {t:.3} TransactWriteItems per command (4 WCU instead of 1)"
                ),
                met: Some(q == 1.0 && p == 0.0 && t == 1.0),
            });
        }
        if let Some(plain) = find(cells, "command path", &keyed.scenario, keyed.concurrency) {
            out.push(Target {
                target: format!(
                    "concurrency {}: keyed commands/s >= 0.5x unkeyed (the receipt costs less than a second write)",
                    keyed.concurrency
                ),
                figure: format!(
                    "{:.0}/s vs {:.0}/s ({:.2}x); p50 {:.2} vs {:.2} ms",
                    keyed.per_second,
                    plain.per_second,
                    keyed.per_second / plain.per_second,
                    keyed.p50_ms,
                    plain.p50_ms
                ),
                met: Some(keyed.per_second >= 0.5 * plain.per_second),
            });
        }
    }
    let neighbours: Vec<&Cell> = cells.iter().filter(|c| c.system == "rate limit").collect();
    if let [alone, flooded] = neighbours[..] {
        let success = extra(flooded, "success share");
        out.push(Target {
            target: "a caller beside another flooding at 10x its budget: every request answered, p99 <= 1.5x alone"
                .into(),
            figure: format!(
                "success {:.1}% ({:.1}% alone); p99 {:.2} vs {:.2} ms ({:.2}x); the flood ({:.0}/s) {:.1}% refused with 429",
                100.0 * success,
                100.0 * extra(alone, "success share"),
                flooded.p99_ms,
                alone.p99_ms,
                flooded.p99_ms / alone.p99_ms.max(f64::MIN_POSITIVE),
                extra(flooded, "flood sent per second"),
                100.0 * extra(flooded, "flood refused (429) share"),
            ),
            met: Some(success == 1.0 && flooded.p99_ms <= 1.5 * alone.p99_ms),
        });
    }
    for c in &throughput {
        if let Some(f) = find(cells, "floor", &c.scenario, c.concurrency) {
            let (rate, p50) = (c.per_second / f.per_second, c.p50_ms / f.p50_ms);
            out.push(Target {
                target: format!(
                    "concurrency {}: commands/s >= 0.9x the floor, p50 <= 1.1x",
                    c.concurrency
                ),
                figure: format!(
                    "{:.0}/s vs {:.0}/s ({rate:.2}x); p50 {:.2} vs {:.2} ms ({p50:.2}x)",
                    c.per_second, f.per_second, c.p50_ms, f.p50_ms
                ),
                met: Some(rate >= 0.9 && p50 <= 1.1),
            });
        }
        for peer in PEERS {
            let figure;
            let met;
            if let Some(p) = find(cells, peer, &c.scenario, c.concurrency) {
                figure = format!(
                    "{:.0}/s vs {:.0}/s; p50 {:.2} vs {:.2} ms",
                    c.per_second, p.per_second, c.p50_ms, p.p50_ms
                );
                met = Some(c.per_second > p.per_second);
            } else {
                figure = "not measured".into();
                met = None;
            }
            out.push(Target {
                target: format!("concurrency {}: ahead of {peer}", c.concurrency),
                figure,
                met,
            });
        }
    }
    let hot: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.system == "command path" && c.scenario == "hot account")
        .collect();
    if let (Some(one), Some(many)) = (
        hot.iter().find(|c| c.concurrency == 1),
        hot.iter().rfind(|c| c.concurrency > 1),
    ) {
        out.push(Target {
            target: format!(
                "hot account, {} writers: <= 1% of requests 409",
                many.concurrency
            ),
            figure: format!(
                "{:.2}% ({} of {})",
                100.0 * many.conflict_rate(),
                many.conflicts,
                many.done + many.conflicts + many.failures
            ),
            met: Some(many.conflict_rate() <= 0.01),
        });
        out.push(Target {
            target: format!(
                "hot account, {} writers: throughput >= 0.5x one writer's",
                many.concurrency
            ),
            figure: format!(
                "{:.0}/s vs {:.0}/s ({:.2}x)",
                many.per_second,
                one.per_second,
                many.per_second / one.per_second
            ),
            met: Some(many.per_second >= 0.5 * one.per_second),
        });
    }
    if let Some(raw) = cells
        .iter()
        .find(|c| c.system == "raw conditional UpdateItem")
    {
        for d in cells
            .iter()
            .filter(|c| c.system.starts_with("denormaliser"))
        {
            out.push(Target {
                target: format!("{} >= 1x the raw conditional UpdateItem rate", d.system),
                figure: format!(
                    "{:.0} vs {:.0} events/s ({:.2}x)",
                    d.per_second,
                    raw.per_second,
                    d.per_second / raw.per_second
                ),
                met: Some(d.per_second >= raw.per_second),
            });
        }
    }
    out
}

fn yes_no(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

/// The Markdown section for BENCHMARKS.md.
pub fn markdown(results: &Results) -> String {
    let m = &results.machine;
    let mut md = String::new();
    let _ = writeln!(md, "Run of {} (`{}`).", results.date, results.command);
    let _ = writeln!(
        md,
        "Machine: {} ({} cores, {} GiB); build: {}; services: {}; snapshot every {} events.\n",
        m.cpu, m.cores, m.memory_gib, m.build, m.services, results.snapshot_every
    );
    let _ = writeln!(md, "| target | figure | |\n|---|---|---|");
    for t in &results.targets {
        let _ = writeln!(md, "| {} | {} | {} |", t.target, t.figure, yes_no(t.met));
    }
    let _ = writeln!(
        md,
        "\n| system | scenario | concurrency | done/s | p50 ms | p99 ms | 409s | failures | notes |\n|---|---|---|---|---|---|---|---|---|"
    );
    for c in &results.cells {
        let mut notes: Vec<String> = c
            .extra
            .iter()
            .map(|(k, v)| format!("{k}: {v:.2}"))
            .collect();
        if let Some(failure) = &c.first_failure {
            notes.push(format!("first failure: {}", failure.replace('|', "/")));
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
            c.system,
            c.scenario,
            c.concurrency,
            c.per_second,
            c.p50_ms,
            c.p99_ms,
            c.conflicts,
            c.failures,
            notes.join("; ")
        );
    }
    md
}

/// The markers around the harness's section for runs on `services` ("embedded", "full").
fn markers(services: &str) -> (String, String) {
    (
        format!("<!-- bench:{services}:begin (written by the harness: infra/bench.sh) -->"),
        format!("<!-- bench:{services}:end -->"),
    )
}

/// Replace the harness's section for runs on `services` in `document` (appended under `heading` when it has none
/// yet).
pub fn replace_section(document: &str, services: &str, heading: &str, section: &str) -> String {
    let (begin_marker, end_marker) = markers(services);
    match (document.find(&begin_marker), document.find(&end_marker)) {
        (Some(begin), Some(end)) if end > begin => format!(
            "{}{begin_marker}\n{section}{end_marker}{}",
            &document[..begin],
            &document[end + end_marker.len()..]
        ),
        _ => format!(
            "{}\n\n## {heading}\n\n{begin_marker}\n{section}{end_marker}\n",
            document.trim_end()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_replaced_in_place_and_added_once() {
        let first = replace_section("# Benchmarks\n\ntext\n", "embedded", "Embedded", "one\n");
        assert!(first.contains("## Embedded\n") && first.contains("one\n"));
        let second = replace_section(&first, "embedded", "Embedded", "two\n");
        assert!(second.contains("two\n") && !second.contains("one\n"));
        assert_eq!(second.matches("bench:embedded:begin").count(), 1);
        assert_eq!(second.matches("## Embedded").count(), 1);
        assert!(second.starts_with("# Benchmarks\n\ntext\n"));
        let both = replace_section(&second, "full", "Full", "three\n");
        assert!(both.contains("two\n") && both.contains("three\n"));
    }

    #[test]
    fn targets_are_judged_on_their_figures() {
        let cell = |system: &str, scenario: &str, concurrency, per_second, p50_ms| Cell {
            system: system.into(),
            scenario: scenario.into(),
            concurrency,
            per_second,
            p50_ms,
            ..Cell::default()
        };
        let cells = vec![
            cell("floor", "1000 accounts", 8, 1000.0, 5.0),
            cell("command path", "1000 accounts", 8, 950.0, 5.2),
            cell("cqrs-es", "1000 accounts", 8, 600.0, 9.0),
            cell("command path", "stream of 10 events", 1, 300.0, 3.0),
            cell("command path", "stream of 50000 events", 1, 290.0, 4.0),
        ];
        let targets = targets(&cells, 64);
        let verdict = |prefix: &str| {
            targets
                .iter()
                .find(|t| t.target.starts_with(prefix))
                .map(|t| t.met)
                .unwrap()
        };
        assert_eq!(
            verdict("command p50 at 50000"),
            Some(false),
            "4.0 > 1.2 x 3.0"
        );
        assert_eq!(verdict("concurrency 8: commands/s"), Some(true));
        assert_eq!(verdict("concurrency 8: ahead of cqrs-es"), Some(true));
        assert_eq!(verdict("concurrency 8: ahead of cqrs-es + snapshots"), None);
    }
}
