//! `streambox`: every StreamBox service in one binary.

use std::io::BufRead;

use anyhow::Context;
use clap::{Parser, Subcommand};
use streambox::jobs_cli::{self, JobsCommand};
use streambox::server::{self, Mode};
use streambox::{accounts, memory};
use streambox_base::role::Role;
use streambox_base::{Config, telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "streambox", version, about = "Queue-driven HLS transcoding pipeline and video backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every service in one process on one port, with the dev frontend and, unless
    /// S3_ENDPOINT is set, an embedded S3 endpoint.
    All,
    /// The API gateway: accounts and video metadata.
    Api,
    /// The upload service.
    Upload,
    /// A transcode worker.
    Transcoder,
    /// The HLS streaming service.
    Streamer,
    /// Apply database migrations and exit.
    Migrate,
    /// Inspect and fix the transcode queue.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: String,
        /// Make the account an administrator (operator endpoints, moderation).
        #[arg(long)]
        admin: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    memory::return_large_buffers_to_the_os();
    telemetry::init();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    let mode = match cli.command {
        Command::Migrate => {
            let pool = streambox_db::connect(&config.database_url).await?;
            streambox_db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            return Ok(());
        }
        Command::User { command: UserCommand::Create { email, display_name, admin } } => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password).context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let role = if admin { Role::Admin } else { Role::Creator };
            let id = accounts::create_user(&config, &email, &display_name, role, password).await?;
            println!("created {role:?} account {id}");
            return Ok(());
        }
        Command::Jobs { command } => {
            print!("{}", jobs_cli::run(&config, command).await?);
            return Ok(());
        }
        Command::All => Mode::All,
        Command::Api => Mode::Api,
        Command::Upload => Mode::Upload,
        Command::Transcoder => Mode::Transcoder,
        Command::Streamer => Mode::Streamer,
    };
    let signalled = shutdown_signals()?;
    let shutdown = CancellationToken::new();
    let running = server::start(config, mode, shutdown.clone()).await?;
    println!("StreamBox ({mode:?}) is running at http://{}/", running.addr);
    tokio::spawn(async move {
        signalled.await;
        tracing::info!("shutting down: no new work is taken, in-flight work finishes");
        shutdown.cancel();
    });
    running.wait().await
}

/// SIGTERM or SIGINT, handled from before anything starts: a signal that arrives while the
/// services start (a worker may already run a job) is a clean shutdown, never the default
/// death it was while the handler waited for its task to be first polled.
fn shutdown_signals() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
