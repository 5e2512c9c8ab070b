struct Chat;

#[switchboard::namespace("/chat", guard_layer = 1)]
impl Chat {}

fn main() {}
