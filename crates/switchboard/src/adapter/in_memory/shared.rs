//! What the namespaces of one server share: the delivery bounds, the memory budget across
//! every backlog, and the namespaces themselves (so a socket finds its own on connect).
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicUsize, Ordering},
    },
};

use super::InMemory;
use crate::delivery::DeliveryConfig;

/// The state of [`InMemory`] for one server: every namespace of a
/// [`Switchboard`](crate::Switchboard) shares it, and nothing outside that server sees it.
///
/// Built by [`Switchboard::builder`](crate::Switchboard::builder) and by
/// [`SwitchboardBuilder::delivery`](crate::SwitchboardBuilder::delivery); you never build one
/// yourself.
#[derive(Clone)]
pub struct DeliveryState(pub(crate) Arc<Shared>);

impl std::fmt::Debug for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryState")
            .field("config", &self.0.config)
            .field("backlog_bytes", &self.0.total_bytes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl DeliveryState {
    pub(crate) fn new(config: DeliveryConfig) -> Self {
        Self(Arc::new(Shared {
            config,
            total_bytes: AtomicUsize::new(0),
            namespaces: Mutex::new(HashMap::new()),
        }))
    }
}

pub(crate) struct Shared {
    pub(crate) config: DeliveryConfig,
    /// Bytes waiting in every backlog of the server, against
    /// [`DeliveryConfig::max_total_backlog_bytes`].
    pub(crate) total_bytes: AtomicUsize,
    /// The server's namespaces by path (a dynamic namespace once per concrete path).
    namespaces: Mutex<HashMap<String, Weak<InMemory>>>,
}

impl Shared {
    pub(crate) fn add_namespace(&self, adapter: &Arc<InMemory>) {
        let mut all = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|_, a| a.strong_count() > 0);
        all.insert(adapter.path().to_string(), Arc::downgrade(adapter));
    }

    /// The adapter of the namespace at `path`.
    pub(crate) fn namespace(&self, path: &str) -> Option<Arc<InMemory>> {
        let all = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        all.get(path).and_then(Weak::upgrade)
    }

    /// Whether the backlogs of the server together are over their budget.
    pub(crate) fn over_budget(&self) -> bool {
        self.total_bytes.load(Ordering::Relaxed) > self.config.max_total_backlog_bytes
    }

    /// Cuts backlogs of the server until they fit the budget: first the one whose client has
    /// gone longest without reading, the largest among equals.
    pub(crate) fn enforce_budget(&self) {
        while self.over_budget() {
            let namespaces: Vec<Arc<InMemory>> = {
                let all = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
                all.values().filter_map(Weak::upgrade).collect()
            };
            let stalest = namespaces
                .iter()
                .filter_map(|ns| {
                    ns.stalest_backlog()
                        .map(|(at, bytes, outbox)| (at, bytes, outbox, ns))
                })
                .min_by_key(|(at, bytes, _, _)| (*at, std::cmp::Reverse(*bytes)));
            match stalest {
                Some((_, _, outbox, ns)) => ns.cut_for_budget(&outbox),
                None => return,
            }
        }
    }
}
