struct Chat;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on("connect")]
    async fn connect(&self) {}
}

fn main() {}
