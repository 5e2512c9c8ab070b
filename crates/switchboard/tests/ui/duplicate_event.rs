struct Chat;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on("message")]
    async fn first(&self) {}

    #[on("message")]
    async fn second(&self) {}
}

fn main() {}
