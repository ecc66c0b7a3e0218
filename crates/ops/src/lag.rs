//! `tributary lag`: how far each consumer is behind on the events topic, per partition.

use crate::Context;
use std::io::Write;
use tributary_consumer::ops;

/// Each consumer group's lag (every consumer when `consumers` is empty).
pub(crate) async fn lag(
    ctx: &Context<'_>,
    consumers: &[String],
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let Context {
        env,
        aws,
        bar,
        json,
        ..
    } = ctx;
    let names = if consumers.is_empty() {
        ctx.consumers()
    } else {
        consumers.to_vec()
    };
    let groups: Vec<String> = names.iter().map(|n| env.group(n)).collect();
    bar.set_message(format!(
        "asking the brokers about {} consumer groups",
        groups.len()
    ));
    let lags = ops::lag(&env.kafka()?, aws, &groups).await?;
    bar.finish_and_clear();
    if *json {
        writeln!(out, "{}", serde_json::to_string_pretty(&lags)?)?;
    } else {
        print_lag(out, &lags)?;
    }
    Ok(())
}

fn print_lag(out: &mut (dyn Write + Send), lags: &[ops::PartitionLag]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<40} {:>9} {:>10} {:>10} {:>8} {:>14}",
        "consumer group", "partition", "committed", "end", "behind", "oldest unread"
    )?;
    for l in lags {
        writeln!(
            out,
            "{:<40} {:>9} {:>10} {:>10} {:>8} {:>14}",
            l.consumer_group,
            l.partition,
            l.committed.map_or("-".into(), |c| c.to_string()),
            l.end,
            l.behind,
            l.oldest_unapplied_age_ms
                .map_or("-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
        )?;
    }
    let mut groups: Vec<&str> = lags.iter().map(|l| l.consumer_group.as_str()).collect();
    groups.dedup();
    for group in groups {
        let of = lags.iter().filter(|l| l.consumer_group == group);
        let behind: i64 = of.clone().map(|l| l.behind).sum();
        let expired: i64 = of.clone().map(|l| l.expired).sum();
        let oldest = of.filter_map(|l| l.oldest_unapplied_age_ms).max();
        match (behind, oldest) {
            (0, _) => writeln!(out, "{group}: up to date")?,
            (_, Some(ms)) => writeln!(
                out,
                "{group}: {behind} records behind, the oldest written {:.1} s ago",
                ms as f64 / 1000.0
            )?,
            (_, None) => writeln!(
                out,
                "{group}: {behind} records behind (the oldest could not be read in time)"
            )?,
        }
        if expired > 0 {
            writeln!(
                out,
                "{group}: WARNING {expired} records expired before it read them: `tributary rebuild` its read model"
            )?;
        }
    }
    Ok(())
}
