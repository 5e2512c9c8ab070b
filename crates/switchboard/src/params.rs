//! Path parameters of dynamic namespaces.
//!
//! A namespace registered at a pattern such as `/tenant/{id}` accepts every path that matches
//! it (`/tenant/acme`, `/tenant/42`), each one a namespace of its own with its own rooms. The
//! [`NsParams`] extractor gives handlers the matched segments.
//!
//! ```
//! use switchboard::{NamespaceDef, NsParams};
//! use switchboard::prelude::SocketRef;
//!
//! let tenants = NamespaceDef::new("/tenant/{id}").on_connect(
//!     async |socket: SocketRef, params: NsParams| {
//!         let tenant = params.get("id").unwrap_or_default();
//!         socket.emit("welcome", &format!("tenant {tenant}")).ok();
//!     },
//! );
//! # let _ = switchboard::Switchboard::builder().namespace(tenants).build_svc().unwrap();
//! ```
use std::{convert::Infallible, str::FromStr, sync::Arc};

use socketioxide::{
    adapter::Adapter,
    handler::{FromConnectParts, FromDisconnectParts, FromMessageParts, Value},
    socket::{DisconnectReason, Socket},
};

/// A compiled namespace pattern.
pub(crate) struct NsPattern {
    router: matchit::Router<()>,
}

impl NsPattern {
    pub(crate) fn new(pattern: &str) -> Result<Self, matchit::InsertError> {
        let mut router = matchit::Router::new();
        router.insert(pattern, ())?;
        Ok(Self { router })
    }
}

/// The segments of a dynamic namespace's path, by parameter name.
///
/// Empty for a namespace registered at a fixed path. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsParams(Arc<[(Box<str>, Box<str>)]>);

impl NsParams {
    pub(crate) fn from_match(pattern: &NsPattern, path: &str) -> Self {
        match pattern.router.at(path) {
            Ok(m) => Self(m.params.iter().map(|(k, v)| (k.into(), v.into())).collect()),
            Err(_) => Self::default(),
        }
    }

    /// The segment matched by `{name}`, if the pattern has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
    }

    /// The segment matched by `{name}`, parsed.
    pub fn parse<T: FromStr>(&self, name: &str) -> Option<Result<T, T::Err>> {
        self.get(name).map(str::parse)
    }

    /// Every `(name, segment)` pair, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    fn of<A: Adapter>(socket: &Arc<Socket<A>>) -> Self {
        socket.extensions.get::<Self>().unwrap_or_default()
    }
}

impl<A: Adapter> FromConnectParts<A> for NsParams {
    type Error = Infallible;
    fn from_connect_parts(s: &Arc<Socket<A>>, _: &Option<Value>) -> Result<Self, Infallible> {
        Ok(Self::of(s))
    }
}

impl<A: Adapter> FromMessageParts<A> for NsParams {
    type Error = Infallible;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        _: &mut Value,
        _: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Self::of(s))
    }
}

impl<A: Adapter> FromDisconnectParts<A> for NsParams {
    type Error = Infallible;
    fn from_disconnect_parts(s: &Arc<Socket<A>>, _: DisconnectReason) -> Result<Self, Infallible> {
        Ok(Self::of(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_named_and_catch_all_segments() -> Result<(), matchit::InsertError> {
        let p = NsPattern::new("/tenant/{id}/room/{*rest}")?;
        let params = NsParams::from_match(&p, "/tenant/acme/room/a/b");
        assert_eq!(params.get("id"), Some("acme"));
        assert_eq!(params.get("rest"), Some("a/b"));
        assert_eq!(params.get("nope"), None);
        let n = NsParams::from_match(&NsPattern::new("/n/{n}")?, "/n/42");
        assert_eq!(n.parse::<u32>("n"), Some(Ok(42)));
        Ok(())
    }
}
