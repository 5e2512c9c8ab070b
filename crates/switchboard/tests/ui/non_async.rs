struct Chat;

#[switchboard::namespace("/chat")]
impl Chat {
    #[on("message")]
    fn message(&self) {}
}

fn main() {}
