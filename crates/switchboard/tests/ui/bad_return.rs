struct Chat;

struct NotSerializable;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on("message")]
    async fn message(&self) -> std::collections::HashMap<u8, u8> {
        Default::default()
    }
}

fn main() {
    let _ = NotSerializable;
}
