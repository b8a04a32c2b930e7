//! Load generator for the streaming core (see BENCHMARKS.md). Opens N WebSocket subscribers
//! on one dashboard, or on groups of dashboards of different sizes (`--groups`), spreading
//! source addresses over 127.0.0.x to pass the per-address port limit; drives updates through
//! the ingest API at a fixed rate per dashboard with the send time inside the payload, and
//! prints deliveries/s, loss, ingest-to-client latency (each group's too), and the server's CPU
//! time per delivery and RSS per connection (read from /proc when `--server-pid` is given), and
//! its own CPU time per delivery (the two processes share the machine).

use clap::Parser;
use livedash::{
    bench::{loopback_source, percentile, process_usage},
    protocol::ClientMessage,
};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};
use tungstenite::{
    handshake::{client::generate_key, derive_accept_key},
    protocol::frame::{
        coding::{Control, Data, OpCode},
        Frame, FrameHeader,
    },
};

#[derive(Parser, Debug)]
#[command(about = "Drive a livedash server with WebSocket subscribers and ingest traffic.")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:3000")]
    server: SocketAddr,
    /// Dashboard to publish to and subscribe on (with `--groups`, the prefix of their names).
    #[arg(long, default_value = "loadgen")]
    dashboard: String,
    /// WebSocket subscribers to open.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Several dashboards instead of one, as DASHBOARDSxSUBSCRIBERS groups: `1x9000,10x900` is
    /// one dashboard of 9,000 subscribers beside ten of 900 (`--subscribers` is then unused).
    #[arg(long, value_delimiter = ',', value_parser = parse_group)]
    groups: Vec<Group>,
    /// Updates per second pushed through the ingest API, to each dashboard.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds of measured load, after all subscribers are connected.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Fraction of subscribers that read slowly (stall, then read in bursts).
    #[arg(long, default_value_t = 0.0)]
    slow_fraction: f64,
    /// How long a slow subscriber stalls between reads, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    slow_stall_ms: u64,
    /// The server's pid, to report its CPU time and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Subscribers per source address (127.0.0.N, 127.0.0.N+1, ...).
    #[arg(long, default_value_t = 20_000)]
    per_source_address: usize,
    /// N, the subscribers' first source address 127.0.0.N; by default one of 1 to 200 at
    /// random, so that runs one after the other do not wait for each other's closed ports.
    #[arg(long)]
    first_source_address: Option<u8>,
    /// Exit non-zero unless every fast subscriber received every update.
    #[arg(long)]
    require_no_loss: bool,
    /// A credential (an admin JWT or API token) sent as `Authorization: Bearer` on every
    /// upgrade and ingest, to measure with sign-in on.
    #[arg(long, env = "LOADGEN_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// A second instance of the same deployment (`--redis`): every other subscriber connects
    /// to it; ingest still goes to `--server`.
    #[arg(long)]
    also_subscribe: Option<SocketAddr>,

    /// The second instance's pid, for its CPU time per delivery.
    #[arg(long)]
    also_server_pid: Option<u32>,

    /// Redis' pid, for its CPU time.
    #[arg(long)]
    redis_pid: Option<u32>,
}

/// `COUNT` dashboards of `subscribers` each.
#[derive(Clone, Copy, Debug)]
struct Group {
    count: usize,
    subscribers: usize,
}

fn parse_group(text: &str) -> Result<Group, String> {
    let malformed = || format!("{text:?}: expected DASHBOARDSxSUBSCRIBERS, e.g. 10x1000");
    let (count, subscribers) = text.split_once('x').ok_or_else(malformed)?;
    let number = |part: &str| part.trim().parse::<usize>().map_err(|_| malformed());
    Ok(Group { count: number(count)?, subscribers: number(subscribers)? })
}

/// One dashboard the generator publishes to, and the group it belongs to.
struct Target {
    name: String,
    group: usize,
    subscribers: usize,
}

