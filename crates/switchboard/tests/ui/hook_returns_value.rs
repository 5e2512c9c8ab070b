struct Chat;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on_connect]
    async fn welcome(&self) -> u32 {
        1
    }

    #[on_connect]
    async fn again(&self) {}
}

fn main() {}
