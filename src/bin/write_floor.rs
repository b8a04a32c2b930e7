//! The kernel's floor under the streaming benchmark (BENCHMARKS.md): what one small loopback
//! write per delivery costs the writing process on this machine when nothing else is done.
//! The writer accepts N TCP connections and, at a fixed rate, writes one message to each with
//! plain blocking `write` calls from two threads (no WebSocket framing, no async runtime, no
//! broadcast); a reader process started from this same binary, on tokio like `loadgen`, drains
//! every socket beside it. Prints the writer's CPU time per write, and the reader's per message.

use clap::Parser;
use livedash::bench::{loopback_source, process_usage, random_first_source};
use std::{
    io::Write,
    net::{SocketAddr, TcpListener, TcpStream},
    process::Command,
    time::{Duration, Instant},
};

#[derive(Parser, Debug)]
#[command(about = "Measure the CPU cost of one small loopback write per delivery.")]
struct Args {
    /// Connections, each written once per tick.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Ticks per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds of measured writing.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Bytes per write (an update frame of the streaming benchmark is about 150).
    #[arg(long, default_value_t = 150)]
    bytes: usize,
    /// Internal: run as the reader, connecting to this address.
    #[arg(long, hide = true)]
    read_from: Option<SocketAddr>,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    if let Some(writer) = args.read_from {
        return read_all(writer, args.connections);
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut reader = Command::new(std::env::current_exe()?)
        .args(["--read-from", &listener.local_addr()?.to_string()])
        .args(["--connections", &args.connections.to_string()])
        .spawn()?;
    let mut sockets = Vec::with_capacity(args.connections);
    // Accepts without blocking, so a reader that failed (too low an open-file limit) ends the
    // run instead of leaving it waiting.
    listener.set_nonblocking(true)?;
    while sockets.len() < args.connections {
        match listener.accept() {
            Ok((socket, _)) => {
                socket.set_nonblocking(false)?;
                socket.set_nodelay(true)?;
                sockets.push(socket);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = reader.try_wait()? {
                    return Err(std::io::Error::other(format!(
                        "the reader exited ({status}) after {} connections",
                        sockets.len()
                    )));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(error) => return Err(error),
        }
    }
    let message = vec![b'x'; args.bytes];
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let (cpu_before, _) = process_usage(std::process::id()).expect("/proc readable");
    let reader_before = process_usage(reader.id());
    let started = Instant::now();
    let mut next_tick = started;
    let mut writes = 0u64;
    while started.elapsed().as_secs_f64() < args.duration {
        // Two writing threads, as the server's two runtime workers.
        let (first, second) = sockets.split_at_mut(args.connections / 2);
        std::thread::scope(|scope| -> std::io::Result<()> {
            let other = scope.spawn(|| write_each(first, &message));
            write_each(second, &message)?;
            other.join().expect("writer thread panicked")
        })?;
        writes += args.connections as u64;
        next_tick += interval;
        if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (cpu_after, _) = process_usage(std::process::id()).expect("/proc readable");
    let reader_after = process_usage(reader.id());
    drop(sockets);
    reader.wait()?;
    let cpu = cpu_after - cpu_before;
    println!("connections         {}", args.connections);
    println!("writes/s            {:.0} ({} bytes each)", writes as f64 / seconds, args.bytes);
    println!("writer CPU          {cpu:.2} s, {:.2} us per write", cpu * 1e6 / writes as f64);
    if let (Some((before, _)), Some((after, _))) = (reader_before, reader_after) {
        let read = after - before;
        println!("reader CPU          {read:.2} s, {:.2} us per message", read * 1e6 / writes as f64);
    }
    Ok(())
}

fn write_each(sockets: &mut [TcpStream], message: &[u8]) -> std::io::Result<()> {
    sockets.iter_mut().try_for_each(|socket| socket.write_all(message))
}

/// Opens `connections` sockets to `writer` (source addresses spread over 127.0.0.x as the load
/// generator does) and reads each until the writer closes it.
#[tokio::main]
async fn read_all(writer: SocketAddr, connections: usize) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut readers = Vec::with_capacity(connections);
    let first = random_first_source();
    for index in 0..connections {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(loopback_source(index, 20_000, first))?;
        let mut stream = socket.connect(writer).await?;
        readers.push(tokio::spawn(async move {
            let mut buffer = [0u8; 4096];
            while let Ok(1..) = stream.read(&mut buffer).await {}
        }));
    }
    for reader in readers {
        let _ = reader.await;
    }
    Ok(())
}