impl Args {
    /// Where subscriber `index` connects: alternately to each instance when there are two.
    fn subscriber_target(&self, index: usize) -> (usize, SocketAddr) {
        match self.also_subscribe {
            Some(other) if index % 2 == 1 => (1, other),
            _ => (0, self.server),
        }
    }

    /// The dashboards to drive: `--dashboard` alone, or each group's, named `<dashboard>-<group>-<n>`.
    fn targets(&self) -> Vec<Target> {
        if self.groups.is_empty() {
            return vec![Target { name: self.dashboard.clone(), group: 0, subscribers: self.subscribers }];
        }
        let mut targets = Vec::new();
        for (group, Group { count, subscribers }) in self.groups.iter().enumerate() {
            for n in 0..*count {
                targets.push(Target {
                    name: format!("{}-{group}-{n}", self.dashboard),
                    group,
                    subscribers: *subscribers,
                });
            }
        }
        targets
    }
}

/// The fields of a server message the generator reads.
#[derive(serde::Deserialize)]
struct Received<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    metrics: Option<SentAt>,
}

#[derive(serde::Deserialize)]
struct SentAt {
    #[serde(rename = "sentUs")]
    sent_us: Option<f64>,
}

/// What one subscriber saw.
#[derive(Default)]
struct Tally {
    deliveries: u64,
    /// Seqs skipped without a snapshot: must be zero.
    lost: u64,
    snapshots: u64,
    /// Ingest-to-receive latency of each update, in microseconds.
    latencies_us: Vec<u32>,
    /// Whether its final seq equals the last one published.
    converged: bool,
    /// Why its stream ended before draining, if it did (server close, socket error).
    ended_early: Option<String>,
    slow: bool,
    /// Which instance it is connected to (0: `--server`, 1: `--also-subscribe`).
    instance: usize,
    /// Which of the generator's dashboards it reads (an index into `Args::targets`).
    dashboard: usize,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A subscriber's connection after its handshake, read frame by frame without tungstenite's
/// stream: the generator must cost less than the server it measures (a tungstenite stream and
/// a timer per read cost it 14 µs a delivery, more than the server spent), or it takes the
/// cores the deliveries wait for. Server frames are unmasked and whole (PROTOCOL.md), so a
/// frame is tungstenite's header parse and a slice.
struct Socket {
    stream: TcpStream,
    /// Read and not yet parsed: `buffer[start..end]`.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

/// A frame's opcode and where its payload lies in the socket's buffer.
struct FrameAt {
    opcode: OpCode,
    payload: std::ops::Range<usize>,
}

impl Socket {
    /// The next whole frame in the buffer, if one has arrived.
    fn next_frame(&mut self) -> Result<Option<FrameAt>, BoxError> {
        let mut cursor = std::io::Cursor::new(&self.buffer[self.start..self.end]);
        let Some((header, length)) = FrameHeader::parse(&mut cursor)? else { return Ok(None) };
        if !header.is_final || header.mask.is_some() {
            return Err(format!("a server frame must be whole and unmasked: {header:?}").into());
        }
        let from = self.start + cursor.position() as usize;
        let to = from + usize::try_from(length)?;
        if to > self.end {
            return Ok(None);
        }
        self.start = to;
        Ok(Some(FrameAt { opcode: header.opcode, payload: from..to }))
    }

    /// Reads what the socket has (cancel safe: nothing is lost if the read is dropped).
    async fn read_more(&mut self) -> Result<usize, std::io::Error> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buffer.len() {
            // Room for the rest of a frame: what is unparsed moves to the front, or the buffer
            // grows for a frame larger than it.
            self.buffer.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.end == self.buffer.len() {
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
        }
        let read = self.stream.read(&mut self.buffer[self.end..]).await?;
        self.end += read;
        Ok(read)
    }

