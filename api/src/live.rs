//! Live updates for the web app: a Server-Sent Events stream of the signed-in user's
//! videos on their way (status, percent, ETA, playable) and, for administrators, the
//! queue's counts. One hub per process reads the database once a tick for every
//! listener together; each stream sends its user only what changed for them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use streambox_base::ids::{UserId, VideoId};
use streambox_db::live::{self, QueueCounts, VideoProgress};
use streambox_db::videos::VideoStatus;
use streambox_http::auth::Session;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};
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
/// How long a video that left the flight (ready, failed, gone) stays in the snapshots,
/// so a stream that fell a few ticks behind still tells how it ended.
const LINGER: Duration = Duration::from_secs(15);
/// The longest the hub waits for one read before trying again at the next tick.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Streams one user may hold open at once (tabs, devices); more are refused with 429.
pub const STREAMS_PER_USER: usize = 8;
/// Streams one process holds open at once; more are refused with 503.
pub const STREAMS_PER_PROCESS: usize = 4096;

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
    /// session, then reconnect); `signed_out`; `role_changed` (reconnect: what the
    /// stream tells depends on the role); `shutdown`: the server is stopping (reconnect).
    End {
        /// `expired`, `signed_out`, `role_changed` or `shutdown`.
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

/// What every stream sees at a tick: each owner's videos in flight (and those that left
/// it within [`LINGER`]), and the queue's counts once read.
#[derive(Debug, Default, PartialEq)]
struct Snapshot {
    by_owner: HashMap<UserId, Vec<VideoProgress>>,
    queue: Option<QueueCounts>,
}

type Feed = watch::Sender<Arc<Snapshot>>;

/// Reads for every listener at once, and only while there is one.
pub struct Hub {
    state: AppState,
    shutdown: CancellationToken,
    /// The running feed, if any; its task ends (and this empties) when no one listens.
    feed: Mutex<Weak<Feed>>,
    /// Open streams per user.
    streams: Mutex<HashMap<UserId, usize>>,
}

/// A stream's place among the open ones, given back when the stream ends.
struct Admitted {
    hub: Arc<Hub>,
    user: UserId,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut streams = self.hub.streams.lock().expect("live hub lock");
        if let Some(open) = streams.get_mut(&self.user) {
            *open -= 1;
            if *open == 0 {
                streams.remove(&self.user);
            }
        }
    }
}

impl Hub {
    pub fn new(state: AppState, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self { state, shutdown, feed: Mutex::new(Weak::new()), streams: Mutex::default() })
    }

    /// A place for one more stream of `user`: 429 beyond [`STREAMS_PER_USER`], 503 beyond
    /// [`STREAMS_PER_PROCESS`].
    fn admit(self: &Arc<Self>, user: UserId) -> ApiResult<Admitted> {
        let mut streams = self.streams.lock().expect("live hub lock");
        if streams.values().sum::<usize>() >= STREAMS_PER_PROCESS {
            return Err(ApiError::unavailable("live updates"));
        }
        let open = streams.entry(user).or_default();
        if *open >= STREAMS_PER_USER {
            return Err(ApiError::too_many(
                codes::TOO_MANY_STREAMS,
                format!("at most {STREAMS_PER_USER} live-update streams may be open at once; close one"),
                u32::try_from(RECONNECT.as_secs()).unwrap_or(1),
            ));
        }
        *open += 1;
        Ok(Admitted { hub: Arc::clone(self), user })
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
        // The videos in flight at the tick before, read once more to tell how they ended;
        // and those that ended, kept for a while for streams that fell behind.
        let mut in_flight: HashMap<VideoId, VideoProgress> = HashMap::new();
        let mut ended: HashMap<VideoId, (VideoProgress, Instant)> = HashMap::new();
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
            let ids: Vec<VideoId> = in_flight.keys().copied().collect();
            let read = tokio::select! {
                read = tokio::time::timeout(
                    READ_TIMEOUT,
                    async { tokio::try_join!(live::in_flight(&self.state.db, &ids), live::queue_counts(&self.state.db)) },
                ) => read,
                () = self.shutdown.cancelled() => return,
            };
            let (videos, queue) = match read {
                Ok(Ok(read)) => read,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "live updates: reading the videos in flight failed");
                    continue;
                }
                Err(_) => {
                    tracing::warn!("live updates: reading the videos in flight timed out");
                    continue;
                }
            };
            let now = Instant::now();
            let mut gone: HashMap<VideoId, VideoProgress> = std::mem::take(&mut in_flight);
            for video in videos {
                gone.remove(&video.id);
                if is_in_flight(video.status) {
                    in_flight.insert(video.id, video);
                } else {
                    ended.insert(video.id, (video, now));
                }
            }
            // In flight at the last tick, and now without a row: deleted.
            for (id, last) in gone {
                let deleted =
                    VideoProgress { status: VideoStatus::Deleted, playable: false, percent: None, eta_s: None, ..last };
                ended.insert(id, (deleted, now));
            }
            ended.retain(|_, (_, at)| now.duration_since(*at) < LINGER);
            let mut by_owner: HashMap<UserId, Vec<VideoProgress>> = HashMap::new();
            for video in in_flight.values().chain(ended.values().map(|(v, _)| v)) {
                by_owner.entry(video.owner_id).or_default().push(video.clone());
            }
            let snapshot = Snapshot { by_owner, queue: Some(queue) };
            // Streams wake only when something changed.
            sender.send_if_modified(|current| {
                let changed = **current != snapshot;
                if changed {
                    *current = Arc::new(snapshot);
                }
                changed
            });
        }
    }
}

fn is_in_flight(status: VideoStatus) -> bool {
    matches!(status, VideoStatus::Uploading | VideoStatus::Queued | VideoStatus::Processing)
}

/// One open stream: what it has told its user so far.
struct Listener {
    _admitted: Admitted,
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
                _ = self.session_check.tick() => match self.session.current_role(&self.state).await {
                    Ok(None) => "signed_out",
                    Ok(Some(role)) if role != self.session.user.role => "role_changed",
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
        let mine = snapshot.by_owner.get(&user.id).map(Vec::as_slice).unwrap_or_default();
        let seen: HashSet<VideoId> = mine.iter().map(|v| v.id).collect();
        for video in mine {
            if self.sent.get(&video.id) != Some(video) {
                self.sent.insert(video.id, video.clone());
                self.pending.push_back(LiveEvent::Video(video.clone()));
            }
        }
        self.sent.retain(|id, _| seen.contains(id));
        if user.is_admin()
            && let Some(queue) = snapshot.queue
            && self.queue_sent != Some(queue)
        {
            self.queue_sent = Some(queue);
            self.pending.push_back(LiveEvent::Queue(queue));
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
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let admitted = hub.admit(session.user.id)?;
    let mut snapshots = hub.subscribe();
    snapshots.mark_changed();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut session_check = tokio::time::interval(SESSION_CHECK);
    session_check.reset();
    let listener = Listener {
        _admitted: admitted,
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
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
