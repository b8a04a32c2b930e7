//! Rigs for several instances: a real `redis-server` (Debian's, installed by `make test`) on a
//! unix socket of its own with persistence off, and livedash instances as real processes
//! (the built binary) that a test can `kill -9`.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct RedisServer {
    child: Option<Child>,
    folder: PathBuf,
    pub socket: PathBuf,
    /// Its TCP port on 127.0.0.1 (one that was free when it started).
    pub port: u16,
}

impl RedisServer {
    /// A fresh Redis in `folder` (its socket and nothing else: no RDB, no AOF).
    pub fn start(folder: &Path) -> RedisServer {
        let socket = folder.join("redis.sock");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = RedisServer { child: None, folder: folder.to_owned(), socket, port };
        redis.spawn();
        redis
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--unixsocketperm", "700"])
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--unixsocket")
            .arg(&self.socket)
            .arg("--dir")
            .arg(&self.folder)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/install-services.sh installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not open {}", self.socket.display());
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn tcp_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    /// Kills it (everything it held is lost) and starts a new one on the same socket.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP / SIGCONT: Redis stops answering without closing anything, then goes on.
    pub fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let signal = if paused { "-STOP" } else { "-CONT" };
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused server would not die from SIGKILL's wait otherwise.
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        }
        self.stop();
    }
}

/// A livedash instance as its own process.
pub struct Instance {
    child: Child,
    pub addr: std::net::SocketAddr,
}

impl Instance {
    /// `livedash --redis <url>` on a free loopback port, in memory, without built-in sources,
    /// plus `args`.
    pub fn start(redis_url: &str, args: &[&str]) -> Instance {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_livedash"))
            .args(["--addr", "127.0.0.1:0", "--redis", redis_url])
            // Defaults a test's `args` may override.
            .env("LIVEDASH_SIMULATOR", "false")
            .env("LIVEDASH_HOST_METRICS", "false")
            .env("LIVEDASH_PERSIST", "false")
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("LIVEDASH_CONFIG")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the livedash binary runs");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.starts_with("livedash listening") {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "livedash exited before listening");
        }
        // Read on, so that a later line never finds the pipe closed.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let addr = line
            .trim()
            .strip_prefix("livedash listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .unwrap();
        Instance { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill_9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill_9();
    }
}