    /// Sends `frame` as a client must, masked.
    async fn send(&mut self, mut frame: Frame) -> Result<(), BoxError> {
        frame.header_mut().mask = Some(rand::random());
        let mut bytes = Vec::with_capacity(frame.len());
        frame.format(&mut bytes)?;
        self.stream.write_all(&bytes).await?;
        Ok(())
    }
}

/// Opens subscriber `index` to `dashboard`, bound to its source address counted from
/// 127.0.0.`first_source` (`loopback_source`).
async fn open_subscriber(args: &Args, index: usize, first_source: u8, dashboard: &str) -> Result<Socket, BoxError> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(loopback_source(index, args.per_source_address, first_source))?;
    let (_, target) = args.subscriber_target(index);
    let mut stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    let key = generate_key();
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {target}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
    );
    if let Some(token) = &args.token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    // The answer's head; the server sends nothing after it before the subscription.
    let mut socket = Socket { stream, buffer: vec![0; 16 * 1024], start: 0, end: 0 };
    let head_end = loop {
        if socket.read_more().await? == 0 {
            return Err("the server closed the handshake".into());
        }
        if let Some(at) = socket.buffer[..socket.end].windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&socket.buffer[..head_end]).into_owned();
    let accept = derive_accept_key(key.as_bytes());
    let accepted = head.lines().any(|line| {
        line.split_once(':')
            .is_some_and(|(name, value)| name.eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == accept)
    });
    if !head.starts_with("HTTP/1.1 101") || !accepted {
        return Err(format!("handshake refused: {}", head.lines().next().unwrap_or_default()).into());
    }
    socket.start = head_end;
    let subscribe = ClientMessage::Subscribe { dashboard: dashboard.to_owned(), since: None, max_hz: None };
    socket.send(Frame::message(serde_json::to_vec(&subscribe)?, OpCode::Data(Data::Text), true)).await?;
    Ok(socket)
}

/// Whether a subscriber holding `held` has the last update published, or one after it (other
/// traffic on the dashboard, a probe beside the generator, may publish after it read that seq).
fn reached(held: Option<u64>, last_published: &AtomicU64) -> bool {
    held.is_some_and(|held| held >= last_published.load(Ordering::Relaxed))
}

