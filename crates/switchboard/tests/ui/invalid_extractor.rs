struct Chat;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on("message")]
    async fn message(&self, text: String) {
        let _ = text;
    }
}

fn main() {}
