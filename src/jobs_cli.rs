//! `streambox jobs list|show|retry|retry-dead|discard`: the operator API on the command line.

use std::fmt::Write;

use streambox_base::Config;
use streambox_base::ids::JobId;
use streambox_core::operator;
use streambox_db::chunks::{self, Chunk};
use streambox_db::jobs::{self, Job, JobState};
use streambox_queue::JobQueue;

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Jobs, newest first, with counts per state.
    List {
        /// queued, running, retrying, dead, done or discarded.
        #[arg(long, value_parser = str::parse::<JobState>)]
        state: Option<JobState>,
        #[arg(long, default_value_t = 1)]
        page: i64,
        #[arg(long, default_value_t = 50)]
        per_page: i64,
    },
    /// One job with every attempt's error.
    Show { id: JobId },
    /// Run a dead job again from its first attempt.
    Retry { id: JobId },
    /// Retry every dead job.
    RetryDead,
    /// Take a dead job off the dead-letter list.
    Discard { id: JobId },
}

/// Runs the command and returns what to print.
pub async fn run(config: &Config, command: JobsCommand) -> anyhow::Result<String> {
    let pool = streambox_db::connect(&config.database_url).await?;
    if config.migrate_on_start {
        streambox_db::migrate(&pool).await?;
    }
    match command {
        JobsCommand::List { state, page, per_page } => {
            anyhow::ensure!(page >= 1 && (1..=200).contains(&per_page), "page must be >= 1 and per-page 1..=200");
            let counts = jobs::counts(&pool).await?;
            let listed = jobs::list(&pool, state, per_page, (page - 1) * per_page).await?;
            let mut out = counts.iter().map(|(s, n)| format!("{}: {n}", s.as_str())).collect::<Vec<_>>().join("  ");
            out.push_str("\n\n");
            out.push_str(&table(&listed));
            Ok(out)
        }
        JobsCommand::Show { id } => {
            let job = jobs::find(&pool, id).await?.ok_or_else(|| anyhow::anyhow!("no job with id {id}"))?;
            let parts = chunks::of_job(&pool, id).await?;
            Ok(details(&job, &parts))
        }
        JobsCommand::Retry { id } => {
            let queue = JobQueue::connect(config).await?;
            let job = operator::retry(&pool, &queue, id).await?;
            Ok(format!("job {} queued again (video {})", job.id, job.video_id))
        }
        JobsCommand::RetryDead => {
            let queue = JobQueue::connect(config).await?;
            let retried = operator::retry_dead(&pool, &queue).await?;
            Ok(format!("{retried} dead job(s) queued again"))
        }
        JobsCommand::Discard { id } => {
            let job = operator::discard(&pool, id).await?;
            Ok(format!("job {} discarded", job.id))
        }
    }
}

fn table(jobs: &[Job]) -> String {
    let mut out = format!(
        "{:<36}  {:<36}  {:<9}  {:>8}  {:<20}  {}\n",
        "JOB", "VIDEO", "STATE", "ATTEMPTS", "UPDATED", "LAST ERROR"
    );
    for job in jobs {
        let last_error = job.errors.last().map(|e| one_line(&e.error, 60)).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<36}  {:<36}  {:<9}  {:>8}  {:<20}  {last_error}",
            job.id.to_string(),
            job.video_id.to_string(),
            job.state.as_str(),
            format!("{}/{}", job.attempts, job.max_attempts),
            job.updated_at.format("%Y-%m-%d %H:%M:%S"),
        );
    }
    if jobs.is_empty() {
        out.push_str("(no jobs)\n");
    }
    out
}

fn details(job: &Job, parts: &[Chunk]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "job       {}", job.id);
    let _ = writeln!(out, "video     {}", job.video_id);
    let _ = writeln!(out, "state     {}", job.state.as_str());
    let _ = writeln!(out, "attempts  {}/{}", job.attempts, job.max_attempts);
    let _ = writeln!(out, "worker    {}", job.worker.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "created   {}", job.created_at);
    let _ = writeln!(out, "updated   {}", job.updated_at);
    if let Some(at) = job.run_after {
        let _ = writeln!(out, "next run  {at}");
    }
    for error in job.errors.iter() {
        let kind = if error.permanent { "permanent" } else { "transient" };
        let _ = writeln!(out, "attempt {} ({kind}, {}): {}", error.attempt, error.at, error.error);
    }
    if !parts.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<4}  {:<6}  {:>17}  {:<8}  {:>8}  {:>5}  {:<40}  LAST ERROR",
            "PART", "KIND", "SECONDS", "STATE", "ATTEMPTS", "DONE", "WORKER"
        );
        for part in parts {
            let span = format!("{:.1}-{:.1}", part.start_s, part.start_s + part.duration_s);
            let done = part.progress_percent.map(|p| format!("{p:.0}%")).unwrap_or_default();
            let last_error = part.errors.last().map(|e| one_line(&e.error, 60)).unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<4}  {:<6}  {span:>17}  {:<8}  {:>8}  {done:>5}  {:<40}  {last_error}",
                part.seq,
                format!("{:?}", part.kind).to_lowercase(),
                part.state.as_str(),
                format!("{}/{}", part.attempts, job.max_attempts),
                part.worker.as_deref().unwrap_or("-"),
            );
        }
    }
    out
}

fn one_line(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > max { format!("{}…", line.chars().take(max - 1).collect::<String>()) } else { line }
}
