use switchboard::prelude::*;

struct Chat;

// `SocketRef` without a type parameter is `SocketRef<InMemory>`: this namespace only runs
// in memory.
#[switchboard::namespace("/chat")]
impl Chat {
    #[on_connect]
    async fn welcome(&self, socket: SocketRef) {
        socket.join("everyone");
    }
}

fn build(redis: &switchboard::redis::RedisConnection) {
    let _ = Switchboard::builder_redis(redis).namespace(Chat);
}

fn main() {}
