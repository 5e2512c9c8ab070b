#[switchboard::namespace("/chat")]
struct Chat;

fn main() {}
