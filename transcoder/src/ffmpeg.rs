//! The one way StreamBox runs ffmpeg: a stall watchdog, a wall-clock cap, kill on
//! drop, and the tail of ffmpeg's log kept for the error message.

use std::collections::VecDeque;
use std::time::Duration;

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use tokio::time::Instant;

/// Lines of ffmpeg's log kept for a failure report.
const TAIL_LINES: usize = 12;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No progress report for this long: ffmpeg is considered stuck.
    pub stall: Duration,
    /// The run may not take longer than this in total.
    pub wall_clock: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum FfmpegError {
    #[error("could not start ffmpeg: {0}")]
    Spawn(String),
    #[error("ffmpeg made no progress for {0:?} and was stopped")]
    Stalled(Duration),
    #[error("ffmpeg ran longer than {0:?} and was stopped")]
    TimedOut(Duration),
    #[error("ffmpeg failed ({status}): {tail}")]
    Failed { status: String, tail: String },
    #[error("ffmpeg was killed ({status})")]
    Killed { status: String },
}

/// Kills the child if it is still running when dropped (cancelled job, watchdog, panic).
struct KillOnDrop(Option<FfmpegChild>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How far a run has come, as ffmpeg reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// The output position in seconds (`N/A` reads as 0).
    pub seconds: f64,
    /// Frames of the first output stream written so far.
    pub frame: u32,
}

/// Runs ffmpeg with `args`; `on_progress` receives each progress report.
pub async fn run(args: Vec<String>, limits: Limits, mut on_progress: impl FnMut(Position)) -> Result<(), FfmpegError> {
    // A presigned source URL grants reading the source: never logged.
    let shown: Vec<&str> =
        args.iter().map(|a| if a.starts_with("http") { "<source URL>" } else { a.as_str() }).collect();
    tracing::debug!(args = %shown.join(" "), "running ffmpeg");
    let mut command = FfmpegCommand::new();
    command.args(["-hide_banner", "-nostdin"]).args(&args);
    die_with_parent(command.as_inner_mut());
    let mut child = command.spawn().map_err(|e| FfmpegError::Spawn(e.to_string()))?;
    let events = child.iter().map_err(|e| FfmpegError::Spawn(e.to_string()))?;
    let mut guard = KillOnDrop(Some(child));

    // The event iterator blocks on ffmpeg's pipes: it runs on a blocking thread and
    // ends when ffmpeg exits or is killed.
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        for event in events {
            if tx.blocking_send(event).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + limits.wall_clock;
    let mut stall_at = Instant::now() + limits.stall;
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    loop {
        let event = tokio::select! {
            event = rx.recv() => event,
            () = tokio::time::sleep_until(stall_at) => return Err(FfmpegError::Stalled(limits.stall)),
            () = tokio::time::sleep_until(deadline) => return Err(FfmpegError::TimedOut(limits.wall_clock)),
        };
        match event {
            None => break,
            Some(FfmpegEvent::Progress(progress)) => {
                stall_at = Instant::now() + limits.stall;
                let seconds = parse_time(&progress.time).unwrap_or(0.0);
                on_progress(Position { seconds, frame: progress.frame });
            }
            Some(FfmpegEvent::Log(level, line)) if !matches!(level, LogLevel::Info) => keep(&mut tail, line),
            Some(FfmpegEvent::Error(line)) => keep(&mut tail, line),
            Some(_) => {}
        }
    }

    let mut child = guard.0.take().expect("the child is only taken here");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .map_err(|e| FfmpegError::Spawn(e.to_string()))?
        .map_err(|e| FfmpegError::Spawn(e.to_string()))?;
    if status.success() {
        Ok(())
    } else if status.code().is_none() {
        Err(FfmpegError::Killed { status: status.to_string() })
    } else {
        let tail = Vec::from(tail).join(" | ");
        Err(FfmpegError::Failed {
            status: status.to_string(),
            tail: if tail.is_empty() { "no error output".into() } else { tail },
        })
    }
}

/// A worker killed with SIGKILL cannot run `Drop`: have the kernel kill ffmpeg with it,
/// so no orphaned encoder keeps writing into a dead run's scratch space.
fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl,
    // which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

fn keep(tail: &mut VecDeque<String>, line: String) {
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line.trim().to_owned());
}

/// `value` as a filter option inside a filter graph: escaped once for the option
/// parser (`\ ' :`), then again for the graph parser (`\ ' [ ] , ;`), so a path
/// reaches the filter exactly as written.
pub fn filter_value(value: &str) -> String {
    let escape = |text: &str, special: &[char]| {
        let mut escaped = String::with_capacity(text.len());
        for c in text.chars() {
            if special.contains(&c) {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped
    };
    escape(&escape(value, &['\\', '\'', ':']), &['\\', '\'', '[', ']', ',', ';'])
}

/// `HH:MM:SS.ss` to seconds.
fn parse_time(time: &str) -> Option<f64> {
    let mut parts = time.trim().rsplitn(3, ':');
    let seconds: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next().map_or(Ok(0.0), str::parse).ok()?;
    let hours: f64 = parts.next().map_or(Ok(0.0), str::parse).ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_times_parse() {
        assert_eq!(parse_time("00:01:02.50"), Some(62.5));
        assert_eq!(parse_time("01:00:00.00"), Some(3600.0));
        assert_eq!(parse_time("N/A"), None);
    }

    #[test]
    fn filter_values_are_escaped_for_the_option_then_the_graph() {
        assert_eq!(filter_value("/work/a.cube"), "/work/a.cube");
        assert_eq!(filter_value("a:b"), r"a\\:b");
        assert_eq!(filter_value("a,b"), r"a\,b");
        assert_eq!(filter_value(r"a'b"), r"a\\\'b");
    }
}
