//! Errors of building a switchboard.
use thiserror::Error;

/// Why [`SwitchboardBuilder`](crate::SwitchboardBuilder) could not build the layer.
///
/// Each variant names the namespace and what to change; all of them are mistakes in the
/// program's setup, found before any client connects.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A namespace path is not a valid Socket.IO namespace path.
    #[error("invalid namespace path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two namespaces were registered at the same path or pattern.
    #[error("namespace `{0}` is registered twice; register each path once")]
    DuplicateNamespace(String),
    /// One namespace has two handlers for the same event.
    #[error("namespace `{namespace}` has two handlers for event `{event}`; keep one")]
    DuplicateEvent {
        /// The namespace path.
        namespace: String,
        /// The event name.
        event: String,
    },
    /// socketioxide refused a dynamic namespace pattern (overlapping or malformed pattern).
    #[error("dynamic namespace `{path}` could not be registered: {source}")]
    DynamicNamespace {
        /// The pattern as given.
        path: String,
        /// socketioxide's (matchit's) reason.
        #[source]
        source: socketioxide::NsInsertError,
    },
    /// The connection queue (`max_buffer_size`) is too short for what delivery keeps in it
    /// (`DeliveryConfig::max_in_flight`) plus the room it keeps free for the heartbeat.
    #[error(
        "max_buffer_size {max_buffer_size} is too small for DeliveryConfig::max_in_flight {max_in_flight}: raise max_buffer_size to at least {} or lower max_in_flight",
        max_in_flight + slack
    )]
    QueueTooShort {
        /// The connection queue's size, in packets.
        max_buffer_size: usize,
        /// What delivery keeps in it at most.
        max_in_flight: usize,
        /// What it keeps free above that.
        slack: usize,
    },
    /// The Redis room adapter could not subscribe a namespace to its channels (Redis became
    /// unreachable between `connect` and the build, or refused the subscription).
    #[cfg(feature = "redis")]
    #[error("namespace `{namespace}` could not start its Redis room adapter: {source}")]
    Redis {
        /// The namespace path.
        namespace: String,
        /// What went wrong, naming the Redis URL.
        #[source]
        source: crate::redis::RedisError,
    },
}

/// Checks a namespace path the way clients will send it; `Err` holds the reason.
///
/// Kept in step with the compile-time check of `#[namespace]`.
pub(crate) fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("a namespace path starts with `/`");
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err(
            "a namespace path does not end with `/` (clients send `/sports`, not `/sports/`)",
        );
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | ','))
    {
        return Err(
            "a namespace path has no whitespace, `?`, `#` or `,` (the socket.io packet format reserves them)",
        );
    }
    if path.contains("//") {
        return Err("a namespace path has no empty segment (`//`)");
    }
    let (mut depth, mut balanced) = (0i32, true);
    for c in path.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        balanced &= (0..=1).contains(&depth);
    }
    if !balanced || depth != 0 {
        return Err("a `{param}` segment is not closed or is nested");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn accepts_paths_and_patterns() {
        for ok in ["/", "/sports", "/a/b", "/tenant/{id}", "/files/{*rest}"] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_clients_cannot_reach() {
        for bad in [
            "", "sports", "/sports/", "/a b", "/a?x", "/a#b", "/a,b", "//a", "/{id", "/id}",
            "/{{id}}",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
