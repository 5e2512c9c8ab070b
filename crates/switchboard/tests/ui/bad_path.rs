struct Chat;

#[switchboard::namespace("chat")]
impl Chat {}

struct Trailing;

#[switchboard::namespace("/chat/")]
impl Trailing {}

struct Query;

#[switchboard::namespace("/chat?x=1")]
impl Query {}

struct Unclosed;

#[switchboard::namespace("/tenant/{id")]
impl Unclosed {}

fn main() {}
