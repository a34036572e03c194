//! JSON helpers (the `json` feature), shared by both drivers: `send_json` serializes into a
//! buffer borrowed from the connection's [`BufferPool`] and `read_json` deserializes straight from
//! the connection's message buffer. The methods themselves are in `api.rs`.

use serde::{Deserialize, Serialize};

use crate::conn::{Item, Receiver};
use crate::error::Error;
use crate::pool::BufferPool;

/// What `read_json` does with an item: `Some(Ok(()))` a data message (text or binary) to parse,
/// `Some(Err(Closed))` the peer's close (already answered), `None` a control frame to skip
/// (pings were answered on the way).
pub(crate) fn wanted(item: Item) -> Option<Result<(), Error>> {
    match item {
        Item::Message(_) => Some(Ok(())),
        Item::Close(_) => Some(Err(Error::Closed)),
        _ => None,
    }
}

/// Deserializes the message `rx` holds, borrowing from it (no copy): `&str` and `&[u8]` fields
/// of `T`, and `Cow<str>` ones without escapes, point into the connection's buffer.
pub(crate) fn decode<'a, T: Deserialize<'a>>(rx: &'a Receiver) -> Result<T, Error> {
    serde_json::from_slice(rx.message()).map_err(Error::Json)
}

/// The capacity of a buffer `send_json` allocates without a pool: one allocation for a value
/// whose JSON is at most this long.
const UNPOOLED_CAPACITY: usize = 256;

/// Serializes `value` into a buffer from `pool` (a fresh one without a pool): in steady state
/// with a pool, sending JSON allocates nothing. Give the buffer back with [`give`].
pub(crate) fn encode<T: Serialize + ?Sized>(
    pool: Option<&BufferPool>,
    value: &T,
) -> Result<Vec<u8>, Error> {
    let mut buf = match pool {
        Some(pool) => pool.take(0),
        None => Vec::with_capacity(UNPOOLED_CAPACITY),
    };
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => Ok(buf),
        Err(e) => {
            give(pool, buf);
            Err(Error::Json(e))
        }
    }
}

/// Returns a buffer of [`encode`] to the pool (its contents are discarded).
pub(crate) fn give(pool: Option<&BufferPool>, buf: Vec<u8>) {
    if let Some(pool) = pool {
        pool.give(buf);
    }
}
