//! The handler traits switchboard dispatches to: events, the connect hook, and the glue that
//! hands them to socketioxide.
//!
//! They mirror socketioxide's own [`MessageHandler`](socketioxide::handler::MessageHandler)
//! and [`ConnectHandler`](socketioxide::handler::ConnectHandler) (any async closure or function
//! whose arguments are socketioxide extractors) and add what those leave to the application:
//! the return value becomes the acknowledgement, and an argument that cannot be extracted
//! (a payload of the wrong shape) is refused out loud, to the client and in the log, instead of
//! dropping the event.
mod connect;
mod event;

pub use connect::ConnectHook;
pub use event::{EventHandler, EventName};

pub(crate) use connect::BoxedConnectHook;
pub(crate) use event::{Dispatch, Erase, ErasedEvent, start_in_order};
