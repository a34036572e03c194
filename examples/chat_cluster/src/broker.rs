//! Redis pub/sub between processes: one thread with a small tokio runtime and two Redis
//! connections.
//!
//! - The **publisher** takes what the event loops hand over (a bounded channel, never
//!   blocking a loop) and sends it in batches, one `PUBLISH` per message, pipelined on one
//!   connection: messages of one process reach Redis in the order they were sent.
//! - The **subscriber** holds one subscription per room that has local members (the rooms are
//!   reference-counted in [`Rooms`]; a member joining or leaving only wakes it to compare) and
//!   hands each message from another process to the loops as one prepared frame.
//!
//! Each message is published once and carries the publishing node's id, so a process skips
//! its own messages (it delivered them locally already, without waiting for Redis).
//!
//! **Faults.** Either connection that cannot be made is retried with a backoff (100 ms,
//! doubling to 2 s), with one log line per attempt. A connection that breaks (Redis restarted)
//! or stops answering (every connect and command is bounded by [`REPLY_TIMEOUT`], 2 s, and the
//! subscriber pings every [`PING_INTERVAL`], 5 s) is made again and every live room subscribed
//! again; members are never disconnected for it.
//! Delivery across processes is **at most once**: what is sent while the publisher has no
//! connection is dropped (counted and logged when it is back), and what other processes
//! publish while the subscriber has none is never seen. Members of the sender's own process
//! get every message either way.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink};
use tokio::sync::Notify;
use tokio::sync::mpsc::{self, error::TrySendError};
use zerows::OpCode;
use zerows::util::PreparedMessage;

use crate::rooms::Rooms;

/// Prefix of the Redis channel of room `NAME`: `zerows-chat:room:NAME`.
pub(crate) const CHANNEL_PREFIX: &str = "zerows-chat:room:";
/// Messages waiting for the publisher; past this a message is not relayed (the loops never
/// wait for Redis).
pub(crate) const PUBLISH_QUEUE: usize = 4096;
/// The first retry delay, doubled after each failure up to [`MAX_BACKOFF`].
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two connection attempts: a restarted Redis is found again within
/// this (plus the time to connect).
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait for Redis to connect or answer a command: a Redis that stops answering
/// (stopped, or a dead link that sends no reset) is treated as lost and reconnected.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscriber pings its connection (it only receives otherwise, and a dead link
/// would not be noticed).
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(5);
/// `PUBLISH` commands sent in one pipeline.
const BATCH: usize = 256;

/// `fut`, or an error after [`REPLY_TIMEOUT`].
async fn bounded<T>(fut: impl Future<Output = redis::RedisResult<T>>) -> redis::RedisResult<T> {
    tokio::time::timeout(REPLY_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", REPLY_TIMEOUT.as_secs()),
            )
            .into())
        })
}

/// A message for the other processes.
struct Publish {
    room: Box<str>,
    /// Node id (4 bytes, big-endian) then the text as members see it.
    payload: Vec<u8>,
}

/// The loops' side of the broker (cheap to share).
pub(crate) struct Broker {
    node: u32,
    publish: mpsc::Sender<Publish>,
    rooms_changed: Arc<Notify>,
    /// Messages not taken because the publish queue was full (reported by the publisher).
    overflow: Arc<AtomicU64>,
}

impl Broker {
    /// Starts the broker's thread for `url`; `rooms` tells it what to subscribe to and whom to
    /// deliver to.
    pub(crate) fn start(url: &str, node: u32, rooms: Arc<Rooms>) -> redis::RedisResult<Broker> {
        let client = redis::Client::open(url)?;
        let (publish, queue) = mpsc::channel(PUBLISH_QUEUE);
        let rooms_changed = Arc::new(Notify::new());
        let changed = Arc::clone(&rooms_changed);
        let overflow = Arc::new(AtomicU64::new(0));
        let overflowed = Arc::clone(&overflow);
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("redis".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                rt.block_on(async {
                    tokio::join!(
                        publisher(&client, &url, queue, &overflowed),
                        subscriber(&client, &url, node, &rooms, &changed),
                    );
                });
            })
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e)))?;
        Ok(Broker {
            node,
            publish,
            rooms_changed,
            overflow,
        })
    }

    /// Hands `text` (as members of `room` see it) to the publisher; never waits. Returns
    /// whether it was taken (not: the publish queue is full).
    pub(crate) fn publish(&self, room: &str, text: &str) -> bool {
        let mut payload = Vec::with_capacity(4 + text.len());
        payload.extend_from_slice(&self.node.to_be_bytes());
        payload.extend_from_slice(text.as_bytes());
        match self.publish.try_send(Publish {
            room: room.into(),
            payload,
        }) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// A room opened or emptied here: the subscriber compares its subscriptions with the rooms.
    pub(crate) fn rooms_changed(&self) {
        self.rooms_changed.notify_one();
    }
}