/// Reads one subscriber's frames until `stop` says publishing ended and it holds the last
/// update (or it never had a snapshot), tallying deliveries, gaps and latencies.
async fn subscriber(
    mut ws: Socket,
    (instance, dashboard): (usize, usize),
    slow: Option<Duration>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    last_published: Arc<[AtomicU64]>,
) -> Tally {
    let mut tally = Tally { slow: slow.is_some(), instance, dashboard, ..Tally::default() };
    let last_published = &last_published[dashboard];
    let mut held: Option<u64> = None;
    let mut stopping = false;
    let mut next_stall = Instant::now() + Duration::from_millis(500);
    'reading: loop {
        loop {
            let frame = match ws.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    tally.ended_early = Some(format!("bad frame: {error}"));
                    break 'reading;
                }
            };
            match frame.opcode {
                OpCode::Data(Data::Text) => {}
                OpCode::Control(Control::Ping) => {
                    let payload = ws.buffer[frame.payload].to_vec();
                    if let Err(error) = ws.send(Frame::pong(payload)).await {
                        tally.ended_early = Some(format!("socket error: {error}"));
                        break 'reading;
                    }
                    continue;
                }
                OpCode::Control(Control::Close) => {
                    let code = ws.buffer[frame.payload].first_chunk().map(|&code| u16::from_be_bytes(code));
                    tally.ended_early = Some(format!("closed by server: {code:?}"));
                    break 'reading;
                }
                _ => continue,
            }
            let received = now_us();
            // A borrowed, partial parse: the generator must cost far less than the server.
            match serde_json::from_slice::<Received>(&ws.buffer[frame.payload]) {
                Ok(Received { kind: "snapshot", seq, .. }) => {
                    tally.snapshots += 1;
                    held = Some(seq);
                }
                Ok(Received { kind: "update", seq, metrics, .. }) => {
                    tally.deliveries += 1;
                    if let Some(previous) = held {
                        tally.lost += seq.saturating_sub(previous + 1);
                    }
                    held = Some(seq);
                    if let Some(sent) = metrics.and_then(|m| m.sent_us) {
                        tally.latencies_us.push(received.saturating_sub(sent as u64) as u32);
                    }
                }
                _ => {}
            }
        }
        if stopping && (reached(held, last_published) || held.is_none()) {
            break;
        }
        if let Some(stall) = slow {
            if Instant::now() >= next_stall && !stopping {
                tokio::time::sleep(stall).await;
                next_stall = Instant::now() + Duration::from_millis(500);
            }
        }
        tokio::select! {
            read = ws.read_more() => match read {
                Ok(0) => {
                    tally.ended_early = Some("stream ended".into());
                    break;
                }
                Ok(_) => {}
                Err(error) => {
                    tally.ended_early = Some(format!("socket error: {error}"));
                    break;
                }
            },
            _ = &mut stop, if !stopping => stopping = true,
        }
    }
    tally.converged = reached(held, last_published);
    let _ = ws.send(Frame::close(None)).await;
    tally
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let first_source = args.first_source_address.unwrap_or_else(livedash::bench::random_first_source);
    let http = format!("http://{}", args.server);

    // Make sure the dashboard exists before anyone subscribes.
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &args.token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("a header-safe token"));
    }
    let client = reqwest::Client::builder().default_headers(headers).build().expect("an HTTP client");
    let targets = args.targets();
    for target in &targets {
        let seed = serde_json::json!({"dashboard": target.name, "metrics": {"sentUs": now_us() as f64}});
        let first = client.post(format!("{http}/api/v1/ingest")).json(&seed).send().await;
        if first.and_then(|r| r.error_for_status()).is_err() {
            eprintln!("loadgen: cannot ingest into {http} (dashboard {})", target.name);
            return std::process::ExitCode::FAILURE;
        }
    }
    let baseline = args.server_pid.and_then(process_usage);

    let subscribers: usize = targets.iter().map(|t| t.subscribers).sum();
    eprintln!("loadgen: opening {subscribers} subscribers on {} dashboards", targets.len());
    let opened_at = Instant::now();
    let mut stops = Vec::with_capacity(subscribers);
    let last_published: Arc<[AtomicU64]> = targets.iter().map(|_| AtomicU64::new(0)).collect();
    let slow_every = if args.slow_fraction > 0.0 { (1.0 / args.slow_fraction).round() as usize } else { 0 };
    let mut tasks = Vec::with_capacity(subscribers);
    let mut failed = 0;
    let each_subscriber = targets.iter().enumerate().flat_map(|(d, target)| std::iter::repeat_n(d, target.subscribers));
    for (index, dashboard) in each_subscriber.enumerate() {
        match open_subscriber(&args, index, first_source, &targets[dashboard].name).await {
            // Read at once: a socket left unread answers no pings, and the server rightly
            // drops it after two heartbeats (this once cost a run 2,000 subscribers).
            Ok(ws) => {
                let slow =
                    (slow_every > 0 && index % slow_every == 0).then(|| Duration::from_millis(args.slow_stall_ms));
                let (instance, _) = args.subscriber_target(index);
                let reads = (instance, dashboard);
                let (stop, stopped) = tokio::sync::oneshot::channel();
                stops.push(stop);
                tasks.push(tokio::spawn(subscriber(ws, reads, slow, stopped, last_published.clone())));
            }
            Err(error) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("loadgen: subscriber {index} failed: {error}");
                }
            }
        }
    }
    eprintln!("loadgen: {} connected in {:.1?} ({failed} failed)", tasks.len(), opened_at.elapsed());
    // Let snapshots go out before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = args.server_pid.and_then(process_usage);

    let before = args.server_pid.and_then(process_usage);
    let also_before = args.also_server_pid.and_then(process_usage);
    let redis_before = args.redis_pid.and_then(process_usage);
    // Its own share of the machine too: the two processes split the same cores.
    let own_before = process_usage(std::process::id());
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    // Open loop: each update goes out on its tick whether or not the previous one has been
    // answered, so a server slowed by its fan-out shows as latency, not as a lower rate.
    let mut requests = tokio::task::JoinSet::new();
    while started.elapsed().as_secs_f64() < args.duration {
        ticker.tick().await;
        for (dashboard, target) in targets.iter().enumerate() {
            let body = serde_json::json!({"dashboard": target.name, "metrics": {"sentUs": now_us() as f64}});
            let request = client.post(format!("{http}/api/v1/ingest")).json(&body).send();
            requests.spawn(async move {
                let sent = Instant::now();
                let answered = matches!(request.await, Ok(response) if response.status().is_success());
                (dashboard, answered, sent.elapsed())
            });
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut published_to = vec![0u64; targets.len()];
    let mut ingest_errors = 0u64;
    // How long each ingest request waited for its answer while the subscribers were served.
    let mut answer_times = Vec::new();
    while let Some(answered) = requests.join_next().await {
        match answered {
            Ok((dashboard, true, took)) => {
                published_to[dashboard] += 1;
                answer_times.push(took.as_secs_f64() * 1000.0);
            }
            _ => ingest_errors += 1,
        }
    }
    let published: u64 = published_to.iter().sum();
    // The seq of each dashboard's last update (the seed was seq 1 if it was new): read back.
    for (target, last) in targets.iter().zip(last_published.iter()) {
        let snapshot: serde_json::Value = client
            .get(format!("{http}/api/v1/dashboards/{}/snapshot", target.name))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        last.store(snapshot["seq"].as_u64().unwrap_or(0), Ordering::Relaxed);
    }
    let after = args.server_pid.and_then(process_usage);
    let also_after = args.also_server_pid.and_then(process_usage);
    let redis_after = args.redis_pid.and_then(process_usage);
    let own_after = process_usage(std::process::id());
    for stop in stops {
        let _ = stop.send(());
    }

    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(tally) = tokio::time::timeout(Duration::from_secs(30), task).await {
            tallies.push(tally.unwrap());
        }
    }
    let fast: Vec<&Tally> = tallies.iter().filter(|t| !t.slow).collect();
    let slow: Vec<&Tally> = tallies.iter().filter(|t| t.slow).collect();
    let deliveries: u64 = tallies.iter().map(|t| t.deliveries).sum();
    let expected_fast: u64 = fast.iter().map(|t| published_to[t.dashboard]).sum();
    let fast_deliveries: u64 = fast.iter().map(|t| t.deliveries).sum();
    let lost: u64 = tallies.iter().map(|t| t.lost).sum();
    let mut fast_latencies: Vec<u32> = fast.iter().flat_map(|t| t.latencies_us.iter().copied()).collect();
    fast_latencies.sort_unstable();

    println!("subscribers         {} ({} slow, {failed} failed to connect)", tallies.len(), slow.len());
    println!(
        "published           {published} updates in {elapsed:.1} s ({:.1}/s), {ingest_errors} ingest errors",
        published as f64 / elapsed
    );
    println!("deliveries/s        {:.0}", deliveries as f64 / elapsed);
    println!(
        "fast deliveries     {fast_deliveries} of {expected_fast} expected ({} missing)",
        expected_fast.saturating_sub(fast_deliveries)
    );
    println!("seq gaps            {lost} (must be 0: gaps are healed by snapshots)");
    println!(
        "resync snapshots    {} (fast) {} (slow)",
        fast.iter().map(|t| t.snapshots.saturating_sub(1)).sum::<u64>(),
        slow.iter().map(|t| t.snapshots.saturating_sub(1)).sum::<u64>()
    );
    println!(
        "converged           {} of {} fast, {} of {} slow",
        fast.iter().filter(|t| t.converged).count(),
        fast.len(),
        slow.iter().filter(|t| t.converged).count(),
        slow.len()
    );
    println!(
        "latency fast (ms)   p50 {:.1}  p99 {:.1}  max {:.1}",
        percentile(&fast_latencies, 0.5),
        percentile(&fast_latencies, 0.99),
        percentile(&fast_latencies, 1.0)
    );
    if !args.groups.is_empty() {
        for (group, Group { count, subscribers }) in args.groups.iter().enumerate() {
            let of_group: Vec<&&Tally> = fast.iter().filter(|t| targets[t.dashboard].group == group).collect();
            let mut latencies: Vec<u32> = of_group.iter().flat_map(|t| t.latencies_us.iter().copied()).collect();
            latencies.sort_unstable();
            let delivered: u64 = of_group.iter().map(|t| t.deliveries).sum();
            let expected: u64 = of_group.iter().map(|t| published_to[t.dashboard]).sum();
            println!(
                "group {:<13} {:.0} deliveries/s, {} missing, latency p50 {:.1}  p99 {:.1}  max {:.1} ms",
                format!("{count}x{subscribers}"),
                delivered as f64 / elapsed,
                expected.saturating_sub(delivered),
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.99),
                percentile(&latencies, 1.0)
            );
        }
    }
    answer_times.sort_by(f64::total_cmp);
    let answer = |q| livedash::model::stats::quantile(&answer_times, q).unwrap_or(0.0);
    println!("ingest answer (ms)  p50 {:.1}  p99 {:.1}  max {:.1}", answer(0.5), answer(0.99), answer(1.0));
    // With two instances each one's CPU is set against the deliveries of its own subscribers
    // (the ingesting one also runs ingest).
    let delivered_by = |instance: usize| -> u64 {
        let own: u64 = tallies.iter().filter(|t| t.instance == instance).map(|t| t.deliveries).sum();
        if args.also_subscribe.is_some() {
            own
        } else {
            deliveries
        }
    };
    for (label, instance, usage) in
        [("server CPU        ", 0, (before, after)), ("server 2 CPU      ", 1, (also_before, also_after))]
    {
        if let (Some((cpu0, _)), Some((cpu1, _))) = usage {
            let per_delivery = (cpu1 - cpu0) / delivered_by(instance).max(1) as f64;
            println!(
                "{label}  {:.2} s, {:.2} us per delivery, {:.2} s per million",
                cpu1 - cpu0,
                per_delivery * 1e6,
                per_delivery * 1e6
            );
        }
    }
    if let (Some((cpu0, _)), Some((cpu1, _))) = (redis_before, redis_after) {
        println!(
            "redis CPU           {:.2} s, {:.1} us per published update",
            cpu1 - cpu0,
            (cpu1 - cpu0) / published.max(1) as f64 * 1e6
        );
    }
    if let (Some((cpu0, _)), Some((cpu1, _))) = (own_before, own_after) {
        let per_delivery = (cpu1 - cpu0) / deliveries.max(1) as f64;
        println!("loadgen CPU         {:.2} s, {:.2} us per delivery", cpu1 - cpu0, per_delivery * 1e6);
    }
    if let (Some((_, rss0)), Some((_, rss1))) = (baseline, connected) {
        let per = rss1.saturating_sub(rss0) as f64 / tallies.len().max(1) as f64;
        println!(
            "server RSS          {:.1} MB idle, {:.1} MB connected: {:.1} KB per connection",
            rss0 as f64 / 1e6,
            rss1 as f64 / 1e6,
            per / 1024.0
        );
    }
    if let Some((_, rss)) = after {
        println!("server RSS (end)    {:.1} MB", rss as f64 / 1e6);
    }
    let ended: Vec<&str> = tallies.iter().filter_map(|t| t.ended_early.as_deref()).collect();
    println!(
        "ended early         {}{}",
        ended.len(),
        ended.first().map(|why| format!(" (first: {why})")).unwrap_or_default()
    );
    let fast_complete = fast.iter().all(|t| t.converged) && fast_deliveries >= expected_fast;
    if args.require_no_loss && (lost > 0 || !fast_complete || tallies.is_empty()) {
        eprintln!("loadgen: loss detected");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
