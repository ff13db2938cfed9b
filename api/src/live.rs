//! Live updates for the web app: a Server-Sent Events stream of the signed-in user's
//! videos on their way (status, percent, ETA, playable) and, for administrators, the
//! queue's counts. One hub per process reads the database once a tick for every
//! listener together; each stream sends its user only what changed for them.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use streambox_base::ids::VideoId;
use streambox_db::live::{self, QueueCounts, VideoProgress};
use streambox_db::videos::VideoStatus;
use streambox_http::AppState;
use streambox_http::auth::Session;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How often the hub reads what changed while anyone listens.
pub const TICK: Duration = Duration::from_secs(1);
/// How often a stream checks that its session is still signed in.
const SESSION_CHECK: Duration = Duration::from_secs(30);
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting a stream that ended.
const RECONNECT: Duration = Duration::from_secs(2);

/// What a stream sends: the SSE event name is `event`, its data the JSON of `data`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "event", content = "data", rename_all = "lowercase")]
pub enum LiveEvent {
    /// First, once the stream is open: what it will tell of.
    Ready {
        /// Whether `queue` events follow (administrators).
        queue: bool,
    },
    /// One of the user's videos changed: sent for each video uploading, queued or
    /// processing when the stream opens, then whenever its state, percent or ETA
    /// moves, and once more when it ends (`ready`, `failed`, `deleted`).
    Video(VideoProgress),
    /// Administrators: the queue's counts, when the stream opens and when they change.
    Queue(QueueCounts),
    /// Last: why the stream ends. `expired`: the access token expired (refresh the
    /// session, then reconnect); `signed_out`; `shutdown`: the server is stopping
    /// (reconnect).
    End {
        /// `expired`, `signed_out` or `shutdown`.
        reason: String,
    },
}

impl LiveEvent {
    fn to_sse(&self) -> Event {
        let value = serde_json::to_value(self).expect("live events serialize");
        let name = value["event"].as_str().unwrap_or_default();
        Event::default().event(name).data(value["data"].to_string())
    }
}

/// What every stream sees at a tick.
#[derive(Debug, Default)]
struct Snapshot {
    videos: Vec<VideoProgress>,
    queue: QueueCounts,
}

type Feed = watch::Sender<Arc<Snapshot>>;

/// Reads for every listener at once, and only while there is one.
pub struct Hub {
    state: AppState,
    shutdown: CancellationToken,
    /// The running feed, if any; its task ends (and this empties) when no one listens.
    feed: Mutex<Weak<Feed>>,
}

impl Hub {
    pub fn new(state: AppState, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self { state, shutdown, feed: Mutex::new(Weak::new()) })
    }

    fn subscribe(self: &Arc<Self>) -> watch::Receiver<Arc<Snapshot>> {
        let mut feed = self.feed.lock().expect("live hub lock");
        if let Some(sender) = feed.upgrade() {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(Arc::default());
        let sender = Arc::new(sender);
        *feed = Arc::downgrade(&sender);
        tokio::spawn(Arc::clone(self).run(sender));
        receiver
    }

    async fn run(self: Arc<Self>, sender: Arc<Feed>) {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The videos in flight at the tick before: read once more to tell how they ended.
        let mut in_flight: Vec<VideoId> = Vec::new();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = self.shutdown.cancelled() => return,
            }
            {
                // Under the lock, so no one subscribes to a feed that is ending.
                let mut feed = self.feed.lock().expect("live hub lock");
                if sender.receiver_count() == 0 {
                    *feed = Weak::new();
                    return;
                }
            }
            let read =
                tokio::try_join!(live::in_flight(&self.state.db, &in_flight), live::queue_counts(&self.state.db));
            match read {
                Ok((videos, queue)) => {
                    in_flight = videos.iter().filter(|v| is_in_flight(v.status)).map(|v| v.id).collect();
                    sender.send_replace(Arc::new(Snapshot { videos, queue }));
                }
                Err(e) => tracing::warn!(error = %e, "live updates: reading the videos in flight failed"),
            }
        }
    }
}

