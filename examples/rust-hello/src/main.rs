// A Rust program in a distill image: std links it against glibc (libc,
// libgcc_s for unwinding), and distill finds those the way the loader will.
use std::env;

fn main() {
    let who = env::args().nth(1).unwrap_or_else(|| "world".to_string());
    let uid = unsafe { getuid() };
    println!("hello, {who}, from Rust as uid {uid}");
    // a panic caught: unwinding needs libgcc_s.so.1 in the image
    let caught = std::panic::catch_unwind(|| panic!("unwound"));
    println!("panic caught: {}", caught.is_err());
}

extern "C" {
    fn getuid() -> u32;
}