/// Retries `connect` (each attempt bounded by [`REPLY_TIMEOUT`]) with the backoff until it
/// succeeds.
async fn connect_with_backoff<C, F>(url: &str, what: &str, mut connect: impl FnMut() -> F) -> C
where
    F: Future<Output = redis::RedisResult<C>>,
{
    let mut delay = MIN_BACKOFF;
    loop {
        match bounded(connect()).await {
            Ok(c) => {
                eprintln!("redis: connected to {url} ({what})");
                return c;
            }
            Err(e) => {
                eprintln!(
                    "redis: cannot connect to {url} ({what}: {e}); retrying in {} ms",
                    delay.as_millis()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn publisher(
    client: &redis::Client,
    url: &str,
    mut queue: mpsc::Receiver<Publish>,
    overflow: &AtomicU64,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // While there is no connection, what arrives is dropped: relaying it minutes later
        // would be worse than not at all (at most once).
        let mut dropped = 0u64;
        let mut conn: MultiplexedConnection = tokio::select! {
            conn = connect_with_backoff(url, "publisher", || client.get_multiplexed_async_connection()) => conn,
            () = async {
                while queue.recv().await.is_some() {
                    dropped += 1;
                }
                // Every sender is gone: the process is ending.
                std::future::pending::<()>().await;
            } => unreachable!(),
        };
        while queue.try_recv().is_ok() {
            dropped += 1;
        }
        if dropped > 0 {
            eprintln!("redis: {dropped} messages sent while Redis was away were not relayed");
        }
        loop {
            if queue.recv_many(&mut batch, BATCH).await == 0 {
                return;
            }
            let mut pipe = redis::pipe();
            for p in batch.drain(..) {
                pipe.cmd("PUBLISH")
                    .arg(format!("{CHANNEL_PREFIX}{}", p.room))
                    .arg(p.payload)
                    .ignore();
            }
            if let Err(e) = bounded(pipe.query_async::<()>(&mut conn)).await {
                eprintln!("redis: connection lost (publisher: {e}); reconnecting");
                break;
            }
            let lost = overflow.swap(0, Ordering::Relaxed);
            if lost > 0 {
                eprintln!(
                    "redis: the publish queue was full ({PUBLISH_QUEUE}): {lost} messages not relayed"
                );
            }
        }
    }
}

async fn subscriber(client: &redis::Client, url: &str, node: u32, rooms: &Rooms, changed: &Notify) {
    loop {
        let pubsub = connect_with_backoff(url, "subscriber", || client.get_async_pubsub()).await;
        let (mut sink, mut stream) = pubsub.split();
        let mut subscribed = HashSet::new();
        if let Err(e) = sync(&mut sink, rooms, &mut subscribed).await {
            eprintln!("redis: connection lost (subscriber: {e}); reconnecting");
            tokio::time::sleep(MIN_BACKOFF).await;
            continue;
        }
        eprintln!("redis: subscribed to {} rooms", subscribed.len());
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            let trouble = tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => {
                        relay(&msg, node, rooms);
                        continue;
                    }
                    None => "the connection closed".to_owned(),
                },
                () = changed.notified() => match sync(&mut sink, rooms, &mut subscribed).await {
                    Ok(()) => continue,
                    Err(e) => e.to_string(),
                },
                _ = ping.tick() => match bounded(sink.ping::<redis::Value>()).await {
                    Ok(_) => continue,
                    Err(e) => format!("ping: {e}"),
                },
            };
            eprintln!("redis: connection lost (subscriber: {trouble}); reconnecting");
            break;
        }
    }
}

/// Subscribes to the rooms that have members here and unsubscribes from the others.
async fn sync(
    sink: &mut PubSubSink,
    rooms: &Rooms,
    subscribed: &mut HashSet<Box<str>>,
) -> redis::RedisResult<()> {
    let live: HashSet<Box<str>> = rooms.names().into_iter().collect();
    let channels = |names: &mut dyn Iterator<Item = &Box<str>>| -> Vec<String> {
        names
            .map(|room| format!("{CHANNEL_PREFIX}{room}"))
            .collect()
    };
    // One SUBSCRIBE (and one UNSUBSCRIBE) for all the rooms that changed: a reconnect
    // resubscribes thousands of rooms in one round trip.
    let new = channels(&mut live.difference(subscribed));
    if !new.is_empty() {
        bounded(sink.subscribe(&new)).await?;
    }
    let gone = channels(&mut subscribed.difference(&live));
    if !gone.is_empty() {
        bounded(sink.unsubscribe(&gone)).await?;
    }
    *subscribed = live;
    Ok(())
}

/// A message from Redis: from another node, to the local members of its room as one frame.
fn relay(msg: &redis::Msg, node: u32, rooms: &Rooms) {
    let Some(room) = msg.get_channel_name().strip_prefix(CHANNEL_PREFIX) else {
        return;
    };
    let payload = msg.get_payload_bytes();
    let Some((from, text)) = payload.split_first_chunk::<4>() else {
        return;
    };
    if u32::from_be_bytes(*from) == node || std::str::from_utf8(text).is_err() {
        return;
    }
    rooms.deliver(room, &PreparedMessage::new(OpCode::Text, text));
}