fn is_in_flight(status: VideoStatus) -> bool {
    matches!(status, VideoStatus::Uploading | VideoStatus::Queued | VideoStatus::Processing)
}

/// One open stream: what it has told its user so far.
struct Listener {
    state: AppState,
    session: Session,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    shutdown: CancellationToken,
    expires: Instant,
    session_check: tokio::time::Interval,
    sent: HashMap<VideoId, VideoProgress>,
    queue_sent: Option<QueueCounts>,
    pending: VecDeque<LiveEvent>,
    ended: bool,
}

impl Listener {
    /// The next event, or `None` once the stream has ended.
    async fn next(&mut self) -> Option<LiveEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            let reason = tokio::select! {
                changed = self.snapshots.changed() => match changed {
                    Ok(()) => {
                        let snapshot = Arc::clone(&self.snapshots.borrow_and_update());
                        self.tell(&snapshot);
                        continue;
                    }
                    Err(_) => "shutdown",
                },
                _ = self.session_check.tick() => match self.session.is_live(&self.state).await {
                    Ok(false) => "signed_out",
                    _ => continue,
                },
                () = tokio::time::sleep_until(self.expires) => "expired",
                () = self.shutdown.cancelled() => "shutdown",
            };
            self.ended = true;
            self.pending.push_back(LiveEvent::End { reason: reason.to_owned() });
        }
    }

    /// Queues what changed for this user since the last snapshot.
    fn tell(&mut self, snapshot: &Snapshot) {
        let user = self.session.user;
        let mut seen = Vec::new();
        for video in snapshot.videos.iter().filter(|v| v.owner_id == user.id) {
            seen.push(video.id);
            if self.sent.get(&video.id) != Some(video) {
                self.sent.insert(video.id, video.clone());
                self.pending.push_back(LiveEvent::Video(video.clone()));
            }
        }
        // A video told of but no longer read has ended; one last seen in flight has
        // lost its row (deleted) between two ticks.
        let gone: Vec<VideoId> = self.sent.keys().filter(|id| !seen.contains(id)).copied().collect();
        for id in gone {
            if let Some(last) = self.sent.remove(&id)
                && is_in_flight(last.status)
            {
                let deleted =
                    VideoProgress { status: VideoStatus::Deleted, playable: false, percent: None, eta_s: None, ..last };
                self.pending.push_back(LiveEvent::Video(deleted));
            }
        }
        if user.is_admin() && self.queue_sent != Some(snapshot.queue) {
            self.queue_sent = Some(snapshot.queue);
            self.pending.push_back(LiveEvent::Queue(snapshot.queue));
        }
    }
}

/// `GET /api/v1/me/updates`: the stream, until the access token expires, the session
/// signs out or the server stops (an `end` event says which).
#[tracing::instrument(skip_all)]
pub async fn stream(
    State(state): State<AppState>,
    Extension(hub): Extension<Arc<Hub>>,
    session: Session,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut snapshots = hub.subscribe();
    snapshots.mark_changed();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut session_check = tokio::time::interval(SESSION_CHECK);
    session_check.reset();
    let listener = Listener {
        expires: Instant::now() + Duration::from_secs(session.expires_at.saturating_sub(now)),
        shutdown: hub.shutdown.clone(),
        state,
        session,
        snapshots,
        session_check,
        sent: HashMap::new(),
        queue_sent: None,
        pending: VecDeque::from([LiveEvent::Ready { queue: session.user.is_admin() }]),
        ended: false,
    };
    let events = futures::stream::unfold((listener, true), |(mut listener, first)| async move {
        let event = listener.next().await?;
        let sse = if first { event.to_sse().retry(RECONNECT) } else { event.to_sse() };
        Some((Ok(sse), (listener, false)))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
