//! What can go wrong between switchboard and Redis.
use std::time::Duration;

use thiserror::Error;

/// Why the Redis room adapter could not start, or an operation on Redis failed.
///
/// Every variant names the Redis URL (with any password replaced by `***`) and says what to
/// check.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL could not be parsed.
    #[error(
        "`{url}` is not a Redis URL ({source}); expected redis://[user:password@]host[:port][/db]"
    )]
    InvalidUrl {
        /// The URL as given (password hidden).
        url: String,
        /// The `redis` crate's reason.
        #[source]
        source: redis::RedisError,
    },
    /// Redis refused or dropped the connection, or failed the start-up check.
    #[error(
        "cannot reach Redis at {url}: {source}; check that redis-server is running there and that the URL is right"
    )]
    Unreachable {
        /// The URL (password hidden).
        url: String,
        /// The `redis` crate's reason.
        #[source]
        source: redis::RedisError,
    },
    /// Redis did not answer in time.
    #[error(
        "Redis at {url} did not answer within {after:?}; check that redis-server is running there and is not overloaded"
    )]
    Timeout {
        /// The URL (password hidden).
        url: String,
        /// How long switchboard waited.
        after: Duration,
    },
    /// A namespace's adapter could not subscribe to one of its channels.
    #[error("could not subscribe to channel `{channel}` on Redis at {url}: {source}")]
    Subscribe {
        /// The URL (password hidden).
        url: String,
        /// The pub/sub channel.
        channel: String,
        /// The `redis` crate's reason.
        #[source]
        source: redis::RedisError,
    },
    /// A Redis command failed while running.
    #[error("Redis command `{command}` failed at {url}: {source}")]
    Command {
        /// The URL (password hidden).
        url: String,
        /// The command (`PUBLISH`, `SUBSCRIBE`, …).
        command: &'static str,
        /// The `redis` crate's reason.
        #[source]
        source: redis::RedisError,
    },
}

/// `url` with the password of its user-info part replaced by `***`, for errors and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    let user = match userinfo.find(':') {
        Some(colon) => &userinfo[..colon],
        // `redis://secret@host`: the redis crate reads a lone user-info as the username, but
        // people put passwords there; hide it too.
        None => "",
    };
    format!("{}{user}:***{}", &url[..scheme_end], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn hides_passwords_only() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("redis://u:p@ss@h/0"), "redis://u:***@h/0");
        assert_eq!(redact("rediss://secret@h"), "rediss://:***@h");
        assert_eq!(redact("redis://h/a@b"), "redis://h/a@b");
        assert_eq!(redact("not a url"), "not a url");
    }
}
