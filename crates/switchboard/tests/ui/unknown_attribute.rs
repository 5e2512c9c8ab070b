struct Chat;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on_conect]
    async fn welcome(&self) {}
}

fn main() {}
