//! Pins the compile errors of `#[namespace]` misuse: each file under `ui/` is a program that
//! must not compile, with the message in the `.stderr` file next to it.
#[test]
fn namespace_macro_misuse() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
