//! Open streams (WebSockets, SSE streams, waiting polls) per client address, bounded by
//! `--max-connections-per-client`, so that one address cannot take every slot of
//! `--max-connections`. Past the bound a new one is refused with 503 before any upgrade.
//! Behind a local proxy the address is the one it forwards (`http::ClientAddr`).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

/// Open connections by client address.
pub struct PerClient {
    limit: usize,
    /// A std lock: held for a map update only.
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place; freed when dropped.
pub struct ClientSlot {
    clients: Arc<PerClient>,
    address: IpAddr,
}

impl PerClient {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(PerClient { limit, open: Mutex::new(HashMap::new()) })
    }

    /// A slot for one more connection from `address`, unless it holds `limit` already.
    pub fn acquire(self: &Arc<Self>, address: IpAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().expect("per-client lock poisoned");
        let count = open.entry(address).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot { clients: self.clone(), address })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.clients.open.lock().expect("per-client lock poisoned");
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_bound_and_slots_come_back() {
        let clients = PerClient::new(2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = clients.acquire(a).unwrap();
        let _second = clients.acquire(a).unwrap();
        assert!(clients.acquire(a).is_none(), "a third from the same address");
        assert!(clients.acquire(b).is_some(), "another address is not affected");
        drop(first);
        assert!(clients.acquire(a).is_some(), "a closed connection frees its slot");
        assert_eq!(clients.open.lock().unwrap().get(&b), None, "addresses with none are forgotten");
    }
}
