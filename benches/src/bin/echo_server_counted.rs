//! `echo_server` under a counting allocator, for diagnosing memory per connection: prints the
//! live allocations and bytes to stderr every second (`live <allocations> <bytes>`).

#[path = "echo_server.rs"]
mod server;

#[global_allocator]
static GLOBAL: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

fn main() -> std::io::Result<()> {
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let (n, bytes) = zerows_benches::alloc::live();
            eprintln!("live {n} {bytes}");
        }
    });
    server::main()
}
