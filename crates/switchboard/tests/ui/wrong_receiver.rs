struct Chat;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on("a")]
    async fn by_value(self) {}

    #[on("b")]
    async fn by_mut(&mut self) {}

    #[on("c")]
    async fn no_receiver() {}
}

fn main() {}
