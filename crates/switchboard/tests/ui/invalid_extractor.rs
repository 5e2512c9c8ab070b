struct Chat;

/// Not an extractor: socketioxide cannot build it from a message.
struct Text;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on("message")]
    async fn message(&self, text: Text) {
        let _ = text;
    }
}

fn main() {}
